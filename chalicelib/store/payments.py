"""Provider payments in the ledger table: our top-up records and the local sandbox's payments.

A top-up record (``keys.payment``) is written when the provider's payment is created and
leaves ``pending`` once, by a conditional write on ``status = pending``: to ``succeeded`` in
the same TransactWriteItems as the wallet credit (``settle_op`` with ``store.ledger.post``),
or to ``canceled`` (``cancel``). A late or repeated event therefore meets a failed condition
and moves nothing. The sandbox's items (``keys.sandbox_payment``) are the sandbox provider's
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


def _table() -> Any:
    return clients.table(settings().ledger_table)


def put_topup(item: dict[str, Any]) -> dict[str, Any]:
    """Write a new top-up record; if one exists already (a retried request), return that one."""
    full = {**keys.payment(item["topup_id"]), **item}
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
        "UpdateExpression": "SET #status = :to, #at = :at",
        "ConditionExpression": "#status = :pending AND #pid = :pid",
        "ExpressionAttributeNames": {"#status": "status", "#at": "settled_at", "#pid": "provider_payment_id"},
        "ExpressionAttributeValues": {":to": "succeeded", ":at": at, ":pending": "pending",
                                      ":pid": provider_payment_id},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def cancel(topup_id: str, *, provider_payment_id: str, at: str) -> bool:
    """pending → canceled; False when the record had already left pending."""
    done = conditional(
        _table().update_item, Key=keys.payment(topup_id),
        UpdateExpression="SET #status = :to, #at = :at",
        ConditionExpression="#status = :pending AND #pid = :pid",
        ExpressionAttributeNames={"#status": "status", "#at": "settled_at", "#pid": "provider_payment_id"},
        ExpressionAttributeValues={":to": "canceled", ":at": at, ":pending": "pending",
                                   ":pid": provider_payment_id},
    )
    return done is not None


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
    names = {"#status": "status", **{f"#{k}": k for k in fields}}
    values = {":to": to_state, **{f":{k}": v for k, v in fields.items()},
              **{f":from{i}": s for i, s in enumerate(from_states)}}
    sets = ", ".join(["#status = :to", *(f"#{k} = :{k}" for k in fields)])
    done = conditional(
        _table().update_item, Key=keys.sandbox_payment(payment_id), UpdateExpression=f"SET {sets}",
        ConditionExpression=f"#status IN ({', '.join(f':from{i}' for i in range(len(from_states)))})",
        ExpressionAttributeNames=names, ExpressionAttributeValues=values,
    )
    return done is not None
