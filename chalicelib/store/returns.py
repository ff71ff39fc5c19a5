"""Return requests (COMMERCE table) and the operations that join their transactions.

A request is ONE TransactWriteItems: the return item (``requested``, in the due index) and the
order's per-line claim counters (``returned_qty_<i>``), each conditional on the order being
DELIVERED, the customer's, and the line still having the units (``<= bought − asked``), so two
requests racing can never claim more than was bought. A decision is conditional on
``requested``: accepted or rejected once, whoever (seller, link, the due sweep) comes first; a
rejection gives the claimed units back. Key grammar: ``store/keys.py``.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import orders as order_states
from chalicelib.domain import returns as rules
from chalicelib.store import keys
from chalicelib.store.toolkit import Op, transact
from chalicelib.store.values import plain

RETURN, ORDER = "return", "order"


def _name() -> str:
    return settings().commerce_table


def _table() -> Any:
    return clients.table(_name())


def create(record: dict[str, Any], order: order_states.Order, lines: list[tuple[int, int]],
           extra: list[Op] | None = None) -> None:
    """The return and the order's claims, with ``extra`` operations (the seller's pending net
    kept pending: ``seller_money.extend_window_ops``) in the same transaction."""
    names: dict[str, str] = {"#status": "status", "#customer": "customer_id"}
    values: dict[str, Any] = {":delivered": order_states.DELIVERED, ":customer": record["customer_id"]}
    adds, conditions = [], ["#status = :delivered", "#customer = :customer"]
    for i, qty in lines:
        names[f"#q{i}"] = rules.returned_qty_field(i)
        values[f":q{i}"] = qty
        values[f":m{i}"] = order.items[i].quantity - qty
        adds.append(f"#q{i} :q{i}")
        conditions.append(f"(attribute_not_exists(#q{i}) OR #q{i} <= :m{i})")
    transact([
        Op(RETURN, {"Put": {
            "TableName": _name(),
            "Item": {**keys.return_request(record["return_id"]), **record,
                     **keys.return_indexes(record["order_id"], record["seller_id"], record["created_at"],
                                           record["return_id"], record["deadline"])},
            "ConditionExpression": "attribute_not_exists(PK)",
        }}),
        Op(ORDER, {"Update": {
            "TableName": _name(),
            "Key": keys.order(record["order_id"]),
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}),
        *(extra or []),
    ])


def decide_op(return_id: str, to_state: str, at: str, actor: str, detail: dict[str, Any]) -> Op:
    """requested → accepted | rejected, once; leaves the due index."""
    names = {"#state": "state", "#at": "decided_at", "#by": "decided_by", "#d": "decision", "#due": "GSI4PK",
             "#dues": "GSI4SK"}
    return Op(RETURN, {"Update": {
        "TableName": _name(),
        "Key": keys.return_request(return_id),
        "UpdateExpression": "SET #state = :to, #at = :at, #by = :by, #d = :d REMOVE #due, #dues",
        "ConditionExpression": "#state = :requested",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":to": to_state, ":at": at, ":by": actor, ":d": detail,
                                      ":requested": rules.REQUESTED},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def order_counts_op(order_id: str, lines: list[tuple[int, int]], *, accepted: bool) -> Op:
    """Accepted: count the units as returned for good (``accepted_qty_<i>``); rejected: give the
    claimed units back (``returned_qty_<i>`` − q)."""
    prefix = order_states.ACCEPTED_QTY if accepted else order_states.RETURNED_QTY
    names = {f"#q{i}": f"{prefix}{i}" for i, _ in lines}
    values = {f":q{i}": (q if accepted else -q) for i, q in lines}
    return Op(ORDER, {"Update": {
        "TableName": _name(),
        "Key": keys.order(order_id),
        "UpdateExpression": "ADD " + ", ".join(f"#q{i} :q{i}" for i, _ in lines),
        "ConditionExpression": "attribute_exists(PK)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }})


def restock_op(product_id: str, quantity: int) -> Op:
    """The returned units back on the shelf (a product that counts its stock)."""
    return Op(f"restock:{product_id}", {"Update": {
        "TableName": settings().catalog_table,
        "Key": keys.product(product_id),
        "UpdateExpression": "ADD #stock :q",
        "ConditionExpression": "attribute_exists(#stock)",
        "ExpressionAttributeNames": {"#stock": "stock"},
        "ExpressionAttributeValues": {":q": quantity},
    }})


def get(return_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.return_request(return_id), ConsistentRead=True).get("Item")
    return _clean(item) if item else None


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in plain(item).items() if k not in ("PK", "SK") and not k.startswith("GSI")}


def list_page(index: str, partition: str, *, limit: int, start: dict[str, Any] | None
              ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a partition's returns, newest first, and the key to continue from."""
    params: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": f"{index}PK = :pk",
                              "ExpressionAttributeValues": {":pk": partition}, "ScanIndexForward": False,
                              "Limit": limit}
    if start:
        params["ExclusiveStartKey"] = start
    resp = _table().query(**params)
    return [_clean(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")


def due(now_iso: str, limit: int) -> list[dict[str, Any]]:
    resp = _table().query(IndexName="GSI4", KeyConditionExpression="GSI4PK = :pk AND GSI4SK < :now",
                          ExpressionAttributeValues={":pk": keys.RETURNS_DUE, ":now": now_iso}, Limit=limit)
    return [_clean(i) for i in resp.get("Items", [])]
