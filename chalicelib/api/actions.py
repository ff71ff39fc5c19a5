"""Order decisions: the seller's emailed action links and the order action routes.

    GET, HEAD /actions/{token}              link page: the order and one button (no effect)
    POST /actions/{token}                   the button (form post): act once
    POST /seller/orders/{order_id}/confirm  seller: PAID → CONFIRMED (money is captured next)
    POST /seller/orders/{order_id}/cancel   seller: PAID or CONFIRMED → CANCELLED (the money goes
                                            back to the customer next: released, or refunded);
                                            optional body {reason}, as the link page's
    POST /seller/orders/{order_id}/ship     seller: CONFIRMED → SHIPPED; optional body
                                            {tracking_number}, as the link page's
    POST /orders/{order_id}/pay             customer: hold the total now (409 if funds are short);
                                            optional body {expected_total}: 409
                                            order-total-changed if it is not the order's total
    POST /orders/{order_id}/cancel          customer: cancel before the seller confirms
    POST /orders/{order_id}/received        customer: SHIPPED → DELIVERED

A decision's body is optional; a field it does not take is a 422, never ignored.
Every decision route answers with the order as it is after the decision (200, its timeline
included). Repeating a decision that took effect answers the same way; a decision the order's
status no longer allows is a 409 with ``current_status``. Another user's order is a 404.

Link pages are HTML with ``notify.pages.SECURITY_HEADERS`` (``Referrer-Policy: no-referrer``, a
CSP that loads nothing from anywhere else) on every answer, whatever its status.
"""

import urllib.parse
from typing import Annotated, Any, Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import Body
from chalicelib.api.orders import OrderDetail, PayIn, order_body
from chalicelib.domain.orders import Order
from chalicelib.lazy import lazy

action_pages = lazy("chalicelib.services.action_pages")
pages = lazy("chalicelib.notify.pages")
actions = lazy("chalicelib.services.actions")
order_views = lazy("chalicelib.services.orders")

bp = Blueprint(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 4096
HTML = "text/html; charset=utf-8"


class ActionForm(BaseModel):
    """The link page's form, as documented; ``_form`` reads it (never a 5xx, whatever is posted)."""

    model_config = ConfigDict(defer_build=True)  # only /openapi.json builds it

    action: Literal["confirm", "cancel", "ship"] | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    tracking_number: Annotated[str, StringConstraints(max_length=100)] | None = None


def _html(page: "action_pages.Page", *, head: bool = False) -> Response:
    headers = {**pages.SECURITY_HEADERS, "Content-Type": HTML}
    return Response(body="" if head else page.html, status_code=page.status, headers=headers)


def _form(ctx: Ctx) -> dict[str, str]:
    raw = ctx.request.raw_body or b""
    if len(raw) > MAX_FORM_BYTES:
        return {"action": "\x00too-large"}  # refused as "invalid" by the service: never a 5xx
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {"action": "\x00malformed"}
    return {k: v for k, v in pairs}


@endpoint(bp, "/actions/{token}", summary="Action link page: the order and a button (changes nothing)",
          content_type="text/html", errors=(404, 409, 410), tags=("actions",))
def open_action_link(ctx: Ctx, token: str) -> Response:
    return _html(action_pages.open_link(token))


@endpoint(bp, "/actions/{token}", method="HEAD", summary="Action link page headers (changes nothing)",
          content_type="text/html", errors=(404, 409, 410), tags=("actions",))
def head_action_link(ctx: Ctx, token: str) -> Response:
    return _html(action_pages.open_link(token), head=True)


@endpoint(bp, "/actions/{token}", method="POST", summary="Perform the link's action once (HTML form post)",
          content_type="text/html", content_types=(FORM,), form=ActionForm, errors=(404, 409, 410, 429),
          tags=("actions",), limit="link")
def use_action_link(ctx: Ctx, token: str) -> Response:
    return _html(action_pages.use_link(token, _form(ctx)))


def _seller_scope(ctx: Ctx) -> str | None:
    return None if ctx.user.role == "admin" else ctx.user.user_id


def _customer_scope(ctx: Ctx) -> str | None:
    return None if ctx.user.role == "admin" else ctx.user.user_id


def _out(order: Order, payment: dict[str, Any] | None = None) -> OrderDetail:
    return OrderDetail(**order_body(order_views.view(order, timeline=True, payment=payment)))


class DecisionIn(Body):
    """The optional body of a decision without fields (confirm, the customer's cancel and
    received): no body or ``{}``; any field is refused (422), never ignored."""


class SellerCancelIn(Body):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        None, description="shown to the customer in the cancellation email (as the link page's)")


class ShipIn(Body):
    tracking_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = (
        Field(None, description="shown to the customer in the shipping email (as the link page's)"))


def _seller(action: str):
    def handler(ctx: Ctx, order_id: str) -> OrderDetail:
        fields = ctx.body.model_dump(exclude_none=True)  # the link page's reason / tracking_number
        order, _ = actions.seller_decides(order_id, _seller_scope(ctx), action, via="api", actor_id=ctx.user.user_id,
                                          **fields)
        return _out(order)

    handler.__name__ = f"seller_{action}_order"
    return handler


for _action, _body, _summary in (
    ("confirm", DecisionIn, "Confirm one of my shop's paid orders (the payment is captured to me)"),
    ("cancel", SellerCancelIn, "Cancel one of my shop's orders not shipped yet (the customer is refunded; "
                               "optional {reason})"),
    ("ship", ShipIn, "Mark one of my shop's confirmed orders as shipped (optional {tracking_number})"),
):
    endpoint(bp, f"/seller/orders/{{order_id}}/{_action}", method="POST", summary=_summary, auth=("seller",),
             body=_body, body_required=False, response=OrderDetail, errors=(404, 409, 422), owner_scoped=True,
             tags=("orders",))(_seller(_action))


@endpoint(bp, "/orders/{order_id}/pay", method="POST",
          summary="Pay an order awaiting payment from my wallet (with expected_total: another total than the "
                  "order's is 409 order-total-changed, nothing held)",
          auth=("customer",), body=PayIn, body_required=False, response=OrderDetail, errors=(404, 409, 422),
          owner_scoped=True, tags=("orders",))
def pay_order(ctx: Ctx, order_id: str) -> OrderDetail:
    expected = ctx.body.expected_total
    order, payment = actions.pay(order_id, _customer_scope(ctx), expected_total=expected)
    return _out(order, payment)


@endpoint(bp, "/orders/{order_id}/cancel", method="POST", summary="Cancel my order before the seller confirms it",
          auth=("customer",), body=DecisionIn, body_required=False, response=OrderDetail, errors=(404, 409, 422),
          owner_scoped=True, tags=("orders",))
def cancel_order(ctx: Ctx, order_id: str) -> OrderDetail:
    return _out(actions.cancel(order_id, _customer_scope(ctx)))


@endpoint(bp, "/orders/{order_id}/received", method="POST", summary="Confirm I received my shipped order",
          auth=("customer",), body=DecisionIn, body_required=False, response=OrderDetail, errors=(404, 409, 422),
          owner_scoped=True, tags=("orders",))
def order_received(ctx: Ctx, order_id: str) -> OrderDetail:
    return _out(actions.received(order_id, _customer_scope(ctx)))
