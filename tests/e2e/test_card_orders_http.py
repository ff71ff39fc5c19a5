"""Orders paid by card over HTTP on the local stack: checkout with ``payment_method: "card"``
answers the sandbox provider's page, the customer's card authorizes the total there, the
sandbox's signed webhook (sent over HTTP to the stack) marks the order paid, and the workflow
captures it when the seller confirms, voids it when the customer cancels, and voids an unpaid
one when the payment time runs out. The wallet is never touched; the books balance."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.workflow_support import Market, Person, wait_until
from tests.support import factories as f

pytestmark = pytest.mark.timeout(240)


def card_checkout(m: Market, customer: Person, seller: Person, quantity: int = 1) -> dict:
    m.add_to_cart(customer, seller.products[0], quantity)
    body = f.checkout_body({seller.id: "courier"}, payment_method="card")
    resp = m.call("POST", "/checkout", customer, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.text
    (order,) = resp.json()["orders"]
    assert order["payment"]["status"] == "pending", order
    return order


def pay_on_page(m: Market, order: dict, number: str = "4242 4242 4242 4242"):
    path = order["payment"]["confirmation_url"].removeprefix(m.stack.url)
    assert m.call("GET", path).status_code == 200
    return m.call("POST", path, data={"action": "pay", "number": number, "exp": "12/30", "cvc": "123"})


def test_card_order_confirmed_is_captured_and_the_seller_earns(patient_stack):
    m = Market(patient_stack)
    seller, customer = m.seller(), m.register("customer")
    order = card_checkout(m, customer, seller)
    oid, total = order["order_id"], order["total"]["amount"]
    page = pay_on_page(m, order)
    assert "Payment authorized" in page.text
    m.wait_status(customer, oid, "PAID")
    assert m.order(customer, oid)["payment"]["status"] == "authorized"
    assert m.wallet(customer) == {"available": 0, "held": total, "currency": "RUB"}

    assert m.call("POST", f"/seller/orders/{oid}/confirm", seller).json()["status"] == "CONFIRMED"
    m.wait_event(customer, oid, "payment_captured")
    assert m.order(customer, oid)["payment"]["status"] == "captured"
    assert m.earnings(seller) == total
    assert m.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}


def test_card_order_cancelled_is_voided_and_nothing_moves(patient_stack):
    m = Market(patient_stack)
    seller, customer = m.seller(stock=3), m.register("customer")
    order = card_checkout(m, customer, seller)
    oid = order["order_id"]
    pay_on_page(m, order)
    m.wait_status(customer, oid, "PAID")

    assert m.call("POST", f"/orders/{oid}/cancel", customer).json()["status"] == "CANCELLED"
    m.wait_event(customer, oid, "refund_completed")
    assert m.order(customer, oid)["payment"]["status"] == "canceled"
    assert m.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}
    assert m.earnings(seller) == 0
    wait_until(lambda: m.stock(seller.products[0]["product_id"]) == 3, 30, "the stock to return")


def test_unpaid_card_order_times_out_and_its_payment_is_voided(stack):
    m = Market(stack)
    seller, customer = m.seller(stock=2), m.register("customer")
    order = card_checkout(m, customer, seller, quantity=2)
    oid = order["order_id"]
    m.wait_status(customer, oid, "CANCELLED", timeout=60)
    wait_until(lambda: m.order(customer, oid)["payment"]["status"] == "canceled", 30, "the payment to be voided")
    late = pay_on_page(m, order)  # too late: the provider's page no longer takes the card
    assert "Payment failed" in late.text
    assert m.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}
    wait_until(lambda: m.stock(seller.products[0]["product_id"]) == 2, 30, "the stock to return")


def test_card_order_returned_in_part_is_refunded_to_the_card(patient_stack):
    """Delivered, one of two items returned and accepted: that item's price goes back to the
    card (a partial refund at the provider), never to the wallet; the seller gives it back."""
    m = Market(patient_stack)
    price = 150_000
    seller, customer = m.seller(stock=5, price=price), m.register("customer")
    product = seller.products[0]
    order = card_checkout(m, customer, seller, quantity=2)
    oid = order["order_id"]
    pay_on_page(m, order)
    m.wait_status(customer, oid, "PAID")
    assert m.call("POST", f"/seller/orders/{oid}/confirm", seller).status_code == 200
    m.wait_event(customer, oid, "payment_captured")
    assert m.call("POST", f"/seller/orders/{oid}/ship", seller).status_code == 200
    assert m.call("POST", f"/orders/{oid}/received", customer).json()["status"] == "DELIVERED"
    earned = m.earnings(seller)

    asked = m.call("POST", f"/orders/{oid}/returns", customer, headers={"Idempotency-Key": uuid.uuid4().hex},
                   json={"items": [{"product_id": product["product_id"], "quantity": 1}], "reason": "Too big"})
    assert asked.status_code == 201, asked.text
    accepted = m.call("POST", f"/seller/returns/{asked.json()['id']}/accept", seller, json={"restock": True})
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted", accepted.text

    payment_id = order["payment"]["confirmation_url"].rstrip("/").rsplit("/", 1)[1]
    assert int(m.sandbox_payment(payment_id)["refunded"]) == price  # the item, not the delivery, not the whole order
    assert m.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}
    assert 0 < earned - m.earnings(seller) <= price  # the item, less its share of a marketplace fee if one is set
    assert m.stock(product["product_id"]) == 4
