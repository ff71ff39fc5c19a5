"""Commerce table: orders, their timelines and checkout records.

This module is the contract the order workflow builds on. Every state change is ONE
conditional write on the state it leaves (docs/architecture.md, decision 4); AWS errors stop here.

Order item (``keys.order(order_id)``; money is integer minor units in ``currency``)::

    {order_id, checkout_id, customer_id, seller_id, seller_name, status,
     items: [{product_id, name, price, quantity, line_total, reserved}],
     delivery: {method_id, name, price, days}, items_total, delivery_price, total, currency,
     address: {...}, payment_method, created_at, updated_at, stock_released,
     timeline: [{event_id, type, at, actor, detail, status}]}

``reserved`` says whether checkout decremented that product's ``stock`` (products without a
stock count are not limited, so nothing was reserved and ``restock`` skips them). Checkout also
adds the units to the product's ``reserved`` count — units sold but still in the seller's
warehouse — which ``restock`` (cancelled) or ``ship_reserved`` (shipped) takes off again; the
feed import sets ``stock`` = the feed's count − ``reserved`` (``services/feed_import.py``).

Contract (statuses and allowed moves: ``chalicelib/domain/orders.py``):

- ``load(order_id) -> Order | None`` — one consistent GetItem, timeline included, as a typed
  record (``domain/orders.py``); ``load_many`` by id, ``list_orders`` a page of them.
- ``transition(order_id, *, from_statuses, to_status, event, updates=None, event_id=None)
  -> Order`` — one conditional UpdateItem: applies only while the status is in
  ``from_statuses``; appends ``event`` to the timeline; sets ``updates``; returns the order
  after the change. Otherwise ``errors.InvalidTransition`` with ``current_status``. With an
  ``event_id``, a retry of a transition that already happened is a no-op returning the order
  (the id is recorded on the order in the same write), so a workflow task may run twice.
- ``add_event(order_id, event, *, event_id=None) -> bool`` — append a non-transition timeline
  entry ("email sent", "refund completed"); False when ``event_id`` was already recorded.
- ``restock(order_id) -> bool`` — return the reserved stock exactly once: one
  TransactWriteItems flipping ``stock_released`` false→true together with the product stock
  increments; False when it was already done.
- ``ship_reserved(order_id) -> bool`` — the shipped order's units leave the products'
  ``reserved`` counts, exactly once (the order's ``reservation_shipped`` flag).

DynamoDB calls: ``load`` 1 GetItem; ``transition`` / ``add_event`` 1 UpdateItem (+1
GetItem only when refused, to tell a retry from a conflict); ``restock`` 1 GetItem + 1
TransactWriteItems (+1 per promo code the order redeemed: ``promos.give_back``); ``place``
(checkout) 1 TransactWriteItems; listings 1 Query per page.

``event`` is ``{type, actor, detail}`` (``at`` and ``event_id`` are filled in when absent);
``actor`` is a string such as ``customer:<id>``, ``seller:<id>``, ``system`` or ``timeout``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import orders as domain
from chalicelib.domain.cart import CartLine
from chalicelib.errors import (
    AlreadyExists,
    Conflict,
    InvalidTransition,
    NotFound,
    OutOfStock,
    Unavailable,
    ValidationFailed,
)
from chalicelib.store import catalog, keys, promos, toolkit
from chalicelib.store.toolkit import Op, TransactionCancelled, all_of, conditional, transact
from chalicelib.store.values import plain

INTERNAL = frozenset(
    {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK", "GSI5PK", "GSI5SK",
     "ttl", "applied_events"}
)
# A product may be reserved while the feed offers it at the price the customer saw, and no admin
# has blocked it.
_OFFERED = "available = :t AND price = :price AND attribute_not_exists(blocked)"
MAX_LIST_PAGES = 10  # a filtered listing reads at most this many index pages per request
BUSY = "the store is busy with concurrent orders; retry shortly"
# Attributes ``transition(updates=...)`` may not touch: they are owned by this module.
PROTECTED = INTERNAL | {"order_id", "status", "timeline", "updated_at", "stock_released", "customer_id",
                        "seller_id", "created_at", "checkout_id"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def table_name() -> str:
    return settings().commerce_table


def _table() -> Any:
    return clients.table(table_name())


def strip(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return plain({k: v for k, v in item.items() if k not in INTERNAL})


def make_event(event: dict[str, Any], *, event_id: str | None = None, status: str | None = None) -> dict[str, Any]:
    if not isinstance(event.get("type"), str) or not event["type"]:
        raise ValueError("an event needs a non-empty 'type'")
    entry = {
        "event_id": event_id or event.get("event_id") or uuid.uuid4().hex,
        "type": event["type"],
        "at": event.get("at") or now_iso(),
        "actor": str(event.get("actor") or "system"),
        "detail": event.get("detail") or {},
    }
    if status:
        entry["status"] = status
    return entry


# --- reads ---------------------------------------------------------------------------------


def _item(order_id: str) -> dict[str, Any] | None:
    """The stored order item with its timeline (one consistent GetItem), or None."""
    if not domain.EXECUTION_NAME_RE.match(order_id or ""):
        return None  # not an id we ever mint: no read needed
    item = _table().get_item(Key=keys.order(order_id), ConsistentRead=True).get("Item")
    return strip(item)


def load(order_id: str) -> domain.Order | None:
    """The order as a typed record (``domain.Order``; one consistent GetItem), or None."""
    item = _item(order_id)
    return None if item is None else domain.Order.from_item(item)


def load_many(order_ids: list[str]) -> list[domain.Order]:
    """Orders by id (typed records) in one BatchGetItem per 100 ids, in the order asked."""
    ids = list(dict.fromkeys(order_ids))
    found = {item["order_id"]: domain.Order.from_item(strip(item) or {})
             for item in toolkit.batch_get(table_name(), [keys.order(o) for o in ids], ConsistentRead=True)}
    return [found[o] for o in ids if o in found]


def get_checkout(checkout_id: str) -> dict[str, Any] | None:
    return strip(_table().get_item(Key=keys.checkout(checkout_id), ConsistentRead=True).get("Item"))


def list_orders(
    *,
    customer_id: str | None = None,
    seller_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    start_key: dict[str, Any] | None = None,
    day: str | None = None,
) -> tuple[list[domain.Order], dict[str, Any] | None]:
    """A page of orders (typed records), newest first, and the key to continue from (None at the end).
    ``day`` (``yyyy-mm-dd``, staff only): every order placed that day (GSI5).

    Seller + status is a key condition on GSI3; a customer's status filter is a
    FilterExpression on GSI1, read page by page until ``limit`` matches (customers have few
    orders, and the cursor resumes exactly after the last order returned).
    """
    kwargs: dict[str, Any] = {"ScanIndexForward": False}
    if seller_id is not None and status:
        index, pk_attr = "GSI3", "GSI3PK"
        kwargs["KeyConditionExpression"] = "GSI3PK = :pk AND begins_with(GSI3SK, :st)"
        values: dict[str, Any] = {":pk": keys.seller_orders(seller_id), ":st": keys.seller_status_prefix(status)}
    elif seller_id is not None:
        index, pk_attr = "GSI2", "GSI2PK"
        kwargs["KeyConditionExpression"] = "GSI2PK = :pk"
        values = {":pk": keys.seller_orders(seller_id)}
    elif customer_id is not None:
        index, pk_attr = "GSI1", "GSI1PK"
        kwargs["KeyConditionExpression"] = "GSI1PK = :pk"
        values = {":pk": keys.customer_orders(customer_id)}
        if status:
            kwargs["FilterExpression"] = "#st = :st"
            kwargs["ExpressionAttributeNames"] = {"#st": "status"}
            values[":st"] = status
    elif day is not None:
        index, pk_attr = "GSI5", "GSI5PK"
        kwargs["KeyConditionExpression"] = "GSI5PK = :pk"
        values = {":pk": keys.orders_of_day(day)}
        if status:
            kwargs["FilterExpression"] = "#st = :st"
            kwargs["ExpressionAttributeNames"] = {"#st": "status"}
            values[":st"] = status
    else:
        raise ValueError("list_orders needs a customer_id, a seller_id or a day")
    kwargs["IndexName"] = index
    kwargs["ExpressionAttributeValues"] = values
    sk_attr = pk_attr[:-2] + "SK"

    if start_key is not None and (set(start_key) != {"PK", "SK", pk_attr, sk_attr}
                                  or start_key[pk_attr] != values[":pk"]
                                  or not str(start_key[sk_attr]).startswith(values.get(":st", "")
                                                                            if index == "GSI3" else "")):
        # a signed cursor, but of another listing (another filter, user or index)
        raise ValidationFailed.one("cursor", "this cursor belongs to another listing")
    filtered = "FilterExpression" in kwargs
    out: list[dict[str, Any]] = []
    key = start_key
    for _ in range(MAX_LIST_PAGES):
        page = dict(kwargs, Limit=min(limit * 4, 100) if filtered else limit - len(out))
        if key:
            page["ExclusiveStartKey"] = key
        resp = _table().query(**page)
        items = resp.get("Items", [])
        room = limit - len(out)
        if len(items) > room:  # more matches than the page holds: resume after the last one shown
            out += items[:room]
            last = out[-1]
            return _records(out), {a: last[a] for a in ("PK", "SK", pk_attr, sk_attr)}
        out += items
        key = resp.get("LastEvaluatedKey")
        if not key or len(out) == limit:
            break
    return _records(out), key or None


def _strip_all(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in (strip(i) for i in items) if s is not None]


def _records(items: list[dict[str, Any]]) -> list[domain.Order]:
    return [domain.Order.from_item(i) for i in _strip_all(items)]


# --- writes --------------------------------------------------------------------------------


def transition(
    order_id: str,
    *,
    from_statuses: set[str] | frozenset[str],
    to_status: str,
    event: dict[str, Any],
    updates: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> domain.Order:
    """Move the order to ``to_status`` if its status is one of ``from_statuses``; the order after.

    One conditional UpdateItem sets the status (and the seller's status index), appends the
    event to the timeline and records ``event_id``; see the module docstring.
    """
    sources = set(from_statuses)
    if not sources:
        raise ValueError("from_statuses must not be empty")
    bad = [s for s in sources if not domain.can_transition(s, to_status)]
    if bad:
        raise ValueError(f"transition {sorted(bad)} -> {to_status} is not allowed by the domain")
    updates = dict(updates or {})
    clash = PROTECTED & set(updates)
    if clash:
        raise ValueError(f"updates may not set {sorted(clash)}")
    entry = make_event(event, event_id=event_id, status=to_status)
    eid = entry["event_id"]
    now = now_iso()

    names = {"#st": "status", "#tl": "timeline", "#up": "updated_at", "#ae": "applied_events"}
    values: dict[str, Any] = {
        ":to": to_status,
        ":now": now,
        ":ev": [entry],
        ":empty": [],
        ":eid": eid,
        ":eids": {eid},
        ":g3": keys.seller_status_sort(to_status, order_id),
    }
    sets = ["#st = :to", "#up = :now", "#tl = list_append(if_not_exists(#tl, :empty), :ev)", "GSI3SK = :g3"]
    for i, (name, value) in enumerate(updates.items()):
        names[f"#u{i}"] = name
        values[f":u{i}"] = value
        sets.append(f"#u{i} = :u{i}")
    src = []
    for i, s in enumerate(sorted(sources)):
        values[f":f{i}"] = s
        src.append(f":f{i}")
    # Timeline guarded: PAID -> (seller confirms) CONFIRMED; a concurrent cancel, or this very
    # task retried after its move, finds the order in another state (``leaves_a_source``) or
    # the event already applied (``not_applied``) and writes nothing.
    leaves_a_source = f"#st IN ({', '.join(src)})"
    not_applied = "NOT contains(#ae, :eid)"
    done = conditional(
        _table().update_item,
        Key=keys.order(order_id),
        UpdateExpression="SET " + ", ".join(sets) + " ADD #ae :eids",
        ConditionExpression=all_of(leaves_a_source, not_applied),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    if done is None:
        return _after_refused_transition(order_id, eid, to_status, sources)
    return domain.Order.from_item(strip(done["Attributes"]) or {})


def _after_refused_transition(order_id: str, eid: str, to_status: str, sources: set[str]) -> domain.Order:
    item = _table().get_item(Key=keys.order(order_id), ConsistentRead=True).get("Item")
    if item is None:
        raise NotFound(f"order {order_id} does not exist")
    if eid in (item.get("applied_events") or set()):
        # this very transition already happened: a retry, not an error
        return domain.Order.from_item(strip(item) or {})
    current = str(item.get("status"))
    raise InvalidTransition(
        f"order {order_id} is {current}; it can become {to_status} only from {', '.join(sorted(sources))}",
        order_id=order_id,
        current_status=current,
    )


def _event_update(order_id: str, entry: dict[str, Any], remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """The conditional UpdateItem appending ``entry`` to the timeline once (its ``event_id``)."""
    names = {"#tl": "timeline", "#up": "updated_at", "#ae": "applied_events"}
    names.update({f"#r{i}": name for i, name in enumerate(remove)})
    dropped = " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove))) if remove else ""
    return {
        "Key": keys.order(order_id),
        "UpdateExpression": "SET #tl = list_append(if_not_exists(#tl, :empty), :ev), #up = :now ADD #ae :eids"
                            + dropped,
        "ConditionExpression": "attribute_exists(PK) AND NOT contains(#ae, :eid)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {
            ":ev": [entry], ":empty": [], ":now": now_iso(), ":eid": entry["event_id"],
            ":eids": {entry["event_id"]},
        },
    }


def add_event(order_id: str, event: dict[str, Any], *, event_id: str | None = None,
              remove: tuple[str, ...] = ()) -> bool:
    """Append a timeline entry that is not a status change. False if ``event_id`` was seen.
    ``remove``: attributes dropped in the same write (the workflow's first step takes the order
    off the "workflow pending" index with its ``workflow_started`` entry)."""
    done = conditional(_table().update_item, **_event_update(order_id, make_event(event, event_id=event_id), remove))
    if done is None:
        if _item(order_id) is None:
            raise NotFound(f"order {order_id} does not exist")
        return False
    return True


def event_op(order_id: str, event: dict[str, Any], *, event_id: str) -> Op:
    """``add_event`` as the operation ``timeline`` of another write's transaction: its condition
    fails when ``event_id`` is on the timeline already (or the order does not exist)."""
    return Op("timeline", {"Update": {"TableName": table_name(),
                                      **_event_update(order_id, make_event(event, event_id=event_id))}})


def restock(order_id: str, *, actor: str = "system") -> bool:
    """Give the order's reserved units back to their products, exactly once.

    One TransactWriteItems: the order's ``stock_released`` false→true (the guard: a second
    call, or a concurrent one, fails on it and returns False) and, per reserved product,
    ``stock + q`` and ``reserved - q``. A product whose stock count disappeared since (its feed
    stopped giving one, so it is unlimited now) is skipped rather than given a count.
    """
    order = _item(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    reserved = [i for i in order.get("items", []) if i.get("reserved")]
    if order.get("stock_released"):
        # a retry: the units are back; the listings and the code uses may not be yet (the follow-up failed)
        promos.give_back(order)
        catalog.sync_availability([i["product_id"] for i in reserved])
        return False
    entry = make_event({"type": "stock_released", "actor": actor,
                        "detail": {"units": sum(i["quantity"] for i in reserved)}})
    order_update = {
        "UpdateExpression": "SET stock_released = :t, #tl = list_append(if_not_exists(#tl, :empty), :ev)",
        "ConditionExpression": "stock_released = :f",
        "ExpressionAttributeNames": {"#tl": "timeline"},
        "ExpressionAttributeValues": {":t": True, ":f": False, ":ev": [entry], ":empty": []},
    }
    product_update = {"UpdateExpression": "SET stock = stock + :q, reserved = if_not_exists(reserved, :q) - :q",
                      "ConditionExpression": "attribute_exists(stock)"}
    # the order's promo code redemptions are released with its stock, once (store/promos.py)
    done = _with_reserved_products(order_id, order_update, product_update, reserved, promos.release_ops(order))
    promos.give_back(order)
    # a sold-out product is on sale again (also when a retry finds the stock already returned)
    catalog.sync_availability([i["product_id"] for i in reserved])
    return done


def ship_reserved(order_id: str) -> bool:
    """The order's units left the seller's warehouse: take them off their products' ``reserved``
    counts (the seller's next feed no longer counts them), exactly once; ``stock`` is unchanged.
    Guarded by the order's ``reservation_shipped`` flag; an order whose stock was released
    (cancelled) has nothing to ship."""
    order = _item(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    if order.get("reservation_shipped") or order.get("stock_released"):
        return False
    order_update = {
        "UpdateExpression": "SET reservation_shipped = :t",
        "ConditionExpression": "attribute_not_exists(reservation_shipped) AND stock_released = :f",
        "ExpressionAttributeValues": {":t": True, ":f": False},
    }
    product_update = {"UpdateExpression": "SET reserved = reserved - :q",
                      "ConditionExpression": "reserved >= :q"}
    reserved = [i for i in order.get("items", []) if i.get("reserved")]
    return _with_reserved_products(order_id, order_update, product_update, reserved)


def _with_reserved_products(order_id: str, order_update: dict[str, Any], product_update: dict[str, Any],
                            reserved: list[dict[str, Any]], extra: list[Op] = ()) -> bool:
    """One TransactWriteItems: the order's guarded flag update and one update per reserved
    product (``:q`` = the line's quantity). False when the order's guard fails (done before);
    a product whose own condition fails is left out and the rest is written."""
    catalog_table = settings().catalog_table
    while True:
        ops = [Op("order", {"Update": {"TableName": table_name(), "Key": keys.order(order_id), **order_update}})]
        ops += [Op(_product_label(i), {"Update": {
            "TableName": catalog_table, "Key": keys.product(i["product_id"]), **product_update,
            "ExpressionAttributeValues": {":q": i["quantity"]}}}) for i in reserved]
        ops += list(extra)
        try:
            transact(ops)
            return True
        except TransactionCancelled as cancelled:
            if cancelled.failed("order"):
                return False
            gone = [i for i in reserved if cancelled.failed(_product_label(i))]
            if not gone and cancelled.transient:
                raise Unavailable(BUSY) from cancelled
            if not gone:
                raise
            reserved = [i for i in reserved if i not in gone]


def _product_label(line: dict[str, Any]) -> str:
    return f"product:{line['product_id']}"


# --- checkout ------------------------------------------------------------------------------


def place(
    *,
    checkout: dict[str, Any],
    orders: list[dict[str, Any]],
    reservations: list[dict[str, Any]],
    cart_lines: list[CartLine],
    promo_ops: list[Op] = (),
) -> None:
    """Write a whole checkout in ONE TransactWriteItems, or nothing.

    Operations, each labelled (a cancellation is explained by the labels whose condition failed):

    1. per reservation: the product must still be available at the price the orders use;
       a limited product (``limited``) is decremented only while ``stock >= quantity``
       (so stock never goes below zero), an unlimited one is a ConditionCheck that it still
       has no stock count;
    2. per order: Put with ``attribute_not_exists`` (status AWAITING_PAYMENT), listed in the
       sparse "workflow pending" index until its workflow starts (``workflow_started``);
    3. per cart line: Delete while it still holds the checked-out quantity (a concurrent cart
       change fails the checkout instead of being lost);
    4. the checkout record ``keys.checkout(checkout_id)`` with ``attribute_not_exists``: the
       same (customer, Idempotency-Key) can place orders once, however many requests race;
    5. ``promo_ops``: the promo codes' redemptions (``store/promos.redemption_ops``), so a
       code's use limits hold whatever the concurrency: a refused redemption places nothing.

    Raises ``AlreadyExists`` (that checkout was placed: replay it), ``OutOfStock`` with
    ``lines=[{product_id, requested, reason}]`` (the service adds what is available) or
    ``Conflict`` (the cart changed meanwhile).
    """
    catalog_table, commerce = settings().catalog_table, table_name()
    ops: list[Op] = []
    for r in reservations:
        values = {":t": True, ":price": r["price"]}
        base = {"TableName": catalog_table, "Key": keys.product(r["product_id"])}
        if r["limited"]:
            values.update({":q": r["quantity"], ":zero": 0})
            ops.append(Op(_product_label(r), {"Update": {
                **base,
                "UpdateExpression": "SET stock = stock - :q, reserved = if_not_exists(reserved, :zero) + :q",
                "ConditionExpression": all_of(_OFFERED, "stock >= :q"),
                "ExpressionAttributeValues": values,
            }}))
        else:
            ops.append(Op(_product_label(r), {"ConditionCheck": {
                **base,
                "ConditionExpression": all_of(_OFFERED, "attribute_not_exists(stock)"),
                "ExpressionAttributeValues": values,
            }}))
    for o in orders:
        item = {**keys.order(o["order_id"]), **keys.order_index_keys(o),
                **keys.workflow_pending(o["created_at"], o["order_id"]), **o}
        ops.append(Op(f"order:{o['order_id']}", {"Put": {"TableName": commerce, "Item": item,
                                                          "ConditionExpression": "attribute_not_exists(PK)"}}))
    for line in cart_lines:
        ops.append(Op(f"line:{line.product_id}", {"Delete": {
            "TableName": commerce,
            "Key": keys.cart_line(line.customer_id, line.product_id),
            "ConditionExpression": "quantity = :q",
            "ExpressionAttributeValues": {":q": line.quantity},
        }}))
    record = {**keys.checkout(checkout["checkout_id"]), **checkout}
    ops.append(Op("checkout", {"Put": {"TableName": commerce, "Item": record,
                                       "ConditionExpression": "attribute_not_exists(PK)"}}))
    ops += list(promo_ops)
    try:
        transact(ops)
    except TransactionCancelled as cancelled:
        _explain_cancellation(cancelled, reservations, orders, cart_lines, checkout["checkout_id"])
        raise


WORKFLOW_PENDING_INDEX = ("GSI4PK", "GSI4SK")


def workflow_started(order_id: str) -> None:
    """Take the order off the "workflow pending" index (the reconciler, for an execution that
    ended without its first step; the step itself does it with its timeline entry). Idempotent."""
    conditional(_table().update_item, Key=keys.order(order_id), UpdateExpression="REMOVE GSI4PK, GSI4SK",
                ConditionExpression="attribute_exists(PK)")  # never create a stub item


def workflow_pending(before_iso: str, limit: int) -> list[domain.Order]:
    """Orders placed before ``before_iso`` whose workflow has not started, oldest first
    (one Query of the sparse GSI4; eventually consistent, which the reconciler tolerates:
    a start it repeats is harmless)."""
    resp = _table().query(
        IndexName="GSI4",
        KeyConditionExpression="GSI4PK = :pk AND GSI4SK < :before",
        ExpressionAttributeValues={":pk": keys.WORKFLOW_PENDING, ":before": before_iso},
        Limit=limit,
    )
    return _records(resp.get("Items", []))  # the index projects the whole order


def _explain_cancellation(cancelled: TransactionCancelled, reservations: list[dict[str, Any]],
                          orders: list[dict[str, Any]], cart_lines: list[CartLine], checkout_id: str) -> None:
    if cancelled.failed("checkout") or any(cancelled.failed(f"order:{o['order_id']}") for o in orders):
        raise AlreadyExists(f"checkout {checkout_id} was already placed", checkout_id=checkout_id)
    if any(cancelled.failed(label) for label in cancelled.reasons if label.startswith("promo")):
        return  # the service explains a refused promo code (``PromoCodeRejected``)
    lines = [{"product_id": r["product_id"], "requested": r["quantity"]}
             for r in reservations if cancelled.failed(_product_label(r))]
    if lines:
        raise OutOfStock("some lines cannot be reserved; review your cart", lines=lines)
    if any(cancelled.failed(f"line:{line.product_id}") for line in cart_lines):
        raise Conflict("your cart changed during checkout; review it and try again")
    if cancelled.transient:
        raise Unavailable(BUSY)
