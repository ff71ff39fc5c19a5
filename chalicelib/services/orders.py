"""Order history for customers and sellers, with per-object authorization.

A customer sees only their own orders, a seller only the orders of their shop; anyone else
asking for an order gets 404, the same answer as for an order that does not exist (no
probing for ids). Admins see everything.

| operation | DynamoDB calls |
|---|---|
| GET /orders/{id} (order + timeline) | 1 GetItem |
| GET /orders, GET /seller/orders | 1 Query per page (GSI1 / GSI2; seller + status: GSI3) |
| GET /orders?status= | 1 Query per index page (FilterExpression; customers have few orders) |

An order's total (items + delivery) is fixed at checkout, where the customer confirmed it;
every hold — the workflow's first one and ``POST /orders/{id}/pay`` — holds that stored
total. ``check_total`` lets the payer say which total they were shown (``expected_total``):
any other is refused (409 ``order-total-changed``) before anything is held.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain import orders as order_rules
from chalicelib.errors import NotFound, OrderTotalChanged
from chalicelib.store import orders as store

# What the API shows; ``reserved``/``stock_released`` are store bookkeeping.
ITEM_FIELDS = ("product_id", "name", "price", "quantity", "line_total")


def view(order: Mapping[str, Any], *, timeline: bool) -> dict[str, Any]:
    """What the API shows of a stored order (its item, as ``store.orders`` returns it)."""
    out = {k: v for k, v in order.items() if k not in ("timeline", "stock_released", "items")}
    out["items"] = [{k: i[k] for k in ITEM_FIELDS if k in i} for i in order.get("items", [])]
    if timeline:
        out["timeline"] = [
            {k: e[k] for k in ("type", "at", "actor", "status", "detail") if k in e}
            for e in order.get("timeline", [])
        ]
    return out


def _readable(order_id: str, *, customer_id: str | None, seller_id: str | None) -> order_rules.Order:
    """The order, if the customer or the seller (None: anyone, an admin) may see it; else NotFound."""
    order = store.load(order_id)
    if (order is None or (customer_id is not None and order.customer_id != customer_id)
            or (seller_id is not None and order.seller_id != seller_id)):
        raise NotFound(f"order {order_id} not found")
    return order


def get_for_customer(order_id: str, customer_id: str | None) -> dict[str, Any]:
    """``customer_id`` None: an admin."""
    order = _readable(order_id, customer_id=customer_id, seller_id=None)
    if order.payment_method == "card":  # its payment at the provider (one more read)
        from chalicelib.services import card_payments

        return view({**order.item, "payment": card_payments.view(card_payments.record_of(order_id))}, timeline=True)
    return view(order.item, timeline=True)


def get_for_seller(order_id: str, seller_id: str | None) -> dict[str, Any]:
    return view(_readable(order_id, customer_id=None, seller_id=seller_id).item, timeline=True)


def list_for_customer(customer_id: str, *, status: str | None, limit: int, start_key: dict[str, Any] | None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, next_key = store.list_orders(customer_id=customer_id, status=status, limit=limit, start_key=start_key)
    return [view(o, timeline=False) for o in items], next_key


def list_for_seller(seller_id: str, *, status: str | None, limit: int, start_key: dict[str, Any] | None
                    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, next_key = store.list_orders(seller_id=seller_id, status=status, limit=limit, start_key=start_key)
    return [view(o, timeline=False) for o in items], next_key


def check_total(order: order_rules.Order, expected_total: int | None) -> None:
    """Refuse to hold an order's total when the payer was shown another (None: not stated)."""
    total = order.total
    if expected_total is None or expected_total == total:
        return
    raise OrderTotalChanged(
        f"order {order.order_id} totals {total} {order.currency} (minor units), not {expected_total}; nothing "
        f"was held. Review the order and retry with expected_total={total}",
        order_id=order.order_id, expected_total=expected_total, total=total, currency=order.currency)
