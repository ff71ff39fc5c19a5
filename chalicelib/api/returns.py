"""Returns after delivery.

    POST /orders/{order_id}/returns            customer, Idempotency-Key: {"items": [{"product_id", "quantity"}],
                                               "reason"} → 201 the return (requested); Location: the order's returns
    GET  /orders/{order_id}/returns            customer (or admin): the order's returns, newest first
    GET  /seller/returns                       seller: returns of my orders, newest first
                                               (both: ?limit=&cursor= → {items, next_cursor})
    POST /seller/returns/{return_id}/accept    seller: {"restock": true|false} (optional) → the return (accepted)
    POST /seller/returns/{return_id}/reject    seller: {"comment": "…"} (optional) → the return (rejected)

A return is refused with nothing moved: an order that is not the caller's (404), not delivered or
past its return window (409 invalid-transition), items it does not have, more than was bought or
already returned (422 on ``items.<n>``). A seller who does not answer by ``answer_by`` accepts
(without restocking). Refund rules: ``domain/returns.py``.
"""

from typing import Annotated, Literal

from chalice import Blueprint
from pydantic import Field, StrictBool, StrictInt, StringConstraints

from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import Body, Limit, Money, Out, Page
from chalicelib.domain import returns as rules
from chalicelib.lazy import lazy
from chalicelib.store.pagination import decode_cursor, encode_cursor

idempotency = lazy("chalicelib.services.idempotency")
returns = lazy("chalicelib.services.returns")

bp = Blueprint(__name__)


class ReturnLineIn(Body):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]


class ReturnIn(Body):
    items: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=100)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.MAX_REASON)]


class AcceptIn(Body):
    restock: StrictBool = False


class RejectIn(Body):
    comment: Annotated[str, StringConstraints(max_length=rules.MAX_REASON)] | None = None


class ReturnLine(Out):
    product_id: str
    quantity: int


class Return(Out):
    id: str
    order_id: str
    state: Literal["requested", "accepted", "rejected"]
    reason: str
    items: list[ReturnLine]
    created_at: str
    answer_by: str = Field(description="accepted by default if the seller has not answered by then")
    decided_at: str | None = None
    decided_by: str | None = None
    refund: Money | None = Field(None, description="what went back to the customer's wallet (accepted)")
    restocked: bool | None = None


class ReturnPage(Page):
    items: list[Return]


class ReturnsQuery(Body):
    limit: Limit = 20
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


@endpoint(bp, "/orders/{order_id}/returns", method="POST", summary="Return some or all items of a delivered order",
          auth=("customer",), body=ReturnIn, response=Return, status=201, idempotent=True, owner_scoped=True,
          errors=(401, 403, 404, 409, 422), location=lambda body: f"/orders/{body['order_id']}/returns",
          tags=("orders",))
def post_return(ctx: Ctx, order_id: str) -> Return:
    body: ReturnIn = ctx.body
    return Return(**returns.request(ctx.user.user_id, order_id, [(x.product_id, x.quantity) for x in body.items],
                                    body.reason, return_id=idempotency.derived_id("return")))


@endpoint(bp, "/orders/{order_id}/returns", summary="The returns of one of my orders", auth=("customer",),
          query=ReturnsQuery, response=ReturnPage, errors=(401, 403, 404, 422), owner_scoped=True, tags=("orders",))
def get_order_returns(ctx: Ctx, order_id: str) -> ReturnPage:
    scope = None if ctx.user.role == "admin" else ctx.user.user_id
    items, last = returns.for_order(scope, order_id, limit=ctx.query.limit, start=decode_cursor(ctx.query.cursor))
    return ReturnPage(items=[Return(**r) for r in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/seller/returns", summary="Returns of my shop's orders, newest first", auth=("seller",),
          query=ReturnsQuery, response=ReturnPage, errors=(401, 403, 422), tags=("orders",))
def get_seller_returns(ctx: Ctx) -> ReturnPage:
    items, last = returns.for_seller(ctx.user.user_id, limit=ctx.query.limit, start=decode_cursor(ctx.query.cursor))
    return ReturnPage(items=[Return(**r) for r in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/seller/returns/{return_id}/accept", method="POST", summary="Accept a return: refund the customer",
          auth=("seller",), body=AcceptIn, body_required=False, response=Return, errors=(401, 403, 404, 409, 422),
          owner_scoped=True, tags=("orders",))
def accept_return(ctx: Ctx, return_id: str) -> Return:
    scope = None if ctx.user.role == "admin" else ctx.user.user_id
    return Return(**returns.decide(return_id, "accept", seller_id=scope, actor=f"seller:{ctx.user.user_id}",
                                   restock=ctx.body.restock))


@endpoint(bp, "/seller/returns/{return_id}/reject", method="POST", summary="Reject a return", auth=("seller",),
          body=RejectIn, body_required=False, response=Return, errors=(401, 403, 404, 409, 422), owner_scoped=True,
          tags=("orders",))
def reject_return(ctx: Ctx, return_id: str) -> Return:
    scope = None if ctx.user.role == "admin" else ctx.user.user_id
    return Return(**returns.decide(return_id, "reject", seller_id=scope, actor=f"seller:{ctx.user.user_id}",
                                   comment=ctx.body.comment))
