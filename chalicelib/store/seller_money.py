"""A seller's pending earnings (the return window) and payouts, in the ledger table.

Pending earnings: one item per captured order under ``PENDING#<seller>`` holding the order's
net (what the capture put on the seller's earnings). It is created by the capture's own
transaction with the sort key ``UNDELIVERED#<order>``; at delivery it moves to
``<window end>#<order>``. Pending now = the sum over the items whose sort key is after now (an
ISO time sorts before ``UNDELIVERED``), one Query; the items of windows that ended are left
behind and never read again. A refund of the whole capture removes the order's item; a return
lowers its net (``returns``), and while one is open the item stays pending until that return's
deadline has passed (``move_window_ops``).

Payouts: ``PAYOUT#<id>`` with ``state`` requested → paid | failed (one way, conditional), listed
per seller on GSI1 (``PAYOUTS#<seller>``, newest first). Key grammar: ``store/keys.py``.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import ValidationFailed
from chalicelib.store import keys
from chalicelib.store.toolkit import Op, TransactionCancelled, transact
from chalicelib.store.values import plain

PENDING = "pending"
PENDING_MOVED, PENDING_HOLD = "pending_moved", "pending_hold"
PAYOUT = "payout"
REQUESTED, PAID, FAILED = "requested", "paid", "failed"


def _name() -> str:
    return settings().ledger_table


def _table() -> Any:
    return clients.table(_name())


# -- pending earnings -----------------------------------------------------------------------------


def pending_put_op(seller_id: str, order_id: str, net: int) -> Op:
    """Joins the capture: the order's net is pending until its return window ends."""
    return Op(PENDING, {"Put": {
        "TableName": _name(),
        "Item": {**keys.pending_earnings(seller_id, order_id, None), "order_id": order_id, "net": net},
        "ConditionExpression": "attribute_not_exists(PK)",
    }})


def pending_delete_op(seller_id: str, order_id: str) -> Op:
    """Joins a refund of the whole capture (before delivery): nothing stays pending."""
    return Op(PENDING, {"Delete": {"TableName": _name(), "Key": keys.pending_earnings(seller_id, order_id, None)}})


def start_window(seller_id: str, order_id: str, until: str) -> bool:
    """Delivery: the order's net stays pending until ``until``. Idempotent (False: nothing to move)."""
    key = keys.pending_earnings(seller_id, order_id, None)
    item = _table().get_item(Key=key, ConsistentRead=True).get("Item")
    if item is None:
        return False
    try:
        transact([
            Op("undelivered", {"Delete": {"TableName": _name(), "Key": key,
                                          "ConditionExpression": "attribute_exists(PK)"}}),
            Op("dated", {"Put": {"TableName": _name(), "Item": {
                **keys.pending_earnings(seller_id, order_id, until), "order_id": order_id,
                "net": int(item["net"]), "until": until}}}),
            # the hold remembers where the order's pending item is (an accepted return lowers it)
            Op("hold", {"Update": {"TableName": _name(), "Key": keys.hold(order_id),
                                   "UpdateExpression": "SET #until = :until",
                                   "ConditionExpression": "attribute_exists(PK)",
                                   "ExpressionAttributeNames": {"#until": "pending_until"},
                                   "ExpressionAttributeValues": {":until": until}}}),
        ])
    except TransactionCancelled:
        return False  # a concurrent delivery step moved it first
    return True


def pending_adjust_op(seller_id: str, order_id: str, until: str | None, change: int) -> Op:
    """Joins an accepted return: the order's pending net shrinks by what the seller gave back."""
    return Op(PENDING, {"Update": {
        "TableName": _name(), "Key": keys.pending_earnings(seller_id, order_id, until),
        "UpdateExpression": "ADD #net :change", "ConditionExpression": "attribute_exists(PK)",
        "ExpressionAttributeNames": {"#net": "net"}, "ExpressionAttributeValues": {":change": change},
    }})


def move_window_ops(seller_id: str, order_id: str, until: str, net: int, to: str) -> list[Op]:
    """The order's pending net (``net`` at ``until``) is pending until ``to`` instead: later when
    a return is asked for (it may be decided after the window ends, and its refund comes out of
    the earnings), back to the window's own end (``window_until`` on the hold, kept by the first
    move) when no return of the order is open any more. Conditional on the item and the hold
    being as read (a concurrent acceptance, request or decision: read again)."""
    return [
        Op(PENDING, {"Delete": {
            "TableName": _name(), "Key": keys.pending_earnings(seller_id, order_id, until),
            "ConditionExpression": "#net = :net",
            "ExpressionAttributeNames": {"#net": "net"}, "ExpressionAttributeValues": {":net": net},
        }}),
        Op(PENDING_MOVED, {"Put": {"TableName": _name(), "Item": {
            **keys.pending_earnings(seller_id, order_id, to), "order_id": order_id, "net": net, "until": to}}}),
        Op(PENDING_HOLD, {"Update": {
            "TableName": _name(), "Key": keys.hold(order_id),
            "UpdateExpression": "SET #until = :to, #window = if_not_exists(#window, :until)",
            "ConditionExpression": "#until = :until",
            "ExpressionAttributeNames": {"#until": "pending_until", "#window": "window_until"},
            "ExpressionAttributeValues": {":to": to, ":until": until},
        }}),
    ]


def pending_item(seller_id: str, order_id: str, until: str | None) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.pending_earnings(seller_id, order_id, until), ConsistentRead=True).get("Item")
    return plain(item) if item else None


def pending_total(seller_id: str, now_iso: str) -> int:
    total, start = 0, None
    while True:
        params: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND SK > :now",
            "ExpressionAttributeValues": {":pk": keys.pending_partition(seller_id), ":now": now_iso},
            "ConsistentRead": True,
        }
        if start:
            params["ExclusiveStartKey"] = start
        page = _table().query(**params)
        total += sum(int(i.get("net", 0)) for i in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


# -- payouts --------------------------------------------------------------------------------------


def create_payout_op(payout: dict[str, Any]) -> Op:
    return Op(PAYOUT, {"Put": {
        "TableName": _name(),
        "Item": {**keys.payout(payout["payout_id"]), **payout, "state": REQUESTED,
                 "GSI1PK": keys.payouts_partition(payout["seller_id"]),
                 "GSI1SK": keys.ledger_txn_sort(payout["created_at"], payout["payout_id"])},
        "ConditionExpression": "attribute_not_exists(PK)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def resolve_payout_op(payout_id: str, to_state: str, at: str, reason: str | None) -> Op:
    names = {"#state": "state", "#at": "resolved_at"}
    values: dict[str, Any] = {":requested": REQUESTED, ":to": to_state, ":at": at}
    update = "SET #state = :to, #at = :at"
    if reason:
        names["#reason"] = "failure_reason"
        values[":reason"] = reason
        update += ", #reason = :reason"
    return Op(PAYOUT, {"Update": {
        "TableName": _name(),
        "Key": keys.payout(payout_id),
        "UpdateExpression": update,
        # requested → paid | failed, once: a retry finds it resolved and changes nothing
        "ConditionExpression": "#state = :requested",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def get_payout(payout_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.payout(payout_id), ConsistentRead=True).get("Item")
    return _payout(item) if item else None


def _payout(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plain(item).items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK")}


def list_payouts(seller_id: str, *, limit: int, start: dict[str, Any] | None
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    params: dict[str, Any] = {
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :pk",
        "ExpressionAttributeValues": {":pk": keys.payouts_partition(seller_id)},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start:
        if set(start) != {"PK", "SK", "GSI1PK", "GSI1SK"} or start["GSI1PK"] != keys.payouts_partition(seller_id):
            # a signed cursor, but of another listing or seller: refuse it before DynamoDB sees it
            raise ValidationFailed.one("cursor", "this cursor belongs to another listing")
        params["ExclusiveStartKey"] = start
    resp = _table().query(**params)
    return [_payout(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")
