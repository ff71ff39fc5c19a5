"""Staff tools: roles, blocks, the staff listings and the audit of every staff action.

Roles: ``customer``, ``seller``, ``support`` (reads any order, cancels one with a refund),
``catalog_operator`` (uploads feeds and blocks products on a seller's behalf), ``admin``
(everything). An account has one role.

- **A role change or a block takes effect at once.** It is written to the account's access
  record, which the authorizer reads on every request in the read it made already
  (``api/security.py``): a demoted admin's next request is refused, a blocked user's tokens
  all fail. The identity provider follows (groups, so new tokens carry the role; a blocked
  identity cannot log in or refresh); if it fails, the access record still decides.
- **There is always an admin.** Demoting or blocking the last admin (one self included) is a
  409 and changes nothing. Admins are the identity provider's ``admin`` group (operators make
  the first one there) and the members the API promoted, less those the access record demoted
  or blocked. The count and the change are tied by the admins' guard version
  (``store/accounts.py``): two admins demoting each other at once cannot both succeed.
- **Audited.** Role changes, blocks (users, sellers) and their audit entries are one
  transaction; an order cancel (the order workflow) and a product block (catalog and search
  items) record their entry right after they succeeded.

| operation | DynamoDB calls |
|---|---|
| PUT /admin/users/{id}/role, /blocked | 2 GetItem + 1 Query + 1 BatchGetItem + 1 TransactWriteItems |
|   (and the pool: list the admin group; mirror groups / enabled) | |
| GET /admin/users | 1 Query (GSI2 USERS, or a staff role's partition + 1 BatchGetItem) |
| GET /admin/sellers | 1 Query (GSI2 SHOPS) |
| GET /admin/orders | 1 Query (GSI1 customer, GSI2/GSI3 seller, or GSI5 one day) |
| GET /admin/audit | 1 Query (the AUDIT partition) |
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib import logs
from chalicelib.adapters.identity import identity_provider
from chalicelib.api.security import ROLES_BY_POWER, Principal
from chalicelib.domain.orders import Order
from chalicelib.errors import Conflict, DependencyError, NotFound, ValidationFailed
from chalicelib.services import actions, catalog, feeds, shops
from chalicelib.services import orders as order_views
from chalicelib.store import accounts, audit, keys
from chalicelib.store import orders as orders_store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _entry(actor: Principal, action: str, target: str, **detail: Any) -> dict[str, Any]:
    return audit.entry(actor_id=actor.user_id, actor_role=actor.role, action=action, target=target, detail=detail)


def _admins() -> set[str]:
    """The user ids that act as admins now (unblocked, not demoted)."""
    ids = set(identity_provider().members_of("admin")) | set(accounts.staff_ids("admin"))
    states = accounts.access_records(sorted(ids))
    return {u for u, st in states.items() if st.role in (None, "admin") and not st.blocked}


def _profile(user_id: str) -> dict[str, Any]:
    profile = accounts.get_profile(user_id)
    if profile is None:
        raise NotFound(f"user {user_id} not found")
    return profile


def _last_admin(user_id: str, doing: str) -> Conflict:
    return Conflict(f"user {user_id} is the last admin: {doing} would leave nobody to administer the marketplace; "
                    "make another admin first", errors=[{"field": "user_id", "reason": "the last admin"}])


def set_role(actor: Principal, user_id: str, role: str) -> dict[str, Any]:
    profile = _profile(user_id)
    version = accounts.admins_version()  # before counting: a change in between fails the guard
    admins = _admins()
    state = accounts.access_records([user_id])[user_id]
    current = "admin" if user_id in admins else state.role or profile.get("role", "customer")
    if current == role and profile.get("role") == role:
        return profile
    guard = None
    if current == "admin" and role != "admin":
        if not admins - {user_id}:
            raise _last_admin(user_id, "demoting them")
        guard = version
    entry = _entry(actor, "user.role", f"user:{user_id}", before=current, after=role)
    if not accounts.change_role(user_id, old_role=current, new_role=role, audit_item=entry, guard_version=guard,
                                at=_now()):
        raise NotFound(f"user {user_id} not found")
    _sync_groups(profile["email"], role)
    return _profile(user_id)


def _sync_groups(email: str, role: str) -> None:
    """New tokens carry the role; the access record already decides for the issued ones."""
    idp = identity_provider()
    try:
        for group in ROLES_BY_POWER:
            if group != role:
                idp.remove_from_group(email, group)
        idp.add_to_group(email, role)
    except DependencyError as exc:
        logs.event("role not mirrored to the identity provider", 30, error=exc.code)


def set_blocked(actor: Principal, user_id: str, blocked: bool) -> dict[str, Any]:
    profile = _profile(user_id)
    version = accounts.admins_version()
    guard = None
    if blocked:
        admins = _admins()
        if user_id in admins:
            if not admins - {user_id}:
                raise _last_admin(user_id, "blocking them")
            guard = version
    if bool(profile.get("blocked", False)) == blocked:
        return profile
    entry = _entry(actor, "user.blocked", f"user:{user_id}", blocked=blocked)
    if not accounts.change_blocked(user_id, blocked, audit_item=entry, guard_version=guard, at=_now()):
        raise NotFound(f"user {user_id} not found")
    idp = identity_provider()
    try:
        idp.set_enabled(profile["email"], not blocked)
        if blocked:
            idp.sign_out_everywhere(profile["email"])  # refresh tokens too
    except DependencyError as exc:
        logs.event("block not mirrored to the identity provider", 30, error=exc.code)
    return _profile(user_id)


def _start(start_key: dict[str, Any] | None, **expected: str) -> dict[str, Any] | None:
    """A cursor is valid only for the listing (and filter) that made it."""
    if start_key is not None and any(start_key.get(k) != v for k, v in expected.items()):
        raise ValidationFailed.one("cursor", "belongs to another listing or filter")
    return start_key


def list_users(*, role: str | None, blocked: bool | None, limit: int, start_key: dict[str, Any] | None
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    if role in accounts.STAFF_ROLES:
        start = _start(start_key, PK=keys.staff_partition(role))
    else:
        start = _start(start_key, GSI2PK=keys.USERS)
    return accounts.list_users(role=role, blocked=blocked, limit=limit, start_key=start)


def list_sellers(*, blocked: bool | None, limit: int, start_key: dict[str, Any] | None
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    return accounts.list_shops(blocked=blocked, limit=limit, start_key=_start(start_key, GSI2PK=keys.SHOPS))


def list_orders(*, customer_id: str | None, seller_id: str | None, status: str | None, day: str | None,
                limit: int, start_key: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A customer's or a seller's orders (their indexes), else one day's (UTC; default today)."""
    if customer_id is not None and seller_id is not None:
        raise ValidationFailed.one("seller_id", "give customer_id or seller_id, not both")
    if (customer_id is not None or seller_id is not None) and day is not None:
        raise ValidationFailed.one("day", "filters one day of every order; not with customer_id or seller_id")
    if customer_id is None and seller_id is None:
        day = day or _now()[:10]
    # the store refuses a cursor of another listing (a 422 naming ``cursor``)
    items, next_key = orders_store.list_orders(customer_id=customer_id, seller_id=seller_id, status=status,
                                               day=day, limit=limit, start_key=start_key)
    return [order_views.view(o, timeline=False) for o in items], next_key


def get_order(order_id: str) -> dict[str, Any]:
    return order_views.get_for_customer(order_id, None)


def cancel_order(actor: Principal, order_id: str, reason: str | None) -> Order:
    """Cancel any order not shipped yet; the customer is refunded (the order workflow releases or
    refunds the hold)."""
    order, applied = actions.seller_decides(order_id, None, "cancel", via="staff", actor_id=actor.user_id,
                                            reason=reason)
    if not applied:  # cancelled already: nothing was done, nothing to audit
        return order
    audit.record(_entry(actor, "order.cancel", f"order:{order_id}", reason=reason or "",
                        seller_id=order.seller_id, customer_id=order.customer_id))
    return order


def block_product(actor: Principal, product_id: str, blocked: bool) -> dict[str, Any]:
    result = catalog.set_product_blocked(product_id, blocked)
    audit.record(_entry(actor, "product.blocked", f"product:{product_id}", blocked=blocked,
                        seller_id=result["seller_id"]))
    return result


def upload_feed(actor: Principal, seller_id: str, filename: str, *, dry_run: bool) -> dict[str, Any]:
    """A feed upload into the seller's own prefix, as if the seller asked (the import runs the same way)."""
    if accounts.get_shop(seller_id) is None:
        raise NotFound(f"seller {seller_id} has no shop")
    upload = feeds.create_upload(seller_id, filename, dry_run=dry_run)
    audit.record(_entry(actor, "feed.upload", f"seller:{seller_id}", feed_id=upload["feed_id"], filename=filename,
                        dry_run=dry_run))
    return upload


def promo_created(actor: Principal, code: str) -> None:
    audit.record(_entry(actor, "promo.create", f"promo:{code}"))


def block_seller(actor: Principal, seller_id: str, blocked: bool) -> dict[str, Any]:
    return shops.set_blocked(seller_id, blocked,
                             audit_item=_entry(actor, "seller.blocked", f"seller:{seller_id}", blocked=blocked))


def audit_log(*, actor_id: str | None, action: str | None, target: str | None, limit: int,
              start_key: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    return audit.list_entries(actor_id=actor_id, action=action, target=target, limit=limit,
                              start_key=_start(start_key, PK=keys.AUDIT))
