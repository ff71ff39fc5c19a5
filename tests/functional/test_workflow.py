"""The order workflow end to end in-process: the real ASL executed by moto, its tasks run by the
real workflow Lambda, driven through the real routes and the real ledger. Each test is a
purchase whose outcome a customer or a seller would notice."""

from __future__ import annotations

import pytest

from chalicelib.services import ledger
from tests.support import factories as f

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def kinds(flow, user_email):
    return sorted(e["kind"] for e in flow.emails(to=user_email))


def test_paid_order_is_confirmed_by_the_seller_who_gets_the_money(flow):
    seller = flow.seller()
    customer = flow.customer(balance=100_000)
    order = flow.buy(customer, seller)
    oid, total = order["order_id"], order["total"]["amount"]
    flow.wait_parked(oid, "seller")
    assert flow.order(oid)["status"] == "PAID"
    assert flow.wallet(customer)["held"] == total
    flow.wait_email(seller.shop_email, "new_order")
    flow.wait_email(customer.email, "order_placed")

    resp = flow.post(f"/seller/orders/{oid}/confirm", seller)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CONFIRMED"  # the caller sees the decision at once
    flow.wait_event(oid, "payment_captured")
    assert flow.earnings(seller) == total
    assert flow.wallet(customer) == {"available": 100_000 - total, "held": 0, "currency": "RUB"}
    flow.wait_email(customer.email, "order_confirmed")


def test_confirmed_order_ships_and_is_received(flow):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_parked(oid, "shipment")
    assert flow.post(f"/orders/{oid}/received", customer).status_code == 409  # not shipped yet

    shipped = flow.post(f"/seller/orders/{oid}/ship", seller)
    assert shipped.status_code == 200, shipped.body
    assert shipped.json_body["status"] == "SHIPPED"
    flow.wait_email(customer.email, "order_shipped")
    flow.wait_parked(oid, "receipt")

    got = flow.post(f"/orders/{oid}/received", customer)
    assert got.status_code == 200, got.body
    assert got.json_body["status"] == "DELIVERED"
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert flow.post(f"/orders/{oid}/received", customer).json_body["status"] == "DELIVERED"  # repeat: same answer


def test_seller_cancel_returns_the_money_and_the_stock_with_two_emails(flow):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller, quantity=2)["order_id"]
    assert f.stock_of(seller.product["product_id"]) == 3
    flow.wait_parked(oid, "seller")

    resp = flow.post(f"/seller/orders/{oid}/cancel", seller)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CANCELLED"
    flow.wait_event(oid, "refund_completed")
    flow.wait_email(customer.email, "refund_completed")
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert f.stock_of(seller.product["product_id"]) == 5
    assert flow.earnings(seller) == 0
    started = flow.emails(customer.email, "order_cancelled_refund_started")[0]
    completed = flow.emails(customer.email, "refund_completed")[0]
    assert started["sent_at"] < completed["sent_at"]
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 409


def confirmed(flow, customer, seller, quantity: int = 1) -> dict:
    """A purchase the seller confirmed and got paid for, now waiting to be shipped."""
    order = flow.buy(customer, seller, quantity=quantity)
    flow.wait_parked(order["order_id"], "seller")
    assert flow.post(f"/seller/orders/{order['order_id']}/confirm", seller).status_code == 200
    flow.wait_event(order["order_id"], "payment_captured")
    flow.wait_parked(order["order_id"], "shipment")
    assert flow.earnings(seller) == order["total"]["amount"]
    return order


def statement(flow, user, path: str) -> list[str]:
    resp = flow.api.http.get(path, headers=user.headers)
    assert resp.status_code == 200, resp.body
    return [t["kind"] for t in resp.json_body["items"]]


def test_seller_cancels_a_confirmed_order_and_the_payment_comes_back(flow):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    oid = confirmed(flow, customer, seller, quantity=2)["order_id"]
    assert f.stock_of(seller.product["product_id"]) == 3

    resp = flow.post(f"/seller/orders/{oid}/cancel", seller)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CANCELLED"
    flow.wait_event(oid, "refund_completed")
    flow.wait_email(customer.email, "refund_completed")
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert f.stock_of(seller.product["product_id"]) == 5
    assert ledger.hold_state(oid) == "refunded"
    started = flow.emails(customer.email, "order_cancelled_refund_started")[0]
    assert "Продавец Boots & Co отменил заказ" in started["text"]  # the customer reads Russian
    assert started["sent_at"] < flow.emails(customer.email, "refund_completed")[0]["sent_at"]
    assert statement(flow, seller, "/seller/balance/transactions") == ["refund", "capture"]
    assert statement(flow, customer, "/wallet/transactions")[:3] == ["refund", "capture", "hold"]
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 409


def test_confirmed_order_not_shipped_in_time_is_cancelled_and_refunded(flow):
    flow.timeouts(shipment=2)
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    oid = confirmed(flow, customer, seller)["order_id"]
    cancelled = flow.wait_status(oid, "CANCELLED", timeout=20)
    assert (cancelled["cancelled_by"], cancelled["cancel_reason"]) == ("timeout", "shipment_timeout")
    assert any(e["type"] == "shipment_timeout" and e["actor"] == "timeout" for e in cancelled["timeline"])
    flow.wait_event(oid, "refund_completed")
    flow.wait_email(customer.email, "refund_completed")
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert f.stock_of(seller.product["product_id"]) == 5
    started = flow.emails(customer.email, "order_cancelled_refund_started")[0]
    assert "не отправил заказ" in started["text"]  # not "did not confirm": they did
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    late = flow.post(f"/seller/orders/{oid}/ship", seller)
    assert late.status_code == 409
    assert late.json_body["current_status"] == "CANCELLED"


def test_a_shipped_order_can_no_longer_be_cancelled(flow):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    order = confirmed(flow, customer, seller)
    oid = order["order_id"]
    assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 200
    flow.wait_parked(oid, "receipt")
    resp = flow.post(f"/seller/orders/{oid}/cancel", seller)
    assert resp.status_code == 409
    assert resp.json_body["current_status"] == "SHIPPED"
    assert flow.order(oid)["status"] == "SHIPPED"
    assert flow.earnings(seller) == order["total"]["amount"]
    assert ledger.hold_state(oid) == "captured"


def test_a_cancel_racing_the_confirmation_returns_the_money_once(flow):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    # at once: the capture may or may not have happened yet
    assert flow.post(f"/seller/orders/{oid}/cancel", seller).json_body["status"] == "CANCELLED"
    flow.wait_event(oid, "refund_completed")
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert ledger.hold_state(oid) in ("released", "refunded")
    assert f.stock_of(seller.product["product_id"]) == 5
    assert len(flow.emails(customer.email, "refund_completed")) == 1


def test_customer_short_of_funds_pays_after_a_top_up(flow):
    seller, customer = flow.seller(), flow.customer(balance=1_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "payment")
    assert flow.order(oid)["status"] == "AWAITING_PAYMENT"
    flow.wait_email(customer.email, "payment_required")

    short = flow.post(f"/orders/{oid}/pay", customer)
    assert short.status_code == 409
    assert short.json_body["title"] == "Insufficient funds"

    flow.topup(customer, 100_000)
    paid = flow.post(f"/orders/{oid}/pay", customer)
    assert paid.status_code == 200, paid.body
    assert paid.json_body["status"] == "PAID"
    flow.wait_parked(oid, "seller")
    flow.wait_email(seller.shop_email, "new_order")
    total = flow.order(oid)["total"]
    assert flow.wallet(customer) == {"available": 101_000 - total, "held": total, "currency": "RUB"}
    assert flow.post(f"/orders/{oid}/pay", customer).status_code == 200  # paying twice holds once
    assert flow.wallet(customer)["held"] == total


def test_unpaid_order_expires_and_returns_its_stock(flow):
    flow.timeouts(payment=2)
    seller, customer = flow.seller(stock=4), flow.customer()
    oid = flow.buy(customer, seller, quantity=3)["order_id"]
    assert f.stock_of(seller.product["product_id"]) == 1
    flow.wait_status(oid, "CANCELLED", timeout=20)
    flow.wait_event(oid, "stock_released")
    assert f.stock_of(seller.product["product_id"]) == 4
    flow.wait_email(customer.email, "payment_expired")
    assert "order_cancelled_refund_started" not in kinds(flow, customer.email)  # nothing was paid
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert flow.post(f"/orders/{oid}/pay", customer).status_code == 409


def test_seller_who_never_answers_is_a_cancel_with_refund(flow):
    flow.timeouts(seller=2)
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_status(oid, "CANCELLED", timeout=20)
    flow.wait_event(oid, "refund_completed")
    order = flow.order(oid)
    assert order["cancelled_by"] == "timeout"
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    flow.wait_email(customer.email, "refund_completed")
    assert ledger.hold_state(oid) == "released"


def test_customer_cancels_a_paid_order_before_the_seller_confirms(flow):
    seller, customer = flow.seller(stock=2), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    resp = flow.post(f"/orders/{oid}/cancel", customer)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CANCELLED"
    flow.wait_event(oid, "refund_completed")
    assert flow.wallet(customer)["available"] == 100_000
    assert f.stock_of(seller.product["product_id"]) == 2
    late = flow.post(f"/seller/orders/{oid}/confirm", seller)
    assert late.status_code == 409
    assert late.json_body["current_status"] == "CANCELLED"
    assert flow.earnings(seller) == 0


def test_customer_cancels_an_unpaid_order(flow):
    seller, customer = flow.seller(stock=2), flow.customer()
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "payment")
    assert flow.post(f"/orders/{oid}/cancel", customer).json_body["status"] == "CANCELLED"
    flow.wait_event(oid, "stock_released")
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert f.stock_of(seller.product["product_id"]) == 2
    assert ledger.hold_state(oid) is None


def test_customer_cannot_cancel_after_the_seller_confirmed(flow):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    flow.post(f"/seller/orders/{oid}/confirm", seller)
    resp = flow.post(f"/orders/{oid}/cancel", customer)
    assert resp.status_code == 409
    assert resp.json_body["current_status"] == "CONFIRMED"


def test_shipped_order_is_delivered_automatically_after_the_delivery_time(flow):
    flow.timeouts(delivery=2)
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    flow.post(f"/seller/orders/{oid}/confirm", seller)
    flow.wait_parked(oid, "shipment")
    flow.post(f"/seller/orders/{oid}/ship", seller)
    delivered = flow.wait_status(oid, "DELIVERED", timeout=20)
    assert delivered["timeline"][-1]["actor"] == "timeout"


def test_only_the_orders_seller_and_customer_may_act(flow):
    seller, other_seller = flow.seller(), flow.seller()
    customer, other_customer = flow.customer(balance=100_000), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", other_seller).status_code == 404
    assert flow.post(f"/orders/{oid}/cancel", other_customer).status_code == 404
    assert flow.post(f"/seller/orders/{oid}/confirm", customer).status_code == 403
    assert flow.post(f"/orders/{oid}/pay", seller).status_code == 403
    assert flow.api.http.post(f"/seller/orders/{oid}/confirm").status_code == 401
    assert flow.post("/seller/orders/o000000000000nothing0000000/confirm", seller).status_code == 404
    assert flow.order(oid)["status"] == "PAID"


def test_a_new_feed_counts_the_units_sold_but_not_yet_shipped(flow, aws, register):
    """The seller's feed counts their warehouse: units of unshipped orders are still in it and
    must not be sold twice; shipped ones have left it; cancelled ones are for sale again."""
    from tests.functional.feed_support import Feeds, offer, yml

    seller, customer = flow.seller(stock=5), flow.customer(balance=1_000_000)
    product = seller.product
    feeds = Feeds(flow.api, aws, register)

    def feed_says(stock: int, name: str) -> None:  # a changed name: the product is rewritten
        extra = f"<count>{stock}</count>"
        record = feeds.drop(seller.id, yml(offer(product["offer_id"], name, "100", extra=extra)))
        assert record["status"] == "succeeded", record

    def stock() -> int:
        return flow.api.http.get(f"/products/{product['product_id']}").json_body["stock"]

    feed_says(5, "Winter boots")
    shipped = flow.buy(customer, seller, quantity=2)["order_id"]
    flow.wait_parked(shipped, "seller")
    assert flow.post(f"/seller/orders/{shipped}/confirm", seller).status_code == 200
    flow.wait_parked(shipped, "shipment")
    assert flow.post(f"/seller/orders/{shipped}/ship", seller).status_code == 200
    flow.wait_parked(shipped, "receipt")
    pending = flow.buy(customer, seller, quantity=1)["order_id"]
    assert stock() == 2

    feed_says(3, "Winter boots v2")  # 5 − 2 shipped are in the warehouse; 1 of them is sold
    assert stock() == 2
    flow.wait_parked(pending, "seller")
    assert flow.post(f"/orders/{pending}/cancel", customer).status_code == 200
    flow.wait_event(pending, "stock_released")
    assert stock() == 3
    feed_says(3, "Winter boots v3")
    assert stock() == 3
