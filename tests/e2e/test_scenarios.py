"""The purchase scenarios of the seed documents, end to end over HTTP on the local stack:
the real API, moto executing the real state machine, its tasks run by the workflow Lambda,
emails read from the local mailbox and their links followed like a seller would.

1. successful purchase: two sellers, two carts, two orders; a seller confirms by the emailed
   link, the money moves, ships; the customer receives;
2. the seller cancels by link: the money returns, two emails (refund started, completed);
3. the customer is short of money: tops up and pays late;
4. nobody answers: the seller timeout cancels and refunds; an unpaid order expires.
"""

from __future__ import annotations

import urllib.parse

import pytest

from tests.e2e.workflow_support import Market, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def press(market: Market, url: str, action: str, **fields):
    """What the browser does on the link page: GET it, then submit its form."""
    path = urllib.parse.urlsplit(url).path
    page = market.call("GET", path)
    assert page.status_code == 200, page.text
    assert f'value="{action}"' in page.text
    return market.call("POST", path, data={"action": action, **fields})


def test_successful_purchase_with_seller_confirmation(patient_stack):
    m = Market(patient_stack)
    boots_seller, hats_seller = m.seller(name="Ботинки", price=500_000), m.seller(name="Шапка", price=120_000)
    customer = m.register("customer")
    m.top_up(customer, 1_500_000)
    m.add_to_cart(customer, boots_seller.products[0])
    m.add_to_cart(customer, hats_seller.products[0])
    assert len(m.call("GET", "/cart", customer).json()["carts"]) == 2  # one cart per seller

    orders = {o["seller_id"]: o for o in m.checkout(customer, [boots_seller, hats_seller])}
    boots, hats = orders[boots_seller.id], orders[hats_seller.id]
    for order in (boots, hats):
        m.wait_status(customer, order["order_id"], "PAID")
        m.wait_email(customer.email, "order_placed", order["order_id"])
    total = boots["total"]["amount"] + hats["total"]["amount"]
    assert m.wallet(customer) == {"available": 1_500_000 - total, "held": total, "currency": "RUB"}

    # the seller follows the emailed link and confirms
    done = press(m, m.action_link(boots_seller, boots["order_id"], "confirm"), "confirm")
    assert done.status_code == 200, done.text
    assert done.headers["Referrer-Policy"] == "no-referrer"
    m.wait_event(customer, boots["order_id"], "payment_captured")
    assert m.earnings(boots_seller) == boots["total"]["amount"]
    m.wait_email(customer.email, "order_confirmed", boots["order_id"])

    # the other seller confirms through the API
    assert m.call("POST", f"/seller/orders/{hats['order_id']}/confirm", hats_seller).json()["status"] == "CONFIRMED"
    m.wait_event(customer, hats["order_id"], "payment_captured")
    assert m.wallet(customer) == {"available": 1_500_000 - total, "held": 0, "currency": "RUB"}

    # the seller ships, the customer receives
    shipped = m.call("POST", f"/seller/orders/{boots['order_id']}/ship", boots_seller)
    assert shipped.status_code == 200, shipped.text
    m.wait_email(customer.email, "order_shipped", boots["order_id"])
    m.wait_event(customer, boots["order_id"], "waiting_for_receipt")
    received = m.call("POST", f"/orders/{boots['order_id']}/received", customer)
    assert received.json()["status"] == "DELIVERED"
    timeline = [e["type"] for e in m.order(customer, boots["order_id"])["timeline"]]
    for step in ("created", "payment_held", "order_confirmed", "payment_captured", "order_shipped", "delivered"):
        assert step in timeline


def test_seller_cancels_and_the_money_returns(patient_stack):
    m = Market(patient_stack)
    seller, customer = m.seller(stock=3), m.register("customer")
    m.top_up(customer, 1_000_000)
    m.add_to_cart(customer, seller.products[0], quantity=2)
    (order,) = m.checkout(customer, [seller])
    oid = order["order_id"]
    m.wait_status(customer, oid, "PAID")
    assert m.stock(seller.products[0]["product_id"]) == 1

    done = press(m, m.action_link(seller, oid, "cancel"), "cancel", reason="Нет нужного размера")
    assert done.status_code == 200, done.text
    assert m.order(customer, oid)["status"] == "CANCELLED"
    started = m.wait_email(customer.email, "order_cancelled_refund_started", oid)
    assert "Нет нужного размера" in started["text"]
    completed = m.wait_email(customer.email, "refund_completed", oid)
    assert started["sent_at"] < completed["sent_at"]
    assert m.wallet(customer) == {"available": 1_000_000, "held": 0, "currency": "RUB"}
    assert m.stock(seller.products[0]["product_id"]) == 3
    assert m.earnings(seller) == 0


def test_customer_pays_late_after_a_top_up(patient_stack):
    m = Market(patient_stack)
    seller, customer = m.seller(price=200_000), m.register("customer")
    m.add_to_cart(customer, seller.products[0])
    (order,) = m.checkout(customer, [seller])
    oid = order["order_id"]
    m.wait_email(customer.email, "payment_required", oid)
    assert m.order(customer, oid)["status"] == "AWAITING_PAYMENT"

    short = m.call("POST", f"/orders/{oid}/pay", customer)
    assert short.status_code == 409
    assert short.headers["Content-Type"].startswith("application/problem+json")
    assert (short.json()["required"], short.json()["available"]) == (order["total"], {"amount": 0, "currency": "RUB"})

    m.top_up(customer, 300_000)
    paid = m.call("POST", f"/orders/{oid}/pay", customer)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "PAID"
    m.wait_email(seller.shop_email, "new_order", oid)
    assert m.call("POST", f"/seller/orders/{oid}/confirm", seller).status_code == 200
    m.wait_event(customer, oid, "payment_captured")
    assert m.earnings(seller) == order["total"]["amount"]
    assert m.wallet(customer)["available"] == 300_000 - order["total"]["amount"]


def test_nobody_answers_and_the_timeout_refunds(stack):
    # the session's stack: payment and seller timeouts of 5 seconds
    m = Market(stack)
    seller, customer = m.seller(stock=2), m.register("customer")
    m.top_up(customer, 1_000_000)
    m.add_to_cart(customer, seller.products[0])
    (order,) = m.checkout(customer, [seller])
    oid = order["order_id"]
    m.wait_email(seller.shop_email, "new_order", oid)

    cancelled = m.wait_status(customer, oid, "CANCELLED", timeout=60)
    assert any(e["type"] == "seller_timeout" and e["actor"] == "timeout" for e in cancelled["timeline"])
    m.wait_email(customer.email, "refund_completed", oid, timeout=60)
    assert m.wallet(customer) == {"available": 1_000_000, "held": 0, "currency": "RUB"}
    assert m.stock(seller.products[0]["product_id"]) == 2
    # the seller's link now answers that it is too late
    late = m.call("POST", urllib.parse.urlsplit(m.action_link(seller, oid, "confirm")).path,
                  data={"action": "confirm"})
    assert late.status_code == 409


def test_an_unpaid_order_expires_and_its_stock_returns(stack):
    m = Market(stack)
    seller, customer = m.seller(stock=2), m.register("customer")
    m.add_to_cart(customer, seller.products[0], quantity=2)
    (order,) = m.checkout(customer, [seller])
    assert m.stock(seller.products[0]["product_id"]) == 0
    m.wait_status(customer, order["order_id"], "CANCELLED", timeout=60)
    m.wait_email(customer.email, "payment_expired", order["order_id"], timeout=60)
    wait_until(lambda: m.stock(seller.products[0]["product_id"]) == 2, 30, "the stock to return")
