"""Cart view and checkout planning: pure rules, no IO."""

import pytest

from chalicelib.domain import cart as c
from chalicelib.errors import OutOfStock, ValidationFailed

from .factories import product, shop


def line(p, qty, seen=None, added="2025-01-01T00:00:00Z"):
    return {"customer_id": "u1", "product_id": p["product_id"], "seller_id": p["seller_id"], "quantity": qty,
            "price_seen": p["price"] if seen is None else seen, "added_at": added}


def plan(lines, products, shops, delivery):
    return c.plan_checkout(checkout_id="c1", customer_id="u1", lines=lines,
                           products={p["product_id"]: p for p in products}, shops=shops, delivery=delivery,
                           address={"city": "X"}, payment_method="wallet", now_iso="2025-01-02T00:00:00Z",
                           now_ms=1)


def test_caps_fit_a_whole_checkout_in_one_transaction():
    assert c.transact_items(c.MAX_LINES, c.MAX_LINES) <= c.TRANSACT_MAX_ITEMS
    assert c.transact_items(c.MAX_LINES + 1, c.MAX_LINES + 1) > c.TRANSACT_MAX_ITEMS


def test_view_groups_by_seller_in_the_order_lines_were_added():
    a, b, d = product("s1", price=100), product("s2", price=50), product("s1", price=10, stock=None)
    view = c.cart_view([line(a, 2, added="1"), line(b, 1, added="2"), line(d, 3, added="3")],
                       {p["product_id"]: p for p in (a, b, d)}, {"s1": shop("s1"), "s2": shop("s2")})
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
    assert {x["product_id"]: (x["available"], x["reason"]) for x in err.value.extra["lines"]} == {
        a["product_id"]: (1, "not_enough_stock"), b["product_id"]: (0, "unavailable")}


def test_plan_refuses_an_empty_cart():
    with pytest.raises(ValidationFailed) as err:
        plan([], [], {}, {"s1": "courier"})
    assert err.value.errors[0]["field"] == "cart"
