"""Product search: Russian and English, ranked, as-you-type, served from DynamoDB without a Scan.

Modules, from pure to IO:

- ``text``      normalization (NFKC, casefold, ё→е, HTML out), words, Snowball stems by script
                (+ Russian fleeting-vowel folding: ботинок/ботинки), stopwords, query words;
- ``document``  a product → its index state (term weights, posting items, search document) and
                the minimal diff between two states;
- ``store``     the SearchTable adapter (Query, BatchGetItem, BatchWriteItem with backoff);
- ``indexer``   ``apply_changes(changes)``: the catalog calls it after writing products;
- ``facets``    facet counts (category, seller, price range, on sale, in stock) of a bounded
                set of matches; GET /search and GET /products both use it;
- ``query``     ``search(q, **filters)``: one word → a lazy merge of its terms' postings; several
                words → the words' lists in rank order, every word checked in the postings'
                term maps, stopped when the page is rank-safe, complete, or at the read bound.

The index (SearchTable, PK/SK only; GSI1 unused):

| access pattern | key condition | example |
|---|---|---|
| a term's postings, strongest first (query) | PK=TERM#<term>#<nn> ×16, Queries merged by SK | TERM#ботинк#07 |
| on sale / by an author's word (flags) | PK=TERM#~sale#<nn>, TERM#~a:<term>#<nn> (same shape) | TERM#~sale#03 |
| one posting (indexer diff) | PK=TERM#<term>#<nn>, SK=RANK#<999-rank>#PRODUCT#<pid> | TERM#boot#12, RANK#0988#… |
| what is indexed for a product (diff; trimmed maps) | BatchGetItem PK=SEARCHDOC#<pid> | SEARCHDOC#pq3x…, SEARCHDOC |
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

**Exact AND: the design and why.** A multi-word query returns every product
with all its words, across the pages, in rank order (score desc, product id asc), whatever the
words' frequencies. It reads its words' postings in rank order (SK order: exact name, weight,
product id) and checks the other words in each posting's term map. It stops when
- a driver list ended (every match was read), or
- ``limit`` + 1 matches after the cursor rank above anything unread: each word's contribution
  is bounded by its list's last weight read, plus the exact-name bonus while every list is still
  among name postings; an unread product of exactly that bound is above the last product id
  read in every list (ids are in order within one weight), so a match of that score with a
  smaller id is safe too (``MultiWord.safe``);
- else, past ``MAX_DRIVER_READ`` postings, the shortest driver list (estimated from the first
  pages) is read to its end (``MultiWord.drain``, pages of 1000): every match is then known.
The previous version stopped at the bound (or at a "read as much again" heuristic) and showed
the best matches among what it had read: at 100k products some three-word queries returned 4 of
5 matches, and deep pages could skip products. Now the oracle tests
(``tests/functional/test_search_exact.py``: generated Russian and English catalogs with common,
rare and common-but-rarely-together words; every page compared with brute force) pass with the
default and with tiny bounds.

Measured (``bench/search_bench.py``, 20k-product catalog, first page of 20, items read):
one-word queries ~61 at 1k and 20k (flat); two- and three-word queries 90–147 at 1k and
374–1,607 at 20k — the price of exactness is reading the shorter list to its end when the
matches are not rank-safe earlier (common words whose matches tie at the same score, and pairs
that are common but never together: "кроссовки sneakers", "черный white" read ~1,230–1,607 at
20k). So exact AND here costs O(shorter list), not O(page): the latency ratio against 1k grows
with the catalog (BENCHMARKS.md has the 100k figure). Designs weighed:
- *read the shorter list to its end* (chosen now): no new items, no extra writes, exact; cost
  = the shorter list (~0.6 KB a posting) for queries that are not rank-safe early;
- *sorted-id intersection* (a KEYS_ONLY GSI on postings keyed by product id, intersected in
  memory, then the matches' postings fetched to rank): the same O(list) reads in ~10× fewer
  bytes (keys only), but rank order still needs every match scored, a second copy of every
  posting write, and moto's GSI Query is O(table): not measured;
- *term-pair postings* (one posting per pair of a product's name/vendor/model/category terms,
  sorted by the pair's score): the only one whose first page is O(page) for two words however
  common. Measured on the bench catalog (``search_bench.pair_cost``, medians per product): 17
  postings now; the pairs of strong-field terms add 28 (×2.6 index writes), and exactness for a
  word found only in a description needs the pairs of a strong term with any term, +98 (×6.8),
  with three-word queries still intersecting pair lists. Every extra posting also lands on the
  TERM partitions (write-sharded, "Hot terms" below): not built.

Query cost per results page: a one-word query ≈ one page per term it expands to; a longer
query words × 50 first-page postings + up to ``query.MAX_DRIVER_READ`` (1000) more in rank
order, then (only when not rank-safe by then) the rest of the shortest driver list.

**Filters that stay exact: flag terms.** A filter applied to
postings as they are read is exact only while the reading is: a one-word query reads at most
``MAX_READ`` postings past its first pages, so a rare filter match deep in a common word's list
would be missed. ``on_sale=true`` and ``author=`` are therefore *required terms*: a product on
sale (old price above price) is indexed under ``~sale``, a book under ``~a:<term>`` for each word
of its author (``document.SALE_TERM``, ``author_terms``; ``~`` is never part of a word), and the
query adds them to its words with no points (``Word.flag``). The multi-word machinery then does
the rest: a short flag list drives (few products on sale: the sale list ends at once), a long
one is checked in the term maps, which always carry flag terms whatever the 64-term cap; the
exact-name bonus and the rank bound ignore them. A re-import that changes prices changes the
product's terms (the flag), so the diff moves it in or out (``old_price`` is one of the import's
searchable fields). ``on_sale=false`` and the seller/category/price filters stay filters.
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
reads (one-word: ≤ ``MAX_READ`` postings past the first pages; longer: ≤ words × ``FIRST_PAGE`` +
``MAX_DRIVER_READ`` in rank order, without the drain), plus a BatchGetItem of shops and one of
stock per 100 matches; the answer says ``complete: false`` when there were more. Results read the
page's products once (``store/catalog.live``) for stock, availability and the short description:
postings stay small, and stock, which every checkout changes, is never stale.

**Speed: not reached, and why.** The exact AND above costs O(shorter list)
when a page is not rank-safe early — "кроссовки sneakers" and "черный white" (common words that
are never together) must read a whole list to prove there is nothing, and "черные кроссовки",
"running sneakers" (common words whose many matches tie) read the shorter list to its end too.

Measured (``python -m bench.search_bench``, 1k vs 100k products, 12 queries, first page of 20,
moto in-process with its one-partition Query shim), with the term shards of "Hot terms":

| | 1k median | 100k median | ratio median | ratio worst | items read / first page at 100k |
|---|---|---|---|---|---|
| before the shards (BENCHMARKS.md) | 23.7 ms | 350.4 ms | ×15.7 | ×48.1 | median 1,798, max 7,303 |
| sharded (16 + legacy streams a term) | 66.3 ms | 504.5 ms | ×6.6 | ×28.9 (черный white) | median ~1,920, max 7,458 |

The better ratio is *not* a better design: the 1k baseline got slower (every term is now 17
Queries, and moto spends most of a Query serializing its answer: a profile of "черный white"
at 20k puts 1.4 s of 2.2 s in moto's response serializer), while the 100k cost is what it was
— items read: one-word queries ~97 at 100k (flat), the draining ones 1,566–7,458, the length
of their shorter list (кроссовки: 5,905 postings). In moto the latency follows the items read,
so no design that reads O(shorter list) can reach ×1.3 / ×2.0 here; the goal is not met.

What would bound the work per page, and why it is not built:
- *term-pair postings* (a posting per pair of a product's terms, ordered by the pair's score):
  the only candidate whose first page is O(page) for two words however common, and the only one
  that proves "never together" in one empty Query. Exactness needs the pairs where one word is in
  a description only (a product with "кроссовки" in its name and "sneakers" in its description
  matches): (strong term, any term) is +98 postings per product (×6.8 index writes, median of the
  bench catalog), strong pairs only +28 (×2.6) but then inexact. The partition limit no longer
  decides it (pair partitions would be sharded like terms); the total write units (×6.8 per
  import) and index size do, and three-word queries still intersect pair lists;
- *a product-id-ordered keys-only copy* intersected page by page: the same O(shorter list)
  items (in ~15× fewer bytes: DynamoDB read units and transfer, not item count), so in DynamoDB
  it would cut latency and cost of the draining queries several-fold but not bound them, and
  every posting write becomes two (each term shard ~300 → ~600 WCU/s at 10,000 products/s:
  still under the limit). Not built in the time available;
- the rank-order phase cannot prove absence by design (random ids interleave), so skipping
  blocks or racing the lists saves at most the ~1,000 postings read before the drain;
- *packed match lists* (a word's postings as (product, weight) pairs packed many to an item,
  intersected in memory, then the page's postings fetched): items per page bounded by the
  lists' bytes / 400 KB, so "never together" is proven in a few reads. Kept up to date on every
  product write they cost the packed item's size in write units per change (a 100 KB item:
  100 WCU per product write, a hot key at 10 changes/s), so on DynamoDB they need a compactor:
  postings written as now, merged into packed segments in the background, a query reading the
  segment plus the postings written since. Its exactness (deletes, cursors, facets) needs the
  oracle tests extended to segment + recent postings: not built;
- *the exact-name bonus in the rank bound* (the cheapest next step, measured, not built): while
  every list is still among name postings, an unread product may have exactly the query's words
  as its name and score ``NAME_EXACT_BONUS`` more, so common words that are in most names
  ("кроссовки": nearly every posting is a name posting) read their name postings to the end.
  With the bonus left out of the bound (not exact: potential only) the 20k bench catalog reads
  "черные кроссовки" 1,316 → 932, "кроссовки nike" 1,328 → 348, "running sneakers" 1,739 → 542
  postings; the never-together and few-match queries are unchanged. Exact, it needs the products
  whose name is exactly the query's words read up front: one ``NAME#<name key>`` item per product
  (+1 write per product, sharded like the terms), read when every word is whole, and a rebuild
  before it may be trusted (documents indexed before would lack it). It would lower the median,
  not the worst query.
Exactness was not relaxed: the oracle tests pass with the default and with tiny bounds.

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
