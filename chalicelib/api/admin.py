"""Staff routes: users' roles and blocks, the staff listings, orders for support, feeds on a
seller's behalf for catalog operators, and the audit (``services/admin.py``).

    GET  /admin/users?role=&blocked=&limit=&cursor=            admin, support
    PUT  /admin/users/{user_id}/role      {role}               admin
    PUT  /admin/users/{user_id}/blocked   {blocked}            admin
    GET  /admin/sellers?blocked=&limit=&cursor=                admin, support
    GET  /admin/orders?customer_id=|seller_id=|day=&status=    admin, support
    GET  /admin/orders/{order_id}                              admin, support
    POST /admin/orders/{order_id}/cancel  {reason?}            admin, support (the customer is refunded)
    POST /admin/sellers/{seller_id}/feeds {filename, ...}      admin, catalog_operator
    GET  /admin/sellers/{seller_id}/feeds/{feed_id}            admin, catalog_operator
    GET  /admin/audit?actor_id=&action=&target=                admin

(``PUT /admin/products/{id}/blocked``, for catalog operators too, is in ``api/catalog.py``.)
"""

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StringConstraints

from chalicelib.api.feeds import FeedImport, FeedUpload, FeedUploadIn
from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import BlockIn, Body, Id, Limit, Out, Page
from chalicelib.api.orders import Order, OrderDetail, OrderPage, Status, order_body
from chalicelib.api.shops import Shop, _shop
from chalicelib.lazy import lazy
from chalicelib.store.audit import ACTIONS
from chalicelib.store.pagination import decode_cursor, encode_cursor

admin = lazy("chalicelib.services.admin")
feeds = lazy("chalicelib.services.feeds")
order_views = lazy("chalicelib.services.orders")

bp = Blueprint(__name__)

Role = Literal["customer", "seller", "support", "catalog_operator", "admin"]
AuditAction = Literal[ACTIONS]  # type: ignore[valid-type]
Cursor = Annotated[str, StringConstraints(max_length=2048)]
ADMIN, READERS, CATALOG = ("admin",), ("admin", "support"), ("admin", "catalog_operator")
ERRORS = (401, 403, 422)


class RoleIn(Body):
    role: Role


class StaffUser(Out):
    """An account as staff see it."""

    user_id: str
    email: str
    name: str
    role: str
    language: str | None = None
    verified: bool = True
    blocked: bool = False
    created_at: str | None = None
    updated_at: str | None = None


class UsersQuery(Body):
    role: Role | None = None
    blocked: bool | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class UserPage(Page):
    items: list[StaffUser]


class SellersQuery(Body):
    blocked: bool | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class SellerPage(Page):
    items: list[Shop]


class StaffOrdersQuery(Body):
    customer_id: Id | None = None
    seller_id: Id | None = None
    day: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = Field(
        default=None, description="yyyy-mm-dd (UTC): every order placed that day; the default without "
                                  "customer_id or seller_id is today")
    status: Status | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class CancelIn(Body):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class AuditQuery(Body):
    actor_id: Id | None = None
    action: AuditAction | None = None
    target: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="what was acted on: user:<id>, seller:<id>, product:<id>, order:<id>, promo:<code>")
    limit: Limit = 50
    cursor: Cursor | None = None


class AuditEntry(Out):
    audit_id: str
    at: str
    actor_id: str
    actor_role: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditPage(Page):
    items: list[AuditEntry]


@endpoint(bp, "/admin/users", summary="Accounts, newest first (filter by role, blocked)", auth=READERS,
          query=UsersQuery, response=UserPage, errors=ERRORS, tags=("admin",))
def admin_list_users(ctx: Ctx) -> UserPage:
    q: UsersQuery = ctx.query
    items, last = admin.list_users(role=q.role, blocked=q.blocked, limit=q.limit, start_key=decode_cursor(q.cursor))
    return UserPage(items=[StaffUser(**u) for u in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/admin/users/{user_id}/role", method="PUT",
          summary="Give an account a role (at once; demoting the last admin is 409)", auth=ADMIN, body=RoleIn,
          response=StaffUser, errors=(401, 403, 404, 409, 422), tags=("admin",))
def admin_set_role(ctx: Ctx, user_id: str) -> StaffUser:
    return StaffUser(**admin.set_role(ctx.user, user_id, ctx.body.role))


@endpoint(bp, "/admin/users/{user_id}/blocked", method="PUT",
          summary="Block or unblock an account (its tokens stop working at once; blocking the last admin is 409)",
          auth=ADMIN, body=BlockIn, response=StaffUser, errors=(401, 403, 404, 409, 422), tags=("admin",))
def admin_set_blocked(ctx: Ctx, user_id: str) -> StaffUser:
    return StaffUser(**admin.set_blocked(ctx.user, user_id, ctx.body.blocked))


@endpoint(bp, "/admin/sellers", summary="Seller shops, newest first (filter by blocked)", auth=READERS,
          query=SellersQuery, response=SellerPage, errors=ERRORS, tags=("admin",))
def admin_list_sellers(ctx: Ctx) -> SellerPage:
    q: SellersQuery = ctx.query
    items, last = admin.list_sellers(blocked=q.blocked, limit=q.limit, start_key=decode_cursor(q.cursor))
    return SellerPage(items=[Shop(**_shop(s)) for s in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/admin/orders", summary="Orders, newest first: a customer's, a seller's, or one day's (status filter)",
          auth=READERS, query=StaffOrdersQuery, response=OrderPage, errors=ERRORS, tags=("admin",))
def admin_list_orders(ctx: Ctx) -> OrderPage:
    q: StaffOrdersQuery = ctx.query
    items, last = admin.list_orders(customer_id=q.customer_id, seller_id=q.seller_id, status=q.status, day=q.day,
                                    limit=q.limit, start_key=decode_cursor(q.cursor))
    return OrderPage(items=[Order(**order_body(o)) for o in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/admin/orders/{order_id}", summary="Any order with its timeline", auth=READERS,
          response=OrderDetail, errors=(401, 403, 404), tags=("admin",))
def admin_get_order(ctx: Ctx, order_id: str) -> OrderDetail:
    return OrderDetail(**order_body(admin.get_order(order_id)))


@endpoint(bp, "/admin/orders/{order_id}/cancel", method="POST",
          summary="Cancel any order not shipped yet; the customer is refunded (audited)", auth=READERS,
          body=CancelIn, body_required=False, response=OrderDetail, errors=(401, 403, 404, 409, 422),
          tags=("admin",))
def admin_cancel_order(ctx: Ctx, order_id: str) -> OrderDetail:
    order = admin.cancel_order(ctx.user, order_id, ctx.body.reason)
    return OrderDetail(**order_body(order_views.view(order, timeline=True)))


class StaffFeedUpload(FeedUpload):
    seller_id: str


@endpoint(bp, "/admin/sellers/{seller_id}/feeds", method="POST",
          summary="Upload a feed on a seller's behalf (a presigned form, as the seller gets; audited)", auth=CATALOG,
          body=FeedUploadIn, response=StaffFeedUpload, status=201, errors=(401, 403, 404, 422, 429),
          location=lambda body: f"/admin/sellers/{body['seller_id']}/feeds/{body['feed_id']}", tags=("admin",),
          limit="feed_upload")
def admin_upload_feed(ctx: Ctx, seller_id: str) -> StaffFeedUpload:
    b: FeedUploadIn = ctx.body
    upload = admin.upload_feed(ctx.user, seller_id, b.filename, dry_run=b.dry_run)
    return StaffFeedUpload(**upload, seller_id=seller_id)


@endpoint(bp, "/admin/sellers/{seller_id}/feeds/{feed_id}", summary="One of a seller's feed imports",
          auth=CATALOG, response=FeedImport, errors=(401, 403, 404), tags=("admin",))
def admin_get_feed(ctx: Ctx, seller_id: str, feed_id: str) -> FeedImport:
    return FeedImport(**feeds.get_import(seller_id, feed_id))


@endpoint(bp, "/admin/audit", summary="Every staff action, newest first: who, when, what", auth=ADMIN,
          query=AuditQuery, response=AuditPage, errors=ERRORS, tags=("admin",))
def admin_audit_log(ctx: Ctx) -> AuditPage:
    q: AuditQuery = ctx.query
    items, last = admin.audit_log(actor_id=q.actor_id, action=q.action, target=q.target, limit=q.limit,
                                  start_key=decode_cursor(q.cursor))
    return AuditPage(items=[AuditEntry(**e) for e in items], next_cursor=encode_cursor(last))
