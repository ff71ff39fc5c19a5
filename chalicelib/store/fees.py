"""The marketplace fee schedule (one item in the ledger table) and the fee an order was captured with.

The schedule is ``PK=FEES, SK=SCHEDULE`` (``keys.fee_schedule``): ``default_bps`` and
``categories`` (category key → ``{"name", "bps"}``). An admin's PUT replaces it whole; captures
read it with one consistent ``GetItem``. The fee an order was captured with is written onto the
order item (commerce table) by an operation that joins the capture's own TransactWriteItems
(``order_fee_op``), so the order's ``fee_amount`` and the ledger's capture are never apart.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import fees as rules
from chalicelib.store import keys
from chalicelib.store.toolkit import Op
from chalicelib.store.values import plain

ORDER_FEE = "order_fee"  # the label of ``order_fee_op`` in a capture's transaction


def get_schedule() -> tuple[rules.Schedule, dict[str, Any]]:
    """The schedule and its stored item (names as the admin wrote them, who set it and when)."""
    item = clients.table(settings().ledger_table).get_item(Key=keys.fee_schedule(), ConsistentRead=True).get("Item")
    raw = plain(item) if item else {}
    cats = raw.get("categories") or {}
    return rules.Schedule(int(raw.get("default_bps", 0)), {k: int(v["bps"]) for k, v in cats.items()}), raw


def put_schedule(default_bps: int, categories: dict[str, dict[str, Any]], *, updated_by: str, at: str) -> None:
    clients.table(settings().ledger_table).put_item(Item={
        **keys.fee_schedule(), "default_bps": default_bps, "categories": categories,
        "updated_by": updated_by, "updated_at": at,
    })


def order_fee_op(order_id: str, fee: rules.OrderFee) -> Op:
    """Record on the order the fee and the rates it was captured with (once: the capture's own
    conditions make a second capture impossible, and this op rides in the same transaction)."""
    names = {"#fee": "fee_amount", "#rates": "fee_rates"}
    values: dict[str, Any] = {":fee": fee.amount, ":rates": fee.rates}
    update = "SET #fee = :fee, #rates = :rates"
    if fee.rate_bps is not None:
        names["#rate"] = "fee_rate_bps"
        values[":rate"] = fee.rate_bps
        update += ", #rate = :rate"
    return Op(ORDER_FEE, {"Update": {
        "TableName": settings().commerce_table,
        "Key": keys.order(order_id),
        "UpdateExpression": update,
        "ConditionExpression": "attribute_exists(PK)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }})
