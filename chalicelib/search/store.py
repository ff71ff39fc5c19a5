"""Search table IO: postings, per-product search documents and the prefix vocabulary.

The only module of ``chalicelib/search`` that talks to DynamoDB. Keys come from
``store/keys.py`` (its SEARCH section has the access-pattern table). Reads never Scan: a
term's postings are a Query per write shard, merged by SK (``Postings``), a prefix's words a
Query per vocabulary shard, merged by word, the Queries of one read sent at the same time;
documents and vocabulary words are read with BatchGetItem. Batches go through
``store/toolkit.py`` (25 writes or 100 keys per call, unprocessed items retried with jittered
backoff). Calls go through the DynamoDB resource's client (thread-safe; the resource's own
``Table`` objects are not), so a query may fetch several partitions at once. Filters are
applied by the query, in memory, to decoded postings: a FilterExpression would read (and bill)
the same items.
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.search.document import POSTING_BODY
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import Key
from chalicelib.store.values import plain

Accept = Callable[[dict[str, Any]], bool]

BATCH_GET = toolkit.BATCH_GET_MAX  # keys per call: the query reads documents one call per thread

def _client() -> Any:
    return clients.dynamodb_resource().meta.client


def _name() -> str:
    return settings().search_table


def batch_write(puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, str]] = ()) -> int:
    """``toolkit.batch_write`` on the search table. Returns the call count."""
    return toolkit.batch_write(_name(), puts, deletes)


def batch_get(key_list: list[dict[str, str]], attributes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Items by key (only ``attributes`` when given): ``toolkit.batch_get``."""
    options: dict[str, Any] = {}
    if attributes:
        options["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        options["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
    return list(toolkit.batch_get(_name(), key_list, **options))


def get_docs(product_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What is indexed for each product (absent: nothing is)."""
    items = batch_get([keys.search_doc(pid) for pid in dict.fromkeys(product_ids)])
    return {item["product_id"]: plain(item) for item in items}


def existing_vocab(words: list[str]) -> set[str]:
    items = batch_get([keys.search_vocab(w) for w in dict.fromkeys(words)], attributes=("word",))
    return {item["word"] for item in items}


class Postings:
    """Where the reading of one term's postings stands: a k-way merge by SK of its partitions
    (``keys.search_term_partitions``: the write shards, and the unsharded partition while
    SEARCH_LEGACY_READS is on). Each partition is a sorted stream read in Query pages; SKs are
    unique within a term (rank, then product id), so the merge is exactly the order one
    unsharded partition had. Items a Query read beyond what a page returned stay buffered for
    the next page: nothing is read twice. A stream whose buffer ran out is read again only when
    its frontier (the last SK it read) is not past the best buffered head."""

    def __init__(self, term: str) -> None:
        self.term = term
        self.streams = [_Stream(pk) for pk in keys.search_term_partitions(term)]
        self.heap: list[tuple[str, int]] = []  # (head SK, stream) of the streams holding items
        self.empty = set(range(len(self.streams)))  # streams with nothing buffered, not ended
        self.last_sk = ""

    @property
    def done(self) -> bool:
        return not self.heap and not self.empty

    def _refill(self, waiting: list[int], limit: int) -> None:
        # twice a shard's share of what the page still misses (ids hash evenly over the shards);
        # a stream drained again reads twice its last page, never more than is missing
        share = -(-2 * limit // len(self.streams))
        _parallel([(self.streams[i], min(MAX_QUERY_PAGE, max(STREAM_MIN, min(max(share, 2 * self.streams[i].size),
                                                                             limit))))
                   for i in waiting])
        for i in waiting:
            stream = self.streams[i]
            if stream.buf:
                heapq.heappush(self.heap, (stream.buf[0]["SK"], i))
            if stream.buf or stream.done:
                self.empty.discard(i)

    def page(self, limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            head = self.heap[0][0] if self.heap else None
            waiting = [i for i in self.empty if head is None or self.streams[i].frontier is None
                       or self.streams[i].frontier < head]
            if waiting:
                self._refill(waiting, limit - len(out))
                continue
            if head is None:
                break
            _, i = heapq.heappop(self.heap)
            stream = self.streams[i]
            item = stream.buf.popleft()
            if stream.buf:
                heapq.heappush(self.heap, (stream.buf[0]["SK"], i))
            elif not stream.done:
                self.empty.add(i)
            if item["SK"] == self.last_sk:
                continue  # the same posting in a shard and the unsharded partition (a move in flight)
            self.last_sk = item["SK"]
            out.append(json.loads(item[POSTING_BODY]))
        return out


STREAM_MIN = 2  # items a shard's Query reads at least
MAX_QUERY_PAGE = 1000  # one Query's Limit at most (≈ 1 MB of postings)


class _Stream:
    """One partition of a term, read in Query pages (``Postings``)."""

    def __init__(self, pk: str) -> None:
        self.pk = pk
        self.buf: deque[dict[str, Any]] = deque()
        self.start: dict[str, Any] | None = None
        self.frontier: str | None = None  # the SK of the last item read
        self.done = False
        self.size = 0  # the Limit of its last Query

    def fetch(self, limit: int) -> None:
        params: dict[str, Any] = {"TableName": _name(), "KeyConditionExpression": Key("PK").eq(self.pk),
                                  "Limit": limit}
        if self.start:
            params["ExclusiveStartKey"] = self.start
        resp = _client().query(**params)
        items = resp.get("Items", [])
        self.buf.extend(items)
        self.start = resp.get("LastEvaluatedKey")
        self.done = self.start is None
        if items:
            self.frontier = items[-1]["SK"]
        self.size = limit


@cache
def _shard_pool(width: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=width, thread_name_prefix="search-shard")


def in_parallel(job: Callable[[Any], Any], args: list[Any]) -> list[Any]:
    """``job`` over ``args`` on the shard pool (``Settings.listing_read_threads`` at once)."""
    width = settings().listing_read_threads
    if width <= 1 or len(args) <= 1:
        return [job(a) for a in args]
    return list(_shard_pool(width).map(job, args))


def _parallel(jobs: list[tuple[_Stream, int]]) -> None:
    """Each stream's next Query, at the same time (``Settings.listing_read_threads``): a term's
    page waits for its slowest shard, not for their sum."""
    in_parallel(lambda job: job[0].fetch(job[1]), jobs)


def postings_page(term: str, *, limit: int,
                  start: Postings | None = None) -> tuple[list[dict[str, Any]], Postings | None]:
    """The next ``limit`` postings of a term, strongest first, decoded: (postings, where the
    reading stands — pass it back for the next page — or None when the list ended). The first
    page starts a ``Postings`` merge of the term's shards."""
    reading = start if start is not None else Postings(term)
    page = reading.page(limit)
    return page, None if reading.done else reading


def vocab_terms(prefix: str, *, limit: int) -> dict[str, str]:
    """Up to ``limit`` indexed words beginning with ``prefix`` (≥ 2 chars) → their terms, in word
    order: the first ``limit`` of each vocabulary shard (``keys.search_vocab_partitions``),
    Queried at the same time and merged."""
    def words(pk: str) -> list[dict[str, Any]]:
        resp = _client().query(
            TableName=_name(),
            KeyConditionExpression=Key("PK").eq(pk) & Key("SK").begins_with(keys.search_vocab_word(prefix)),
            ProjectionExpression="#w, #t",
            ExpressionAttributeNames={"#w": "word", "#t": "term"},
            Limit=limit,
        )
        return resp.get("Items", [])

    found = in_parallel(words, keys.search_vocab_partitions(prefix))
    merged = sorted({item["word"]: item["term"] for part in found for item in part}.items())
    return dict(merged[:limit])
