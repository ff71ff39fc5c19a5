"""Stock that imports and checkouts change at once, and products that sell out.

- A checkout landing between the import's read of a product and its write is never
  overwritten: the re-import's stock is the feed's count less every reservation, including
  that one (before, the import's Put restored the stock the checkout had taken and lost its
  reservation: an oversell).
- A product whose stock reaches 0 through checkouts is ``available: false`` in listings (all,
  seller, category), on its page and in search, and comes back when a cancellation returns
  the stock.
"""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.services import checkout as checkout_service
from chalicelib.store import catalog
from tests.functional.feed_support import Feeds, offer, yml
from tests.support import factories as f
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def feed(count: int, price: str = "1000", name: str = "Палатка походная") -> bytes:
    return yml(offer("tent", name, price, extra=f"<count>{count}</count>"))


def product_item(pid: str) -> dict:
    return catalog.batch_get_products([pid])[pid]


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


def test_a_checkout_between_the_imports_read_and_write_keeps_its_reservation(flow, feeds, monkeypatch):
    seller = feeds.seller()
    feeds.drop(seller.id, feed(10))
    (product,) = feeds.products(seller=seller.id)
    pid = product["product_id"]
    customer = flow.customer()
    shopper = f.Shopper(flow.api, customer)
    assert shopper.add(pid, 3).status_code == 200

    real_read, placed = catalog.batch_get_products, []

    def read_then_checkout(product_ids):
        seen = real_read(product_ids)
        if pid in seen and not placed:  # the import has read the product: a checkout lands now
            placed.append("running")  # (the checkout reads products too)
            placed.append(checkout_service.checkout(
                customer_id=customer.id, checkout_id=uuid.uuid4().hex, delivery={seller.id: "courier"},
                address=dict(f.ADDRESS), payment_method="wallet"))
        return seen

    monkeypatch.setattr(catalog, "batch_get_products", read_then_checkout)
    record = feeds.drop(seller.id, feed(20, name="Палатка походная 2-местная"))
    monkeypatch.undo()
    assert record["status"] == "succeeded", record
    assert placed, "the checkout did not run inside the import"

    item = product_item(pid)
    assert item["name"] == "Палатка походная 2-местная"  # the import did write the product
    assert item["reserved"] == 3
    assert item["stock"] == 17  # the warehouse's 20 less the 3 units sold during the import


def test_a_deactivation_racing_a_checkout_keeps_the_reservation(flow, feeds, monkeypatch):
    seller = feeds.seller()
    feeds.drop(seller.id, yml(offer("tent", "Палатка", extra="<count>5</count>") +
                              offer("mat", "Коврик", extra="<count>5</count>")))
    pid = next(p["product_id"] for p in feeds.products(seller=seller.id) if p["name"] == "Палатка")
    customer = flow.customer()
    assert f.Shopper(flow.api, customer).add(pid, 2).status_code == 200

    real_read, placed = catalog.batch_get_products, []

    def read_then_checkout(product_ids):
        seen = real_read(product_ids)
        if pid in seen and not placed:
            placed.append("running")
            placed.append(checkout_service.checkout(
                customer_id=customer.id, checkout_id=uuid.uuid4().hex, delivery={seller.id: "courier"},
                address=dict(f.ADDRESS), payment_method="wallet"))
        return seen

    monkeypatch.setattr(catalog, "batch_get_products", read_then_checkout)
    record = feeds.drop(seller.id, yml(offer("mat", "Коврик", extra="<count>5</count>")))  # the tent is gone
    monkeypatch.undo()
    assert record["status"] == "succeeded", record
    assert placed
    item = product_item(pid)
    assert item["available"] is False
    assert (item["stock"], item["reserved"]) == (3, 2)


def listed(flow, path: str, pid: str) -> dict | None:
    items, cursor = [], None
    while True:
        resp = flow.api.http.get(path + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status_code == 200, resp.body
        items += resp.json_body["items"]
        cursor = resp.json_body.get("next_cursor")
        if not cursor:
            return next((i for i in items if i["product_id"] == pid), None)


def everywhere(flow, seller_id: str, pid: str, category: str) -> dict[str, object]:
    """What each place a shopper looks shows for the product: its ``available`` flag, or None
    where it is not listed."""
    out: dict[str, object] = {}
    for name, path in (("all", "/products?limit=100"), ("all_available", "/products?available=true&limit=100"),
                       ("seller_available", f"/products?seller={seller_id}&available=true"),
                       ("category_available", f"/products?category={category}&available=true"),
                       ("search", "/search?q=" + "спальник" + "&limit=50")):
        hit = listed(flow, path, pid)
        out[name] = None if hit is None else hit["available"]
    out["page"] = flow.api.http.get(f"/products/{pid}").json_body["available"]
    return out


def test_a_sold_out_product_is_unavailable_everywhere_until_stock_returns(flow, feeds):
    seller = feeds.seller()
    feeds.drop(seller.id, yml(offer("bag", "Спальник зимний", "2500", extra="<count>2</count>")))
    (product,) = feeds.products(seller=seller.id)
    pid, category = product["product_id"], product["category"]["id"]
    assert set(everywhere(flow, seller.id, pid, category).values()) == {True}

    buyer = flow.customer(balance=1_000_000)
    shopper = f.Shopper(flow.api, buyer)
    assert shopper.add(pid, 2).status_code == 200
    resp = shopper.checkout(f.checkout_body({seller.id: "courier"}))
    assert resp.status_code == 201, resp.body
    (order,) = resp.json_body["orders"]

    assert everywhere(flow, seller.id, pid, category) == {
        "all": False, "all_available": None, "seller_available": None, "category_available": None,
        "search": False, "page": False}
    late = f.Shopper(flow.api, flow.customer())
    assert late.add(pid, 1).status_code == 409  # and nobody can put it in a cart

    flow.wait_parked(order["order_id"], "seller")
    assert flow.post(f"/orders/{order['order_id']}/cancel", buyer).status_code == 200
    wait_until(lambda: f.stock_of(pid) == 2, 20, "the cancelled order's units to return")
    # the listings follow the stock in a second write of the same workflow step (sync_availability)
    wait_until(lambda: set(everywhere(flow, seller.id, pid, category).values()) == {True}, 20,
               "the product to be listed as available everywhere again")


def test_a_re_import_with_no_stock_left_lists_the_product_as_unavailable(flow, feeds):
    seller = feeds.seller()
    feeds.drop(seller.id, feed(3))
    (product,) = feeds.products(seller=seller.id)
    feeds.drop(seller.id, feed(0, name="Палатка (нет в наличии)"))
    assert listed(flow, f"/products?seller={seller.id}&available=true", product["product_id"]) is None
    assert listed(flow, f"/products?seller={seller.id}&available=false", product["product_id"])["available"] is False
    page = flow.api.http.get(f"/products/{product['product_id']}").json_body
    assert page["available"] is False
    assert json.loads(json.dumps(page))["stock"] == 0


def test_a_feed_imported_right_after_a_shipment_counts_the_shipped_units_once(flow, feeds):
    """The seller ships 2 of 5; the warehouse now holds 3 and the next feed says so. The units
    leave ``reserved`` with the ship decision itself, not later in the workflow, so a feed
    imported in between does not subtract them a second time."""
    seller = feeds.seller()
    feeds.drop(seller.id, feed(5))
    (product,) = feeds.products(seller=seller.id)
    pid = product["product_id"]
    customer = flow.customer(balance=1_000_000)
    shopper = f.Shopper(flow.api, customer)
    assert shopper.add(pid, 2).status_code == 200
    resp = shopper.checkout(f.checkout_body({seller.id: "courier"}))
    assert resp.status_code == 201, resp.body
    oid = resp.json_body["orders"][0]["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_parked(oid, "shipment")

    assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 200
    assert (product_item(pid)["stock"], product_item(pid)["reserved"]) == (3, 0)
    feeds.drop(seller.id, feed(3, name="Палатка (после отгрузки)"))  # before the workflow's shipment step
    item = product_item(pid)
    assert (item["stock"], item.get("reserved", 0)) == (3, 0)


def test_a_sold_out_product_whose_relisting_failed_still_shows_unavailable(flow, feeds, monkeypatch):
    """The follow-up that moves a sold-out product to the unavailable listings fails (a
    throttle): the order stands, and listings still say what the stock says."""
    from chalicelib.errors import Unavailable

    seller = feeds.seller()
    feeds.drop(seller.id, feed(1))
    (product,) = feeds.products(seller=seller.id)
    pid = product["product_id"]

    def throttled(product_ids):
        raise Unavailable("the store kept throttling; retry shortly")

    monkeypatch.setattr(catalog, "relist_sold_out", throttled)
    buyer = f.Shopper(flow.api, flow.customer())
    assert buyer.add(pid, 1).status_code == 200
    assert buyer.checkout(f.checkout_body({seller.id: "courier"})).status_code == 201
    monkeypatch.undo()

    assert listed(flow, f"/products?seller={seller.id}&available=true", pid) is None
    assert listed(flow, f"/products?seller={seller.id}", pid)["available"] is False
    assert listed(flow, "/products?available=true&limit=100", pid) is None
