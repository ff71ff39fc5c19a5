"""Returns and payouts over HTTP on a local stack of their own (a short return window): a
delivered order of two items, one returned and accepted by the seller's emailed link, moves the
customer's wallet and the seller's balance by the right amounts; a payout to the sandbox's
failing account returns the money."""

from __future__ import annotations

import urllib.parse
import uuid

import pytest

from chalicelib.adapters.payouts import SANDBOX_FAILING_ACCOUNT
from tests.e2e.conftest import _stop, start_stack
from tests.e2e.workflow_support import PATIENT_TIMEOUTS, Market, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PRICE, DELIVERY = 150_000, 30_000  # the Market's seller: one product, courier delivery


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("returns-stack"),
                        timeouts={**PATIENT_TIMEOUTS, "RETURN_WINDOW_SECONDS": "10", "PAYOUT_MINIMUM": "1000"})
    try:
        yield Market(stack)
    finally:
        _stop(stack.process)


def balance(m: Market, seller) -> dict[str, int]:
    body = m.call("GET", "/seller/balance", seller).json()
    return {k: body[k]["amount"] for k in ("earnings", "available", "pending", "paid_out")}


def test_return_one_of_two_accepted_by_link_then_payouts(market):
    m = market
    seller, customer = m.seller(stock=5, price=PRICE), m.register("customer")
    m.top_up(customer, 1_000_000)
    m.add_to_cart(customer, seller.products[0], quantity=2)
    (order,) = m.checkout(customer, [seller])
    oid, total = order["order_id"], 2 * PRICE + DELIVERY
    m.wait_status(customer, oid, "PAID")
    assert m.call("POST", f"/seller/orders/{oid}/confirm", seller).status_code == 200
    m.wait_event(customer, oid, "payment_captured")
    assert m.call("POST", f"/seller/orders/{oid}/ship", seller).status_code == 200
    assert m.call("POST", f"/orders/{oid}/received", customer).json()["status"] == "DELIVERED"
    assert balance(m, seller) == {"earnings": total, "available": 0, "pending": total, "paid_out": 0}

    asked = m.call("POST", f"/orders/{oid}/returns", customer, headers={"Idempotency-Key": uuid.uuid4().hex},
                   json={"items": [{"product_id": seller.products[0]["product_id"], "quantity": 1}],
                         "reason": "Не подошёл размер"})
    assert asked.status_code == 201, asked.text
    mail = wait_until(lambda: next((e for e in m.emails(seller.shop_email) if e["kind"] == "return_requested"),
                                   None), 30, "the return email")
    accept = next(line[line.index("http"):].strip() for line in mail["text"].splitlines() if "/actions/" in line)
    path = urllib.parse.urlsplit(accept).path
    page = m.call("GET", path)
    assert page.status_code == 200 and 'value="return_accept"' in page.text
    assert m.wallet(customer)["available"] == 1_000_000 - total  # the page changed nothing
    done = m.call("POST", path, data={"action": "return_accept", "restock": "yes"})
    assert done.status_code == 200, done.text

    # one of two: the customer gets that item's price back; the seller gives it back; restocked
    assert m.wallet(customer) == {"available": 1_000_000 - total + PRICE, "held": 0, "currency": "RUB"}
    assert balance(m, seller)["earnings"] == total - PRICE
    assert m.stock(seller.products[0]["product_id"]) == 4
    assert any(e["type"] == "return_accepted" for e in m.order(customer, oid)["timeline"])

    wait_until(lambda: balance(m, seller)["available"] == total - PRICE, 60, "the return window to end")
    failed = m.call("POST", "/seller/payouts", seller, headers={"Idempotency-Key": uuid.uuid4().hex},
                    json={"amount": 100_000, "account": SANDBOX_FAILING_ACCOUNT})
    assert failed.status_code == 201 and failed.json()["state"] == "failed", failed.text
    assert balance(m, seller) == {"earnings": total - PRICE, "available": total - PRICE, "pending": 0, "paid_out": 0}
    paid = m.call("POST", "/seller/payouts", seller, headers={"Idempotency-Key": uuid.uuid4().hex},
                  json={"amount": 100_000, "account": "40702810000000000001"})
    assert paid.status_code == 201 and paid.json()["state"] == "paid", paid.text
    assert balance(m, seller) == {"earnings": total - PRICE - 100_000, "available": total - PRICE - 100_000,
                                  "pending": 0, "paid_out": 100_000}
