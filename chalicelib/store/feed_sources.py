"""Catalog table: each seller's feed URL (``PUT /seller/feed-source``) and its fetch state.

One item per seller in the ``FEEDSOURCES`` partition (``keys.feed_source``): the URL, the
schedule, when it is due next, the validators of the last good fetch (ETag, Last-Modified, a
content hash) and the count of failures in a row. ``claim_due`` is a conditional write on the
``next_fetch_at`` the caller read, so two timer runs never fetch one source twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.catalog import strip_keys
from chalicelib.store.toolkit import Key, conditional
from chalicelib.store.values import plain


def _table() -> Any:
    return clients.table(settings().catalog_table)


def put(seller_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Create or replace the seller's source (a new URL starts with no validators)."""
    item = {**keys.feed_source(seller_id), "seller_id": seller_id, **fields}
    _table().put_item(Item=item)
    return strip_keys(item)


def get(seller_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.feed_source(seller_id), ConsistentRead=True).get("Item")
    return plain(strip_keys(item)) if item else None


def delete(seller_id: str) -> bool:
    done = conditional(_table().delete_item, Key=keys.feed_source(seller_id),
                       ConditionExpression="attribute_exists(PK)")
    return done is not None


def every() -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(keys.FEED_SOURCES)}
    while True:
        resp = _table().query(**kwargs)
        for item in resp.get("Items", []):
            yield plain(strip_keys(item))
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def claim_due(seller_id: str, seen_next: str, url: str, next_fetch_at: str) -> bool:
    """Move ``next_fetch_at`` on, only if it is still what the caller read and the URL did not
    change: the one run that wins the write does the fetch."""
    done = conditional(
        _table().update_item, Key=keys.feed_source(seller_id),
        UpdateExpression="SET next_fetch_at = :next",
        ConditionExpression="next_fetch_at = :seen AND #u = :url",
        ExpressionAttributeNames={"#u": "url"},
        ExpressionAttributeValues={":next": next_fetch_at, ":seen": seen_next, ":url": url},
    )
    return done is not None


def record_fetch(seller_id: str, url: str, fields: dict[str, Any], *, failed: bool) -> dict[str, Any] | None:
    """Store a fetch's outcome on the source (if it still has that URL): the failure count goes
    up by one or back to zero. Returns the source as it is now, or None."""
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values: dict[str, Any] = {f":f{i}": v for i, v in enumerate(fields.values())}
    sets = [f"#f{i} = :f{i}" for i in range(len(fields))]
    if failed:
        sets.append("failures = if_not_exists(failures, :zero) + :one")
        values.update({":zero": 0, ":one": 1})
    else:
        sets.append("failures = :zero")
        values[":zero"] = 0
    values[":url"] = url
    done = conditional(
        _table().update_item, Key=keys.feed_source(seller_id),
        UpdateExpression="SET " + ", ".join(sets),
        ConditionExpression="#u = :url",
        ExpressionAttributeNames={**names, "#u": "url"}, ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return plain(strip_keys(done["Attributes"])) if done else None
