"""Product search: Russian and English, ranked, as-you-type, served from DynamoDB without a Scan.

Modules, from pure to IO:

- ``text``      normalization (NFKC, casefold, ё→е, HTML out), words, Snowball stems by script
                (+ Russian fleeting-vowel folding: ботинок/ботинки), stopwords, query words;
- ``document``  a product → its index state (term weights, posting items, search document) and
                the minimal diff between two states;
- ``store``     the SearchTable adapter (Query, BatchGetItem, BatchWriteItem with backoff);
- ``matches``   match lists: every product of a term, packed many to an item (fresh entries over
                packed parts), read whole by a multi-word query and compacted by it;
- ``indexer``   ``apply_changes(changes)``: the catalog calls it after writing products;
- ``facets``    facet counts (category, seller, price range, on sale, in stock) of a bounded
                set of matches; GET /search and GET /products both use it;
- ``query``     ``search(q, **filters)``: one word → a lazy merge of its terms' postings; several
                words → their match lists intersected, the matches scored and sorted, the page's
                summaries read from the search documents (a word that cannot be listed, a
                one-letter last word: postings in rank order, checked in their term maps).

The index (SearchTable, PK/SK only; GSI1 unused):

| access pattern | key condition | example |
|---|---|---|
| a term's postings, strongest first (query) | PK=TERM#<term>#<nn> ×16, Queries merged by SK | TERM#ботинк#07 |
| on sale / by an author's word (flags) | PK=TERM#~sale#<nn>, TERM#~a:<term>#<nn> (same shape) | TERM#~sale#03 |
| one posting (indexer diff) | PK=TERM#<term>#<nn>, SK=RANK#<999-rank>#PRODUCT#<pid> | TERM#boot#12, RANK#0988#… |
| what is indexed for a product (diff; results) | BatchGetItem PK=SEARCHDOC#<pid> | SEARCHDOC#pq3x…, SEARCHDOC |
| every product of a term (multi-word queries) | PK=MATCH#<term>#<nn> ×16: FRESH#…, PACKED#<n> | MATCH#ботинк#07 |
| words beginning with a typed prefix | PK=VOCAB#<2 chars>#<n> ×4, SK begins_with WORD#<prefix> | VOCAB#кр#1 |
| is a word in the vocabulary (indexer) | BatchGetItem PK=VOCAB#<2 chars>#<n>, SK=WORD#<word> | VOCAB#бо#2 |

(``<nn>`` = a stable hash of the product id, ``<n>`` of the word: "Hot terms" below.)

rank = weight (name 10 + vendor 6 + author 6 + model 4 + category 3 + publisher 3 + codes 2 +
description 1, summed over the fields the term is in) + 100 when the product's name is exactly
that term. Posting body (one
JSON attribute ``r``): product id, weight, exact flag, name key, the product's term → weight map
(≤ 64 terms, strongest first; ``tt`` when description terms were trimmed), name, price,
currency, picture, seller, category id and key, vendor — what a result shows, what the filters
read and what the other words of a query are checked against. About 0.6 KB (one write unit).

**Exact AND at any catalog size: match lists.** A multi-word query returns every product with
all its words, across the pages, in rank order (score desc, product id asc), whatever the
words' frequencies, and reads a number of items that does not grow with the catalog:

1. each word's terms (its own; the last word's vocabulary completions) are listed;
2. every term's match list is read whole: one Query per write shard, all at once
   (``matches.read_partition``). A shard holds the products of the term with their weight and
   name-key hash, packed ``matches.PART_ENTRIES`` (4,000) to a compressed item, plus the fresh
   entries written since it was last compacted;
3. the words' product sets are intersected (set operations, smallest first), each match is
   scored by ``query.score``'s rules (a word counts its best term; the exact-name bonus compares
   the name-key hash), and the matches are sorted by (score, id);
4. the page after the cursor is read from the search documents (which carry the summary a
   result shows), a window at a time, skipping what the filters refuse.

Items read: one packed item per shard of each term (16 a term) + the fresh entries not yet
compacted + the page's documents (+ more windows when filters or blocked sellers leave products
out). A term's packed size grows with the catalog in bytes, not items: a term in half of 100,000
products is ~3,000 entries a shard, ~70 KB (3,000 random ids pack into 69.7 KB), one item.
Exactness does not depend on a read bound: the oracle tests
(``tests/functional/test_search_exact.py``: Russian and English catalogs with common, rare and
common-but-rarely-together words, every page compared with brute force) run on the match lists
as the indexer leaves them, on lists of 3-entry parts compacted by every read, and on the rank-
order reading below.

Writes: one fresh entry per (term, product) change, in the term's write shard (the same shards
as the postings), deleted when compacted: ×2 index writes per product (17 postings + 17
entries + 1 document for the bench catalog's median product). Compaction is done by the query
that reads a shard with ``matches.COMPACT_AT`` (8) fresh entries or more, at most once per shard
every ``COMPACT_INTERVAL_SECONDS`` (10): that bounds what rewriting a large packed part costs
a busy shard while imports write to it (``bench/partition_bench.py``: the busiest match shard
stays under the busiest vocabulary shard). Right after a large import, the first query of a
common term reads its fresh entries (as many as the import wrote to it) and compacts them.

Designs weighed before (measured in earlier versions of the bench, 100k products):
- *read the shorter posting list to its end* (the previous design, kept as the fallback,
  ``query.multi_word``): exact, no extra writes, but O(shorter list): "кроссовки sneakers" read
  5,905 postings, the latency ratio 100k/1k was ×6.5 median, ×21.9 worst;
- *term-pair postings*: O(page) for two words, but ×6.8 index writes for exactness with words
  found only in descriptions, and three-word queries still intersect lists: not built;
- *packed lists kept current on every write*: each product write would rewrite the packed
  item (100 KB: 100 write units) on hot keys: hence the fresh entries and the compaction.

**The fallback: postings in rank order.** When a word's terms cannot be listed (a one-letter
last word, a prefix beginning more than ``query.PREFIX_EXPANSION`` words) or
``SEARCH_MATCH_LISTS`` is off (a deployment indexed before match lists, until the rebuild:
docs/runbook.md), a multi-word query reads its words' postings in rank order (SK order: exact
name, weight, product id) and checks the other words in each posting's term map. It stops when
- a driver list ended (every match was read), or
- ``limit`` + 1 matches after the cursor rank above anything unread (``MultiWord.safe``), or
- past ``MAX_DRIVER_READ`` postings, the shortest driver list is read to its end
  (``MultiWord.drain``): every match is then known. Exact, at O(that list).

Query cost per results page: a one-word query ≈ one page per term it expands to; a longer query
≈ 16 Queries per term (in parallel) + the page's documents.

**Filters that stay exact: flag terms.** A filter applied to postings as they are read is exact
only while the reading is: a one-word query reads at most ``MAX_READ`` postings past its first
pages, so a rare filter match deep in a common word's list would be missed. ``on_sale=true`` and
``author=`` are therefore *required terms*: a product on sale (old price above price) is indexed
under ``~sale``, a book under ``~a:<term>`` for each word of its author (``document.SALE_TERM``,
``author_terms``; ``~`` is never part of a word), and the query adds them to its words with no
points (``Word.flag``). The multi-word machinery then does the rest: on match lists the flag's
list is intersected like a word's; in rank order a short flag list drives (few products on sale:
the sale list ends at once), a long one is checked in the term maps, which always carry flag
terms whatever the 64-term cap; the exact-name bonus and the rank bound ignore them. A re-import
that changes prices changes the product's terms (the flag), so the diff moves it in or out
(``old_price`` is one of the import's searchable fields). ``on_sale=false`` and the
seller/category/price filters stay filters.
Data indexed before flags and codes existed gains them only when re-indexed: the content-hash
bump (``domain/catalog.HASH_VERSION`` v2) makes every seller's next import rewrite its products
(and their listing keys, sale included), but the import hands the index only products whose
searchable fields changed; ``indexer.apply_changes([(None, p)])`` over every product (it diffs
against what is stored, writing only what differs) completes an existing deployment.

**Codes.** Barcodes, ISBN and vendor code are indexed as whole terms with the
query's spelling (``978-5-699-23647-3`` → ``9785699236473``; their parts are not terms), field
weight 2: ``q=<code>`` finds the product exactly, and a partly typed code expands through the
vocabulary like any last word. Author (6) and publisher (3) are fields of their own (YML ``book``
offers, CSV columns: ``domain/catalog.book_fields``). ``NAME_EXACT_BONUS`` went from 50 to 80 so
it still exceeds twice the sum of the field weights (the sort order stays the score order).

**Facets.** Counted over at most ``facets.MAX_ROWS`` (1000) matches, read the way the query
reads (one-word: ≤ ``MAX_READ`` postings past the first pages; longer: the match lists, the
first 1000 matches by score; the rank-order fallback: ≤ words × ``FIRST_PAGE`` +
``MAX_DRIVER_READ`` postings, without the drain), plus a BatchGetItem of shops and one of
stock per 100 matches; the answer says ``complete: false`` when there were more. Results read the
page's products once (``store/catalog.live``) for stock, availability and the short description:
postings stay small, and stock, which every checkout changes, is never stale.

**Speed** (``python -m bench.search_bench``, 1k vs 100k products, 12 queries, first page of
20, moto in-process with its one-partition Query shim; BENCHMARKS.md has the latest run):

| | 1k median | 100k median | ratio median | ratio worst | items read / first page at 100k |
|---|---|---|---|---|---|
| rank order, shorter list drained | 66.3 ms | 504.5 ms | ×6.6 | ×28.9 (черный white) | median ~1,920, max 7,458 |
| match lists | 61.9 ms | 67.5 ms | ×1.16 | ×1.38 (lapt: one word) | median 96, max 100 |

The two never-together queries ("кроссовки sneakers", "черный white") read 36 items at 100k
and answer in about the time they take at 1k (×1.01, ×0.87). One-word queries read about one
page of postings per term at any size (×1.01–×1.40).

Stopwords: a name's stopwords are indexed (weight of the name), descriptions'
are not; a query keeps its stopwords only when it has nothing else, so ``q=The`` finds "The Road"
and "The Pragmatic Programmer", ``q=И`` finds "И пришёл паук", while "case for iphone" still
ignores "for".

Only available products are indexed; products of blocked sellers (or sellers without a shop)
stay indexed and are dropped when a page is shown. Items per product: one posting per distinct
term + one search document (≈ 18 in the bench catalog); vocabulary words are shared by the whole
catalog. A change of a product's searchable text rewrites all its postings (their maps change),
as a price change does.

**Hot terms: write-sharded.** A term found in a share f of the products receives f × 10,000
posting writes per second when sellers import 10,000 products/s; a posting is ~0.6 KB, one
WCU. DynamoDB takes 1,000 WCU/s per partition key, so every term in more than 10% of the
products was hot: ``bench/partition_bench.py`` measured TERM#great at 4,734 WCU/s (47% of the
products), TERM#choic 3,817, TERM#nike 2,732; the flag term ``~sale`` follows the share of
products on sale, and a fresh vocabulary's busiest ``VOCAB#<2 chars>`` partition reached ~2,700
WCU/s on a first import. Now, as the listings (``store/keys.py``, "Write sharding" and the
SEARCH section):

- postings live at ``TERM#<term>#<nn>``, nn = a stable hash of the product id modulo
  ``Settings.search_term_shards`` (16: a term every product has, 10,000 WCU/s, with postings up
  to ~1.5 KB, / 1,000 = 15 → 16; the same number as the marketplace-wide listings). A product's
  postings of one term always sit in one shard, the SK is unchanged, and the search document
  records the shard count its postings were written with (``ts``), so the indexer's diff deletes
  what it wrote where it wrote it;
- vocabulary words at ``VOCAB#<2 chars>#<n>``, n = a hash of the word modulo
  ``search_vocab_shards`` (4: ~2,700 / 1,000 → 3, rounded up);
- reads: ``store.postings_page`` is a k-way merge by SK of the term's shards (``store.Postings``),
  which *is* the order one partition had (SKs are unique within a term), so ``query`` above —
  the rank-safety bound, the drain, the cursors — is unchanged and stays exact: each shard's
  Query reads about twice its share of the page (≥ 2 items), a shard whose buffer runs out is
  read again only if its frontier is not past the best buffered head, and what a Query read
  beyond a page stays buffered for the next one (read once). The shards' Queries go out at the
  same time (a thread pool of ``listing_read_threads``), so a term's page waits for one round
  trip. A prefix's vocabulary Query becomes one per vocabulary shard, merged by word.

Measured (``bench/partition_bench.py``, 20,000 products): many sellers at 10,000 products/s,
max per key 9,848 WCU/s before (every key unsharded; search alone 4,734 on TERM#great) → 684
after (VOCAB#ni#1; the busiest TERM shard: TERM#great#02, 309); one seller at 3,300 products/s, 3,300 → 839
(SELLER#<seller>#02, the base-table listing items). No key of any table above 1,000.

The trade-off is read fan-out, paid by rare terms too: a word's first page is 16 parallel
Queries (~2 items each) instead of one, and an as-you-type word expanding to
``PREFIX_EXPANSION`` (20) terms 21 × 16. In DynamoDB that costs read units (0.5 RCU a Query at
least) and connections, not latency (parallel); sharding only the hot terms would avoid it but
needs the reader to learn each term's shard count (a VOCAB read before the postings, a
sequential round trip) and a term that turns hot to have its postings moved: not built. In
moto every Query cost O(table) until the tests applied ``local/patches.query_reads_one_partition``
(the same patch the local stack runs): the oracle tests went from 35 s to 364 s with the
fan-out, and to 15 s with the patch.

Existing data: readers also merge the unsharded ``TERM#<term>`` / ``VOCAB#<2 chars>`` partitions
while ``SEARCH_LEGACY_READS`` is on (the default; equal SKs from a move in flight are read
once). ``python -m chalicelib.search.indexer rebuild`` re-indexes every product against its
stored document: a document without ``ts`` (or with another count) moves all its postings and
words to the shards, the others write nothing. Then set ``SEARCH_LEGACY_READS=false``
(docs/runbook.md, "Search write shards"). Changing a shard count on a deployment with data
needs the same rebuild (the documents record the old count, so the diff finds the old items).
"""
