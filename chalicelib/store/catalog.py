"""Catalog table: products, their listing items, category trees and the import lock.

A product is stored as three items that share its listing keys (``keys.py`` has the table):

- the product item (``PRODUCT#<pid>``/``PRODUCT``, the shape of ``domain/catalog.py``), which
  also carries the ALL-scope listing keys on GSI1..3;
- a seller listing item (``SELLER#<seller>``/``PRODUCT#<pid>``) and, when the product has a
  category, a category listing item (``CAT#<key>``/``PRODUCT#<pid>``): small projections of
  what a listing card shows, with the SELLER- and CATEGORY-scope listing keys.

``product_items`` builds all of them from one product dict, so they never disagree; the
import writes them together with ``batch_write`` (BatchWriteItem per 25, unprocessed items
retried with backoff). Reads never Scan: ``query_listing`` is a Query on one listing partition.
"""

from __future__ import annotations

import base64
import hashlib
import time
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import Unavailable
from chalicelib.store import keys
from chalicelib.store.values import conditional_failed, plain

# What a listing card shows; the listing items project exactly these.
CARD_FIELDS = (
    "product_id", "seller_id", "name", "price", "currency", "old_price", "available",
    "category_id", "category_name", "vendor", "created_at", "blocked",
)
KEY_FIELDS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK", "ttl")
NAME_KEY_CHARS = 200
BATCH_WRITE = 25
BATCH_GET = 100
MAX_RETRIES = 8


def _table() -> Any:
    return clients.table(settings().catalog_table)


def _resource() -> Any:
    return clients.dynamodb_resource()


def _writer() -> Any:
    """The resource's low-level client (thread-safe, unlike the resource; it still takes
    Python values): the import writes from several threads."""
    return _resource().meta.client


def strip_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in item.items() if k not in KEY_FIELDS}


def category_key(seller_id: str, category_id: str) -> str:
    """Opaque, URL-safe id of one seller's category (feed category ids are per seller)."""
    digest = hashlib.sha256(f"{seller_id}\x00{category_id}".encode()).digest()
    return "c" + base64.b32encode(digest).decode().rstrip("=").lower()[:20]


def name_key(name: str) -> str:
    """Sort key of a name: NFKC, case-folded, single spaces, bounded (DynamoDB keys are ≤1 KB)."""
    folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    return folded[:NAME_KEY_CHARS] or "~"


# --- item building ---------------------------------------------------------------------------


def card(product: dict[str, Any]) -> dict[str, Any]:
    out = {k: product[k] for k in CARD_FIELDS if product.get(k) is not None}
    if product.get("pictures"):
        out["picture"] = product["pictures"][0]
    return out


def product_items(product: dict[str, Any]) -> list[dict[str, Any]]:
    """The product item and its listing items, every key derived from the product."""
    pid, seller, available = product["product_id"], product["seller_id"], bool(product["available"])
    sort = {"price": product["price"], "name_key": name_key(product["name"]),
            "created_at": product["created_at"], "product_id": pid}
    items = [
        {**keys.product(pid), **keys.listing_keys(keys.listing_scope_all(), available, **sort), **product},
        {**keys.seller_listing(seller, pid), **keys.listing_keys(keys.listing_scope_seller(seller), available, **sort),
         **card(product), "content_hash": product.get("content_hash", "")},
    ]
    if product.get("category_id"):
        ckey = category_key(seller, product["category_id"])
        items.append({**keys.category_listing(ckey, pid),
                      **keys.listing_keys(keys.listing_scope_category(ckey), available, **sort), **card(product)})
    return items


def stale_keys(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, str]]:
    """Listing items of ``old`` that ``new`` no longer has (its category changed or went away)."""
    if not old or not old.get("category_id") or old.get("category_id") == new.get("category_id"):
        return []
    return [keys.category_listing(category_key(old["seller_id"], old["category_id"]), old["product_id"])]


# --- batched IO --------------------------------------------------------------------------------


def _backoff(attempt: int) -> None:
    if attempt >= MAX_RETRIES:
        raise Unavailable("the catalog store kept throttling the import; it will be retried")
    time.sleep(min(0.05 * 2**attempt, 2.0))


def batch_write(puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, str]] = ()) -> int:
    """Write ``puts`` and delete ``deletes`` with BatchWriteItem, 25 per call; items DynamoDB
    returns as unprocessed are sent again with exponential backoff. Returns the call count."""
    requests = [{"PutRequest": {"Item": i}} for i in puts] + [{"DeleteRequest": {"Key": k}} for k in deletes]
    name, calls = settings().catalog_table, 0
    for start in range(0, len(requests), BATCH_WRITE):
        pending, attempt = requests[start : start + BATCH_WRITE], 0
        while pending:
            calls += 1
            resp = _writer().batch_write_item(RequestItems={name: pending})
            pending = resp.get("UnprocessedItems", {}).get(name, [])
            if pending:
                _backoff(attempt)
                attempt += 1
    return calls


def batch_get_products(product_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Product items by id (consistent reads), BatchGetItem per 100, unprocessed keys retried."""
    name, out = settings().catalog_table, {}
    ids = list(dict.fromkeys(product_ids))
    for start in range(0, len(ids), BATCH_GET):
        request: dict[str, Any] | None = {
            name: {"Keys": [keys.product(p) for p in ids[start : start + BATCH_GET]], "ConsistentRead": True}
        }
        attempt = 0
        while request:
            resp = _resource().batch_get_item(RequestItems=request)
            for item in resp["Responses"].get(name, []):
                out[item["product_id"]] = strip_keys(item)
            request = resp.get("UnprocessedKeys") or None
            if request:
                _backoff(attempt)
                attempt += 1
    return out


def get_product(product_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.product(product_id)).get("Item")
    return strip_keys(item) if item else None


def set_blocked(product_id: str, blocked: bool) -> dict[str, Any] | None:
    """Set or clear the admin's ``blocked`` flag on the product item and its listing items, in
    place (UpdateItem: stock and price, which checkouts change concurrently, are not rewritten).
    Returns the product as it was, None when there is no such product."""
    update: dict[str, Any] = (
        {"UpdateExpression": "SET blocked = :t", "ExpressionAttributeValues": {":t": True}} if blocked
        else {"UpdateExpression": "REMOVE blocked"}
    )
    try:
        before = _table().update_item(Key=keys.product(product_id), ConditionExpression="attribute_exists(PK)",
                                      ReturnValues="ALL_OLD", **update)["Attributes"]
    except ClientError as exc:
        if conditional_failed(exc):
            return None
        raise
    listing = [keys.seller_listing(before["seller_id"], product_id)]
    if before.get("category_id"):
        listing.append(keys.category_listing(category_key(before["seller_id"], before["category_id"]), product_id))
    for key in listing:
        try:
            _table().update_item(Key=key, ConditionExpression="attribute_exists(PK)", **update)
        except ClientError as exc:
            if not conditional_failed(exc):
                raise
    return strip_keys(before)


def seller_products(seller_id: str, *, available_only: bool) -> Iterator[dict[str, Any]]:
    """The seller's listing items ({product_id, available}), a consistent Query on its partition."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("PK").eq(keys.seller_partition(seller_id))
        & Key("SK").begins_with(keys.LISTING_SK_PREFIX),
        "ProjectionExpression": "#p, #a",
        "ExpressionAttributeNames": {"#p": "product_id", "#a": "available"},
        "ConsistentRead": True,
    }
    if available_only:
        kwargs["FilterExpression"] = Attr("available").eq(True)
    while True:
        resp = _table().query(**kwargs)
        yield from resp.get("Items", [])
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def query_listing(*, index: str, partition: str, forward: bool, limit: int, start: dict[str, Any] | None,
                  sk_between: tuple[str, str] | None = None, filter_expr: Any = None) -> tuple[list[dict], Any]:
    """One Query page of a listing partition: (items with keys, LastEvaluatedKey or None)."""
    cond = Key(f"{index}PK").eq(partition)
    if sk_between:
        cond = cond & Key(f"{index}SK").between(*sk_between)
    kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": cond, "ScanIndexForward": forward,
                              "Limit": limit}
    if filter_expr is not None:
        kwargs["FilterExpression"] = filter_expr
    if start:
        kwargs["ExclusiveStartKey"] = start
    resp = _table().query(**kwargs)
    return resp.get("Items", []), resp.get("LastEvaluatedKey")


# --- category trees --------------------------------------------------------------------------


def get_category_tree(seller_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.category_tree(seller_id)).get("Item")
    return strip_keys(item) if item else None


def put_category_tree(seller_id: str, categories: list[dict[str, Any]], tree_hash: str, updated_at: str) -> None:
    _table().put_item(Item={
        **keys.category_tree(seller_id), "GSI4PK": keys.CATEGORY_TREES, "GSI4SK": seller_id,
        "seller_id": seller_id, "categories": categories, "tree_hash": tree_hash, "updated_at": updated_at,
    })


def list_category_trees(limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
    kwargs: dict[str, Any] = {"IndexName": "GSI4", "KeyConditionExpression": Key("GSI4PK").eq(keys.CATEGORY_TREES),
                              "Limit": limit}
    if start:
        kwargs["ExclusiveStartKey"] = start
    resp = _table().query(**kwargs)
    return [strip_keys(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")


# --- per-seller import lock --------------------------------------------------------------------


class ImportLocked(Exception):  # noqa: N818 - a state, not a failure
    """Another import of this seller holds the lock."""


class Superseded(Exception):  # noqa: N818
    """A newer file of this seller was already imported."""


def acquire_import_lock(seller_id: str, feed_id: str, source_at: str, lease_seconds: int) -> dict[str, Any]:
    """Take the seller's import lock for ``feed_id``; returns the seller's import state.

    Timeline guarded: two files of one seller must not import at once (each would deactivate
    the other's offers), and an older file delivered late must not overwrite a newer import.
    """
    now = int(time.time())
    try:
        resp = _table().update_item(
            Key=keys.import_state(seller_id),
            UpdateExpression="SET lock_feed = :me, lock_until = :until",
            ConditionExpression=(
                "(attribute_not_exists(lock_until) OR lock_until < :now OR lock_feed = :me)"
                " AND (attribute_not_exists(last_source_at) OR last_source_at <= :src)"
            ),
            ExpressionAttributeValues={":me": feed_id, ":until": now + lease_seconds, ":now": now, ":src": source_at},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if not conditional_failed(exc):
            raise
        state = plain(_table().get_item(Key=keys.import_state(seller_id), ConsistentRead=True).get("Item") or {})
        if state.get("last_source_at", "") > source_at:
            raise Superseded(state.get("last_feed", "")) from exc
        raise ImportLocked(state.get("lock_feed", "")) from exc
    return plain(resp["Attributes"])


def mark_seller_touched(seller_id: str) -> None:
    """Record that an import of this seller is about to write products (see ``fresh`` in
    ``services/feed_import.py``: until then the seller provably has no product)."""
    _table().update_item(Key=keys.import_state(seller_id), UpdateExpression="SET touched = :t",
                         ExpressionAttributeValues={":t": True})


def release_import_lock(seller_id: str, feed_id: str, commit: dict[str, Any] | None = None) -> None:
    """Release the lock; ``commit`` (the finished import's facts) is recorded with it."""
    names, values = {}, {":me": feed_id}
    sets = []
    for i, (k, v) in enumerate((commit or {}).items()):
        names[f"#c{i}"] = k
        values[f":c{i}"] = v
        sets.append(f"#c{i} = :c{i}")
    expr = "REMOVE lock_feed, lock_until" + (" SET " + ", ".join(sets) if sets else "")
    try:
        kwargs: dict[str, Any] = {"Key": keys.import_state(seller_id), "UpdateExpression": expr,
                                  "ConditionExpression": "lock_feed = :me", "ExpressionAttributeValues": values}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        _table().update_item(**kwargs)
    except ClientError as exc:
        if not conditional_failed(exc):
            raise
