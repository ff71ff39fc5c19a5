"""Carts over the real routes on moto: one cart per seller, caps, stock, flags, isolation."""

import pytest

from chalicelib.domain import cart as cart_rules
from tests.support import factories as f


@pytest.fixture
def seller(register):
    user = register("seller")
    f.put_shop(f.shop(user.id, name="Boots & Co"))
    return user


@pytest.fixture
def shopper(api, register):
    return f.Shopper(api, register("customer"))


def test_adding_the_same_product_sums_quantities(shopper, seller):
    p = f.put_product(f.product(seller.id, price=1500, stock=10))
    assert shopper.add(p["product_id"], 2).status_code == 200
    resp = shopper.add(p["product_id"], 3)
    assert resp.status_code == 200
    assert resp.json_body["quantity"] == 5
    cart = shopper.cart().json_body
    assert cart["line_count"] == 1
    assert cart["carts"][0]["lines"][0]["quantity"] == 5
    assert cart["carts"][0]["lines"][0]["line_total"] == f.rub(7500)


def test_cart_is_grouped_by_seller_with_subtotals_delivery_and_total(api, register, shopper, seller):
    other = register("seller")
    f.put_shop(f.shop(other.id, name="Hats", methods=[{"id": "post", "name": "Post", "price": 20000, "days": 7}]))
    a = f.put_product(f.product(seller.id, price=1000))
    b = f.put_product(f.product(seller.id, price=250, stock=None))
    c = f.put_product(f.product(other.id, price=4000))
    for product, qty in ((a, 2), (c, 1), (b, 4)):
        assert shopper.add(product["product_id"], qty).status_code == 200
    cart = shopper.cart().json_body
    by_seller = {x["seller_id"]: x for x in cart["carts"]}
    assert set(by_seller) == {seller.id, other.id}
    assert by_seller[seller.id]["seller_name"] == "Boots & Co"
    assert by_seller[seller.id]["subtotal"] == f.rub(2 * 1000 + 4 * 250)
    assert [m["id"] for m in by_seller[seller.id]["delivery_methods"]] == ["courier", "pickup"]
    assert by_seller[other.id]["delivery_methods"] == [{"id": "post", "name": "Post", "price": f.rub(20000),
                                                        "days": 7, "price_seen": f.rub(20000), "issues": []}]
    assert by_seller[other.id]["subtotal"] == f.rub(4000)
    assert cart["total"] == {"amount": 7000, "currency": "RUB"}
    unlimited = next(x for x in by_seller[seller.id]["lines"] if x["product_id"] == b["product_id"])
    assert (unlimited["available"], unlimited["available_quantity"]) == (True, None)


def test_put_sets_and_delete_removes_a_line(shopper, seller):
    p = f.put_product(f.product(seller.id))
    q = f.put_product(f.product(seller.id))
    shopper.add(p["product_id"], 5)
    assert shopper.set(p["product_id"], 2).json_body["quantity"] == 2
    assert shopper.set(q["product_id"], 1).status_code == 200  # PUT creates a missing line
    assert shopper.remove(p["product_id"]).status_code == 204
    assert shopper.remove(p["product_id"]).status_code == 204  # removing an absent line is fine
    lines = shopper.cart().json_body["carts"][0]["lines"]
    assert [(x["product_id"], x["quantity"]) for x in lines] == [(q["product_id"], 1)]


def test_delete_cart_empties_every_seller_cart(api, register, shopper, seller):
    other = register("seller")
    f.put_shop(f.shop(other.id))
    shopper.add(f.put_product(f.product(seller.id))["product_id"])
    shopper.add(f.put_product(f.product(other.id))["product_id"])
    assert shopper.clear().status_code == 204
    assert shopper.cart().json_body == {"carts": [], "line_count": 0, "totals": [], "total": None}


def test_error_on_more_than_the_stock_tells_what_is_available(shopper, seller):
    p = f.put_product(f.product(seller.id, stock=4))
    shopper.add(p["product_id"], 3)
    resp = shopper.add(p["product_id"], 2)
    assert resp.status_code == 409
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert (resp.json_body["available"], resp.json_body["in_cart"], resp.json_body["requested"]) == (4, 3, 5)
    assert shopper.set(p["product_id"], 5).status_code == 409
    assert shopper.cart().json_body["carts"][0]["lines"][0]["quantity"] == 3


def test_error_on_unknown_or_deactivated_product(shopper, seller):
    off = f.put_product(f.product(seller.id, available=False))
    unknown = shopper.add("p-no-such-product")
    assert unknown.status_code == 422
    assert unknown.json_body["errors"][0]["field"] == "product_id"
    assert shopper.set("p-no-such-product", 1).status_code == 404
    resp = shopper.add(off["product_id"])
    assert resp.status_code == 409
    assert "not available" in resp.json_body["detail"]
    assert shopper.cart().json_body["line_count"] == 0


BAD_QUANTITIES = [0, -1, 2.5, 2.0, "2", True, None, 1000, 10**20]
SERVER_OWNED = ["price", "seller_id", "total", "status", "price_seen", "delivery_seen"]


def test_error_on_bad_quantity(shopper, seller):
    # one moto stack for every case: the cases are cheap, the fixture is not
    p = f.put_product(f.product(seller.id, stock=None))
    for quantity in BAD_QUANTITIES:
        resp = shopper.add(p["product_id"], quantity)
        assert resp.status_code == 422, quantity
        assert resp.json_body["errors"][0]["field"] == "quantity", quantity
        assert shopper.set(p["product_id"], quantity).status_code == 422, quantity
    assert shopper.cart().json_body["line_count"] == 0


def test_error_on_body_setting_server_owned_fields(shopper, seller):
    p = f.put_product(f.product(seller.id))
    for field in SERVER_OWNED:
        resp = shopper._call("post", "/cart/items", {"product_id": p["product_id"], "quantity": 1, field: 1})
        assert resp.status_code == 422, field
        assert resp.json_body["errors"][0]["field"] == field
    assert shopper.cart().json_body["line_count"] == 0


def test_error_on_line_total_above_the_per_line_cap(shopper, seller):
    p = f.put_product(f.product(seller.id, stock=None))
    shopper.add(p["product_id"], cart_rules.MAX_QUANTITY)
    resp = shopper.add(p["product_id"], 1)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "quantity"


def test_error_on_too_many_lines(shopper, seller, monkeypatch):
    monkeypatch.setattr(cart_rules, "MAX_LINES", 2)
    products = [f.put_product(f.product(seller.id)) for _ in range(3)]
    assert shopper.add(products[0]["product_id"]).status_code == 200
    assert shopper.add(products[1]["product_id"]).status_code == 200
    resp = shopper.add(products[2]["product_id"])
    assert resp.status_code == 422
    assert "at most 2 lines" in resp.json_body["detail"]
    assert shopper.add(products[0]["product_id"]).status_code == 200  # an existing line still grows


def test_cart_flags_dearer_unavailable_and_short_lines(shopper, seller):
    dearer = f.put_product(f.product(seller.id, offer="d", price=1000))
    gone = f.put_product(f.product(seller.id, offer="g", price=500))
    short = f.put_product(f.product(seller.id, offer="s", stock=5))
    for p in (dearer, gone, short):
        shopper.add(p["product_id"], 3)
    f.put_product({**dearer, "price": 1200})
    f.put_product({**gone, "available": False})
    f.put_product({**short, "stock": 2})
    cart = shopper.cart().json_body["carts"][0]
    issues = {x["product_id"]: x["issues"] for x in cart["lines"]}
    assert issues == {dearer["product_id"]: ["price_increased"], gone["product_id"]: ["unavailable"],
                      short["product_id"]: ["not_enough_stock"]}
    line = next(x for x in cart["lines"] if x["product_id"] == dearer["product_id"])
    assert (line["price"], line["price_seen"], line["line_total"]) == (f.rub(1200), f.rub(1000), f.rub(3600))
    assert cart["subtotal"] == f.rub(3600 + 3 * short["price"])  # the unavailable line is not counted
    assert cart["has_issues"] is True
    availability = {x["product_id"]: (x["available"], x["available_quantity"]) for x in cart["lines"]}
    assert availability[gone["product_id"]] == (False, 0)
    assert availability[short["product_id"]] == (True, 2)
    shopper.set(dearer["product_id"], 3)  # touching the line acknowledges the new price
    cart = shopper.cart().json_body["carts"][0]
    assert next(x for x in cart["lines"] if x["product_id"] == dearer["product_id"])["issues"] == []


def test_a_sold_out_line_shows_available_false(api, shopper, seller):
    p = f.put_product(f.product(seller.id, stock=3))
    shopper.add(p["product_id"], 1)
    f.put_product({**p, "stock": 0})
    (line,) = shopper.cart().json_body["carts"][0]["lines"]
    assert (line["available"], line["available_quantity"]) == (False, 0)
    assert api.http.get(f"/products/{p['product_id']}").json_body["available"] is False  # as the product page says


def test_cart_flags_dearer_and_new_delivery_methods_until_a_line_is_touched(api, shopper, seller):
    """A line records the seller's delivery prices as the customer saw them; GET /cart compares
    each method with the most recently touched line of that seller."""
    first = f.put_product(f.product(seller.id))
    second = f.put_product(f.product(seller.id))
    added = shopper.add(first["product_id"]).json_body
    assert added["delivery_seen"] == {"courier": f.rub(35000), "pickup": f.rub(0)}
    f.put_shop(f.shop(seller.id, methods=[{"id": "courier", "name": "Courier", "price": 39000, "days": 2},
                                          {"id": "pickup", "name": "Pickup", "price": 0, "days": 1},
                                          {"id": "drone", "name": "Drone", "price": 100, "days": 1}]))
    methods = {m["id"]: m for m in shopper.cart().json_body["carts"][0]["delivery_methods"]}
    assert {k: (m["price"], m["price_seen"], m["issues"]) for k, m in methods.items()} == {
        "courier": (f.rub(39000), f.rub(35000), ["price_increased"]), "pickup": (f.rub(0), f.rub(0), []),
        "drone": (f.rub(100), None, ["not_seen"])}
    shopper.add(second["product_id"])  # the seller's newest line now holds what the customer saw
    methods = shopper.cart().json_body["carts"][0]["delivery_methods"]
    assert [(m["id"], m["price_seen"], m["issues"]) for m in methods] == [
        ("courier", f.rub(39000), []), ("pickup", f.rub(0), []), ("drone", f.rub(100), [])]


def test_add_of_a_line_already_in_the_cart_records_the_current_prices(shopper, seller):
    p = f.put_product(f.product(seller.id, price=1000))
    shopper.add(p["product_id"])
    f.put_product({**p, "price": 900})
    f.put_shop(f.shop(seller.id, methods=[{"id": "courier", "name": "Courier", "price": 1, "days": 2}]))
    line = shopper.add(p["product_id"]).json_body
    assert (line["quantity"], line["price_seen"], line["delivery_seen"]) == (2, f.rub(900), {"courier": f.rub(1)})


def test_blocked_seller_lines_are_unavailable(shopper, seller):
    p = f.put_product(f.product(seller.id))
    shopper.add(p["product_id"])
    f.put_shop(f.shop(seller.id, blocked=True))
    assert shopper.cart().json_body["carts"][0]["lines"][0]["issues"] == ["unavailable"]


def test_customers_never_see_each_other_carts(api, register, shopper, seller):
    p = f.put_product(f.product(seller.id))
    shopper.add(p["product_id"], 2)
    stranger = f.Shopper(api, register("customer"))
    assert stranger.cart().json_body["line_count"] == 0
    assert stranger.remove(p["product_id"]).status_code == 204
    assert stranger.clear().status_code == 204
    assert shopper.cart().json_body["carts"][0]["lines"][0]["quantity"] == 2


def test_error_on_cart_without_customer_login(api, seller):
    assert api.http.get("/cart").status_code == 401
    assert api.http.get("/cart", headers=seller.headers).status_code == 403
