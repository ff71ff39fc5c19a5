"""Staff roles and admin tools over the real routes (moto): role changes and blocks take effect
on the caller's very next request, the last admin cannot be demoted or blocked, bad input
changes nothing, listings page with cursors, and every staff action is in the audit."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.support import factories as f

JSON = {"Content-Type": "application/json"}


def put(api, path: str, who, body) -> object:
    return api.http.put(path, body=json.dumps(body), headers=who.headers)


def get(api, path: str, who=None):
    return api.http.get(path, headers=who.headers if who else {})


def audit(api, admin, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    resp = get(api, f"/admin/audit?{query}", admin)
    assert resp.status_code == 200, resp.body
    return resp.json_body["items"]


def login(api, user) -> object:
    return api.http.post("/auth/login", body=json.dumps({"email": user.email, "password": user.password}),
                         headers=JSON)


def test_a_role_change_takes_effect_on_the_next_request_and_is_audited(api, admin, register):
    user = register("customer")
    assert get(api, "/cart", user).status_code == 200
    assert get(api, "/admin/users", user).status_code == 403

    resp = put(api, f"/admin/users/{user.id}/role", admin, {"role": "support"})

    assert resp.status_code == 200, resp.body
    assert resp.json_body["role"] == "support"
    # the token issued before the change: support now, a customer no more
    assert get(api, "/admin/users", user).status_code == 200
    assert get(api, "/cart", user).status_code == 403
    assert get(api, "/admin/audit", user).status_code == 403  # the audit is the admins'
    # a new login carries the role too
    fresh = login(api, user).json_body["access_token"]
    assert api.http.get("/admin/users", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    entries = audit(api, admin, target=f"user:{user.id}")
    assert [(e["action"], e["actor_id"], e["actor_role"], e["detail"]) for e in entries] == [
        ("user.role", admin.id, "admin", {"before": "customer", "after": "support"})]
    assert entries[0]["at"].endswith("Z")


def test_a_blocked_users_tokens_stop_working_at_once(api, admin, register):
    user = register("customer")
    assert get(api, "/me", user).status_code == 200

    resp = put(api, f"/admin/users/{user.id}/blocked", admin, {"blocked": True})

    assert resp.status_code == 200 and resp.json_body["blocked"] is True
    refused = get(api, "/me", user)
    assert refused.status_code == 401
    assert refused.json_body["detail"] == "this account is blocked"
    assert login(api, user).status_code == 401  # and no new tokens

    assert put(api, f"/admin/users/{user.id}/blocked", admin, {"blocked": False}).status_code == 200
    again = login(api, user)
    assert again.status_code == 200
    assert api.http.get("/me", headers={"Authorization": f"Bearer {again.json_body['access_token']}"}
                        ).status_code == 200
    assert [e["detail"] for e in audit(api, admin, action="user.blocked")] == [{"blocked": False},
                                                                                {"blocked": True}]


def test_error_on_a_role_that_does_not_exist_changes_nothing(api, admin, register):
    user = register("customer")

    resp = put(api, f"/admin/users/{user.id}/role", admin, {"role": "superuser"})

    assert resp.status_code == 422
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    [error] = resp.json_body["errors"]
    assert error["field"] == "role"
    for allowed in ("customer", "seller", "support", "catalog_operator", "admin"):
        assert allowed in error["reason"]
    assert get(api, "/cart", user).status_code == 200
    assert audit(api, admin) == []


def test_error_on_unknown_user_changes_nothing(api, admin):
    assert put(api, "/admin/users/nobody/role", admin, {"role": "support"}).status_code == 404
    assert put(api, "/admin/users/nobody/blocked", admin, {"blocked": True}).status_code == 404
    assert audit(api, admin) == []


def test_error_on_demoting_or_blocking_the_last_admin(api, admin, register):
    for path, body in ((f"/admin/users/{admin.id}/role", {"role": "customer"}),
                       (f"/admin/users/{admin.id}/blocked", {"blocked": True})):
        resp = put(api, path, admin, body)
        assert resp.status_code == 409, resp.body
        assert "last admin" in resp.json_body["detail"]
    assert audit(api, admin) == []  # still an admin, nothing written

    # with a second admin, the first may step down
    other = register("customer")
    assert put(api, f"/admin/users/{other.id}/role", admin, {"role": "admin"}).status_code == 200
    assert put(api, f"/admin/users/{admin.id}/role", other, {"role": "customer"}).status_code == 200
    assert get(api, "/admin/audit", admin).status_code == 403
    # and now the promoted one is the last
    assert put(api, f"/admin/users/{other.id}/blocked", other, {"blocked": True}).status_code == 409


def test_only_admins_change_roles(api, admin, register):
    support, customer = register("customer"), register("customer")
    put(api, f"/admin/users/{support.id}/role", admin, {"role": "support"})
    assert put(api, f"/admin/users/{customer.id}/role", support, {"role": "admin"}).status_code == 403
    assert put(api, f"/admin/users/{customer.id}/blocked", support, {"blocked": True}).status_code == 403
    assert put(api, f"/admin/users/{customer.id}/role", customer, {"role": "admin"}).status_code == 403
    assert api.http.get("/admin/users").status_code == 401


def test_users_list_by_role_and_blocked_with_cursors(api, admin, register):
    customers = [register("customer") for _ in range(3)]
    seller = register("seller")
    staff = [register("customer") for _ in range(2)]
    for s in staff:
        put(api, f"/admin/users/{s.id}/role", admin, {"role": "catalog_operator"})
    put(api, f"/admin/users/{customers[0].id}/blocked", admin, {"blocked": True})

    ops = get(api, "/admin/users?role=catalog_operator", admin).json_body["items"]
    assert sorted(u["user_id"] for u in ops) == sorted(s.id for s in staff)
    assert [u["user_id"] for u in get(api, "/admin/users?role=seller", admin).json_body["items"]] == [seller.id]
    blocked = get(api, "/admin/users?blocked=true", admin).json_body["items"]
    assert [u["user_id"] for u in blocked] == [customers[0].id]

    seen, cursor = [], None
    while True:
        page = get(api, "/admin/users?limit=2" + (f"&cursor={cursor}" if cursor else ""), admin).json_body
        seen += [u["user_id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    everyone = {admin.id, seller.id, *(c.id for c in customers), *(s.id for s in staff)}
    assert set(seen) == everyone and len(seen) == len(everyone)  # each once

    first = get(api, "/admin/users?limit=1", admin).json_body
    other_listing = get(api, f"/admin/users?role=support&cursor={first['next_cursor']}", admin)
    assert other_listing.status_code == 422
    assert other_listing.json_body["errors"][0]["field"] == "cursor"


def test_sellers_list_with_the_blocked_filter_and_the_block_audited(api, admin, register):
    one, two = register("seller"), register("seller")
    for s in (one, two):
        f.put_shop(f.shop(s.id))
    assert put(api, f"/admin/sellers/{two.id}/blocked", admin, {"blocked": True}).status_code == 200

    everyone = get(api, "/admin/sellers", admin).json_body["items"]
    assert {s["seller_id"] for s in everyone} == {one.id, two.id}
    assert [s["seller_id"] for s in get(api, "/admin/sellers?blocked=true", admin).json_body["items"]] == [two.id]
    assert [s["seller_id"] for s in get(api, "/admin/sellers?blocked=false", admin).json_body["items"]] == [one.id]
    [entry] = audit(api, admin, action="seller.blocked")
    assert entry["target"] == f"seller:{two.id}" and entry["detail"] == {"blocked": True}


@pytest.fixture
def orders_world(api, register):
    seller = register("seller")
    f.put_shop(f.shop(seller.id))
    ann, bob = f.Shopper(api, register("customer")), f.Shopper(api, register("customer"))
    placed = []
    for shopper in (ann, bob, ann):
        shopper.add(f.put_product(f.product(seller.id))["product_id"])
        resp = shopper.checkout(f.checkout_body({seller.id: "courier"}))
        assert resp.status_code == 201, resp.body
        placed.append(resp.json_body["orders"][0])
    return seller, ann, bob, placed


def test_support_lists_and_reads_any_order(api, admin, register, orders_world):
    seller, ann, _, placed = orders_world
    support = register("customer")
    put(api, f"/admin/users/{support.id}/role", admin, {"role": "support"})
    ids = [o["order_id"] for o in placed]

    today = get(api, "/admin/orders?limit=2", support).json_body
    assert [o["order_id"] for o in today["items"]] == ids[::-1][:2]
    rest = get(api, f"/admin/orders?limit=2&cursor={today['next_cursor']}", support).json_body
    assert [o["order_id"] for o in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    day = placed[0]["created_at"][:10]
    assert len(get(api, f"/admin/orders?day={day}", support).json_body["items"]) == 3
    assert get(api, "/admin/orders?day=2001-01-01", support).json_body["items"] == []
    by_customer = get(api, f"/admin/orders?customer_id={ann.user.id}", support).json_body["items"]
    assert [o["order_id"] for o in by_customer] == [ids[2], ids[0]]
    by_seller = get(api, f"/admin/orders?seller_id={seller.id}&status=AWAITING_PAYMENT", support).json_body
    assert len(by_seller["items"]) == 3
    detail = get(api, f"/admin/orders/{ids[1]}", support)
    assert detail.status_code == 200 and detail.json_body["timeline"][0]["type"] == "created"
    assert get(api, "/admin/orders/o-nope", support).status_code == 404

    bad = get(api, f"/admin/orders?customer_id={ann.user.id}&seller_id={seller.id}", support)
    assert bad.status_code == 422 and bad.json_body["errors"][0]["field"] == "seller_id"
    assert get(api, "/admin/orders?day=yesterday", support).status_code == 422
    assert get(api, "/admin/orders", ann.user).status_code == 403


def test_catalog_operator_blocks_a_product_and_uploads_a_feed_for_a_seller(api, admin, register):
    seller, operator = register("seller"), register("customer")
    f.put_shop(f.shop(seller.id))
    product = f.put_product(f.product(seller.id))
    put(api, f"/admin/users/{operator.id}/role", admin, {"role": "catalog_operator"})

    resp = put(api, f"/admin/products/{product['product_id']}/blocked", operator, {"blocked": True})
    assert resp.status_code == 200, resp.body
    assert get(api, f"/products/{product['product_id']}").status_code == 404

    upload = api.http.post(f"/admin/sellers/{seller.id}/feeds", body=json.dumps({"filename": "catalog.yml"}),
                           headers=operator.headers)
    assert upload.status_code == 201, upload.body
    feed_id = upload.json_body["feed_id"]
    assert upload.headers["Location"].endswith(f"/admin/sellers/{seller.id}/feeds/{feed_id}")
    assert upload.json_body["fields"]["key"].startswith(f"feeds/{seller.id}/{feed_id}/")  # the seller's own prefix
    assert get(api, f"/admin/sellers/{seller.id}/feeds/{feed_id}", operator).json_body["status"] == "queued"
    # the seller sees the import as theirs
    assert get(api, f"/seller/feeds/{feed_id}", seller).status_code == 200
    unknown = api.http.post("/admin/sellers/nobody/feeds", body=json.dumps({"filename": "c.yml"}),
                            headers=operator.headers)
    assert unknown.status_code == 404

    # an operator reads no orders and changes no roles
    assert get(api, "/admin/orders", operator).status_code == 403
    assert put(api, f"/admin/users/{seller.id}/role", operator, {"role": "admin"}).status_code == 403
    actions = [(e["action"], e["target"], e["actor_id"]) for e in audit(api, admin, actor_id=operator.id)]
    assert actions == [("feed.upload", f"seller:{seller.id}", operator.id),
                       ("product.blocked", f"product:{product['product_id']}", operator.id)]


def test_marketplace_promo_creation_is_audited(api, admin):
    resp = api.http.post("/admin/promo-codes", body=json.dumps({"code": "STAFF5", "kind": "percent", "value": 5}),
                         headers=admin.headers)
    assert resp.status_code == 201, resp.body
    [entry] = audit(api, admin, action="promo.create")
    assert entry["target"] == "promo:STAFF5" and entry["actor_id"] == admin.id


def test_audit_pages_newest_first(api, admin, register):
    users = [register("customer") for _ in range(3)]
    for u in users:
        put(api, f"/admin/users/{u.id}/role", admin, {"role": "support"})
    first = get(api, "/admin/audit?limit=2", admin).json_body
    second = get(api, f"/admin/audit?limit=2&cursor={first['next_cursor']}", admin).json_body
    targets = [e["target"] for e in first["items"] + second["items"]]
    assert targets == [f"user:{u.id}" for u in reversed(users)]
    assert get(api, "/admin/audit?action=user.deleted", admin).status_code == 422


def test_operator_made_admins_in_the_pool_count_as_admins(api, aws, admin, register):
    """The first admin is made by an operator in the identity provider's group, not through the API."""
    second = register("customer")
    boto3.client("cognito-idp").admin_add_user_to_group(UserPoolId=aws["USER_POOL_ID"], Username=second.email,
                                                        GroupName="admin")
    assert put(api, f"/admin/users/{admin.id}/role", admin, {"role": "support"}).status_code == 200
    assert put(api, f"/admin/users/{second.id}/blocked", login_as(api, second), {"blocked": True}
               ).status_code == 409


def login_as(api, user):
    token = login(api, user).json_body["access_token"]
    user.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return user


def test_a_demotion_that_raced_another_change_of_the_admins_changes_nothing(api, admin, register):
    """Two admins demoting each other at once: the second transaction read the admins before the
    first changed them, and is refused rather than leaving no admin."""
    from chalicelib.errors import Conflict
    from chalicelib.store import accounts
    from chalicelib.store import audit as audit_store

    other = register("customer")
    assert put(api, f"/admin/users/{other.id}/role", admin, {"role": "admin"}).status_code == 200
    seen = accounts.admins_version()  # the second demotion counted two admins here
    assert put(api, f"/admin/users/{other.id}/role", admin, {"role": "customer"}).status_code == 200

    entry = audit_store.entry(actor_id=other.id, actor_role="admin", action="user.role", target=f"user:{admin.id}")
    with pytest.raises(Conflict):
        accounts.change_role(admin.id, old_role="admin", new_role="customer", audit_item=entry, guard_version=seen,
                             at="2026-12-04T00:00:00+00:00")

    assert get(api, "/admin/audit", admin).status_code == 200  # still an admin
    assert [e["detail"]["after"] for e in audit(api, admin, action="user.role")] == ["customer", "admin"]
