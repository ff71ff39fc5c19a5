"""Promo codes over the real routes on moto: sellers' and marketplace codes, the quote, the
checkout applying exactly what the quote shows, use limits, uses given back by a cancelled
order, the ledger booking who pays, and every bad input the issue lists (4xx, nothing
redeemed, nothing charged)."""

import json

import pytest

from chalicelib.services import ledger
from chalicelib.services.workflow import steps
from chalicelib.services.workflow.contract import StepEvent
from chalicelib.store import orders as orders_store
from chalicelib.store.pagination import encode_cursor
from tests.support import factories as f

COURIER = 35000  # factories.SHOP_METHODS "courier"


def _call(api, method, path, user, body=None):
    kw = {"headers": dict(user.headers)}
    if body is not None:
        kw["body"] = json.dumps(body)
    return getattr(api.http, method)(path, **kw)


@pytest.fixture
def seller(register):
    one = register("seller")
    f.put_shop(f.shop(one.id, name="Boots"))
    return one


@pytest.fixture
def other_seller(register):
    two = register("seller")
    f.put_shop(f.shop(two.id, name="Hats"))
    return two


@pytest.fixture
def shopper(api, register):
    return f.Shopper(api, register("customer"))


def code(api, user, body, *, admin=False):
    return _call(api, "post", "/admin/promo-codes" if admin else "/seller/promo-codes", user, body)


def quote(shopper, body):
    return shopper._call("post", "/cart/quote", body)


def checkout(shopper, delivery, codes=(), **more):
    return shopper.checkout({**f.checkout_body(delivery), "promo_codes": list(codes), **more})


# --- codes ----------------------------------------------------------------------------------------


def test_seller_creates_lists_changes_and_ends_a_code(api, seller):
    resp = code(api, seller, {"code": "summer10", "kind": "percent", "value": 10, "max_uses": 5,
                              "min_subtotal": 1000})
    assert resp.status_code == 201, resp.body
    assert resp.json_body["code"] == "SUMMER10" and resp.json_body["percent"] == 10
    assert resp.json_body["min_subtotal"] == f.rub(1000) and resp.json_body["uses"] == 0
    assert resp.headers["Location"].endswith("/seller/promo-codes/SUMMER10")
    # unique per issuer, case-insensitive
    assert code(api, seller, {"code": "Summer10", "kind": "fixed", "value": 500}).status_code == 409
    listed = _call(api, "get", "/seller/promo-codes", seller).json_body["items"]
    assert [(c["code"], c["uses"], c["funded_by"]) for c in listed] == [("SUMMER10", 0, "seller")]
    changed = _call(api, "patch", "/seller/promo-codes/summer10", seller, {"max_uses": 7, "min_subtotal": None})
    assert changed.status_code == 200, changed.body
    assert changed.json_body["max_uses"] == 7 and changed.json_body["min_subtotal"] is None
    ended = _call(api, "patch", "/seller/promo-codes/SUMMER10", seller, {"ended": True})
    assert ended.json_body["ended"] is True
    assert _call(api, "patch", "/seller/promo-codes/NOPE1", seller, {"ended": True}).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"code": "P1X", "kind": "percent", "value": 101}, "value"),
    ({"code": "F1X", "kind": "fixed", "value": 100_000_001}, "value"),
    ({"code": "a", "kind": "fixed", "value": 10}, "code"),
    ({"code": "BAD CODE", "kind": "fixed", "value": 10}, "code"),
    ({"code": "WIN1", "kind": "fixed", "value": 10, "starts_at": "2030-01-02T00:00:00Z",
      "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
    ({"code": "WIN2", "kind": "fixed", "value": 10, "ends_at": "2001-01-01T00:00:00Z"}, "ends_at"),
    ({"code": "WIN3", "kind": "fixed", "value": 10, "ends_at": "tomorrow"}, "ends_at"),
    ({"code": "LIM1", "kind": "fixed", "value": 10, "max_uses": 0}, "max_uses"),
    ({"code": "LIM2", "kind": "fixed", "value": 10.5}, "value"),
    ({"code": "LIM3", "kind": "fixed", "value": 10, "uses": 3}, "uses"),
])
def test_error_on_an_impossible_code(api, seller, body, field):
    resp = code(api, seller, body)
    assert resp.status_code == 422, resp.body
    assert field in json.dumps(resp.json_body["errors"])


def test_only_admins_create_marketplace_codes(api, seller, admin):
    assert code(api, seller, {"code": "ALL5", "kind": "percent", "value": 5}, admin=True).status_code == 403
    resp = code(api, admin, {"code": "ALL5", "kind": "percent", "value": 5}, admin=True)
    assert resp.status_code == 201 and resp.json_body["funded_by"] == "marketplace"


def test_error_on_a_cursor_of_another_listing_or_issuer(api, seller, other_seller, admin):
    for name in ("A1", "A2"):
        code(api, other_seller, {"code": f"OTHER{name}", "kind": "percent", "value": 5})
        code(api, admin, {"code": f"MP{name}", "kind": "percent", "value": 5}, admin=True)
    others = _call(api, "get", "/seller/promo-codes?limit=1", other_seller).json_body["next_cursor"]
    marketplace = _call(api, "get", "/admin/promo-codes?limit=1", admin).json_body["next_cursor"]
    feeds = encode_cursor({"PK": f"IMPORT#{seller.id}", "SK": "IMPORT", "GSI4PK": "x", "GSI4SK": "y"})
    listing = encode_cursor({"a": "2026-12-05T09:53:39.097Z#p1", "f": "508a0e6c2544"})  # a catalog cursor
    for path, user, cursor in [("/seller/promo-codes", seller, others), ("/seller/promo-codes", seller, marketplace),
                               ("/seller/promo-codes", seller, feeds), ("/seller/promo-codes", seller, listing),
                               ("/admin/promo-codes", admin, others), ("/admin/promo-codes", admin, listing)]:
        resp = _call(api, "get", f"{path}?cursor={cursor}", user)
        assert resp.status_code == 422, (path, resp.body)
        assert resp.json_body["errors"][0]["field"] == "cursor"
    page = _call(api, "get", f"/seller/promo-codes?limit=1&cursor={others}", other_seller).json_body
    assert [c["code"] for c in page["items"]] == ["OTHERA2"]  # its own cursor still pages


# --- quote and checkout ---------------------------------------------------------------------------


def test_quote_shows_what_checkout_charges_with_seller_and_marketplace_codes(api, shopper, seller, other_seller,
                                                                            admin):
    code(api, seller, {"code": "BOOTS10", "kind": "percent", "value": 10})
    code(api, admin, {"code": "ALL300", "kind": "fixed", "value": 300}, admin=True)
    a = f.put_product(f.product(seller.id, price=999, stock=5))
    b = f.put_product(f.product(other_seller.id, price=2000, stock=5))
    shopper.add(a["product_id"], 1)
    shopper.add(b["product_id"], 1)
    delivery = {seller.id: "courier", other_seller.id: "courier"}
    q = quote(shopper, {"promo_codes": ["boots10", "all300"], "delivery": delivery})
    assert q.status_code == 200, q.body
    carts = {c["seller_id"]: c for c in q.json_body["carts"]}
    # 10 % of 9.99 rounds down to 0.99; 300 spread over 900 and 2000 left: 93.1 / 206.9 -> 93 / 207
    assert carts[seller.id]["discounts"] == [
        {"code": "BOOTS10", "funded_by": "seller", "amount": f.rub(99)},
        {"code": "ALL300", "funded_by": "marketplace", "amount": f.rub(93)}]
    assert carts[other_seller.id]["discount"] == f.rub(207)
    assert carts[seller.id]["total"] == f.rub(999 - 192 + COURIER)
    total = q.json_body["total"]["amount"]
    assert total == 999 + 2000 - 99 - 300 + 2 * COURIER and q.json_body["rejected"] == []

    placed = checkout(shopper, delivery, ["BOOTS10", "ALL300"], expected_total=total)
    assert placed.status_code == 201, placed.body
    orders = {o["seller_id"]: o for o in placed.json_body["orders"]}
    assert orders[seller.id]["discount"] == f.rub(192) and orders[seller.id]["total"] == carts[seller.id]["total"]
    assert placed.json_body["totals"] == [{"amount": total, "currency": "RUB"}]
    uses = {c["code"]: c["uses"] for c in _call(api, "get", "/seller/promo-codes", seller).json_body["items"]}
    assert uses == {"BOOTS10": 1}
    assert _call(api, "get", "/admin/promo-codes/all300", admin).json_body["uses"] == 1


def test_quote_names_the_reason_of_every_code_that_does_not_apply(api, shopper, seller, other_seller, register):
    code(api, seller, {"code": "MIN", "kind": "fixed", "value": 100, "min_subtotal": 100_000})
    code(api, seller, {"code": "GONE", "kind": "fixed", "value": 100, "max_uses": 1})
    code(api, seller, {"code": "LATER", "kind": "fixed", "value": 100, "starts_at": "2099-01-01T00:00:00Z"})
    code(api, other_seller, {"code": "HATS", "kind": "fixed", "value": 100})
    code(api, seller, {"code": "OVER", "kind": "fixed", "value": 100})
    _call(api, "patch", "/seller/promo-codes/OVER", seller, {"ended": True})
    p = f.put_product(f.product(seller.id, price=5000, stock=50))
    first = f.Shopper(api, register("customer"))
    first.add(p["product_id"])
    assert checkout(first, {seller.id: "courier"}, ["gone"]).status_code == 201
    shopper.add(p["product_id"])
    q = quote(shopper, {"promo_codes": ["MIN", "GONE", "LATER", "HATS", "NOSUCH", "OVER"]})
    assert q.status_code == 200, q.body
    reasons = {r["code"]: r["reason"] for r in q.json_body["rejected"]}
    assert reasons == {"MIN": "below_minimum", "GONE": "exhausted", "LATER": "not_yet_valid",
                       "HATS": "not_for_this_cart", "NOSUCH": "unknown", "OVER": "ended"}
    assert q.json_body["carts"][0]["total"] == f.rub(5000)  # nothing applied, no delivery chosen


@pytest.mark.parametrize("codes, reason", [
    (["NOSUCH"], "unknown"), (["HATS"], "not_for_this_cart"), (["MIN"], "below_minimum"),
    (["TWO", "ONE"], "one_code_per_seller"),
])
def test_checkout_refuses_a_code_that_does_not_apply_and_charges_nothing(api, shopper, seller, other_seller,
                                                                         codes, reason):
    code(api, seller, {"code": "MIN", "kind": "fixed", "value": 100, "min_subtotal": 100_000})
    code(api, seller, {"code": "ONE", "kind": "fixed", "value": 100})
    code(api, seller, {"code": "TWO", "kind": "fixed", "value": 100})
    code(api, other_seller, {"code": "HATS", "kind": "fixed", "value": 100})
    p = f.put_product(f.product(seller.id, price=5000, stock=3))
    shopper.add(p["product_id"])
    resp = checkout(shopper, {seller.id: "courier"}, codes)
    assert resp.status_code == 409, resp.body
    assert resp.json_body["type"].endswith("/problems/promo-code-rejected")
    assert reason in [c["reason"] for c in resp.json_body["codes"]]
    assert f.stock_of(p["product_id"]) == 3 and shopper.cart().json_body["line_count"] == 1
    assert not shopper.get("/orders").json_body["items"]
    assert {c["code"]: c["uses"] for c in _call(api, "get", "/seller/promo-codes", seller).json_body["items"]} == {
        "MIN": 0, "ONE": 0, "TWO": 0}


def test_error_on_a_code_twice_or_a_discount_set_by_the_body(api, shopper, seller):
    code(api, seller, {"code": "ONE", "kind": "fixed", "value": 100})
    p = f.put_product(f.product(seller.id, price=5000, stock=3))
    shopper.add(p["product_id"])
    twice = checkout(shopper, {seller.id: "courier"}, ["ONE", "one"])
    assert twice.status_code == 422 and "promo_codes" in twice.body.decode()
    forged = checkout(shopper, {seller.id: "courier"}, ["ONE"], discount=5000)
    assert forged.status_code == 422 and "discount" in forged.body.decode()
    assert f.stock_of(p["product_id"]) == 3


def test_expected_total_is_the_discounted_total(api, shopper, seller):
    code(api, seller, {"code": "HALF", "kind": "percent", "value": 50})
    p = f.put_product(f.product(seller.id, price=5000, stock=3))
    shopper.add(p["product_id"])
    wrong = checkout(shopper, {seller.id: "courier"}, ["HALF"], expected_total=5000 + COURIER)
    assert wrong.status_code == 409 and wrong.json_body["total"] == f.rub(2500 + COURIER)
    assert checkout(shopper, {seller.id: "courier"}, ["HALF"], expected_total=2500 + COURIER).status_code == 201


def test_per_customer_limit(api, shopper, seller):
    code(api, seller, {"code": "ONCE", "kind": "fixed", "value": 100, "max_uses_per_customer": 1})
    p = f.put_product(f.product(seller.id, price=5000, stock=3))
    shopper.add(p["product_id"])
    assert checkout(shopper, {seller.id: "courier"}, ["ONCE"]).status_code == 201
    shopper.add(p["product_id"])
    again = checkout(shopper, {seller.id: "courier"}, ["ONCE"])
    assert again.status_code == 409 and again.json_body["codes"][0]["reason"] == "customer_limit_reached"


# --- cancellation gives the use back; the ledger books who pays -----------------------------------


def _cancel(order_id):
    orders_store.transition(order_id, from_statuses={"AWAITING_PAYMENT", "PAID"}, to_status="CANCELLED",
                            event={"type": "cancelled", "actor": "test"})
    steps.cancelled(StepEvent(step="cancelled", order_id=order_id))


def test_a_cancelled_order_gives_its_use_back_exactly_once(api, shopper, seller, register):
    code(api, seller, {"code": "ONLY1", "kind": "fixed", "value": 100, "max_uses": 1})
    p = f.put_product(f.product(seller.id, price=5000, stock=None))  # factory products have no listing items
    shopper.add(p["product_id"])
    placed = checkout(shopper, {seller.id: "courier"}, ["ONLY1"]).json_body["orders"][0]
    other = f.Shopper(api, register("customer"))
    other.add(p["product_id"])
    assert checkout(other, {seller.id: "courier"}, ["ONLY1"]).json_body["codes"][0]["reason"] == "exhausted"
    _cancel(placed["order_id"])
    steps.cancelled(StepEvent(step="cancelled", order_id=placed["order_id"]))  # a retried step
    assert _call(api, "get", "/seller/promo-codes/ONLY1", seller).json_body["uses"] == 0
    assert checkout(other, {seller.id: "courier"}, ["ONLY1"]).status_code == 201
    assert _call(api, "get", "/seller/promo-codes/ONLY1", seller).json_body["uses"] == 1


def test_marketplace_code_use_comes_back_only_when_every_discounted_order_is_cancelled(
        api, shopper, seller, other_seller, admin):
    code(api, admin, {"code": "MKT", "kind": "percent", "value": 10, "max_uses": 3}, admin=True)
    a = f.put_product(f.product(seller.id, price=1000, stock=None))
    b = f.put_product(f.product(other_seller.id, price=1000, stock=None))
    shopper.add(a["product_id"])
    shopper.add(b["product_id"])
    orders = checkout(shopper, {seller.id: "courier", other_seller.id: "courier"}, ["MKT"]).json_body["orders"]
    _cancel(orders[0]["order_id"])
    assert _call(api, "get", "/admin/promo-codes/MKT", admin).json_body["uses"] == 1
    _cancel(orders[1]["order_id"])
    assert _call(api, "get", "/admin/promo-codes/MKT", admin).json_body["uses"] == 0


def _earnings(seller_id):
    return ledger.seller_balance(seller_id)["earnings"]


def test_seller_code_lowers_earnings_marketplace_code_is_a_promotion_expense(api, shopper, seller, other_seller,
                                                                               admin):
    _fund(shopper.id)
    code(api, seller, {"code": "OWN", "kind": "fixed", "value": 500})
    code(api, admin, {"code": "MKT", "kind": "fixed", "value": 1000}, admin=True)
    a = f.put_product(f.product(seller.id, price=4000, stock=3))
    b = f.put_product(f.product(other_seller.id, price=4000, stock=3))
    shopper.add(a["product_id"])
    shopper.add(b["product_id"])
    orders = checkout(shopper, {seller.id: "courier", other_seller.id: "courier"}, ["OWN", "MKT"]).json_body["orders"]
    by = {o["seller_id"]: o for o in orders}
    # seller: 4000 - 500 own = 3500 left, other: 4000; 1000 spread 3500:4000 -> 467 / 533
    assert by[seller.id]["discount"] == f.rub(500 + 467) and by[other_seller.id]["discount"] == f.rub(533)
    for o in orders:
        stored = orders_store.load(o["order_id"])
        ledger.hold(o["order_id"], shopper.id, stored.total, "RUB")
        ledger.capture(o["order_id"], o["seller_id"], customer_id=shopper.id, amount=stored.total,
                       promotion=stored.marketplace_discount, seller_discount=stored.seller_discount)
    assert _earnings(seller.id) == 4000 - 500 + COURIER
    assert _earnings(other_seller.id) == 4000 + COURIER
    statement = _call(api, "get", "/seller/balance/transactions", seller).json_body["items"]
    assert statement[0]["seller_discount"] == f.rub(500) and statement[0]["marketplace_discount"] == f.rub(467)
    assert statement[0]["earnings_change"] == f.rub(4000 - 500 + COURIER)
    # a refund after capture reverses all of it, the marketplace's part back to its expense account
    ledger.refund_capture(by[other_seller.id]["order_id"], customer_id=shopper.id, seller_id=other_seller.id,
                          amount=orders_store.load(by[other_seller.id]["order_id"]).total, currency="RUB",
                          promotion=533)
    assert _earnings(other_seller.id) == 0


def _fund(customer_id: str) -> None:
    """Money on the customer's wallet through the ledger's own top-up (a sandbox charge)."""
    from chalicelib.services.payments import Charge

    ledger.record_topup(f"topup:{customer_id}", customer_id, 10**6, "RUB",
                        Charge(id="ch_1", provider="sandbox", last4="4242"))


def test_emails_and_order_show_the_discount(api, shopper, seller):
    from chalicelib.notify import emails
    from chalicelib.services import notifications

    code(api, seller, {"code": "OWN", "kind": "fixed", "value": 500})
    p = f.put_product(f.product(seller.id, price=4000, stock=3))
    shopper.add(p["product_id"])
    order = checkout(shopper, {seller.id: "courier"}, ["OWN"]).json_body["orders"][0]
    assert order["discounts"] == [{"code": "OWN", "funded_by": "seller", "amount": f.rub(500)}]
    detail = shopper.get(f"/orders/{order['order_id']}").json_body
    assert detail["discount"] == f.rub(500) and detail["total"] == f.rub(3500 + COURIER)
    context = notifications.order_context(orders_store.load(order["order_id"]))
    assert context["discounts"] == [{"code": "OWN", "amount": 500}]
    for lang, word in (("en", "Discount (OWN)"), ("ru", "Скидка (OWN)")):
        mail = emails.render_email("order_placed", lang, {"order": context})
        assert word in mail.text and word in mail.html
