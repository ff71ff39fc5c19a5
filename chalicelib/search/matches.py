"""Match lists: every product a term is in, packed many to an item, for multi-word queries.

A multi-word query needs *every* product with all its words before it can rank them; reading
rank-ordered postings, that is the whole shorter list (one item per product). A term's match
list holds the same set packed: a few items per write shard, whatever the catalog's size, so
a query's intersection reads a bounded number of items (package doc, "Match lists").

One partition per write shard of a term (``keys.search_match_partition``), the same shard its
postings use, holding
- **fresh entries** (``FRESH#<pid>#<write id>``): what the indexer wrote since the last
  compaction, one item per (term, product) change: the term's weight in the product (0: the
  product left the term) and the hash of its name key (the exact-name bonus); of a product's
  entries the newest (write id: time, then random) counts;
- **packed parts** (``PACKED#<nnn>``): the entries as of the last compaction, sorted by product
  id, ``PART_ENTRIES`` to a zlib-compressed binary attribute, all parts of one version ``v``.

A fresh entry overrides the packed one of its product. **Compaction** (``compact``) writes the
merged entries as new packed parts, on condition that the version is still the one it read
(another compaction got there first: it gives up), then deletes the fresh entries it read
(BatchWriteItem): an entry written meanwhile has another key (its write id), stays, and
overrides the parts. A merged entry left undeleted (a crash between the two) says what the
parts say: harmless until the next compaction. Several parts are written in one transaction.
A Query of the partition reads the fresh entries before the packed parts (SK order): a
compaction landing between the two makes it read an entry twice, never miss one; parts of
different versions (a transaction landing inside the parts) are read again.

Write cost (DynamoDB's units): a fresh entry 1, its delete 1, and its share of the packed
rewrite, the parts' size over the entries merged (``bench/partition_bench.py`` measures it).
Two indexers changing one product at the same instant race here as on its postings (the later
write id wins): the next change of the product settles it.

Who compacts: a query, each partition where it read ``COMPACT_AT`` fresh entries or more, when
its parts are ``COMPACT_INTERVAL_SECONDS`` old or more (``due``). The interval bounds what
rewriting the parts costs a busy partition: its size every 10 s at most (a term in half of
100,000 products: ~3,000 entries a shard, ~70 KB, 7 write units a second), so a term's
partitions stay under DynamoDB's per-partition write limit while imports add to it; what piles
up meanwhile is read as fresh entries (an import's rate × the interval at most).
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.search.document import HASH_BYTES
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import Key

log = logging.getLogger(__name__)

PART_ENTRIES = 4000  # entries a packed part holds (≈ 150 KB before compression)
COMPACT_AT = 8  # fresh entries in a partition that make a query compact it ...
COMPACT_INTERVAL_SECONDS = 10  # ... once its parts are this old
READ_ATTEMPTS = 3


# --- packing --------------------------------------------------------------------------------


def pack(entries: dict[str, tuple[int, bytes]]) -> list[bytes]:
    """Entries (product id → (weight, name-key hash)) as packed parts, in product id order: each
    part is zlib(count, weights, hashes, ids joined by newlines)."""
    pids = sorted(entries)
    parts = []
    for i in range(0, max(len(pids), 1), PART_ENTRIES):
        chunk = pids[i : i + PART_ENTRIES]
        raw = (len(chunk).to_bytes(4, "big") + bytes(entries[p][0] for p in chunk)
               + b"".join(entries[p][1] for p in chunk) + "\n".join(chunk).encode())
        parts.append(zlib.compress(raw, 6))
    return parts


@dataclass
class Part:
    """One packed part, decoded: ids in order and their weights and hashes at the same index."""

    index: dict[str, int]
    weights: bytes
    hashes: bytes

    @classmethod
    def decode(cls, blob: bytes) -> Part:
        raw = zlib.decompress(blob)
        n = int.from_bytes(raw[:4], "big")
        weights, hashes = raw[4 : 4 + n], raw[4 + n : 4 + n + HASH_BYTES * n]
        ids = raw[4 + n + HASH_BYTES * n :].decode().split("\n") if n else []
        return cls(dict(zip(ids, range(n), strict=True)), weights, hashes)

    def get(self, pid: str) -> tuple[int, bytes] | None:
        i = self.index.get(pid)
        return None if i is None else self.entry(i)

    def entry(self, i: int) -> tuple[int, bytes]:
        """(weight, name-key hash) of the ``i``-th product."""
        return self.weights[i], self.hashes[HASH_BYTES * i : HASH_BYTES * (i + 1)]


@dataclass
class Partition:
    """One shard of a term's match list as read: its fresh entries and packed parts."""

    pk: str
    fresh: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)  # pid → newest (weight, hash, id)
    fresh_keys: list[str] = field(default_factory=list)  # the SK of every fresh entry read
    parts: list[Part] = field(default_factory=list)
    version: int = 0  # of the packed parts (0: none yet)
    packed_at: float = 0.0  # when they were written (epoch seconds)
    part_count: int = 0
    read: int = 0  # items read

    def get(self, pid: str) -> tuple[int, bytes] | None:
        """The product's (weight, hash) in this term, None when it is not in it."""
        found = self.fresh.get(pid)
        if found is not None:
            return (found[0], found[1]) if found[0] else None
        for part in self.parts:
            got = part.get(pid)
            if got is not None:
                return got
        return None

    def ids(self) -> set[str]:
        """Every product in this shard of the term (set operations: no Python loop per entry)."""
        out: set[str] = set().union(*(part.index.keys() for part in self.parts))
        if self.fresh:
            out -= {pid for pid, (weight, _, _) in self.fresh.items() if not weight}
            out |= {pid for pid, (weight, _, _) in self.fresh.items() if weight}
        return out

    def due(self) -> bool:
        """Worth compacting now (module doc)."""
        return len(self.fresh) >= COMPACT_AT and time.time() - self.packed_at >= COMPACT_INTERVAL_SECONDS

    def size(self) -> int:
        return sum(len(p.index) for p in self.parts) + len(self.fresh)

    def entries(self) -> dict[str, tuple[int, bytes]]:
        """All entries, fresh ones applied (what a compaction packs)."""
        out = {pid: part.entry(i) for part in self.parts for pid, i in part.index.items()}
        for pid, (weight, h, _) in self.fresh.items():
            if weight:
                out[pid] = (weight, h)
            else:
                out.pop(pid, None)
        return out


class TornRead(Exception):
    """A partition's packed parts came from two compactions (read again)."""


def _client() -> Any:
    return clients.dynamodb_resource().meta.client


def read_partition(pk: str) -> Partition:
    """A shard of a match list, read whole (consistent reads: a compaction's transaction is
    seen whole by the Query after it). Parts of two versions are read again."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return _read_once(pk)
        except TornRead:
            if attempt == READ_ATTEMPTS - 1:
                raise
            toolkit.backoff(attempt, base=0.01, cap=0.1)
    raise AssertionError("unreachable")


def _read_once(pk: str) -> Partition:
    params: dict[str, Any] = {"TableName": settings().search_table, "KeyConditionExpression": Key("PK").eq(pk),
                              "ConsistentRead": True}
    items: list[dict[str, Any]] = []
    while True:
        resp = _client().query(**params)
        items += resp.get("Items", [])
        if not resp.get("LastEvaluatedKey"):
            return from_items(pk, items)
        params["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def from_items(pk: str, items: list[dict[str, Any]]) -> Partition:
    """A partition from its items (plain values, in SK order); ``TornRead`` when its parts are
    of two versions."""
    out = Partition(pk, read=len(items))
    versions, blobs = set(), []
    for item in items:
        sk = item["SK"]
        if sk.startswith(keys.SEARCH_MATCH_FRESH):
            pid, q = sk[len(keys.SEARCH_MATCH_FRESH):].rsplit("#", 1)
            out.fresh_keys.append(sk)
            if pid not in out.fresh or out.fresh[pid][2] < q:  # the newest entry of a product
                out.fresh[pid] = (int(item["w"]), bytes.fromhex(item["h"]), q)
        elif sk.startswith(keys.SEARCH_MATCH_PACKED):
            versions.add(int(item["v"]))
            out.packed_at = float(item.get("at", 0))
            out.part_count = max(out.part_count, int(item["k"]))
            blobs.append(bytes(item["b"].value if hasattr(item["b"], "value") else item["b"]))
    if len(versions) > 1 or len(blobs) != out.part_count:
        raise TornRead(pk)
    out.version = versions.pop() if versions else 0
    out.parts = [Part.decode(b) for b in blobs]
    return out


# --- compaction -------------------------------------------------------------------------------


def packed_items(pk: str, entries: dict[str, tuple[int, bytes]], version: int = 1) -> list[dict[str, Any]]:
    """The packed part items of a partition holding ``entries``."""
    parts = pack(entries)
    at = int(time.time())
    return [{**keys.search_match_packed(pk, i), "v": version, "k": len(parts), "n": len(entries), "at": at,
             "b": blob} for i, blob in enumerate(parts)]


def compact(partition: Partition) -> bool:
    """Merge a partition's fresh entries (as read) into new packed parts, then delete them (see
    module doc). False when there was nothing to do or another compaction got there first."""
    if not partition.fresh:
        return False
    table = settings().search_table
    items = packed_items(partition.pk, partition.entries(), partition.version + 1)
    if partition.version:
        guard = {"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": partition.version}}
    else:
        guard = {"ConditionExpression": "attribute_not_exists(PK)"}
    stale = range(len(items), partition.part_count)
    try:
        if len(items) == 1 and not stale:
            if toolkit.conditional(_client().put_item, TableName=table, Item=items[0], **guard) is None:
                return False
        else:  # several parts change at once: one transaction, so a reader sees one version
            ops = [toolkit.Op(f"part{i}", {"Put": {"TableName": table, "Item": item, **(guard if i == 0 else {})}})
                   for i, item in enumerate(items)]
            ops += [toolkit.Op(f"stale{i}", {"Delete": {"TableName": table,
                                                        "Key": keys.search_match_packed(partition.pk, i)}})
                    for i in stale]
            toolkit.transact(ops)
        # the entries read, merged: an entry written since has another key and stays
        toolkit.batch_write(table, deletes=[{"PK": partition.pk, "SK": sk} for sk in partition.fresh_keys])
    except toolkit.TransactionCancelled:
        return False
    except ClientError as exc:  # e.g. throttled: what was not deleted stays fresh, which is still right
        log.warning("match list %s not compacted: %s", partition.pk, toolkit.error_code(exc))
        return False
    return True


def compact_quietly(partition: Partition) -> bool:
    """``compact``, for a reader: whatever stops it (the store throttling past its retries) is
    logged, and the query goes on with what it read."""
    try:
        return compact(partition)
    except Exception as exc:  # noqa: BLE001 - the fresh entries stay, and are read as they are
        log.warning("match list %s not compacted: %s", partition.pk, type(exc).__name__)
        return False
