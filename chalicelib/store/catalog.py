"""Catalog table: products, their listing items, category trees and the import lock.

A product is stored as three items that share its listing keys (``keys.py`` has the table):

- the product item (``PRODUCT#<pid>``/``PRODUCT``, the shape of ``domain/catalog.py``), which
  also carries the ALL-scope listing keys on GSI1..3;
- a seller listing item (``SELLER#<seller>``/``PRODUCT#<pid>``) and, when the product has a
  category, a category listing item (``CAT#<key>``/``PRODUCT#<pid>``): small projections of
  what a listing card shows, with the SELLER- and CATEGORY-scope listing keys.

``product_items`` builds all of them from one product dict, so they never disagree; the
import writes them together with ``batch_write`` (``store/toolkit.py``: BatchWriteItem per 25,
unprocessed items retried with backoff). Reads never Scan: ``query_listing`` is a Query on one
listing partition.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import catalog as rules
from chalicelib.errors import Unavailable
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import Attr, Key, Op, TransactionCancelled, all_of, any_of, conditional, transact
from chalicelib.store.values import plain

# What a listing card shows; the listing items project exactly these.
CARD_FIELDS = (
    "product_id", "seller_id", "name", "price", "currency", "old_price", "available",
    "category_id", "category_name", "vendor", "author", "year", "created_at", "blocked", "sold_out",
)
# on the product item: the write shards its listing items' keys were written with (keys.py,
# "Write sharding"); absent on products written before those keys were sharded
LISTING_SHARDS = "listing_shards"
KEY_FIELDS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK", "ttl")
NAME_KEY_CHARS = 200


def _table() -> Any:
    return clients.table(settings().catalog_table)


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
    """The product item and its listing items, every key derived from the product. A sold-out
    product (stock 0) is listed with the unavailable ones and its listing items say so."""
    product = dict(product)
    product.pop("sold_out", None)
    if rules.sold_out(product):
        product["sold_out"] = True
    product[LISTING_SHARDS] = settings().listing_shards_scope  # where its listing items are written
    pid, seller, available = product["product_id"], product["seller_id"], rules.on_sale(product)
    sort = {"price": product["price"], "name_key": name_key(product["name"]),
            "created_at": product["created_at"], "product_id": pid, "sale": rules.discounted(product)}
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


def listing_item_keys(product: dict[str, Any], shards: int | None = None) -> list[dict[str, str]]:
    """The keys of a product's seller and category listing items, written with ``shards`` write
    shards (None: as the product item records, ``LISTING_SHARDS``; absent: the unsharded keys of
    products written before the listing items were sharded)."""
    shards = int(product.get(LISTING_SHARDS) or 1) if shards is None else shards
    out = [keys.seller_listing(product["seller_id"], product["product_id"], shards)]
    if product.get("category_id"):
        ckey = category_key(product["seller_id"], str(product["category_id"]))
        out.append(keys.category_listing(ckey, product["product_id"], shards))
    return out


def stale_keys(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, str]]:
    """Listing items of ``old`` (where it recorded them) that ``new``, written now, no longer
    has: its category changed or went away, or they were written under other write shards."""
    if not old:
        return []
    kept = {(k["PK"], k["SK"]) for k in listing_item_keys(new, settings().listing_shards_scope)}
    return [k for k in listing_item_keys(old) if (k["PK"], k["SK"]) not in kept]


# --- batched IO --------------------------------------------------------------------------------


def batch_write(puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, str]] = ()) -> int:
    """Write ``puts`` and delete ``deletes`` (``toolkit.batch_write``). Returns the call count."""
    return toolkit.batch_write(settings().catalog_table, puts, deletes)


GUARD_RETRIES = 5


def stock_guard(old: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The condition under which a product item read as ``old`` may be replaced whole: its
    ``stock`` and ``reserved`` are still what was read. Checkouts, cancellations and shipments
    change them concurrently (conditional updates); a Put computed from an older read would
    undo a reservation or resurrect sold units."""
    if old is None:
        return "attribute_not_exists(PK)", {}
    parts, values = [], {}
    for attr, ph in (("stock", ":gs"), ("reserved", ":gr")):
        if old.get(attr) is None:
            parts.append(f"attribute_not_exists({attr})")
        else:
            parts.append(f"{attr} = {ph}")
            values[ph] = old[attr]
    return " AND ".join(parts), values


def write_guarded(entries: list[tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, str]]]]) -> set[str]:
    """Write products whose stock a checkout may be changing: per entry ``(product, old,
    deletes)`` the product's items, the product item conditional on ``stock_guard(old)``, in
    TransactWriteItems of up to 100 items (all of a product's items in one transaction).

    Returns the ids of products whose stock changed since ``old`` was read: nothing of theirs
    was written, and the caller re-reads and recomputes them. The other products of a
    cancelled transaction are sent again; a transaction conflict (a checkout holding the item
    at that moment) is retried with jittered, capped backoff."""
    name = settings().catalog_table
    conflicted: set[str] = set()
    batches: list[list[tuple[str, list[Op]]]] = [[]]
    size = 0
    for product, old, deletes in entries:
        cond, values = stock_guard(old)
        pid, items = product["product_id"], product_items(product)
        # the product item is labelled with the product id: its guard is what may fail
        ops = [Op(pid, {"Put": {"TableName": name, "Item": items[0], "ConditionExpression": cond,
                                **({"ExpressionAttributeValues": values} if values else {})}})]
        ops += [Op(f"{pid}:put{n}", {"Put": {"TableName": name, "Item": i}}) for n, i in enumerate(items[1:])]
        ops += [Op(f"{pid}:delete{n}", {"Delete": {"TableName": name, "Key": k}}) for n, k in enumerate(deletes)]
        if size + len(ops) > toolkit.TRANSACT_MAX:
            batches.append([])
            size = 0
        batches[-1].append((pid, ops))
        size += len(ops)
    for pending in batches:
        while pending:
            try:
                transact([op for _, ops in pending for op in ops], retries=GUARD_RETRIES)
                break
            except TransactionCancelled as cancelled:
                failed = {pid for pid, _ in pending if cancelled.failed(pid)}
                if not failed:
                    raise Unavailable("the catalog store kept conflicting with checkouts; "
                                      "the import will be retried") from cancelled
                conflicted |= failed
                pending = [(pid, ops) for pid, ops in pending if pid not in failed]
    return conflicted


def _batch_get(product_ids: Iterable[str], **options: Any) -> Iterator[dict[str, Any]]:
    """Product items by id, BatchGetItem per 100 (``options``: ConsistentRead,
    ProjectionExpression), unprocessed keys retried with backoff."""
    return toolkit.batch_get(settings().catalog_table, [keys.product(p) for p in dict.fromkeys(product_ids)],
                             **options)


def batch_get_products(product_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Product items by id (consistent reads)."""
    return {i["product_id"]: strip_keys(i) for i in _batch_get(product_ids, ConsistentRead=True)}


def get_product(product_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.product(product_id)).get("Item")
    return strip_keys(item) if item else None


def load_products(product_ids: list[str]) -> dict[str, rules.Product]:
    """``batch_get_products`` as typed records (``domain.catalog.Product``)."""
    return {pid: rules.Product.from_item(item) for pid, item in batch_get_products(product_ids).items()}


def load_product(product_id: str) -> rules.Product | None:
    """The product as a typed record (``domain.catalog.Product``; one GetItem), or None."""
    item = get_product(product_id)
    return None if item is None else rules.Product.from_item(item)


def set_blocked(product_id: str, blocked: bool) -> dict[str, Any] | None:
    """Set or clear the admin's ``blocked`` flag on the product item and its listing items, in
    place (UpdateItem: stock and price, which checkouts change concurrently, are not rewritten).
    Returns the product as it was, None when there is no such product."""
    update: dict[str, Any] = (
        {"UpdateExpression": "SET blocked = :t", "ExpressionAttributeValues": {":t": True}} if blocked
        else {"UpdateExpression": "REMOVE blocked"}
    )
    done = conditional(_table().update_item, Key=keys.product(product_id), ConditionExpression="attribute_exists(PK)",
                       ReturnValues="ALL_OLD", **update)
    if done is None:
        return None
    before = done["Attributes"]
    for key in listing_item_keys(strip_keys(before)):  # never create a stub listing item
        conditional(_table().update_item, Key=key, ConditionExpression="attribute_exists(PK)", **update)
    return strip_keys(before)


def seller_products(seller_id: str, *, available_only: bool) -> Iterator[dict[str, Any]]:
    """The seller's listing items ({product_id, available}): a consistent Query of each of its
    partitions (``keys.seller_listing_partitions``), each product once."""
    seen: set[str] = set()
    for partition in keys.seller_listing_partitions(seller_id):
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(partition) & Key("SK").begins_with(keys.LISTING_SK_PREFIX),
            "ProjectionExpression": "#p, #a",
            "ExpressionAttributeNames": {"#p": "product_id", "#a": "available"},
            "ConsistentRead": True,
        }
        if available_only:
            kwargs["FilterExpression"] = Attr("available").eq(True)
        while True:
            resp = _table().query(**kwargs)
            for item in resp.get("Items", []):
                if item["product_id"] not in seen:  # a move in flight: in a shard and the unsharded one
                    seen.add(item["product_id"])
                    yield item
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def query_listing(*, index: str, partition: str, forward: bool, limit: int, start: dict[str, Any] | None,
                  sk_between: tuple[str, str] | None = None, filter_expr: Any = None,
                  projection: tuple[str, ...] = (), after: str | None = None,
                  stats: dict[str, int] | None = None) -> tuple[list[dict], Any]:
    """One Query page of a listing partition: (items with keys, LastEvaluatedKey or None);
    only the ``projection`` attributes when given. ``after``: only sort keys strictly after it
    in the read direction (a cursor's position); ``stats["read"]`` adds the items DynamoDB read
    (ScannedCount: a FilterExpression drops items after they are read and paid for)."""
    cond = Key(f"{index}PK").eq(partition)
    sk = Key(f"{index}SK")
    if sk_between and after is not None:  # one condition per sort key: between, then drop `after`
        lo, hi = sk_between
        lo, hi = (max(lo, after), hi) if forward else (lo, min(hi, after))
        if lo > hi:
            return [], None
        cond = cond & sk.between(lo, hi)
    elif sk_between:
        cond = cond & sk.between(*sk_between)
    elif after is not None:
        cond = cond & (sk.gt(after) if forward else sk.lt(after))
    kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": cond, "ScanIndexForward": forward,
                              "Limit": limit}
    if filter_expr is not None:
        kwargs["FilterExpression"] = filter_expr
    if projection:
        kwargs["ProjectionExpression"] = ", ".join(f"#p{n}" for n in range(len(projection)))
        kwargs["ExpressionAttributeNames"] = {f"#p{n}": a for n, a in enumerate(projection)}
    if start:
        kwargs["ExclusiveStartKey"] = start
    resp = _table().query(**kwargs)
    if stats is not None:
        stats["read"] = stats.get("read", 0) + int(resp.get("ScannedCount", len(resp.get("Items", []))))
    items = resp.get("Items", [])
    if after is not None and sk_between:
        items = [i for i in items if i.get(f"{index}SK") != after]
    return [plain(i) for i in items] if projection else items, resp.get("LastEvaluatedKey")


# --- category trees --------------------------------------------------------------------------


def get_category_tree(seller_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.category_tree(seller_id)).get("Item")
    return strip_keys(item) if item else None


def put_category_tree(seller_id: str, categories: list[dict[str, Any]], tree_hash: str, updated_at: str) -> None:
    _table().put_item(Item={
        **keys.category_tree(seller_id), "GSI4PK": keys.CATEGORY_TREES, "GSI4SK": seller_id,
        "seller_id": seller_id, "categories": categories, "tree_hash": tree_hash, "updated_at": updated_at,
    })


def delete_category_tree(seller_id: str) -> None:
    _table().delete_item(Key=keys.category_tree(seller_id))


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
    # Timeline guarded: file A takes the lock -> file B arrives (refused while A's lease runs;
    # taken over once it lapsed: A died) -> A commits last_source_at -> an older file C,
    # delivered late, is refused for good (Superseded), a newer one proceeds.
    lock_free = any_of("attribute_not_exists(lock_until)", "lock_until < :now", "lock_feed = :me")
    not_older = any_of("attribute_not_exists(last_source_at)", "last_source_at <= :src")
    resp = conditional(
        _table().update_item,
        Key=keys.import_state(seller_id),
        UpdateExpression="SET lock_feed = :me, lock_until = :until",
        ConditionExpression=all_of(lock_free, not_older),
        ExpressionAttributeValues={":me": feed_id, ":until": now + lease_seconds, ":now": now, ":src": source_at},
        ReturnValues="ALL_NEW",
    )
    if resp is None:
        state = plain(_table().get_item(Key=keys.import_state(seller_id), ConsistentRead=True).get("Item") or {})
        if state.get("last_source_at", "") > source_at:
            raise Superseded(state.get("last_feed", ""))
        raise ImportLocked(state.get("lock_feed", ""))
    return plain(resp["Attributes"])


def get_import_state(seller_id: str) -> dict[str, Any]:
    """The seller's import state (lock, last import, open journal), read consistently."""
    return plain(_table().get_item(Key=keys.import_state(seller_id), ConsistentRead=True).get("Item") or {})


def release_import_lock(seller_id: str, feed_id: str, commit: dict[str, Any] | None = None, *,
                        close_journal: bool = False) -> None:
    """Release the lock; ``commit`` (the finished import's facts) is recorded with it, and
    ``close_journal`` forgets the run's open journal (``store/import_journal.py``) in the same
    write: committing the import and closing its journal are one step."""
    names, values = {}, {":me": feed_id}
    sets = []
    for i, (k, v) in enumerate((commit or {}).items()):
        names[f"#c{i}"] = k
        values[f":c{i}"] = v
        sets.append(f"#c{i} = :c{i}")
    expr = "REMOVE lock_feed, lock_until" + (", journal" if close_journal else "")
    if sets:
        expr += " SET " + ", ".join(sets)
    kwargs: dict[str, Any] = {"Key": keys.import_state(seller_id), "UpdateExpression": expr,
                              "ConditionExpression": "lock_feed = :me", "ExpressionAttributeValues": values}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    conditional(_table().update_item, **kwargs)  # refused: the lock lapsed and another import holds it


# --- sold out ----------------------------------------------------------------------------------

SYNC_ATTEMPTS = 4


def sync_availability(product_ids: Iterable[str]) -> int:
    """Move each product between the available and the unavailable listings as its stock
    reaches 0 or comes back (after a checkout took the last units, a cancellation returned
    some). Returns how many products moved.

    The listing keys are not part of the checkout's transaction (it holds up to 100 items and
    every line's reservation needs one), so this runs right after it: one consistent GetItem
    per product and, only when the product crosses 0, one transaction that rewrites the listing
    keys of the product item — on condition its ``stock`` is still the value the decision was
    made on, else it re-reads — and of its listing items. Every stock change is followed by
    this call, so the last one decides, whatever their order."""
    moved = 0
    for pid in dict.fromkeys(product_ids):
        missing: set[str] = set()
        for attempt in range(SYNC_ATTEMPTS + 3):  # (+2: dropping missing listing items)
            if attempt == SYNC_ATTEMPTS + 2:  # the caller's retry (a workflow step's) decides again
                raise Unavailable(f"the listings of {pid} kept changing; retry shortly")
            item = _table().get_item(Key=keys.product(pid), ConsistentRead=True).get("Item")
            if item is None:
                break
            product = strip_keys(item)
            listed = rules.on_sale(product)
            scope_pk = keys.product_listing_partition(keys.listing_scope_all(), listed, rules.discounted(product), pid)
            if item.get("GSI1PK") == scope_pk and bool(item.get("sold_out")) == rules.sold_out(product):
                break
            try:
                transact([op for op in _relist_ops(product, listed) if op.label not in missing], retries=0)
                moved += 1
                break
            except TransactionCancelled as exc:
                gone = {label for label in exc.reasons if label != "product" and exc.failed(label)}
                if gone:  # a listing item that does not exist: nothing of it to move
                    missing |= gone
                    continue
                time.sleep(random.uniform(0.005, 0.02))  # stock moved meanwhile: decide again
    return moved


def _relist_ops(product: dict[str, Any], listed: bool) -> list[Op]:
    name, pid, seller = settings().catalog_table, product["product_id"], product["seller_id"]
    gone = rules.sold_out(product)
    stock_cond = ("stock = :s", {":s": product["stock"]}) if product.get("stock") is not None else (
        "attribute_exists(PK) AND attribute_not_exists(stock)", {})
    targets = [("product", keys.product(pid), keys.listing_scope_all(), *stock_cond)]
    seller_key, *category_keys = listing_item_keys(product)  # where the product recorded them
    targets.append(("seller listing", seller_key, keys.listing_scope_seller(seller), "attribute_exists(PK)", {}))
    if category_keys:
        ckey = category_key(seller, product["category_id"])
        targets.append(("category listing", category_keys[0], keys.listing_scope_category(ckey),
                        "attribute_exists(PK)", {}))
    ops = []
    for label, key, scope, cond, values in targets:
        pk = keys.product_listing_partition(scope, listed, rules.discounted(product), pid)
        expr = "SET GSI1PK = :pk, GSI2PK = :pk, GSI3PK = :pk" + (", sold_out = :t" if gone else " REMOVE sold_out")
        ops.append(Op(label, {"Update": {
            "TableName": name, "Key": key, "UpdateExpression": expr, "ConditionExpression": cond,
            "ExpressionAttributeValues": {**values, ":pk": pk, **({":t": True} if gone else {})}}}))
    return ops


LIVE_FIELDS = "product_id, stock, available, sold_out, description"


def live(product_ids: list[str]) -> dict[str, rules.LiveState]:
    """What a result card shows that changes without a re-index, read now for one page (one
    BatchGetItem of only those fields): ``domain.catalog.LiveState`` by product id."""
    items = _batch_get(product_ids, ProjectionExpression=LIVE_FIELDS)
    return {i["product_id"]: rules.LiveState.from_item(i) for i in map(plain, items)}


def on_sale(product_ids: list[str]) -> dict[str, bool]:
    """``domain.catalog.on_sale`` of each product, reading only the fields it needs (search
    results carry a summary written at import time; stock moves with every checkout, so
    whether a hit is on sale is read now)."""
    items = _batch_get(product_ids, ProjectionExpression="product_id, stock, available, sold_out")
    return {i["product_id"]: rules.on_sale(plain(i)) for i in items}


def relist_sold_out(product_ids: list[str]) -> int:
    """After a checkout: those of ``product_ids`` whose stock is now 0 leave the available
    listings (one consistent BatchGetItem of their stock; ``sync_availability`` for the few
    that sold out). Reading after the write, not predicting from the checkout's own snapshot,
    makes concurrent checkouts that together took the last units see it."""
    items = _batch_get(product_ids, ProjectionExpression="product_id, stock, sold_out", ConsistentRead=True)
    gone = [i["product_id"] for i in items if rules.sold_out(plain(i)) and not i.get("sold_out")]
    return sync_availability(gone) if gone else 0


# --- one-off migration to sharded listing keys (keys.py, "Write sharding") ---------------------


def reshard_listings(page: int = 100) -> int:
    """Move every product still listed under an unsharded key to its shard: Query each
    unsharded ALL partition (every product item is in one; its seller and category listing
    items move with it) and relist each product with ``sync_availability``'s conditional
    transaction. Safe to run twice and next to imports and checkouts: a product already moved
    is left alone, one whose stock changed meanwhile is re-read. Returns how many moved."""
    if keys.listing_shards(keys.listing_scope_all()) == 1:
        return 0  # sharding is off (LISTING_SHARDS_ALL): the unsharded keys are the current ones
    moved = 0
    for available in (True, False):
        for sale in (False, True):
            partition = keys.listing_partition(keys.listing_scope_all(), available, sale)
            stalls = 0
            while True:  # moved items leave the partition: always read its first page again
                items, _ = query_listing(index="GSI1", partition=partition, forward=True, limit=page, start=None,
                                         projection=("product_id",))
                if not items:
                    break
                done = sync_availability([str(i["product_id"]) for i in items])
                moved += done
                stalls = 0 if done else stalls + 1
                if stalls > 20:
                    raise Unavailable(f"{partition} keeps listing products that do not move; run again")
                if not done:  # the index lags the moves (eventually consistent): read again shortly
                    time.sleep(0.5)
    return moved


def move_listing_items(page: int = 100) -> int:
    """Move the seller and category listing items of every product whose item records other
    write shards than the current ones (``LISTING_SHARDS``; absent: written before the listing
    items were sharded) to their shards: per product one transaction — the product item gets
    the current ``LISTING_SHARDS`` on condition that neither its stock nor ``updated_at`` moved
    since it was read (else it is read again), the new listing items are put and the old ones
    deleted. Reads every marketplace-wide listing partition (every product item is in one).
    Safe to run twice and next to imports and checkouts. Returns how many products moved."""
    current, moved = settings().listing_shards_scope, 0
    for available in (True, False):
        for sale in (False, True):
            for partition in keys.listing_partitions(keys.listing_scope_all(), available, sale):
                start = None
                while True:
                    items, start = query_listing(index="GSI1", partition=partition, forward=True, limit=page,
                                                 start=start, projection=("product_id", LISTING_SHARDS))
                    for i in items:
                        if int(i.get(LISTING_SHARDS) or 1) != current:
                            moved += _move_listing_items(str(i["product_id"]))
                    if start is None:
                        break
    return moved


def _move_listing_items(product_id: str) -> int:
    name, current = settings().catalog_table, settings().listing_shards_scope
    for _ in range(SYNC_ATTEMPTS):
        item = _table().get_item(Key=keys.product(product_id), ConsistentRead=True).get("Item")
        if item is None or int(item.get(LISTING_SHARDS) or 1) == current:
            return 0
        product = strip_keys(item)
        cond, values = stock_guard(product)
        if product.get("updated_at") is None:
            cond += " AND attribute_not_exists(updated_at)"
        else:
            cond, values = cond + " AND updated_at = :gu", {**values, ":gu": product["updated_at"]}
        ops = [Op("product", {"Update": {
            "TableName": name, "Key": keys.product(product_id), "UpdateExpression": f"SET {LISTING_SHARDS} = :n",
            "ConditionExpression": f"attribute_exists(PK) AND {cond}",
            "ExpressionAttributeValues": {**values, ":n": current}}})]
        ops += [Op(f"delete{n}", {"Delete": {"TableName": name, "Key": k}})
                for n, k in enumerate(stale_keys(product, product))]
        ops += [Op(f"put{n}", {"Put": {"TableName": name, "Item": i}})
                for n, i in enumerate(product_items(product)[1:])]
        try:
            transact(ops, retries=GUARD_RETRIES)
            return 1
        except TransactionCancelled:
            time.sleep(random.uniform(0.005, 0.02))  # the product changed meanwhile: read it again
    raise Unavailable(f"the product {product_id} kept changing; run the move again")


if __name__ == "__main__":  # python -m chalicelib.store.catalog reshard
    import sys

    if sys.argv[1:] == ["reshard"]:
        print(f"{reshard_listings()} products moved to their listing shards")
        print(f"{move_listing_items()} products' listing items moved to their base-table shards")
