"""Provider payments in the ledger table: our top-up records and the local sandbox's payments.

A top-up record (``keys.payment``) is written when the provider's payment is created and
leaves ``pending`` once, by a conditional write on ``status = pending``: to ``succeeded`` in
the same TransactWriteItems as the wallet credit (``settle_op`` with ``store.ledger.post``),
or to ``canceled`` (``cancel``), or to ``expired`` when the provider did not answer in time
(``expire``; an expired one may still settle or cancel once, if the provider reports late).
A late or repeated event therefore meets a failed condition and moves nothing. While pending,
the record is listed in a sparse GSI1 (``keys.pending_topup_index``) for the expiry.
The sandbox's items (``keys.sandbox_payment``) are the sandbox provider's
own state; only ``adapters/payments_sandbox.py`` uses them.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import Op, conditional
from chalicelib.store.values import plain

PAYMENT = "payment"  # the label of ``settle_op`` in a ledger transaction
EXPIRED = "expired"


def _table() -> Any:
    return clients.table(settings().ledger_table)


def put_topup(item: dict[str, Any]) -> dict[str, Any]:
    """Write a new top-up record (listed as pending for the expiry); if one exists already (a
    retried request), return that one."""
    full = {**keys.payment(item["topup_id"]), **keys.pending_topup_index(item["topup_id"], item["created_at"]),
            **item}
    done = conditional(_table().put_item, Item=full, ConditionExpression="attribute_not_exists(PK)")
    if done is None:
        existing = get_topup(item["topup_id"])
        assert existing is not None
        return existing
    return plain(full)


def get_topup(topup_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.payment(topup_id), ConsistentRead=True).get("Item")
    return plain(item) if item else None


def settle_op(topup_id: str, *, provider_payment_id: str, at: str) -> Op:
    """pending → succeeded, for the provider payment it was created with (a transaction's op)."""
    return Op(PAYMENT, {"Update": {
        "TableName": settings().ledger_table,
        "Key": keys.payment(topup_id),
        # an expired top-up still settles: the customer paid after we stopped waiting
        "UpdateExpression": "SET #status = :to, #at = :at REMOVE GSI1PK, GSI1SK",
        "ConditionExpression": "#status IN (:pending, :expired) AND #pid = :pid",
        "ExpressionAttributeNames": {"#status": "status", "#at": "settled_at", "#pid": "provider_payment_id"},
        "ExpressionAttributeValues": {":to": "succeeded", ":at": at, ":pending": "pending", ":expired": EXPIRED,
                                      ":pid": provider_payment_id},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def cancel(topup_id: str, *, provider_payment_id: str, at: str) -> bool:
    """pending (or expired) → canceled; False when the record had already left them."""
    done = conditional(
        _table().update_item, Key=keys.payment(topup_id),
        UpdateExpression="SET #status = :to, #at = :at REMOVE GSI1PK, GSI1SK",
        ConditionExpression="#status IN (:pending, :expired) AND #pid = :pid",
        ExpressionAttributeNames={"#status": "status", "#at": "settled_at", "#pid": "provider_payment_id"},
        ExpressionAttributeValues={":to": "canceled", ":at": at, ":pending": "pending", ":expired": EXPIRED,
                                   ":pid": provider_payment_id},
    )
    return done is not None


def expire(topup_id: str, *, at: str) -> bool:
    """pending → expired (no answer from the provider in time); False if it had left pending."""
    done = conditional(
        _table().update_item, Key=keys.payment(topup_id),
        UpdateExpression="SET #status = :to, #at = :at REMOVE GSI1PK, GSI1SK",
        ConditionExpression="#status = :pending",
        ExpressionAttributeNames={"#status": "status", "#at": "expired_at"},
        ExpressionAttributeValues={":to": EXPIRED, ":at": at, ":pending": "pending"},
    )
    return done is not None


def pending_topups(created_before: str, limit: int) -> list[dict[str, Any]]:
    """Pending top-ups created before ``created_before``, oldest first, up to ``limit`` per shard
    (one Query per shard of the sparse GSI1 listing)."""
    found: list[dict[str, Any]] = []
    for shard in range(keys.TOPUP_SHARDS):
        page = _table().query(
            IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :before",
            ExpressionAttributeValues={":pk": keys.pending_topups_partition(shard), ":before": created_before},
            Limit=limit)
        found += [plain(item) for item in page.get("Items", [])]
    return found


# -- card orders: the order's payment at the provider ------------------------------------------
#
# ``pending`` (created) → ``authorized`` (the webhook; the ledger holds it) → ``captured`` (the
# seller confirmed) → ``refunded``; or → ``canceled`` (voided, declined or expired). Each move is
# conditional on the states it may leave; the ledger, not this record, is the money's truth.


def put_order_payment(item: dict[str, Any]) -> dict[str, Any]:
    """Write an order's payment record; if it exists already (a retry), return that one."""
    full = {**keys.order_payment(item["order_id"]), **item}
    if conditional(_table().put_item, Item=full, ConditionExpression="attribute_not_exists(PK)") is None:
        existing = get_order_payment(item["order_id"])
        assert existing is not None
        return existing
    return plain(full)


def get_order_payment(order_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.order_payment(order_id), ConsistentRead=True).get("Item")
    return plain(item) if item else None


def move_order_payment(order_id: str, *, from_states: tuple[str, ...], to_state: str, **fields: Any) -> bool:
    """Change the record's status only from one of ``from_states``; False if it was not."""
    return _move(keys.order_payment(order_id), from_states, to_state, fields)


# -- the sandbox provider's own state ----------------------------------------------------------


def put_sandbox(item: dict[str, Any]) -> dict[str, Any]:
    full = {**keys.sandbox_payment(item["id"]), **item}
    if conditional(_table().put_item, Item=full, ConditionExpression="attribute_not_exists(PK)") is None:
        existing = get_sandbox(item["id"])
        assert existing is not None
        return existing
    return plain(full)


def get_sandbox(payment_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.sandbox_payment(payment_id), ConsistentRead=True).get("Item")
    return plain(item) if item else None


def move_sandbox(payment_id: str, *, from_states: tuple[str, ...], to_state: str, **fields: Any) -> bool:
    """Change a sandbox payment's status only from one of ``from_states``; False if it was not."""
    return _move(keys.sandbox_payment(payment_id), from_states, to_state, fields)


REFUND_PREFIX = "refund:"  # a sandbox payment's refunds: one attribute per idempotency key


def refund_sandbox(payment_id: str, key: str, amount: int, *, seen: int, full: bool) -> bool:
    """Add a refund of ``amount`` under ``key`` to a captured sandbox payment (one conditional
    write: the ``refunded`` total and the key's own attribute), only if the total is still
    ``seen`` and the key is new; ``full``: nothing remains after it (→ ``refunded``). False when
    the payment changed meanwhile."""
    unchanged = "(attribute_not_exists(#refunded) OR #refunded = :seen)" if seen == 0 else "#refunded = :seen"
    done = conditional(
        _table().update_item, Key=keys.sandbox_payment(payment_id),
        UpdateExpression="SET #status = :to, #refunded = :total, #key = :amount",
        ConditionExpression=f"#status IN (:succeeded, :refunded_state) AND {unchanged} AND attribute_not_exists(#key)",
        ExpressionAttributeNames={"#status": "status", "#refunded": "refunded", "#key": REFUND_PREFIX + key},
        ExpressionAttributeValues={":to": "refunded" if full else "succeeded", ":total": seen + amount,
                                   ":seen": seen, ":amount": amount, ":succeeded": "succeeded",
                                   ":refunded_state": "refunded"},
    )
    return done is not None


def sandbox_refunds(item: dict[str, Any]) -> dict[str, int]:
    """A sandbox payment's refunds: idempotency key → amount."""
    return {k[len(REFUND_PREFIX):]: int(v) for k, v in item.items() if k.startswith(REFUND_PREFIX)}


def _move(key: dict[str, str], from_states: tuple[str, ...], to_state: str, fields: dict[str, Any]) -> bool:
    names = {"#status": "status", **{f"#{k}": k for k in fields}}
    values = {":to": to_state, **{f":{k}": v for k, v in fields.items()},
              **{f":from{i}": s for i, s in enumerate(from_states)}}
    sets = ", ".join(["#status = :to", *(f"#{k} = :{k}" for k in fields)])
    done = conditional(
        _table().update_item, Key=key, UpdateExpression=f"SET {sets}",
        ConditionExpression=f"#status IN ({', '.join(f':from{i}' for i in range(len(from_states)))})",
        ExpressionAttributeNames=names, ExpressionAttributeValues=values,
    )
    return done is not None
