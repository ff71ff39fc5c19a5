"""The authorization matrix: every route × (anonymous, another customer, another seller,
support, catalog operator, the owner, admin) → the expected status, over real HTTP on the
local stack. The staff personas get their roles from the admin through ``PUT
/admin/users/{id}/role``, with the tokens they already hold.

The expectations come from the route table (``chalicelib.api.http.ROUTES``): a route's roles
give 401 to the anonymous caller and 403 to a caller without the role; an owner-scoped route
answers 404 to a stranger of the right role (the object's existence is not revealed); the
owner and the admin succeed. ``CASES`` only says how to build each request and where a route
differs from those rules. A route without a case fails ``test_every_route_has_a_case``, so a
new route cannot be forgotten.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import app  # noqa: F401 - importing the app registers every route in ROUTES
from chalicelib.api.http import ROUTES
from tests.e2e.conftest import verification_token
from tests.e2e.workflow_support import Market, Person
from tests.support.factories import checkout_body

pytestmark = pytest.mark.e2e

PERSONAS = ("anonymous", "other_customer", "other_seller", "support", "catalog_operator", "admin", "owner")
# the role each non-owner persona acts with
PERSONA_ROLES = {"other_customer": "customer", "other_seller": "seller", "support": "support",
                 "catalog_operator": "catalog_operator"}
OK = {200, 201, 202, 204}


@dataclass
class World:
    market: Market
    customer: Person
    other_customer: Person
    seller: Person
    other_seller: Person
    admin: Person
    support: Person
    operator: Person  # catalog_operator
    orders: dict[str, str]  # purpose -> order id (customer's, sold by seller)
    feed_id: str
    link: str  # a confirm link from the seller's email (path only)
    topup_id: str  # the customer's top-up (a wallet transaction)

    @property
    def product_id(self) -> str:
        return self.seller.products[0]["product_id"]


@dataclass
class Case:
    """How to call one route. ``build(world, persona)`` returns (path, kwargs for requests).
    ``owner`` is the role of the object's owner; ``expect`` overrides the derived status
    (a status or a set) per persona."""

    build: Callable[[World, str], tuple[str, dict[str, Any]]]
    owner: str = "customer"
    expect: dict[str, int | set[int]] = field(default_factory=dict)
    fresh_session: bool = False  # log the caller in again and use that session (for logout)


def path(p: str, **kw: Any) -> Callable[[World, str], tuple[str, dict[str, Any]]]:
    return lambda w, who: (p, kw)


def order_path(template: str, purpose: str, admin_purpose: str | None = None, **kw: Any):
    """Mutating routes act on a different order for the admin than for the owner, so both
    can succeed; strangers are refused on the owner's order."""

    def build(w: World, who: str) -> tuple[str, dict[str, Any]]:
        key = admin_purpose if who == "admin" and admin_purpose else purpose
        return template.format(id=w.orders[key]), dict(kw)

    return build


def idem(body: dict[str, Any]) -> dict[str, Any]:
    return {"json": body, "headers": {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}}


CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
SHOP = {"name": "Matrix shop", "contact_email": "matrix@example.com", "language": "en", "currency": "RUB",
        "delivery_methods": [{"id": "courier", "name": "Courier", "price": 30000, "days": 2}]}


def _checkout(w: World, who: str) -> tuple[str, dict[str, Any]]:
    if who == "owner":
        w.market.add_to_cart(w.customer, w.seller.products[0])
    return "/checkout", idem(checkout_body({w.seller.id: "courier"}))


_PROVIDER_TOPUPS: dict[int, dict[str, Any]] = {}


def _provider_topup(w: World) -> dict[str, Any]:
    """The customer's top-up waiting on the sandbox provider's page (made once per world)."""
    if id(w) not in _PROVIDER_TOPUPS:
        resp = w.market.call("POST", "/wallet/topups", w.customer, json={"amount": 1000},
                             headers={"Idempotency-Key": f"k-{uuid.uuid4().hex}"})
        assert resp.status_code == 201, resp.text
        _PROVIDER_TOPUPS[id(w)] = resp.json()
    return _PROVIDER_TOPUPS[id(w)]


def _sandbox_page(w: World) -> str:
    return "/payments/sandbox/" + _provider_topup(w)["confirmation_url"].rsplit("/", 1)[1]


def _new_code(route: str) -> Callable[[World, str], tuple[str, dict[str, Any]]]:
    return lambda w, who: (route, {"json": {"code": f"M{uuid.uuid4().hex[:10]}", "kind": "percent", "value": 5}})


CASES: dict[tuple[str, str], Case] = {
    # meta and public catalog: the same answer for everyone
    ("GET", "/health"): Case(path("/health"), owner="public"),
    ("GET", "/openapi.json"): Case(path("/openapi.json"), owner="public"),
    ("GET", "/docs"): Case(path("/docs"), owner="public"),
    ("GET", "/docs/swagger-ui-bundle.js"): Case(path("/docs/swagger-ui-bundle.js"), owner="public"),
    ("GET", "/docs/swagger-ui.css"): Case(path("/docs/swagger-ui.css"), owner="public"),
    ("GET", "/docs/docs.js"): Case(path("/docs/docs.js"), owner="public"),
    ("GET", "/problems"): Case(path("/problems"), owner="public"),
    ("GET", "/problems/{slug}"): Case(path("/problems/cart-changed"), owner="public"),
    ("GET", "/products"): Case(path("/products"), owner="public"),
    ("GET", "/products/{product_id}"): Case(lambda w, who: (f"/products/{w.product_id}", {}), owner="public"),
    ("GET", "/categories"): Case(path("/categories"), owner="public"),
    ("GET", "/search"): Case(path("/search", params={"q": "куртка"}), owner="public"),
    ("GET", "/sellers/{seller_id}"): Case(lambda w, who: (f"/sellers/{w.seller.id}", {}), owner="public"),
    ("GET", "/local/mailbox"): Case(path("/local/mailbox"), owner="public"),
    ("GET", "/local/emails"): Case(path("/local/emails"), owner="public"),
    # the link holder is whoever has the link: GET and HEAD show, POST acts once, later POSTs say "already done"
    ("GET", "/actions/{token}"): Case(lambda w, who: (w.link, {}), owner="public"),
    ("HEAD", "/actions/{token}"): Case(lambda w, who: (w.link, {}), owner="public"),
    ("POST", "/actions/{token}"): Case(lambda w, who: (w.link, {"data": {"action": "confirm"}}), owner="public"),
    # accounts: anyone may register or log in; the rest is about the caller's own account
    ("POST", "/auth/register"): Case(lambda w, who: ("/auth/register", {"json": {
        "email": f"m-{uuid.uuid4().hex[:8]}@example.com", "password": "secret-pass-1", "name": "M"}}),
        owner="public", expect={p: 201 for p in PERSONAS}),
    ("POST", "/auth/login"): Case(lambda w, who: ("/auth/login", {"json": {
        "email": w.customer.email, "password": "secret-pass-1"}}), owner="public"),
    ("POST", "/auth/refresh"): Case(path("/auth/refresh", json={"refresh_token": "not-a-valid-refresh-token"}),
                                    owner="public", expect={p: 401 for p in PERSONAS}),
    ("POST", "/auth/logout"): Case(path("/auth/logout"), owner="self", fresh_session=True),
    # verification and passwords: public ones answer alike (a bad token is 422 for everyone);
    # the caller's own ones need a login (a wrong old password: 422, nothing changed)
    ("POST", "/auth/verify"): Case(path("/auth/verify", json={"token": "a1.not-a-valid-token"}), owner="public",
                                   expect={p: 422 for p in PERSONAS}),
    ("POST", "/auth/verification-email"): Case(path("/auth/verification-email"), owner="self"),
    ("POST", "/auth/password/forgot"): Case(path("/auth/password/forgot", json={"email": "nobody@example.com"}),
                                            owner="public"),
    ("POST", "/auth/password/reset"): Case(path("/auth/password/reset", json={
        "token": "a1.not-a-valid-token", "password": "new-pass-word-2"}), owner="public",
        expect={p: 422 for p in PERSONAS}),
    ("POST", "/auth/password/change"): Case(path("/auth/password/change", json={
        "old_password": "not-the-password-1", "password": "new-pass-word-2"}), owner="self",
        expect={p: 422 for p in PERSONAS if p != "anonymous"}),
    # the emailed account link: whoever holds it; GET shows, POST verifies once (later: "already done")
    ("GET", "/auth/links/{token}"): Case(lambda w, who: (_account_link(w), {}), owner="public"),
    ("POST", "/auth/links/{token}"): Case(lambda w, who: (_account_link(w), {"data": {"action": "verify"}}),
                                          owner="public"),
    ("GET", "/me"): Case(path("/me"), owner="self"),
    ("PATCH", "/me"): Case(path("/me", json={"language": "en"}), owner="self"),
    # seller's own shop and feeds
    ("PUT", "/seller/shop"): Case(path("/seller/shop", json=SHOP), owner="seller"),
    # the admin has a shop only if an earlier case created one
    ("GET", "/seller/shop"): Case(path("/seller/shop"), owner="seller", expect={"admin": {200, 404}}),
    ("POST", "/seller/feeds"): Case(path("/seller/feeds", json={"filename": "catalog.yml"}), owner="seller",
                                    expect={"admin": {201, 404, 409}}),
    ("GET", "/seller/feeds"): Case(path("/seller/feeds"), owner="seller"),
    ("GET", "/seller/feeds/{feed_id}"): Case(lambda w, who: (f"/seller/feeds/{w.feed_id}", {}), owner="seller",
                                             expect={"admin": {200, 404}}),
    # a redirect to the CSV report (followed by the client); 404 until the import has one
    ("GET", "/seller/feeds/{feed_id}/report.csv"): Case(
        lambda w, who: (f"/seller/feeds/{w.feed_id}/report.csv", {}), owner="seller",
        expect={"owner": {200, 302, 404}, "admin": {200, 302, 404}}),
    # a seller's own feed URL (self-scoped: every seller has at most one; whether it exists for a
    # persona depends on which of these cases ran first)
    ("PUT", "/seller/feed-source"): Case(path("/seller/feed-source", json={
        "url": "https://feeds.example.com/catalog.yml", "schedule": "daily"}), owner="seller",
        expect={"admin": {200, 409}}),
    ("GET", "/seller/feed-source"): Case(path("/seller/feed-source"), owner="seller",
                                         expect={p: {200, 404} for p in ("owner", "other_seller", "admin")}),
    ("POST", "/seller/feed-source/fetch"): Case(path("/seller/feed-source/fetch"), owner="seller",
                                                expect={p: {202, 404} for p in ("owner", "other_seller", "admin")}),
    ("DELETE", "/seller/feed-source"): Case(path("/seller/feed-source"), owner="seller",
                                            expect={p: {204, 404} for p in ("owner", "other_seller", "admin")}),
    ("GET", "/seller/balance"): Case(path("/seller/balance"), owner="seller"),
    ("GET", "/seller/balance/transactions"): Case(path("/seller/balance/transactions"), owner="seller"),
    ("GET", "/seller/orders"): Case(path("/seller/orders"), owner="seller"),
    ("GET", "/seller/orders/{order_id}"): Case(order_path("/seller/orders/{id}", "view"), owner="seller"),
    ("POST", "/seller/orders/{order_id}/confirm"): Case(
        order_path("/seller/orders/{id}/confirm", "seller_confirm", "admin_confirm"), owner="seller"),
    ("POST", "/seller/orders/{order_id}/cancel"): Case(
        order_path("/seller/orders/{id}/cancel", "seller_cancel", "admin_cancel"), owner="seller"),
    ("POST", "/seller/orders/{order_id}/ship"): Case(
        order_path("/seller/orders/{id}/ship", "seller_ship", "admin_ship"), owner="seller"),
    # customer's own cart, orders and wallet
    ("GET", "/cart"): Case(path("/cart"), owner="customer"),
    ("POST", "/cart/items"): Case(lambda w, who: ("/cart/items", {"json": {"product_id": w.product_id,
                                                                            "quantity": 1}}), owner="customer"),
    ("PUT", "/cart/items/{product_id}"): Case(lambda w, who: (f"/cart/items/{w.product_id}",
                                                             {"json": {"quantity": 1}}), owner="customer"),
    ("DELETE", "/cart/items/{product_id}"): Case(lambda w, who: (f"/cart/items/{w.product_id}", {}),
                                                owner="customer"),
    ("DELETE", "/cart"): Case(path("/cart"), owner="customer"),
    ("POST", "/checkout"): Case(_checkout, owner="customer",
                                # an empty cart is the caller's own problem, not an authorization one
                                expect={"other_customer": 422, "admin": 422, "owner": 201}),
    ("GET", "/orders"): Case(path("/orders"), owner="customer"),
    ("GET", "/orders/{order_id}"): Case(order_path("/orders/{id}", "view"), owner="customer"),
    ("POST", "/orders/{order_id}/pay"): Case(order_path("/orders/{id}/pay", "pay", "admin_pay"), owner="customer"),
    ("POST", "/orders/{order_id}/cancel"): Case(order_path("/orders/{id}/cancel", "customer_cancel",
                                                           "admin_customer_cancel"), owner="customer"),
    ("POST", "/orders/{order_id}/received"): Case(order_path("/orders/{id}/received", "received",
                                                             "admin_received"), owner="customer"),
    ("GET", "/wallet"): Case(path("/wallet"), owner="customer"),
    ("POST", "/wallet/topups"): Case(lambda w, who: ("/wallet/topups", idem({"amount": 1000, "card": CARD})),
                                     owner="customer"),
    ("GET", "/wallet/transactions"): Case(path("/wallet/transactions"), owner="customer"),
    ("GET", "/wallet/transactions/{transaction_id}"): Case(
        lambda w, who: (f"/wallet/transactions/{w.topup_id}", {}), owner="customer"),
    # top-ups paid on the provider's page; its webhook authenticates by signature, not by login
    ("GET", "/wallet/topups/{topup_id}"): Case(
        lambda w, who: (f"/wallet/topups/{_provider_topup(w)['topup_id']}", {}), owner="customer"),
    ("POST", "/payments/webhooks/{provider}"): Case(
        path("/payments/webhooks/sandbox", json={"id": "evt-unsigned", "payment": {}}), owner="public",
        expect={p: 401 for p in PERSONAS}),
    ("GET", "/payments/return"): Case(path("/payments/return"), owner="public"),
    ("GET", "/payments/sandbox/{payment_id}"): Case(lambda w, who: (_sandbox_page(w), {}), owner="public"),
    ("POST", "/payments/sandbox/{payment_id}"): Case(
        lambda w, who: (_sandbox_page(w), {"data": {"action": "pay", "number": "not-a-card"}}), owner="public"),
    # admin only
    ("PUT", "/admin/sellers/{seller_id}/blocked"): Case(
        lambda w, who: (f"/admin/sellers/{w.other_seller.id}/blocked", {"json": {"blocked": False}}), owner="admin"),
    ("PUT", "/admin/products/{product_id}/blocked"): Case(
        lambda w, who: (f"/admin/products/{w.product_id}/blocked", {"json": {"blocked": False}}), owner="admin"),
    # promo codes: a seller's are self-scoped (a code another issuer has is "not found"); the
    # admin has a shop only if an earlier case created one; marketplace codes are the admin's
    ("POST", "/seller/promo-codes"): Case(_new_code("/seller/promo-codes"), owner="seller",
                                          expect={"admin": {201, 409}}),
    ("GET", "/seller/promo-codes"): Case(path("/seller/promo-codes"), owner="seller"),
    ("GET", "/seller/promo-codes/{code}"): Case(path("/seller/promo-codes/NOSUCHCODE"), owner="seller",
                                                expect={p: 404 for p in ("owner", "other_seller", "admin")}),
    ("PATCH", "/seller/promo-codes/{code}"): Case(path("/seller/promo-codes/NOSUCHCODE", json={"ended": True}),
                                                  owner="seller",
                                                  expect={p: 404 for p in ("owner", "other_seller", "admin")}),
    ("POST", "/admin/promo-codes"): Case(_new_code("/admin/promo-codes"), owner="admin"),
    ("GET", "/admin/promo-codes"): Case(path("/admin/promo-codes"), owner="admin"),
    ("GET", "/admin/promo-codes/{code}"): Case(path("/admin/promo-codes/NOSUCHCODE"), owner="admin",
                                               expect={"owner": 404, "admin": 404}),
    ("PATCH", "/admin/promo-codes/{code}"): Case(path("/admin/promo-codes/NOSUCHCODE", json={"ended": True}),
                                                 owner="admin", expect={"owner": 404, "admin": 404}),
    ("POST", "/cart/quote"): Case(path("/cart/quote", json={}), owner="customer"),
    # staff tools: support reads (and cancels orders), catalog operators act for sellers, admins all.
    # Role and block changes set what the customer has already: they succeed and change nothing.
    ("GET", "/admin/users"): Case(path("/admin/users"), owner="admin"),
    ("PUT", "/admin/users/{user_id}/role"): Case(
        lambda w, who: (f"/admin/users/{w.customer.id}/role", {"json": {"role": "customer"}}), owner="admin"),
    ("PUT", "/admin/users/{user_id}/blocked"): Case(
        lambda w, who: (f"/admin/users/{w.customer.id}/blocked", {"json": {"blocked": False}}), owner="admin"),
    ("GET", "/admin/sellers"): Case(path("/admin/sellers"), owner="admin"),
    ("GET", "/admin/orders"): Case(path("/admin/orders"), owner="admin"),
    ("GET", "/admin/orders/{order_id}"): Case(order_path("/admin/orders/{id}", "view"), owner="admin"),
    # support and the admin cancel an order each (the owner persona is the admin again: cancelled already, 200)
    ("POST", "/admin/orders/{order_id}/cancel"): Case(lambda w, who: (
        f"/admin/orders/{w.orders['staff_cancel_support' if who == 'support' else 'staff_cancel_admin']}/cancel",
        {}), owner="admin"),
    ("POST", "/admin/sellers/{seller_id}/feeds"): Case(
        lambda w, who: (f"/admin/sellers/{w.seller.id}/feeds", {"json": {"filename": "catalog.yml"}}), owner="admin"),
    ("GET", "/admin/sellers/{seller_id}/feeds/{feed_id}"): Case(
        lambda w, who: (f"/admin/sellers/{w.seller.id}/feeds/{w.feed_id}", {}), owner="admin"),
    ("GET", "/admin/audit"): Case(path("/admin/audit"), owner="admin"),
    # the marketplace fee schedule: admins only (a 0 % default changes no other case's money)
    ("GET", "/admin/commission"): Case(path("/admin/commission"), owner="admin"),
    ("PUT", "/admin/commission"): Case(path("/admin/commission", json={"default_percent": 0}), owner="admin"),
    ("GET", "/admin/ledger/reconciliation"): Case(path("/admin/ledger/reconciliation"), owner="admin"),
    # payouts and statements are the calling seller's own: more than anyone's available balance is a 409
    ("POST", "/seller/payouts"): Case(lambda w, who: ("/seller/payouts", idem(
        {"amount": 10**12, "account": "40702810000000000001"})), owner="seller",
        expect={p: 409 for p in ("owner", "other_seller", "admin")}),
    ("GET", "/seller/payouts"): Case(path("/seller/payouts"), owner="seller"),
    ("GET", "/seller/payouts/{payout_id}"): Case(path("/seller/payouts/nosuchpayout"), owner="seller",
                                                 expect={p: 404 for p in ("owner", "other_seller", "admin")}),
    ("GET", "/seller/statement"): Case(path("/seller/statement"), owner="seller"),
    # returns: the world's order is not delivered, so the owner's request is a 409; strangers get 404
    ("POST", "/orders/{order_id}/returns"): Case(order_path("/orders/{id}/returns", "view", json={
        "items": [{"product_id": "p", "quantity": 1}], "reason": "too small"},
        headers={"Idempotency-Key": "k-return-matrix"}), owner="customer",
        expect={"owner": 409, "admin": 404}),
    ("GET", "/orders/{order_id}/returns"): Case(order_path("/orders/{id}/returns", "view"), owner="customer"),
    ("GET", "/seller/returns"): Case(path("/seller/returns"), owner="seller"),
    ("POST", "/seller/returns/{return_id}/accept"): Case(path("/seller/returns/nosuchreturn/accept", json={}),
                                                        owner="seller",
                                                        expect={p: 404 for p in ("owner", "other_seller", "admin")}),
    ("POST", "/seller/returns/{return_id}/reject"): Case(path("/seller/returns/nosuchreturn/reject", json={}),
                                                        owner="seller",
                                                        expect={p: 404 for p in ("owner", "other_seller", "admin")}),
}


_LINKS: dict[str, str] = {}


def _account_link(w: World) -> str:
    """The verification link of one account registered for the purpose (made once)."""
    if "verify" not in _LINKS:
        email = f"link-{uuid.uuid4().hex[:8]}@example.com"
        resp = w.market.call("POST", "/auth/register", json={"email": email, "password": "secret-pass-1",
                                                             "name": "L"})
        assert resp.status_code == 201, resp.text
        _LINKS["verify"] = f"/auth/links/{verification_token(w.market.stack, email)}"
    return _LINKS["verify"]


def expected(route, case: Case, persona: str) -> int | set[int]:
    if persona in case.expect:
        return case.expect[persona]
    roles = route.roles
    if roles is None:
        return OK
    if persona == "anonymous":
        return 401
    if persona in ("admin", "owner"):
        return OK
    role = PERSONA_ROLES[persona]
    if role not in roles:
        return 403
    # a stranger with the right role: their own data on a self-scoped route, else "not found"
    return 404 if route.owner_scoped else OK


def test_every_route_has_a_case():
    routes = {(r.method, r.path) for r in ROUTES}
    assert routes - set(CASES) == set(), "add the new routes to CASES"
    assert set(CASES) - routes == set(), "CASES lists routes that no longer exist"


_WORLD: dict[str, World] = {}


@pytest.fixture
def world(patient_stack) -> World:
    """Built once per session (``patient_stack`` is itself one stack per session)."""
    if "w" not in _WORLD:
        _WORLD["w"] = _build_world(patient_stack)
    return _WORLD["w"]


def _build_world(patient_stack) -> World:
    m = Market(patient_stack)
    seller, other_seller = m.seller(stock=100, price=10_000), m.seller(stock=100, price=10_000)
    customer, other_customer = m.register("customer"), m.register("customer")
    admin = m.register("customer")
    patient_stack.client("cognito-idp").admin_add_user_to_group(
        UserPoolId=patient_stack.env["USER_POOL_ID"], Username=admin.email, GroupName="admin")
    admin.token = m.call("POST", "/auth/login", json={"email": admin.email, "password": "secret-pass-1"}
                         ).json()["access_token"]
    product = seller.products[0]

    def place() -> str:
        m.add_to_cart(customer, product)
        return m.checkout(customer, [seller])[0]["order_id"]

    # orders waiting for payment: placed while the wallet is empty
    orders = {"pay": place(), "admin_pay": place()}
    for key in orders:
        m.wait_status(customer, orders[key], "AWAITING_PAYMENT")
    m.top_up(customer, 10_000_000)
    topup_id = next(t["id"] for t in m.call("GET", "/wallet/transactions", customer).json()["items"]
                    if t["kind"] == "topup")
    for key in ("view", "seller_confirm", "admin_confirm", "seller_cancel", "admin_cancel", "customer_cancel",
                "admin_customer_cancel", "seller_ship", "admin_ship", "received", "admin_received", "link",
                "staff_cancel_support", "staff_cancel_admin"):
        orders[key] = place()
    for key in orders:
        if key not in ("pay", "admin_pay"):
            m.wait_status(customer, orders[key], "PAID")
    for key in ("seller_ship", "admin_ship", "received", "admin_received"):
        assert m.call("POST", f"/seller/orders/{orders[key]}/confirm", seller).status_code in OK
        m.wait_status(customer, orders[key], "CONFIRMED")
    for key in ("received", "admin_received"):
        assert m.call("POST", f"/seller/orders/{orders[key]}/ship", seller).status_code in OK
        m.wait_status(customer, orders[key], "SHIPPED")
    link = m.action_link(seller, orders["link"], "confirm")
    feed = m.call("POST", "/seller/feeds", seller, json={"filename": "catalog.yml"})
    assert feed.status_code == 201, feed.text
    m.call("DELETE", "/cart", customer)
    support, operator = m.register("customer"), m.register("customer")
    for person, role in ((support, "support"), (operator, "catalog_operator")):
        resp = m.call("PUT", f"/admin/users/{person.id}/role", admin, json={"role": role})
        assert resp.status_code == 200, resp.text
    return World(market=m, customer=customer, other_customer=other_customer, seller=seller,
                 other_seller=other_seller, admin=admin, support=support, operator=operator, orders=orders,
                 feed_id=feed.json()["feed_id"],
                 link=link[link.index("/actions/"):], topup_id=topup_id)


def _caller(w: World, case: Case, persona: str) -> Person | None:
    if persona == "anonymous":
        return None
    if persona == "owner":
        return {"customer": w.customer, "seller": w.seller, "admin": w.admin}.get(case.owner, w.customer)
    return {"other_customer": w.other_customer, "other_seller": w.other_seller, "admin": w.admin,
            "support": w.support, "catalog_operator": w.operator}[persona]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_answers_each_caller_as_expected(world, route):
    case = CASES[(route.method, route.path)]
    got: dict[str, int] = {}
    want: dict[str, int | set[int]] = {}
    for persona in PERSONAS:
        if case.owner == "self" and persona == "owner":
            continue  # "self" routes: every logged-in persona is the owner of its own account
        p, kw = case.build(world, persona)
        who = _caller(world, case, persona)
        if case.fresh_session and who is not None:
            login = world.market.call("POST", "/auth/login", json={"email": who.email, "password": "secret-pass-1"})
            who = Person(id=who.id, email=who.email, token=login.json()["access_token"])
        resp = world.market.call(route.method, p, who, **kw)
        got[persona] = resp.status_code
        want[persona] = expected(route, case, persona)
        if resp.status_code >= 400:
            assert resp.headers["Content-Type"].startswith("application/problem+json"), (persona, resp.text)
    mismatches = {
        p: (got[p], want[p]) for p in got
        if not (got[p] in want[p] if isinstance(want[p], set) else got[p] == want[p])
    }
    assert not mismatches, f"{route.method} {route.path}: persona -> (got, expected) {mismatches}"
