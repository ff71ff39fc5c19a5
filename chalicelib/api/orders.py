"""Order history routes: the customer's orders and the seller's orders.

    GET /orders?status=&limit=&cursor=          my orders, newest first → {items, next_cursor}
    GET /orders/{order_id}                       one of my orders with its timeline
    GET /seller/orders?status=&limit=&cursor=    my shop's orders, newest first
    GET /seller/orders/{order_id}                one of my shop's orders with its timeline

Another customer's (or shop's) order is a 404, like an order that does not exist. The
workflow's routes (pay, cancel, confirm, ship, received) are registered in ``api/actions.py``;
the optional body of ``POST /orders/{id}/pay`` (``PayIn``) is defined here with the orders.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StrictInt, StringConstraints

from chalicelib.api.cart import OrderSummaryOut
from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import Body, Limit, Out, Page
from chalicelib.api.pagination import decode_cursor, encode_cursor
from chalicelib.domain import orders as states
from chalicelib.domain.ledger import MAX_AMOUNT
from chalicelib.services import orders as order_service

bp = Blueprint(__name__)

Status = Literal["AWAITING_PAYMENT", "PAID", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED"]
assert set(Status.__args__) == set(states.STATUSES)  # type: ignore[attr-defined]


class OrdersQuery(Body):
    status: Status | None = None
    limit: Limit = 20
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


class PayIn(Body):
    """``POST /orders/{id}/pay``'s optional body: no body (or ``{}``) holds the order's total."""

    expected_total: Annotated[StrictInt, Field(
        ge=0, le=MAX_AMOUNT, description="the order total the customer was shown, integer minor units; any other "
                                         "total is refused with 409 order-total-changed and nothing is held",
    )] | None = None


class OrderOut(OrderSummaryOut):
    """An order as lists show it (the same fields checkout answers with)."""


class EventOut(Out):
    type: str
    at: str
    actor: str
    status: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class OrderDetailOut(OrderOut):
    timeline: list[EventOut]


class OrdersOut(Page):
    items: list[OrderOut]


def _page(items: list[dict[str, Any]], next_key: dict[str, Any] | None) -> OrdersOut:
    return OrdersOut(items=[OrderOut(**o) for o in items], next_cursor=encode_cursor(next_key))


def _scope(ctx: Ctx) -> str | None:
    """The id the caller is limited to; None for an admin (sees every order)."""
    return None if ctx.user.role == "admin" else ctx.user.user_id


@endpoint(bp, "/orders", summary="My orders, newest first", auth=("customer",), query=OrdersQuery,
          response=OrdersOut, tags=("orders",))
def list_orders(ctx: Ctx) -> OrdersOut:
    q = ctx.query
    items, next_key = order_service.list_for_customer(ctx.user.user_id, status=q.status, limit=q.limit,
                                                      start_key=decode_cursor(q.cursor))
    return _page(items, next_key)


@endpoint(bp, "/orders/{order_id}", summary="One of my orders with its timeline", auth=("customer",),
          response=OrderDetailOut, errors=(404,), owner_scoped=True, tags=("orders",))
def get_order(ctx: Ctx, order_id: str) -> OrderDetailOut:
    return OrderDetailOut(**order_service.get_for_customer(order_id, _scope(ctx)))


@endpoint(bp, "/seller/orders", summary="My shop's orders, newest first", auth=("seller",), query=OrdersQuery,
          response=OrdersOut, tags=("orders",))
def list_seller_orders(ctx: Ctx) -> OrdersOut:
    q = ctx.query
    items, next_key = order_service.list_for_seller(ctx.user.user_id, status=q.status, limit=q.limit,
                                                    start_key=decode_cursor(q.cursor))
    return _page(items, next_key)


@endpoint(bp, "/seller/orders/{order_id}", summary="One of my shop's orders with its timeline", auth=("seller",),
          response=OrderDetailOut, errors=(404,), owner_scoped=True, tags=("orders",))
def get_seller_order(ctx: Ctx, order_id: str) -> OrderDetailOut:
    return OrderDetailOut(**order_service.get_for_seller(order_id, _scope(ctx)))
