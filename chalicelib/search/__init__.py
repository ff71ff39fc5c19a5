"""Product search: Russian and English, ranked, as-you-type, served from DynamoDB without a Scan.

Modules, from pure to IO:

- ``text``      normalization (NFKC, casefold, ё→е, HTML out), words, Snowball stems by script
                (+ Russian fleeting-vowel folding: ботинок/ботинки), stopwords, query words;
- ``document``  a product → its index state (term weights, posting items, search document) and
                the minimal diff between two states;
- ``store``     the SearchTable adapter (Query, BatchGetItem, BatchWriteItem with backoff);
- ``indexer``   ``apply_changes(changes)``: the catalog calls it after writing products;
- ``query``     ``search(q, **filters)``: one word → a lazy merge of its terms' postings; several
                words → the words' lists in rank order, every word checked in the postings'
                term maps, stopped when the page is rank-safe, complete, or at the read bound.

The index (SearchTable, PK/SK only; GSI1 unused):

| access pattern | key condition | example |
|---|---|---|
| a term's postings, strongest first (query) | PK=TERM#<term>, Query in SK order, Limit 50…1000 | TERM#ботинк |
| one posting (indexer diff) | PK=TERM#<term>, SK=RANK#<999-rank>#PRODUCT#<pid> | TERM#boot, RANK#0988#PRODUCT#p… |
| what is indexed for a product (diff; trimmed maps) | BatchGetItem PK=SEARCHDOC#<pid> | SEARCHDOC#pq3x…, SEARCHDOC |
| words beginning with a typed prefix | PK=VOCAB#<first 2 chars>, SK begins_with WORD#<prefix> | VOCAB#кр, WORD#крос |
| is a word in the vocabulary (indexer) | BatchGetItem PK=VOCAB#<2 chars>, SK=WORD#<word> | VOCAB#бо, WORD#ботинок |

rank = weight (name 10 + vendor 6 + model 4 + category 3 + description 1, summed over the
fields the term is in) + 100 when the product's name is exactly that term. Posting body (one
JSON attribute ``r``): product id, weight, exact flag, name key, the product's term → weight map
(≤ 64 terms, strongest first; ``tt`` when description terms were trimmed), name, price,
currency, picture, seller, category id and key, vendor — what a result shows, what the filters
read and what the other words of a query are checked against. About 0.6 KB (one write unit).

Query cost per results page, whatever the catalog size: words × 50 first-page postings + at
most ``query.MAX_DRIVER_READ`` (1000) more; a one-word query ≈ one page per term it expands to.
For very common word combinations the results are the best matches among the postings read
(``query`` module doc: the bound and the rank-safe stop).

Only available products are indexed; products of blocked sellers (or sellers without a shop)
stay indexed and are dropped when a page is shown. Items per product: one posting per distinct
term + one search document (≈ 18 in the bench catalog); vocabulary words are shared by the whole
catalog. A change of a product's searchable text rewrites all its postings (their maps change),
as a price change does.
"""
