"""Answering a search: words → candidate postings → every-word check → ranking → one page.

1. ``text.query_words``: the query's terms; the last word is also a prefix.
2. Each word's postings are read (one Query per term, strongest first, filters applied to
   the decoded postings), at most ``MAX_CANDIDATES`` per word. The prefix word adds
   the terms of up to ``PREFIX_EXPANSION`` vocabulary words it begins (one Query on its
   ``VOCAB#<2 chars>`` partition). Reads run in parallel.
3. The word with the fewest postings drives: each of its candidates must match every other
   word. A word whose postings were read whole answers in memory; for a word with more postings
   than were read, the candidate's search document decides (BatchGetItem per 100).
4. Score = Σ 2×weight for a word's own term (1×weight for a prefix completion) + a bonus when
   the query's terms are exactly the name's; ties by product id. Products of blocked sellers
   (or sellers without a shop, as in GET /products) are dropped page by page (one
   BatchGetItem of shops per page).

A one-word query (every keystroke of a first word) skips steps 2-3: postings are sorted by that
word's score already (``document.rank_value``), so it merges its terms' postings lazily, page by
page, and stops after one results page (``one_word``).

Cost grows with the matches a query touches — never with the catalog: no Scan; a one-word
query reads about one page of postings per term it expands to; a longer query reads at most
``MAX_CANDIDATES`` postings per word (+ the prefix expansion), documents only for unresolved
candidates. The bound: when every word has more than ``MAX_CANDIDATES`` postings, results come
from the driver's strongest ``MAX_CANDIDATES`` postings (field weight order), not all matches.

The cursor is (score, product id) of the last result, signed and bound to the query: the next
page recomputes the ranking and continues strictly after it, so it stays stable while the
index changes underneath (a product that moved is neither repeated nor required). Page k
re-reads the k-1 pages before it (deep pages cost more; shoppers rarely go past a few).
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from chalicelib.api.pagination import decode_cursor, encode_cursor
from chalicelib.errors import ValidationFailed
from chalicelib.search import document, store, text
from chalicelib.store import accounts

MAX_CANDIDATES = 1000
MAX_READ = 4 * MAX_CANDIDATES
PREFIX_EXPANSION = 20
MIN_EXPANSION_READ = 50
MAX_WORDS = 8
RESULT_FIELDS = ("product_id", "name", "price", "currency", "picture", "seller_id", "category_id",
                 "category_key", "vendor", "available")


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="search")


@dataclass
class WordMatch:
    word: text.QueryWord
    expansion: set[str] = field(default_factory=set)  # every term this word accepts
    hits: dict[str, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)  # pid -> (points, term, posting)
    complete: bool = True
    read: bool = True  # False: a one-letter last word next to others, checked on documents only

    def points(self, term: str, weight: int) -> int:
        return 2 * weight if term == self.word.term else weight

    def add(self, posting: dict[str, Any], term: str) -> None:
        pts = self.points(term, int(posting["w"]))
        pid = posting["product_id"]
        if pid not in self.hits or self.hits[pid][0] < pts:
            self.hits[pid] = (pts, term, posting)

    def in_document(self, terms: dict[str, int]) -> tuple[int, str] | None:
        """Best (points, term) of a candidate's indexed terms for this word, None if none."""
        best: tuple[int, str] | None = None
        for term, weight in terms.items():
            if term == self.word.term or term in self.expansion or (
                self.word.prefix and term.startswith(self.word.surface)
            ):
                pts = self.points(term, int(weight))
                if best is None or pts > best[0]:
                    best = (pts, term)
        return best


@dataclass(frozen=True)
class Hit:
    score: int
    product_id: str
    posting: dict[str, Any]

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
    limit: int = 20,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of products matching every word of ``q``, best first, and the next cursor.

    The index holds available products only: ``available=False`` matches nothing.
    """
    words = text.query_words(q)
    if len(words) > MAX_WORDS:
        raise ValidationFailed.one("q", f"at most {MAX_WORDS} distinct words")
    binding = _binding(words, category, seller, min_price, max_price, available)
    after = _decode(cursor, binding)
    if not words or available is False or (min_price is not None and max_price is not None and min_price > max_price):
        return [], None
    accept = Filters(category, seller, min_price, max_price).accept
    hits = one_word(words[0], accept, limit) if len(words) == 1 else rank(words, accept)
    return _page(hits, after, limit, binding)


@dataclass(frozen=True)
class Filters:
    """GET /products' filters, applied to a posting's summary."""

    category: str | None = None  # the listing's category key, or the seller's own category id
    seller: str | None = None
    min_price: int | None = None
    max_price: int | None = None

    def accept(self, p: dict[str, Any]) -> bool:
        return (
            (self.seller is None or p.get("seller_id") == self.seller)
            and (self.category is None or self.category in (p.get("category_key"), p.get("category_id")))
            and (self.min_price is None or p.get("price", 0) >= self.min_price)
            and (self.max_price is None or p.get("price", 0) <= self.max_price)
        )


def _expansion(word: text.QueryWord) -> set[str]:
    """The terms a word accepts: its own, and for the last word those of the words it begins."""
    terms = {word.term}
    if word.prefix and len(word.surface) >= 2:
        terms |= set(store.vocab_terms(word.surface, limit=PREFIX_EXPANSION).values())
    return terms


class _Reader:
    """One term's postings, fetched lazily page by page (pages grow while they are needed)."""

    def __init__(self, term: str, points: int, accept: store.Accept, page: int):
        self.term, self.points, self.accept, self.page = term, points, accept, page
        self.items: list[dict[str, Any]] = []
        self.pos, self.start, self.done = 0, None, False

    def fetch(self) -> _Reader:
        items, self.start = store.postings_page(self.term, limit=self.page, start=self.start)
        self.items = self.items[self.pos :] + [p for p in items if self.accept(p)]
        self.pos, self.done = 0, self.start is None
        self.page = min(self.page * 4, MAX_CANDIDATES)
        return self

    def head(self) -> dict[str, Any] | None:
        while self.pos >= len(self.items) and not self.done:
            self.fetch()
        return self.items[self.pos] if self.pos < len(self.items) else None

    def score(self, posting: dict[str, Any]) -> int:
        return self.points * int(posting["w"]) + document.NAME_EXACT_BONUS * int(posting.get("x", 0))


def one_word(word: text.QueryWord, accept: store.Accept, limit: int) -> Iterator[Hit]:
    """The hits of a one-word query in score order, read lazily: a k-way merge of the postings
    of the word's terms (each already in score order), a product counted at its best term."""
    terms = sorted(_expansion(word) - {word.term})
    readers = [_Reader(word.term, 2, accept, limit + 1)] + [_Reader(t, 1, accept, limit + 1) for t in terms]
    list(_pool().map(_Reader.fetch, readers))  # first pages in parallel
    heap: list[tuple[int, str, int]] = []

    def push(i: int) -> None:
        posting = readers[i].head()
        if posting is not None:
            heapq.heappush(heap, (-readers[i].score(posting), posting["product_id"], i))

    for i in range(len(readers)):
        push(i)
    seen: set[str] = set()
    while heap:
        neg, pid, i = heapq.heappop(heap)
        posting = readers[i].items[readers[i].pos]
        readers[i].pos += 1
        push(i)
        if pid not in seen:
            seen.add(pid)
            yield Hit(-neg, pid, posting)


def rank(words: list[text.QueryWord], accept: store.Accept | None = None) -> list[Hit]:
    """Every candidate matching all ``words``, best first (bounded by ``MAX_CANDIDATES``)."""
    matches = [WordMatch(w, {w.term}) for w in words]
    for m in matches:
        if m.word.prefix and len(m.word.surface) >= 2:
            m.expansion = _expansion(m.word)
        elif m.word.prefix and len(matches) > 1:
            # "leather b": one letter begins too many words to expand; the other words find
            # the candidates and their documents say whether a word begins with it.
            m.read, m.complete = False, False
    jobs = []
    for m in (m for m in matches if m.read):
        others = sorted(m.expansion - {m.word.term})
        share = max(MAX_CANDIDATES // max(len(others), 1), MIN_EXPANSION_READ)
        for term in [m.word.term, *others]:
            lim = MAX_CANDIDATES if term == m.word.term else share
            jobs.append((m, term, _pool().submit(store.postings, term, limit=lim, accept=accept,
                                                 max_read=max(MAX_READ, lim))))
    for m, term, job in jobs:
        got = job.result()
        m.complete = m.complete and got.complete
        for posting in got.items:
            m.add(posting, term)
    driver = min((m for m in matches if m.read), key=lambda m: (len(m.hits), not m.complete))
    others = [m for m in matches if m is not driver]

    kept: dict[str, tuple[int, list[str], dict[str, Any]]] = {}
    unresolved: dict[str, list[WordMatch]] = {}
    for pid, (pts, term, posting) in driver.hits.items():
        total, terms, pending, ok = pts, [term], [], True
        for m in others:
            if pid in m.hits:
                total += m.hits[pid][0]
                terms.append(m.hits[pid][1])
            elif m.complete:
                ok = False
                break
            else:
                pending.append(m)
        if ok:
            kept[pid] = (total, terms, posting)
            if pending:
                unresolved[pid] = pending
    if unresolved:
        docs = _documents(list(unresolved))
        for pid, pending in unresolved.items():
            doc_terms = document.stored_terms(docs.get(pid))
            total, terms, posting = kept[pid]
            for m in pending:
                found = m.in_document(doc_terms)
                if found is None:
                    del kept[pid]
                    break
                total += found[0]
                terms.append(found[1])
            else:
                kept[pid] = (total, terms, posting)

    hits = []
    for pid, (total, terms, posting) in kept.items():
        nk = posting.get("nk") or ""
        if nk and nk == document.name_key(terms):
            total += document.NAME_EXACT_BONUS
        hits.append(Hit(total, pid, posting))
    hits.sort(key=lambda h: (-h.score, h.product_id))
    return hits


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
    return {s for s in seller_ids if not shops.get(s) or shops[s].get("blocked")}


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
