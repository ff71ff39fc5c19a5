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
from dataclasses import asdict
from typing import Any

from chalicelib.domain import orders as order_rules
from chalicelib.errors import NotFound, OrderTotalChanged
from chalicelib.store import orders as store

# What the API shows of an order's lines and timeline entries.
ITEM_FIELDS = ("product_id", "name", "price", "quantity", "line_total")
TIMELINE_FIELDS = ("type", "at", "actor", "status", "detail")


def view(order: order_rules.Order, *, timeline: bool, payment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the API shows of an order (``payment``: a card order's payment at the provider)."""
    out: dict[str, Any] = {
        "order_id": order.order_id, "checkout_id": order.checkout_id, "customer_id": order.customer_id,
        "seller_id": order.seller_id, "seller_name": order.seller_name, "status": order.status,
        "items": [{k: getattr(line, k) for k in ITEM_FIELDS} for line in order.items],
        "delivery": None if order.delivery is None else asdict(order.delivery),
        "items_total": order.items_total, "delivery_price": order.delivery_price, "discount": order.discount,
        "discounts": [dict(d) for d in order.discounts], "total": order.total, "currency": order.currency,
        "address": dict(order.address or {}), "payment_method": order.payment_method,
        "created_at": order.created_at, "updated_at": order.updated_at,
    }
    if payment is not None:
        out["payment"] = dict(payment)
    if timeline:
        out["timeline"] = [{k: e[k] for k in TIMELINE_FIELDS if k in e} for e in order.timeline]
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

        return view(order, timeline=True, payment=card_payments.view(card_payments.record_of(order_id)))
    return view(order, timeline=True)


def get_for_seller(order_id: str, seller_id: str | None) -> dict[str, Any]:
    return view(_readable(order_id, customer_id=None, seller_id=seller_id), timeline=True)


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
