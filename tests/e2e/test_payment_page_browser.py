"""Top-ups through the sandbox provider's page on the local stack, in a real browser (Debian's
headless Chromium, driven by Playwright): the customer asks for a top-up over HTTP, opens the
confirmation URL, types a test card, passes the 3-D Secure step; the sandbox's signed webhook
reaches the API over HTTP and the wallet is credited once. A declined card credits nothing, and
a forged webhook is refused."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.e2e.workflow_support import Market

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def start_topup(m: Market, customer, amount: int) -> dict:
    resp = m.call("POST", "/wallet/topups", customer, json={"amount": amount},
                  headers={"Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "pending" and body["confirmation_url"].startswith(f"{m.stack.url}/payments/sandbox/")
    return body


def topup_status(m: Market, customer, topup_id: str) -> str:
    return m.call("GET", f"/wallet/topups/{topup_id}", customer).json()["status"]


def wait_status(m: Market, customer, topup_id: str, wanted: str) -> None:
    deadline = time.monotonic() + 10
    while topup_status(m, customer, topup_id) != wanted:
        assert time.monotonic() < deadline, f"top-up {topup_id} never became {wanted}"
        time.sleep(0.2)


def test_top_up_through_the_sandbox_page_with_3ds(tab, stack):
    m = Market(stack)
    customer = m.register("customer")
    topup = start_topup(m, customer, 250_000)
    assert m.wallet(customer)["available"] == 0

    page, requested = tab.page, tab.requested
    page.goto(topup["confirmation_url"])
    assert "2 500.00 RUB" in page.locator("#amount").inner_text()
    page.fill("#number", "4000 0000 0000 3220")
    page.fill("#exp", "12/30")
    page.fill("#cvc", "123")
    with page.expect_navigation():
        page.click("#pay")
    assert page.locator("#title").inner_text() == "3-D Secure check"
    assert topup_status(m, customer, topup["topup_id"]) == "pending"  # not paid until the code is given
    page.fill("#code", "123456")
    with page.expect_navigation():
        page.click("#confirm-3ds")
    assert page.locator("#title").inner_text() == "Payment succeeded"

    wait_status(m, customer, topup["topup_id"], "succeeded")
    assert m.wallet(customer) == {"available": 250_000, "held": 0, "currency": "RUB"}
    lines = m.call("GET", "/wallet/transactions", customer).json()["items"]
    assert [(x["kind"], x["amount"]["amount"], x["card_last4"]) for x in lines] == [("topup", 250_000, "3220")]

    # the page now shows the outcome; reloading or posting again charges nothing more
    page.reload()
    assert page.locator("#title").inner_text() == "Payment succeeded"
    page.locator("#return").click()
    assert "being processed" in page.content()
    assert m.wallet(customer)["available"] == 250_000
    assert all(u.startswith(stack.url) or u.startswith(("about:", "data:")) for u in requested), requested


def test_a_declined_card_on_the_sandbox_page_credits_nothing(browser, stack):
    m = Market(stack)
    customer = m.register("customer")
    topup = start_topup(m, customer, 10_000)
    context = browser.new_context()
    page = context.new_page()
    page.goto(topup["confirmation_url"])
    page.fill("#number", "4000 0000 0000 0002")
    with page.expect_navigation():
        page.click("#pay")
    assert page.locator("#title").inner_text() == "Payment failed"
    assert "card-declined" in page.locator("#outcome").inner_text()
    wait_status(m, customer, topup["topup_id"], "canceled")
    assert m.wallet(customer)["available"] == 0
    context.close()


def test_a_forged_webhook_is_refused_over_http(stack):
    m = Market(stack)
    customer = m.register("customer")
    topup = start_topup(m, customer, 10_000)
    payment_id = topup["confirmation_url"].rsplit("/", 1)[1]
    event = {"id": "evt-forged", "type": "payment.succeeded",
             "payment": {"id": payment_id, "status": "succeeded", "amount": {"amount": 10_000, "currency": "RUB"},
                         "metadata": {"topup_id": topup["topup_id"]}}}
    resp = stack.post("/payments/webhooks/sandbox", data=json.dumps(event),
                      headers={"Content-Type": "application/json",
                               "Sandbox-Signature": f"t={int(time.time())},v1={'0' * 64}"})
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert topup_status(m, customer, topup["topup_id"]) == "pending"
    assert m.wallet(customer)["available"] == 0
