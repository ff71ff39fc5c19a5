"""Cart view and checkout planning: pure rules, no IO."""

import dataclasses

import pytest

from chalicelib.domain import cart as c
from chalicelib.domain.catalog import Product
from chalicelib.domain.ledger import MAX_AMOUNT
from chalicelib.errors import CartChanged, OutOfStock, ValidationFailed
from tests.support.factories import product, shop


def line(p, qty, seen=None, added="2025-01-01T00:00:00Z"):
    return c.CartLine(customer_id="u1", product_id=p["product_id"], seller_id=p["seller_id"], quantity=qty,
                      price_seen=p["price"] if seen is None else seen, added_at=added)


def records(*items):
    """Products as the store reads them (``domain.catalog.Product``), by id."""
    return {p["product_id"]: Product.from_item(p) for p in items}


def plan(lines, products, shops, delivery):
    return c.plan_checkout(checkout_id="c1", customer_id="u1", lines=lines,
                           products=records(*products), shops=shops, delivery=delivery,
                           address={"city": "X"}, payment_method="wallet", now_iso="2025-01-02T00:00:00Z",
                           now_ms=1)


def test_caps_fit_a_whole_checkout_in_one_transaction():
    assert c.transact_items(c.MAX_LINES, c.MAX_LINES) <= c.TRANSACT_MAX_ITEMS
    assert c.transact_items(c.MAX_LINES + 1, c.MAX_LINES + 1) > c.TRANSACT_MAX_ITEMS


def test_view_groups_by_seller_in_the_order_lines_were_added():
    a, b, d = product("s1", price=100), product("s2", price=50), product("s1", price=10, stock=None)
    view = c.cart_view([line(a, 2, added="1"), line(b, 1, added="2"), line(d, 3, added="3")],
                       records(a, b, d), {"s1": shop("s1"), "s2": shop("s2")})
    assert [x["seller_id"] for x in view["carts"]] == ["s1", "s2"]
    assert [x["product_id"] for x in view["carts"][0]["lines"]] == [a["product_id"], d["product_id"]]
    assert view["carts"][0]["subtotal"] == 230
    assert view["total"] == {"amount": 280, "currency": "RUB"}


def test_view_of_a_product_that_vanished_is_an_unavailable_line():
    a = product("s1")
    view = c.cart_view([line(a, 1)], {}, {"s1": shop("s1")})
    entry = view["carts"][0]["lines"][0]
    assert (entry["issues"], entry["price"], entry["line_total"], entry["available"]) == (["unavailable"], None,
                                                                                         None, 0)
    assert view["carts"][0]["subtotal"] == 0


def test_plan_makes_one_order_per_seller_at_current_prices():
    a, b = product("s1", price=100, stock=5), product("s2", price=70, stock=None)
    lines = [line(a, 2, seen=90, added="1"), line(b, 1, added="2")]
    orders, reservations = plan(lines, [a, b], {"s1": shop("s1"), "s2": shop("s2")}, {"s1": "courier", "s2": "pickup"})
    first, second = orders
    assert first["items"][0]["price"] == 100 and first["items_total"] == 200
    assert first["total"] == 200 + 35000 and second["total"] == 70
    assert [r["limited"] for r in reservations] == [True, False]
    assert first["status"] == "AWAITING_PAYMENT" and first["stock_released"] is False


@pytest.mark.parametrize(("delivery", "field"), [
    ({"s1": "courier"}, "delivery.s2"),
    ({"s1": "courier", "s2": "teleport"}, "delivery.s2"),
    ({"s1": "courier", "s2": "pickup", "s3": "pickup"}, "delivery.s3"),
])
def test_plan_names_each_delivery_problem(delivery, field):
    a, b = product("s1"), product("s2")
    with pytest.raises(ValidationFailed) as err:
        plan([line(a, 1), line(b, 1)], [a, b], {"s1": shop("s1"), "s2": shop("s2")}, delivery)
    assert field in [e["field"] for e in err.value.errors]


def test_plan_lists_every_line_that_cannot_be_reserved():
    a, b, d = product("s1", stock=1), product("s1", available=False), product("s1", stock=None)
    with pytest.raises(OutOfStock) as err:
        plan([line(a, 2), line(b, 1), line(d, 5)], [a, b, d], {"s1": shop("s1")}, {"s1": "courier"})
    assert {x["product_id"]: (x["available"], x["reason"]) for x in err.value.lines} == {
        a["product_id"]: (1, "not_enough_stock"), b["product_id"]: (0, "unavailable")}


def test_plan_refuses_an_empty_cart():
    with pytest.raises(ValidationFailed) as err:
        plan([], [], {}, {"s1": "courier"})
    assert err.value.errors[0]["field"] == "cart"


# --- the customer pays what they saw ---------------------------------------------------------


def seen_line(p, qty=1, *, seen=None, delivery=None, at="2025-01-01T00:00:00Z"):
    return dataclasses.replace(line(p, qty, seen=seen, added=at), updated_at=at, delivery_seen=delivery)


def confirm(lines, products, shops, delivery, expected_total=None):
    orders, _ = plan(lines, products, shops, delivery)
    c.check_seen(orders, lines, expected_total)
    return orders


def test_unchanged_cart_passes_without_expected_total():
    a = product("s1", price=100)
    confirm([seen_line(a, 2, delivery={"courier": 35000, "pickup": 0})], [a], {"s1": shop("s1")}, {"s1": "courier"})


def test_price_rise_is_refused_with_old_and_new_and_the_total():
    a = product("s1", price=120)
    with pytest.raises(CartChanged) as err:
        confirm([seen_line(a, 2, seen=100)], [a], {"s1": shop("s1")}, {"s1": "pickup"})
    assert err.value.status == 409 and err.value.slug == "cart-changed"
    assert err.value.extra["changes"] == [{"seller_id": "s1", "product_id": a["product_id"], "kind": "price",
                                           "old": 100, "new": 120, "currency": "RUB"}]
    assert (err.value.extra["total"], err.value.extra["currency"]) == (240, "RUB")
    assert "expected_total" not in err.value.extra
    assert "expected_total=240" in err.value.detail


def test_the_problem_body_shows_the_amounts_as_money_objects():
    """The error keeps integers for code that catches it; the HTTP body shows money objects."""
    a = product("s1", price=120)
    with pytest.raises(CartChanged) as err:
        confirm([seen_line(a, 2, seen=100)], [a], {"s1": shop("s1")}, {"s1": "pickup"}, expected_total=200)
    body = err.value.problem("https://shop.example/api")
    assert body["type"] == "https://shop.example/api/problems/cart-changed"
    assert body["changes"] == [{"seller_id": "s1", "product_id": a["product_id"], "kind": "price",
                                "old": {"amount": 100, "currency": "RUB"}, "new": {"amount": 120, "currency": "RUB"},
                                "currency": "RUB"}]
    assert (body["expected_total"], body["total"]) == ({"amount": 200, "currency": "RUB"},
                                                       {"amount": 240, "currency": "RUB"})
    assert body["totals"] == [{"amount": 240, "currency": "RUB"}]
    assert err.value.extra["total"] == 240


def test_price_drop_passes_and_expected_total_equal_to_the_total_accepts_a_rise():
    cheaper, dearer = product("s1", price=80), product("s1", price=120)
    confirm([seen_line(cheaper, 1, seen=100)], [cheaper], {"s1": shop("s1")}, {"s1": "pickup"})
    confirm([seen_line(dearer, 1, seen=100)], [dearer], {"s1": shop("s1")}, {"s1": "pickup"}, expected_total=120)


def test_expected_total_other_than_the_total_is_refused_even_when_nothing_changed():
    a = product("s1", price=100)
    with pytest.raises(CartChanged) as err:
        confirm([seen_line(a)], [a], {"s1": shop("s1")}, {"s1": "pickup"}, expected_total=99)
    assert (err.value.extra["changes"], err.value.extra["expected_total"], err.value.extra["total"]) == ([], 99, 100)


def test_expected_total_counts_every_order_with_its_delivery():
    a, b = product("s1", price=100), product("s2", price=70)
    lines = [seen_line(a, 2), seen_line(b, 1)]
    shops = {"s1": shop("s1"), "s2": shop("s2")}
    confirm(lines, [a, b], shops, {"s1": "courier", "s2": "pickup"}, expected_total=200 + 35000 + 70)
    with pytest.raises(CartChanged):
        confirm(lines, [a, b], shops, {"s1": "courier", "s2": "pickup"}, expected_total=200 + 70)


def test_delivery_seen_is_the_one_of_the_sellers_latest_line():
    a, b = product("s1", price=100), product("s1", price=100)
    lines = [seen_line(a, delivery={"courier": 30000}, at="2025-01-02T00:00:00Z"),
             seen_line(b, delivery={"courier": 35000}, at="2025-01-01T00:00:00Z")]
    with pytest.raises(CartChanged) as err:
        confirm(lines, [a, b], {"s1": shop("s1")}, {"s1": "courier"})
    assert err.value.extra["changes"] == [{"seller_id": "s1", "kind": "delivery", "method_id": "courier",
                                           "old": 30000, "new": 35000, "currency": "RUB"}]
    assert c.delivery_seen(lines) == {"courier": 30000}


def test_delivery_never_seen_counts_as_risen_and_lines_without_a_record_pass():
    a = product("s1", price=100)
    with pytest.raises(CartChanged) as err:
        confirm([seen_line(a, delivery={"pickup": 0})], [a], {"s1": shop("s1")}, {"s1": "courier"})
    assert err.value.extra["changes"][0]["old"] is None
    confirm([seen_line(a)], [a], {"s1": shop("s1")}, {"s1": "courier"})  # written before delivery was recorded
    confirm([seen_line(a, delivery={"courier": 40000})], [a], {"s1": shop("s1")}, {"s1": "courier"})  # cheaper


def test_expected_total_is_refused_for_a_cart_in_several_currencies():
    a, b = product("s1", price=100), product("s2", price=70, currency="USD")
    shops = {"s1": shop("s1"), "s2": {**shop("s2"), "currency": "USD"}}
    with pytest.raises(ValidationFailed) as err:
        confirm([seen_line(a), seen_line(b)], [a, b], shops, {"s1": "pickup", "s2": "pickup"}, expected_total=170)
    assert err.value.errors[0]["field"] == "expected_total"
    confirm([seen_line(a), seen_line(b)], [a, b], shops, {"s1": "pickup", "s2": "pickup"})


@pytest.mark.parametrize(("price", "qty", "method", "refused"), [
    (MAX_AMOUNT, 1, "pickup", False),          # exactly the cap
    (MAX_AMOUNT, 2, "pickup", True),           # quantity × price over the cap
    (MAX_AMOUNT, 1, "courier", True),          # the delivery tips it over
    (10**12, 999, "courier", False),           # the dearest feed price at the largest quantity fits one line
])
def test_an_order_total_above_the_ledger_cap_is_refused(price, qty, method, refused):
    a = product("s1", price=price, stock=None)
    if not refused:
        assert plan([line(a, qty)], [a], {"s1": shop("s1")}, {"s1": method})[0][0]["total"] <= MAX_AMOUNT
        return
    with pytest.raises(ValidationFailed) as err:
        plan([line(a, qty)], [a], {"s1": shop("s1")}, {"s1": method})
    assert err.value.errors[0]["field"] == "cart.s1"


def test_two_dearest_feed_lines_overflow_one_order():
    a, b = product("s1", price=10**12, stock=None), product("s1", price=10**12, stock=None)
    with pytest.raises(ValidationFailed) as err:
        plan([line(a, 999), line(b, 999)], [a, b], {"s1": shop("s1")}, {"s1": "pickup"})
    assert err.value.errors[0]["field"] == "cart.s1"


def test_view_flags_dearer_and_unseen_delivery_methods():
    a = product("s1")
    shops = {"s1": {**shop("s1"), "delivery_methods": [{"id": "courier", "name": "C", "price": 36000, "days": 2},
                                                       {"id": "drone", "name": "D", "price": 5, "days": 1}]}}
    methods = c.cart_view([seen_line(a, delivery={"courier": 35000})], records(a), shops)["carts"][0][
        "delivery_methods"]
    assert [(m["id"], m["price"], m["price_seen"], m["issues"]) for m in methods] == [
        ("courier", 36000, 35000, ["price_increased"]), ("drone", 5, None, ["not_seen"])]
    legacy = c.cart_view([seen_line(a)], records(a), shops)["carts"][0]["delivery_methods"]
    assert [(m["price_seen"], m["issues"]) for m in legacy] == [(36000, []), (5, [])]
