"""Answering a search: one word → its postings in rank order; more → match lists intersected.

1. ``text.query_words``: the query's terms; the last word is also a prefix (as-you-type).
2. A one-word query (every keystroke of a first word) merges its terms' postings lazily, page by
   page: postings are sorted by that word's score already (``document.rank_value``), so it stops
   after one results page (``one_word``).
3. A longer query (``matched``) reads every term's match list (``matches``: all its products,
   packed), intersects the words' product sets, scores and sorts the matches and reads the
   page's summaries from the search documents: exact, at a cost that does not grow with the
   catalog (the package doc, "Exact AND at any catalog size").
   When a word's terms cannot be listed (a one-letter last word, a prefix beginning more than
   ``PREFIX_EXPANSION`` words) or match lists are off, it (``multi_word``) reads its words'
   postings in rank order and checks every
   other word against the term map each posting carries (``document.term_map``): no document is
   read (but for a product whose map was trimmed, see ``document``). First, in parallel: the
   first ``FIRST_PAGE`` postings of every word's own term (merged from its write shards:
   ``store.Postings``) and the vocabulary words the prefix begins. Then, a page at a time
   (``MultiWord.more``), the list likeliest to bring matches that rank above anything unread —
   the rarer word drives: a short list ends at once.
   A word's list can drive when it holds every product the word matches: any whole word, and
   the last one when it is typed whole (its vocabulary expansion is just its own term); a
   one-letter last word is never read, only checked in the maps. Reading stops when
   - a driver list ended: every match was read, the results are exact and complete;
   - ``limit`` + 1 matches after the cursor rank above anything unread (Fagin's threshold: an
     unread product's weight in each driver list is at most where that list's reading stopped,
     plus the exact-name bonus while every list is among name postings; ties by product id,
     see ``MultiWord.safe``): rank-safe;
   - ``MAX_DRIVER_READ`` postings were read past the first pages: the shortest driver list is
     then read to its end (``MultiWord.drain``), which makes the matches complete.
4. Score = Σ 2×weight for a word's own term (1×weight for a prefix completion) + a bonus when
   the query's terms are exactly the name's; ties by product id. Products of blocked sellers
   (or sellers without a shop, as in GET /products) are dropped page by page (one
   BatchGetItem of shops per page).

**Cost** grows with the matches a query touches, not with the catalog, for one-word queries
(about one page of postings per term it expands to). A longer query reads 16 Queries per term
(one packed item each, plus fresh entries not yet compacted) and the page's documents; in the
rank-order fallback, words × ``FIRST_PAGE`` + up to ``MAX_DRIVER_READ`` postings, and when its
page is not rank-safe by then, the rest of its shortest driver list: exact, at O(that list). A
one-word query with filters reads at most ``MAX_READ`` postings past its first pages (filters on
a one-word query are bounded, not exact).

Per-term document frequencies are not stored: a counter would be an UpdateItem per term per
product write (BatchWriteItem cannot add), on hot keys for common terms; the first pages give
exact counts for short lists and the measured match density for long ones, which is what the
cost depends on.

The cursor is (score, product id) of the last result, signed and bound to the query: the next
page recomputes the ranking and continues strictly after it, so it stays stable while the
index changes underneath (a product that moved is neither repeated nor required). Page k
re-reads what the pages before it read (deep pages cost more; shoppers rarely go past a few).
Each page is exact, so the pages together are every match in rank order.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from chalicelib.config import settings
from chalicelib.errors import ValidationFailed
from chalicelib.search import document, facets, matches, store, text
from chalicelib.store import accounts, keys
from chalicelib.store.pagination import decode_cursor, encode_cursor

FIRST_PAGE = 50  # postings of each word read to choose the driver
MAX_DRIVER_READ = 1000  # driver postings read for a query at most (beyond its first page)
MAX_READ = 1000  # one-word query: postings read beyond the first pages at most
MAX_PAGE = 1000  # one Query's Limit at most (≈ 1 MB of postings: DynamoDB's page size)
DRAIN_ALL = 10**9  # a read of a whole list
PREFIX_EXPANSION = 20
MAX_WORDS = 8
RESULT_FIELDS = ("product_id", "name", "price", "old_price", "currency", "picture", "seller_id", "category_id",
                 "category_key", "vendor", "author", "available")


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="search")


@dataclass
class Word:
    """One query word and the terms it accepts."""

    word: text.QueryWord
    expansion: set[str] = field(default_factory=set)  # its own term + terms of words it begins
    expansion_complete: bool = True  # False: the prefix begins more words than were read

    @property
    def flag(self) -> bool:
        """A required property (``document.is_flag``), not a word: it adds no points."""
        return document.is_flag(self.word.term)

    def points(self, term: str, weight: int) -> int:
        if self.flag:
            return 0
        return 2 * weight if term == self.word.term else weight

    def accepts(self, term: str) -> bool:
        return term == self.word.term or term in self.expansion or (
            self.word.prefix and term.startswith(self.word.surface)
        )

    def match(self, terms: dict[str, int]) -> tuple[int, str] | None:
        """Best (points, term) of a product's terms for this word, None if none."""
        best: tuple[int, str] | None = None
        for term, weight in terms.items():
            if self.accepts(term):
                pts = self.points(term, int(weight))
                if best is None or pts > best[0] or (pts == best[0] and term < best[1]):
                    best = (pts, term)
        return best

    @property
    def can_drive(self) -> bool:
        """Its own term's postings hold every product it matches."""
        if not self.word.prefix:
            return True
        return len(self.word.surface) >= 2 and self.expansion_complete and self.expansion <= {self.word.term}


def score(words: list[Word], terms: dict[str, int], nk: str) -> int | None:
    """A product's score for the query (None: some word does not match). ``terms`` is its term
    map, ``nk`` its name key."""
    return score_by(words, terms, lambda matched: bool(nk) and nk == document.name_key(matched))


def score_by(words: list[Word], terms: dict[str, int], is_name: Callable[[list[str]], bool]) -> int | None:
    """``score``, the product's name compared by ``is_name(the terms the words matched)``: its
    name key, or (match lists) the hash of it."""
    total, matched = 0, []
    for w in words:
        found = w.match(terms)
        if found is None:
            return None
        total += found[0]
        if not w.flag:
            matched.append(found[1])
    if is_name(matched):
        total += document.NAME_EXACT_BONUS
    return total


@dataclass(frozen=True)
class Hit:
    score: int
    product_id: str
    posting: dict[str, Any]

    @property
    def key(self) -> tuple[int, str]:
        return (-self.score, self.product_id)

    def result(self) -> dict[str, Any]:
        out = {k: store.plain(self.posting[k]) for k in RESULT_FIELDS if k in self.posting}
        out["score"] = self.score
        return out


def search(
    q: str,
    *,
    category: str | None = None,
    seller: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    available: bool | None = None,
    on_sale: bool | None = None,
    author: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of products matching every word of ``q``, best first, and the next cursor.

    The index holds products the feed offers; one that sold out since says ``available:
    false`` (and ``available=true`` leaves it out). ``available=False`` matches nothing.
    ``on_sale=True`` requires the sale flag term (``document.SALE_TERM``) and ``author`` the
    flag term of each of its words (``document.author_terms``), like more words worth no
    points, so they are exact across the pages; ``on_sale=False`` is a filter.
    """
    words, accept, binding = _prepare(q, category, seller, min_price, max_price, available, on_sale, author)
    after = _decode(cursor, binding)
    if not words:
        return [], None
    if len(words) == 1:
        hits = one_word(words[0], accept, limit)
    else:
        listed = matched(words, accept, after=after)
        hits = listed if listed is not None else multi_word(words, accept, need=limit + 1, after=after)
    items, next_cursor = _page(hits, after, limit, binding)
    return _with_stock(items, only_on_sale=available is True), next_cursor


def _prepare(q: str, category: str | None, seller: str | None, min_price: int | None, max_price: int | None,
             available: bool | None, on_sale: bool | None,
             author: str | None) -> tuple[list[text.QueryWord], store.Accept, str]:
    """The words a query requires (its own, then the flag terms of its filters), the filter of
    postings and the cursor binding. No words: nothing can match."""
    words = text.query_words(q)
    if len(words) > MAX_WORDS:
        raise ValidationFailed.one("q", f"at most {MAX_WORDS} distinct words")
    required = document.author_terms(author) if author else []
    if author and not required:
        raise ValidationFailed.one("author", "no word to find")
    if len(required) > MAX_WORDS:
        raise ValidationFailed.one("author", f"at most {MAX_WORDS} distinct words")
    if on_sale:
        required.append(document.SALE_TERM)
    binding = _binding(words, category, seller, min_price, max_price, available, on_sale, required)
    accept = Filters(category, seller, min_price, max_price, False if on_sale is False else None).accept
    if not words or available is False or (min_price is not None and max_price is not None and min_price > max_price):
        return [], accept, binding
    return [*words, *(text.QueryWord(surface=t, term=t, prefix=False) for t in required)], accept, binding


def search_facets(q: str, *, category: str | None = None, seller: str | None = None, min_price: int | None = None,
                  max_price: int | None = None, available: bool | None = None, on_sale: bool | None = None,
                  author: str | None = None) -> dict[str, Any]:
    """Facet counts over the query's matches (``facets``): at most ``facets.MAX_ROWS`` matches
    counted, read the way the query reads — a one-word query at most ``MAX_READ`` postings past
    its first pages, a longer one its match lists (every match: the first ``MAX_ROWS`` by score
    are counted), or, when its words cannot be listed, words × ``FIRST_PAGE`` +
    ``MAX_DRIVER_READ`` postings in rank order (no drain: past that the counts say ``complete:
    false``). Plus one BatchGetItem of shops and, for stock, one per 100 matches counted."""
    words, accept, _ = _prepare(q, category, seller, min_price, max_price, available, on_sale, author)
    report: dict[str, bool] = {"complete": True}
    if not words:
        return facets.count([], complete=True)
    if len(words) == 1:
        hits: Iterator[Hit] = one_word(words[0], accept, facets.MAX_ROWS, report=report)
    else:
        listed = matched(words, accept)  # every match, in score order: complete unless > MAX_ROWS
        hits = listed if listed is not None else multi_word(words, accept, need=facets.MAX_ROWS + 1, drain=False,
                                                            report=report)
    counted = [h.posting for _, h in zip(range(facets.MAX_ROWS + 1), hits, strict=False)]
    complete = report["complete"] and len(counted) <= facets.MAX_ROWS
    counted = counted[: facets.MAX_ROWS]
    shops = accounts.get_shops(sorted({str(p.get("seller_id", "")) for p in counted})) if counted else {}
    counted = [p for p in counted if _shown_seller(shops.get(str(p.get("seller_id", ""))))]
    from chalicelib.store import catalog

    live = catalog.on_sale([p["product_id"] for p in counted]) if counted else {}
    if available:
        counted = [p for p in counted if live.get(p["product_id"])]
    rows = [facets.Row(seller_id=str(p.get("seller_id", "")), category_id=p.get("category_key"),
                       category_name=p.get("category_name"), price=int(p.get("price", 0)),
                       currency=str(p.get("currency", "")), on_sale=p.get("old_price") is not None,
                       in_stock=bool(live.get(p["product_id"]))) for p in counted]
    return facets.count(rows, complete=complete, shop_names={s: shop.get("name") for s, shop in shops.items()})


def _with_stock(items: list[dict[str, Any]], *, only_on_sale: bool) -> list[dict[str, Any]]:
    """``available`` as of now (a product that sold out since it was indexed says false, and
    ``available=true`` leaves it out), the stock and the short description: one BatchGetItem of
    the page's products (``store/catalog.live``), so postings stay small and stock is current."""
    if not items:
        return items
    from chalicelib.store import catalog

    now = catalog.live([i["product_id"] for i in items])
    out = [{**i, "available": False, **(now[i["product_id"]].card() if i["product_id"] in now else {})}
           for i in items]
    return [i for i in out if i["available"]] if only_on_sale else out


@dataclass(frozen=True)
class Filters:
    """GET /products' filters, applied to a posting's summary."""

    category: str | None = None  # the listing's category key, or the seller's own category id
    seller: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    on_sale: bool | None = None  # only False is a filter (True is the sale flag term)

    def accept(self, p: dict[str, Any]) -> bool:
        return (
            (self.on_sale is None or (p.get("old_price") is not None) == self.on_sale)
            and (self.seller is None or p.get("seller_id") == self.seller)
            and (self.category is None or self.category in (p.get("category_key"), p.get("category_id")))
            and (self.min_price is None or p.get("price", 0) >= self.min_price)
            and (self.max_price is None or p.get("price", 0) <= self.max_price)
        )


def expand(word: text.QueryWord) -> Word:
    """The terms a word accepts: its own, and for the last word those of the words it begins."""
    out = Word(word, {word.term})
    if word.prefix and len(word.surface) >= 2:
        found = store.vocab_terms(word.surface, limit=PREFIX_EXPANSION)
        out.expansion |= set(found.values())
        out.expansion_complete = len(found) < PREFIX_EXPANSION
    elif word.prefix:
        out.expansion_complete = False  # one letter begins too many words to list
    return out


class _Reader:
    """One term's postings, fetched lazily page by page (pages grow while they are needed)."""

    def __init__(self, term: str, points: int, accept: store.Accept, page: int):
        self.term, self.points, self.accept, self.page = term, points, accept, page
        self.items: list[dict[str, Any]] = []
        self.pos, self.start, self.done, self.read = 0, None, False, 0

    def fetch(self) -> _Reader:
        items, self.start = store.postings_page(self.term, limit=self.page, start=self.start)
        self.read += len(items)
        self.items = self.items[self.pos :] + [p for p in items if self.accept(p)]
        self.pos, self.done = 0, self.start is None
        self.page = min(self.page * 4, MAX_PAGE)
        return self

    def head(self, budget: list[int]) -> dict[str, Any] | None:
        while self.pos >= len(self.items) and not self.done and budget[0] > 0:
            before = self.read
            self.fetch()
            budget[0] -= self.read - before
        return self.items[self.pos] if self.pos < len(self.items) else None

    @property
    def buffered(self) -> bool:
        return self.pos < len(self.items)

    def score(self, posting: dict[str, Any]) -> int:
        return self.points * int(posting["w"]) + document.NAME_EXACT_BONUS * int(posting.get("x", 0))


def one_word(word: text.QueryWord, accept: store.Accept, limit: int,
             report: dict[str, bool] | None = None) -> Iterator[Hit]:
    """The hits of a one-word query in score order, read lazily: a k-way merge of the postings
    of the word's terms (each already in score order), a product counted at its best term.
    A reader whose page ran out waits in the heap at its last key (a lower bound of what comes
    next, the list being in score order) and reads its next page only when that key comes up —
    so a full results page costs no read ahead. Past the first pages at most ``MAX_READ`` more
    postings are read."""
    terms = sorted(expand(word).expansion - {word.term})
    readers = [_Reader(word.term, 2, accept, limit + 1)] + [_Reader(t, 1, accept, limit + 1) for t in terms]
    list(_pool().map(_Reader.fetch, readers))  # first pages in parallel
    budget = [MAX_READ]
    heap: list[tuple[int, str, int, bool]] = []  # (-score, product id, reader, placeholder)

    def push(i: int, last: tuple[int, str] | None = None) -> None:
        r = readers[i]
        if last is not None and not r.buffered and not r.done:
            heapq.heappush(heap, (last[0], last[1], i, True))
            return
        posting = r.head(budget)
        if posting is not None:
            heapq.heappush(heap, (-r.score(posting), posting["product_id"], i, False))

    for i in range(len(readers)):
        push(i)
    seen: set[str] = set()
    while heap:
        neg, pid, i, placeholder = heapq.heappop(heap)
        if placeholder:
            push(i)
            continue
        posting = readers[i].items[readers[i].pos]
        readers[i].pos += 1
        push(i, (neg, pid))
        if pid not in seen:
            seen.add(pid)
            yield Hit(-neg, pid, posting)
    if report is not None:  # the lists ended, or the read bound stopped them
        report["complete"] = all(r.done and not r.buffered for r in readers)


MAX_TERM_WEIGHT = sum(w for _, w in document.FIELD_WEIGHTS)  # a term in every field
NAME_WEIGHT = dict(document.FIELD_WEIGHTS)["name"]  # a term of the name weighs at least this


@dataclass
class _List:
    """The postings of one word's own term read so far (in rank order: exact names, then weight)."""

    word: Word
    read: int = 0  # postings read (the cost)
    start: dict[str, Any] | None = None  # where the next page begins
    done: bool = False  # the list ended
    last: tuple[int, int] = (1, MAX_TERM_WEIGHT)  # (exact flag, weight) of the last posting read
    last_id: str = ""  # its product id (within one rank, postings are in product id order)
    found: list[int] = field(default_factory=list)  # scores of the matches this list found first
    page: int = FIRST_PAGE  # the size of its last page
    sample: list[dict[str, int]] = field(default_factory=list)  # term maps of its first page

    def yield_(self, least: int) -> float:
        """Matches scoring at least ``least`` found per posting read: what another page may bring."""
        return sum(1 for s in self.found if s >= least) / max(self.read, 1)

    def saw(self, page: list[dict[str, Any]], start: dict[str, Any] | None) -> None:
        self.read += len(page)
        self.start, self.done = start, start is None
        if page:
            self.last = (int(page[-1].get("x", 0)), int(page[-1]["w"]))
            self.last_id = page[-1]["product_id"]

    def bound(self) -> int:
        """The most this word adds to the score of a product not read yet from this list."""
        if self.done and self.word.can_drive:
            return 0  # every product with the term was read
        exact, weight = self.last
        own = self.word.points(self.word.word.term, MAX_TERM_WEIGHT if exact else weight)
        return own if self.word.can_drive else max(own, MAX_TERM_WEIGHT)  # completions: any weight


@dataclass
class MultiWord:
    """A multi-word query's state: what was read and the matches found (see module doc)."""

    words: list[Word]
    accept: store.Accept
    hits: dict[str, Hit] = field(default_factory=dict)
    lists: list[_List] = field(default_factory=list)
    read: int = 0  # postings read in all
    documents: int = 0  # search documents read (trimmed maps)
    drained: int = 0  # postings read by ``drain`` (past the rank-order bound)
    rarity: dict[int, float] = field(default_factory=dict)  # id(list) -> estimated log length

    def add(self, postings: list[dict[str, Any]], lst: _List) -> None:
        """Score postings of ``lst``'s term against every word (from their term maps)."""
        term, pending = lst.word.word.term, []
        for p in postings:
            pid = p["product_id"]
            if pid in self.hits or not self.accept(p):
                continue
            terms = {**(p.get("t") or {}), term: int(p["w"])}
            total = score(self.words, terms, p.get("nk") or "")
            if total is not None:
                self.hits[pid] = Hit(total, pid, p)
                lst.found.append(total)
            elif p.get("tt") or "t" not in p:  # trimmed (or an old posting): the document decides
                pending.append(p)
        if pending:
            docs = _documents([p["product_id"] for p in pending])
            self.documents += len(pending)
            for p in pending:
                terms = document.stored_terms(docs.get(p["product_id"]))
                total = score(self.words, terms, p.get("nk") or "") if terms else None
                if total is not None:
                    self.hits[p["product_id"]] = Hit(total, p["product_id"], p)
                    lst.found.append(total)

    def start(self) -> None:
        """The vocabulary expansion and every word's first page, in parallel."""
        jobs: list[tuple[_List, Future[Any]]] = []
        expansions: dict[int, Future[Word]] = {}
        for i, w in enumerate(self.words):
            if w.word.prefix:
                expansions[i] = _pool().submit(expand, w.word)
            if not w.word.prefix or len(w.word.surface) >= 2:
                jobs.append((_List(w), _pool().submit(store.postings_page, w.word.term, limit=FIRST_PAGE)))
        for i, job in expansions.items():
            self.words[i] = job.result()
        for lst, job in jobs:
            lst.word = next(w for w in self.words if w.word is lst.word.word)
            page, start = job.result()
            lst.saw(page, start)
            lst.sample = [p.get("t") or {} for p in page]
            self.read += len(page)
            self.add(page, lst)
            self.lists.append(lst)
        self.rarity = self._rarity()

    def _rarity(self) -> dict[int, float]:
        """log of each driver list's length relative to the others', estimated from the first
        pages: if a share a of L's postings have W's term and a share b of W's have L's, then
        len(L) / len(W) ≈ b / a (both count the products with both). Lower = rarer = denser in
        matches. No stored frequencies needed."""
        out: dict[int, float] = {}
        drivers = self.drivers
        for lst in drivers:
            total = 0.0
            for other in drivers:
                if other is lst:
                    continue
                a = sum(1 for t in lst.sample if other.word.word.term in t) / max(len(lst.sample), 1)
                b = sum(1 for t in other.sample if lst.word.word.term in t) / max(len(other.sample), 1)
                total += math.log((b + 0.01) / (a + 0.01))
            out[id(lst)] = total
        return out

    @property
    def drivers(self) -> list[_List]:
        """The lists read on: those holding every product their word matches."""
        return [lst for lst in self.lists if lst.word.can_drive]

    @property
    def exhausted(self) -> bool:
        """Every match has been read: a driver list ended (every match has its term)."""
        return any(lst.done for lst in self.drivers)

    @property
    def capped(self) -> bool:
        return self.read >= len(self.lists) * FIRST_PAGE + MAX_DRIVER_READ or not self.drivers

    def ahead(self, floor: tuple[int, str] | None, least: int = 0) -> int:
        """Matches ranked after ``floor`` (a hit's key) scoring at least ``least``."""
        return sum(1 for h in self.hits.values() if (floor is None or h.key > floor) and h.score >= least)

    def unseen_bound(self) -> int:
        """The best score of a product not read yet: it is in every driver list past what was
        read, so each word adds at most its list's current weight (a one-letter last word, never
        read, may add any weight), and the exact-name bonus while every list is still among
        postings of names (an unseen product may have all the words in its name)."""
        read = {id(lst.word): lst.bound() for lst in self.lists}
        total = sum(read.get(id(w), 2 * MAX_TERM_WEIGHT) for w in self.words)  # unread: its own term at most
        if all(lst.last[0] or lst.last[1] >= NAME_WEIGHT for lst in self.drivers if not lst.done and not lst.word.flag):
            total += document.NAME_EXACT_BONUS
        return total

    def safe(self, floor: tuple[int, str] | None, need: int) -> bool:
        """``need`` matches after ``floor`` rank above anything unread. An unread product scores at
        most ``unseen_bound``; scoring exactly that, it sits at its list's last weight in every
        driver list, where postings are in product id order, so its id is above the last id read
        in each (``tie_id``): a match of that score with a smaller id ranks before it."""
        bound, tie = self.unseen_bound(), self.tie_id()
        return sum(1 for h in self.hits.values() if (floor is None or h.key > floor) and (
            h.score > bound or (h.score == bound and h.product_id < tie))) >= need

    def tie_id(self) -> str:
        """The id an unread product of score ``unseen_bound`` is above ("" when it can be any:
        a word without a driver list, or a list still among exact-name postings)."""
        lists = {id(lst.word): lst for lst in self.drivers if not lst.done}
        if any(id(w) not in lists or lists[id(w)].last[0] for w in self.words):
            return ""
        return max(lists[id(w)].last_id for w in self.words)

    def drain(self) -> None:
        """Read the shortest driver list to its end (one read: its write shards side by side):
        every product with all the words is then among the hits. Which list is shortest is
        estimated from the first pages (``_rarity``), and a list already read further counts for
        what is left of it."""
        todo = [lst for lst in self.drivers if not lst.done]
        lst = min(todo, key=lambda lst: (self.rarity.get(id(lst), 0.0), -lst.read, self.lists.index(lst)))
        # the whole rest in one call: its write shards are read side by side, ``MAX_PAGE`` items
        # a Query, and merged as they come
        page, start = store.postings_page(lst.word.word.term, limit=DRAIN_ALL, start=lst.start)
        lst.saw(page, start)
        self.read += len(page)
        self.drained += len(page)
        self.add(page, lst)

    def more(self, missing: int) -> None:
        """One round: the next page of the driver list likeliest to bring matches that rank above
        anything unread (none yet: the rarest list, densest in matches; then the one whose weight
        can still fall the most, lowering that bound), sized for ``missing`` matches at its
        density so far (between its last page and 4× that)."""
        least = self.unseen_bound()
        todo = [lst for lst in self.drivers if not lst.done]
        lst = max(todo, key=lambda lst: (lst.yield_(least), -round(self.rarity.get(id(lst), 0.0), 1),
                                         lst.bound(), -self.lists.index(lst)))
        density = max(len(lst.found), 1) / max(lst.read, 1)
        room = len(self.lists) * FIRST_PAGE + MAX_DRIVER_READ - self.read
        size = min(max(math.ceil(missing / density * 1.25), lst.page), 4 * lst.page, MAX_PAGE, room)
        page, start = store.postings_page(lst.word.word.term, limit=size, start=lst.start)
        lst.page = size
        lst.saw(page, start)
        self.read += len(page)
        self.add(page, lst)


def multi_word(words: list[text.QueryWord], accept: store.Accept, *, need: int,
               after: tuple[int, str] | None = None, drain: bool = True,
               report: dict[str, bool] | None = None) -> Iterator[Hit]:
    """The hits of a multi-word query in score order, after the cursor ``after``: ``need`` at a
    time, exact. Reading in rank order stops when the matches are complete (a driver list
    ended) or ``need`` of them rank above anything not read yet (rank-safe); when neither
    happened within ``MAX_DRIVER_READ`` postings, the shortest driver list is read to its end
    (``MultiWord.drain``): every match is then known."""
    state = MultiWord([Word(w, {w.term}) for w in words], accept)
    state.start()
    floor = (-after[0], after[1]) if after else None
    while True:
        while not state.exhausted:
            if state.ahead(floor) >= need and state.safe(floor, need):
                break
            if state.capped:
                if not drain:  # facets: the matches read so far, in any order, and say so
                    if report is not None:
                        report["complete"] = False
                    yield from state.hits.values()
                    return
                state.drain()
                break
            state.more(max(need - state.ahead(floor), 1))
        batch = sorted((h for h in state.hits.values() if floor is None or h.key > floor), key=lambda h: h.key)
        for h in batch:
            floor = h.key
            yield h
        if state.exhausted:
            return


# --- multi-word queries on match lists ----------------------------------------------------------


def matched(query_words: list[text.QueryWord], accept: store.Accept, *,
            after: tuple[int, str] | None = None) -> Iterator[Hit] | None:
    """Every product with all the words, from the terms' match lists (``matches``), in score
    order after the cursor ``after``; None when a word's terms cannot be listed (a one-letter
    last word, a prefix beginning more than ``PREFIX_EXPANSION`` words) or match lists are off:
    the caller reads postings in rank order instead (``multi_word``).

    Reads: each term's match-list shards (a Query each, all at once), then the search
    documents of the results in score order until a page is full (more when filters or
    blocked sellers leave some out): bounded by the words' terms, not by the catalog."""
    if not settings().search_match_lists:
        return None
    words = list(_pool().map(lambda w: expand(w) if w.prefix else Word(w, {w.term}), query_words))
    if not all(w.expansion_complete for w in words):
        return None
    lists = MatchLists.read(sorted({t for w in words for t in w.expansion}))
    if lists is None:
        return None
    ranked = sorted(lists.scores(words))
    if after is not None:
        floor = (-after[0], after[1])
        ranked = ranked[bisect.bisect_right(ranked, floor):]
    return _shown(ranked, accept)


@dataclass
class MatchLists:
    """The match lists of a query's terms: term → its shards, as read."""

    shards: dict[str, list[matches.Partition]]

    @classmethod
    def read(cls, terms: list[str]) -> MatchLists | None:
        pks = [(t, pk) for t in terms for pk in keys.search_match_partitions(t)]
        try:
            read = store.in_parallel(lambda tp: matches.read_partition(tp[1]), pks)
        except matches.TornRead:
            return None  # compactions kept landing inside the read: read postings instead
        busy = [p for p in read if p.due()]
        if busy:  # the next query reads them packed
            store.in_parallel(matches.compact_quietly, busy)
        out: dict[str, list[matches.Partition]] = {t: [] for t in terms}
        for (term, _), part in zip(pks, read, strict=True):
            out[term].append(part)
        return cls(out)

    def size(self, word: Word) -> int:
        return sum(p.size() for t in word.expansion for p in self.shards[t])

    def ids(self, word: Word) -> set[str]:
        """Every product the word matches (any of its terms)."""
        return set().union(*(p.ids() for t in word.expansion for p in self.shards[t]))

    def scores(self, words: list[Word]) -> Iterator[tuple[int, str]]:
        """(-score, product id) of every product with all the words: the words' product sets
        intersected (smallest first), then each match scored (``score``'s rules: a word counts
        its best term, ties to the first term by name; the exact-name bonus)."""
        found: set[str] | None = None
        for w in sorted(words, key=self.size):
            found = self.ids(w) if found is None else found & self.ids(w)
            if not found:
                return
        shards = keys.search_term_shards()
        every = {t for w in words for t in w.expansion}
        for pid in found or ():
            shard = keys.stable_shard(pid, shards)
            entries = {t: got for t in every if (got := self.shards[t][shard].get(pid)) is not None}
            nk = next(iter(entries.values()))[1]  # one product, one name: the same hash in each entry
            total = score_by(words, {t: weight for t, (weight, _) in entries.items()},
                             lambda matched, nk=nk: document.nk_hash(document.name_key(matched)) == nk)
            if total is not None:  # (it is: the product is in every word's set)
                yield (-total, pid)


def _shown(ranked: list[tuple[int, str]], accept: store.Accept) -> Iterator[Hit]:
    """Hits in ``ranked`` order, their summaries read from the search documents a window at a
    time (the first window a page and one, then 4× the last, ≤ 100 a call, calls in parallel);
    products the filters refuse are skipped."""
    i, window = 0, 21
    while i < len(ranked):
        chunk = ranked[i : i + window]
        i += len(chunk)
        window = min(window * 4, 4 * store.BATCH_GET)
        docs = _documents([pid for _, pid in chunk])
        for neg, pid in chunk:
            doc = docs.get(pid)
            if doc is None or not doc.get(document.SUMMARY):
                continue  # no longer indexed
            summary = json.loads(doc[document.SUMMARY])
            if accept(summary):
                yield Hit(-neg, pid, summary)


def _documents(pids: list[str]) -> dict[str, dict[str, Any]]:
    chunks = [pids[i : i + store.BATCH_GET] for i in range(0, len(pids), store.BATCH_GET)]
    out: dict[str, dict[str, Any]] = {}
    for part in _pool().map(store.get_docs, chunks):
        out.update(part)
    return out


def _hidden(seller_ids: set[str]) -> set[str]:
    """Sellers whose products are not shown: blocked by an admin, or with no shop (the same
    rule as GET /products). Their products stay indexed; one BatchGetItem per page."""
    shops = accounts.get_shops(sorted(seller_ids))
    return {s for s in seller_ids if not _shown_seller(shops.get(s))}


def _shown_seller(shop: dict[str, Any] | None) -> bool:
    return bool(shop) and not shop.get("blocked")


def _page(hits: Iterable[Hit], after: tuple[int, str] | None, limit: int,
          binding: str) -> tuple[list[dict[str, Any]], str | None]:
    """The ``limit`` visible hits after the cursor (+1 to know whether there is more);
    blocked sellers are looked up once per window of hits."""
    stream = iter(hits)
    if after is not None:
        score, pid = after
        stream = (h for h in stream if (-h.score, h.product_id) > (-score, pid))
    visible: list[Hit] = []
    blocked: set[str] = set()
    checked: set[str] = set()
    while len(visible) <= limit:
        window = [h for _, h in zip(range(limit + 1 - len(visible)), stream, strict=False)]
        if not window:
            break
        sellers = {str(h.posting.get("seller_id", "")) for h in window} - checked
        if sellers:
            blocked |= _hidden(sellers)
            checked |= sellers
        visible += [h for h in window if h.posting.get("seller_id") not in blocked]
    page = visible[:limit]
    more = len(visible) > limit
    next_cursor = encode_cursor({"s": page[-1].score, "p": page[-1].product_id, "h": binding}) if more else None
    return [h.result() for h in page], next_cursor


def _binding(words: list[text.QueryWord], *filters: Any) -> str:
    raw = json.dumps([[w.term for w in words], *filters], ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _decode(cursor: str | None, binding: str) -> tuple[int, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    score, pid = key.get("s"), key.get("p")
    if key.get("h") != binding or not isinstance(score, int) or not isinstance(pid, str):
        raise ValidationFailed.one("cursor", "this cursor belongs to another search")
    return score, pid
