"""Order history over the real routes: newest first, cursors, status filters, and who may
see which order."""

import pytest

from chalicelib.domain import orders as states
from chalicelib.store import orders as store
from tests.support import factories as f


@pytest.fixture
def world(api, register):
    """Two sellers, two customers; the first customer has 3 orders (2 at seller one, newest
    last), the second customer 1 order at seller two."""
    one, two = register("seller"), register("seller")
    for s in (one, two):
        f.put_shop(f.shop(s.id))
    ann, bob = f.Shopper(api, register("customer")), f.Shopper(api, register("customer"))
    placed = []
    for shopper, seller in ((ann, one), (ann, two), (ann, one), (bob, two)):
        shopper.add(f.put_product(f.product(seller.id))["product_id"])
        resp = shopper.checkout(f.checkout_body({seller.id: "courier"}))
        assert resp.status_code == 201, resp.body
        placed.append(resp.json_body["orders"][0]["order_id"])
    return {"one": one, "two": two, "ann": ann, "bob": bob, "ann_orders": placed[:3], "bob_order": placed[3]}


def ids(resp):
    return [o["order_id"] for o in resp.json_body["items"]]


def test_customer_lists_own_orders_newest_first_with_a_cursor(world):
    ann = world["ann"]
    first = ann.get("/orders?limit=2")
    assert first.status_code == 200
    assert ids(first) == world["ann_orders"][::-1][:2]
    assert "timeline" not in first.json_body["items"][0]
    second = ann.get(f"/orders?limit=2&cursor={first.json_body['next_cursor']}")
    assert ids(second) == [world["ann_orders"][0]]
    assert second.json_body["next_cursor"] is None


def test_customer_filters_orders_by_status(world):
    ann, (o1, o2, o3) = world["ann"], world["ann_orders"]
    for oid in (o1, o3):
        store.transition(oid, from_statuses={states.AWAITING_PAYMENT}, to_status=states.PAID, event={"type": "paid"})
    assert ids(ann.get("/orders?status=PAID")) == [o3, o1]
    assert ids(ann.get("/orders?status=AWAITING_PAYMENT")) == [o2]
    page = ann.get("/orders?status=PAID&limit=1")
    assert ids(page) == [o3]
    assert ids(ann.get(f"/orders?status=PAID&limit=1&cursor={page.json_body['next_cursor']}")) == [o1]
    assert ann.get("/orders?status=LOST").status_code == 422


def test_order_detail_has_items_totals_delivery_address_and_timeline(world):
    oid = world["ann_orders"][0]
    store.add_event(oid, {"type": "email_sent", "actor": "system", "detail": {"to": "customer"}})
    order = world["ann"].get(f"/orders/{oid}").json_body
    assert order["status"] == "AWAITING_PAYMENT"
    money = (order["items_total"], order["delivery_price"], order["total"], order["items"][0]["price"],
             order["items"][0]["line_total"], order["delivery"]["price"])
    assert {m["currency"] for m in money} == {order["currency"]} == {"RUB"}  # every amount is a money object
    assert order["total"]["amount"] == order["items_total"]["amount"] + order["delivery_price"]["amount"]
    assert order["delivery"]["method_id"] == "courier"
    assert order["address"]["street"] == f.ADDRESS["street"]
    assert [e["type"] for e in order["timeline"]] == ["created", "email_sent"]
    assert "reserved" not in order["items"][0] and "stock_released" not in order


def test_customer_never_sees_another_customer_order(world):
    assert world["bob"].get(f"/orders/{world['ann_orders'][0]}").status_code == 404
    assert ids(world["bob"].get("/orders")) == [world["bob_order"]]
    assert world["ann"].get("/orders/o-does-not-exist").status_code == 404


def test_seller_sees_only_orders_of_their_shop(world):
    one, two = world["one"], world["two"]
    o1, o2, o3 = world["ann_orders"]
    resp = world["ann"].api.http.get("/seller/orders", headers=one.headers)
    assert ids(resp) == [o3, o1]
    resp = world["ann"].api.http.get("/seller/orders", headers=two.headers)
    assert ids(resp) == [world["bob_order"], o2]
    http = world["ann"].api.http
    assert http.get(f"/seller/orders/{o1}", headers=one.headers).status_code == 200
    assert http.get(f"/seller/orders/{o2}", headers=one.headers).status_code == 404
    assert http.get(f"/orders/{o1}", headers=one.headers).status_code == 403  # the customer route


def test_seller_filters_by_status_and_pages(world):
    one, (o1, _, o3) = world["one"], world["ann_orders"]
    http = world["ann"].api.http
    store.transition(o1, from_statuses={states.AWAITING_PAYMENT}, to_status=states.PAID, event={"type": "paid"})
    assert ids(http.get("/seller/orders?status=PAID", headers=one.headers)) == [o1]
    assert ids(http.get("/seller/orders?status=AWAITING_PAYMENT", headers=one.headers)) == [o3]
    page = http.get("/seller/orders?limit=1", headers=one.headers)
    assert ids(page) == [o3]
    rest = http.get(f"/seller/orders?limit=1&cursor={page.json_body['next_cursor']}", headers=one.headers)
    assert ids(rest) == [o1]


def test_error_on_forged_or_foreign_cursor(world):
    ann, bob = world["ann"], world["bob"]
    cursor = ann.get("/orders?limit=1").json_body["next_cursor"]
    assert ann.get("/orders?cursor=not-a-cursor").status_code == 422
    resp = bob.get(f"/orders?cursor={cursor}")
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "cursor"
    assert ann.get(f"/orders?cursor={cursor}&status=PAID").status_code == 200  # same index, same owner
