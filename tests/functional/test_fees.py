"""The marketplace fee, through the real routes and the real order workflow: the admin sets it,
a seller's confirmation captures the order net of it, the marketplace books it as revenue, the
order keeps the rate it was captured with, and a refund after confirmation gives it back."""

from __future__ import annotations

import pytest

from chalicelib.services import ledger
from tests.support import factories as f

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]

DELIVERY = 35_000  # the factories' courier price; the product costs 10_000


def set_fee(api, admin, body):
    import json

    return api.http.put("/admin/commission", headers=admin.headers, body=json.dumps(body))


def seller_in(flow, category: str | None):
    seller = flow.seller()
    if category:
        f.put_product({**seller.product, "category_name": category})
    return seller


def confirmed(flow, seller, customer) -> str:
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_event(oid, "payment_captured")
    return oid


def test_admin_sets_the_fee_and_reads_it_back(api, admin):
    resp = set_fee(api, admin, {"default_percent": 5, "categories": {"  Winter  Boots ": 12.5}})
    assert resp.status_code == 200, resp.body
    assert resp.json_body["default_percent"] == 5
    assert resp.json_body["categories"] == {"Winter Boots": 12.5}
    got = api.http.get("/admin/commission", headers=admin.headers).json_body
    assert got["categories"] == {"Winter Boots": 12.5} and got["updated_by"] == admin.id


@pytest.mark.parametrize(("body", "field"), [
    ({"default_percent": 100.01}, "default_percent"),
    ({"default_percent": -1}, "default_percent"),
    ({"default_percent": 1.234}, "default_percent"),
    ({"default_percent": 5, "categories": {"Books": 101}}, "categories.Books"),
    ({"default_percent": 5, "categories": {"Books": 1, "BOOKS": 2}}, "categories.BOOKS"),
    ({"default_percent": "5"}, "default_percent"),
])
def test_error_on_a_fee_the_schedule_cannot_hold_and_nothing_changes(api, admin, body, field):
    assert set_fee(api, admin, {"default_percent": 7}).status_code == 200
    resp = set_fee(api, admin, body)
    assert resp.status_code == 422, resp.body
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert field in {e["field"] for e in resp.json_body["errors"]}, resp.json_body
    assert api.http.get("/admin/commission", headers=admin.headers).json_body["default_percent"] == 7


def test_only_an_admin_sets_the_fee(api, register):
    seller = register("seller")
    assert set_fee(api, seller, {"default_percent": 50}).status_code == 403


def test_seller_earns_the_net_and_the_marketplace_books_the_fee_per_category(flow, api, admin):
    # the boots at 12.5 %, the delivery at the 5 % default: 10_000 × 12.5 % + 35_000 × 5 % = 3_000
    assert set_fee(api, admin, {"default_percent": 5, "categories": {"winter boots": 12.5}}).status_code == 200
    seller, customer = seller_in(flow, "Winter Boots"), flow.customer(balance=100_000)
    revenue = ledger.marketplace_revenue()

    oid = confirmed(flow, seller, customer)

    assert flow.earnings(seller) == 45_000 - 3_000
    assert ledger.marketplace_revenue() - revenue == 3_000
    assert flow.wallet(customer)["available"] == 100_000 - 45_000  # the customer pays the price, not the fee
    order = flow.order(oid)
    assert order["fee_amount"] == 3_000
    assert order["fee_rates"] == {seller.product["product_id"]: 1250, "delivery": 500}
    captured = next(e for e in order["timeline"] if e["type"] == "payment_captured")
    assert captured["detail"]["fee"] == 3_000


def test_fee_is_rounded_down_and_the_seller_keeps_the_remainder(flow, api, admin):
    # 45_000 × 3.33 % = 1_498.5 → 1_498 to the marketplace, 43_502 to the seller
    assert set_fee(api, admin, {"default_percent": 3.33}).status_code == 200
    seller, customer = seller_in(flow, None), flow.customer(balance=100_000)
    oid = confirmed(flow, seller, customer)
    assert flow.earnings(seller) == 43_502
    assert flow.order(oid)["fee_rate_bps"] == 333


def test_order_keeps_the_fee_it_was_captured_with_and_a_refund_gives_it_back(flow, api, admin):
    assert set_fee(api, admin, {"default_percent": 10}).status_code == 200
    seller, customer = seller_in(flow, None), flow.customer(balance=100_000)
    revenue = ledger.marketplace_revenue()
    oid = confirmed(flow, seller, customer)
    assert flow.earnings(seller) == 40_500
    assert set_fee(api, admin, {"default_percent": 50}).status_code == 200  # later orders only

    assert flow.post(f"/seller/orders/{oid}/cancel", seller).status_code == 200
    flow.wait_event(oid, "refund_completed")

    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert ledger.marketplace_revenue() == revenue
    assert flow.order(oid)["fee_amount"] == 4_500


def test_a_free_fee_changes_nothing_for_the_seller(flow, api, admin):
    assert set_fee(api, admin, {"default_percent": 0}).status_code == 200
    seller, customer = seller_in(flow, None), flow.customer(balance=100_000)
    oid = confirmed(flow, seller, customer)
    assert flow.earnings(seller) == 45_000
    assert flow.order(oid)["fee_amount"] == 0
