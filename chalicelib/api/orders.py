"""Order history routes: the customer's orders and the seller's orders.

    GET /orders?status=&limit=&cursor=          my orders, newest first → {items, next_cursor}
    GET /orders/{order_id}                       one of my orders with its timeline
    GET /seller/orders?status=&limit=&cursor=    my shop's orders, newest first
    GET /seller/orders/{order_id}                one of my shop's orders with its timeline

Another customer's (or shop's) order is a 404, like an order that does not exist. The
workflow's routes (pay, cancel, confirm, ship, received) are registered in ``api/actions.py``;
the optional body of ``POST /orders/{id}/pay`` (``PayIn``) is defined here with the orders,
and so is the order's shape, which checkout answers with too (``order_body``: its amounts as
money objects in the order's currency).
"""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StrictInt, StringConstraints

from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import Body, Limit, Money, Out, Page, priced
from chalicelib.domain import orders as states
from chalicelib.domain.ledger import MAX_AMOUNT
from chalicelib.lazy import lazy
from chalicelib.store.pagination import decode_cursor, encode_cursor

order_service = lazy("chalicelib.services.orders")

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
        ge=0, le=MAX_AMOUNT, description="the order total the customer was shown, integer minor units of the order's "
                                         "currency (a request amount; responses show Money objects); any other "
                                         "total is refused with 409 order-total-changed and nothing is held",
    )] | None = None


class OrderItem(Out):
    product_id: str
    name: str
    price: Money = Field(description="the unit price the order was placed at")
    quantity: int
    line_total: Money


class OrderDelivery(Out):
    method_id: str
    name: str
    price: Money
    days: int | None = None


class OrderDiscount(Out):
    code: str
    funded_by: Literal["seller", "marketplace"] = Field(
        description="seller: the seller's own code (their earnings are lower); marketplace: the marketplace pays "
                    "it and the seller earns the full price")
    amount: Money


class OrderPayment(Out):
    """A card order's payment at the provider."""

    provider: str
    status: Literal["pending", "authorized", "captured", "canceled", "refunded"]
    confirmation_url: str | None = Field(
        default=None, description="while pending: the provider's page where the customer authorizes the payment")


class Order(Out):
    """An order as lists show it (the same fields checkout answers with)."""

    order_id: str
    checkout_id: str
    customer_id: str
    seller_id: str
    seller_name: str
    status: str
    items: list[OrderItem]
    delivery: OrderDelivery
    items_total: Money
    delivery_price: Money
    discount: Money = Field(description="what promo codes took off the items (delivery is never discounted)")
    discounts: list[OrderDiscount] = Field(default_factory=list, description="each code's part of the discount")
    total: Money = Field(description="items − discount + delivery: what is held, then captured")
    currency: str = Field(description="the order's currency (POST /orders/{id}/pay's expected_total is in it)")
    address: dict[str, Any]
    payment_method: str
    payment: OrderPayment | None = Field(
        default=None, description="card orders, in the checkout's and POST /orders/{id}/pay's answers: send the "
                                  "customer to confirmation_url")
    created_at: str
    updated_at: str


class OrderEvent(Out):
    type: str
    at: str
    actor: str
    status: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict,
                                   description="what happened; its amounts (amount, required, available) are Money")


class OrderDetail(Order):
    timeline: list[OrderEvent]


class OrderPage(Page):
    items: list[Order]


# timeline details that carry a currency hold these amounts (services/workflow/'s events)
_EVENT_AMOUNTS = ("amount", "required", "available")


def order_body(order: Mapping[str, Any]) -> dict[str, Any]:
    """An order (``services/orders.view`` or as placed) with its amounts as money objects."""
    cur = order["currency"]
    body = priced({"discount": 0, **order}, cur, "items_total", "delivery_price", "discount", "total")
    body["discounts"] = [priced(d, cur, "amount") for d in order.get("discounts") or []]
    body["items"] = [priced(i, cur, "price", "line_total") for i in order.get("items") or []]
    body["delivery"] = priced(order["delivery"], cur, "price")
    if "timeline" in order:
        body["timeline"] = [{**e, "detail": _event_detail(e.get("detail") or {})} for e in order["timeline"]]
    return body


def _event_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    if "currency" not in detail:
        return dict(detail)
    return priced(detail, detail["currency"], *_EVENT_AMOUNTS)


def _page(items: list[dict[str, Any]], next_key: dict[str, Any] | None) -> OrderPage:
    return OrderPage(items=[Order(**order_body(o)) for o in items], next_cursor=encode_cursor(next_key))


def _scope(ctx: Ctx) -> str | None:
    """The id the caller is limited to; None for an admin (sees every order)."""
    return None if ctx.user.role == "admin" else ctx.user.user_id


@endpoint(bp, "/orders", summary="My orders, newest first", auth=("customer",), query=OrdersQuery,
          response=OrderPage, tags=("orders",))
def list_orders(ctx: Ctx) -> OrderPage:
    q = ctx.query
    items, next_key = order_service.list_for_customer(ctx.user.user_id, status=q.status, limit=q.limit,
                                                      start_key=decode_cursor(q.cursor))
    return _page(items, next_key)


@endpoint(bp, "/orders/{order_id}", summary="One of my orders with its timeline", auth=("customer",),
          response=OrderDetail, errors=(404,), owner_scoped=True, tags=("orders",))
def get_order(ctx: Ctx, order_id: str) -> OrderDetail:
    return OrderDetail(**order_body(order_service.get_for_customer(order_id, _scope(ctx))))


@endpoint(bp, "/seller/orders", summary="My shop's orders, newest first", auth=("seller",), query=OrdersQuery,
          response=OrderPage, tags=("orders",))
def list_seller_orders(ctx: Ctx) -> OrderPage:
    q = ctx.query
    items, next_key = order_service.list_for_seller(ctx.user.user_id, status=q.status, limit=q.limit,
                                                    start_key=decode_cursor(q.cursor))
    return _page(items, next_key)


@endpoint(bp, "/seller/orders/{order_id}", summary="One of my shop's orders with its timeline", auth=("seller",),
          response=OrderDetail, errors=(404,), owner_scoped=True, tags=("orders",))
def get_seller_order(ctx: Ctx, order_id: str) -> OrderDetail:
    return OrderDetail(**order_body(order_service.get_for_seller(order_id, _scope(ctx))))
