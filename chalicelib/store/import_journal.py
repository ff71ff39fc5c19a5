"""Catalog table: the write-ahead journal of an import run, and the pointer to the open one.

Before an import writes a chunk of products it puts, in one PutItem, what it is about to
overwrite: per product the item as it was (None when the run creates it). The entries are
JSON lines compressed with zlib in a Binary attribute (100 products of bench/feed_chunks.py
compress to ~9 KB: 9 write units, against ~2,900 for the chunk's own writes), in the import
record's partition (``keys.import_journal``).
The seller's import state names the run whose journal is open (``journal``: feed id, run id,
the run's clock); it is set before the first write, and removed in the same UpdateItem that
commits the import (``catalog.release_import_lock``) or once the run's writes are undone. So
whoever takes the seller's lock next — the SQS redelivery of a run that was killed, or the
seller's next file — finds an open journal and undoes that run before it writes anything.
Entries expire by TTL: they are read only while their run is open.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import Unavailable
from chalicelib.store import keys
from chalicelib.store.toolkit import Key, conditional

PART_BYTES = 300_000  # raw JSON per item: compressed it stays under DynamoDB's 400 KB item limit
TTL_SECONDS = 7 * 86400

Entry = list[Any]  # [product id or "#tree", the item before (None: absent), deactivated?, new category id]


def _table() -> Any:
    return clients.table(settings().catalog_table)


def append(feed_id: str, run: str, seq: int, entries: list[Entry]) -> int:
    """Persist one chunk's entries (one PutItem per ~300 KB of JSON). Returns the item count."""
    parts: list[list[bytes]] = [[]]
    size = 0
    for entry in entries:
        line = json.dumps(entry, ensure_ascii=False, default=str).encode()
        if parts[-1] and size + len(line) > PART_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    ttl = int(time.time()) + TTL_SECONDS
    for n, lines in enumerate(parts):
        _table().put_item(Item={**keys.import_journal(feed_id, run, seq, n), "ttl": ttl,
                                "entries": zlib.compress(b"\n".join(lines), 6)})
    return len(parts)


def entries(feed_id: str, run: str) -> Iterator[list[Entry]]:
    """The run's entries, one list per journal item (a consistent Query, page by page)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("PK").eq(keys.feed_import(feed_id)["PK"])
        & Key("SK").begins_with(keys.import_journal_prefix(run)),
        "ConsistentRead": True,
    }
    while True:
        resp = _table().query(**kwargs)
        for item in resp.get("Items", []):
            raw = item["entries"]
            data = zlib.decompress(bytes(getattr(raw, "value", raw)))
            yield [json.loads(line) for line in data.split(b"\n") if line]
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def open_run(seller_id: str, pointer: dict[str, str]) -> None:
    """Name ``pointer`` ({feed_id, run, now}) the seller's open journal, while its run holds
    the seller's lock; the seller is marked ``touched`` (it may have products from now on)."""
    done = conditional(_table().update_item, Key=keys.import_state(seller_id),
                       UpdateExpression="SET journal = :j, touched = :t",
                       ConditionExpression="lock_feed = :me",
                       ExpressionAttributeValues={":j": pointer, ":t": True, ":me": pointer["feed_id"]})
    if done is None:
        raise Unavailable("the seller's import lock lapsed before the import wrote; it will be retried")


def close_run(seller_id: str, run: str) -> None:
    """Forget the open journal ``run`` (its writes were undone); a no-op if another is open."""
    conditional(_table().update_item, Key=keys.import_state(seller_id), UpdateExpression="REMOVE journal",
                ConditionExpression="journal.#r = :run", ExpressionAttributeNames={"#r": "run"},
                ExpressionAttributeValues={":run": run})
