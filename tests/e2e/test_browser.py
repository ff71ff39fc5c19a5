"""A real browser (Debian's headless Chromium, driven by Playwright) on the local stack: the
seller opens the new-order email in the local mailbox, follows the confirm link, presses the
button; the order becomes CONFIRMED and the money moves. Opening the link alone — GET, HEAD,
reloads, with JavaScript on — changes nothing, and the pages load nothing from elsewhere."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.e2e.workflow_support import Market

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_seller_confirms_from_the_mailbox_in_a_real_browser(tab, patient_stack):
    m = Market(patient_stack)
    seller, customer = m.seller(name="Зимняя куртка"), m.register("customer")
    m.top_up(customer, 1_000_000)
    m.add_to_cart(customer, seller.products[0])
    (order,) = m.checkout(customer, [seller])
    oid = order["order_id"]
    m.wait_email(seller.shop_email, "new_order", oid)
    assert m.order(customer, oid)["status"] == "PAID"

    context, page, requested = tab.context, tab.page, tab.requested

    # The local mailbox lists the seller's email; its confirm link is the first action link.
    mailbox = page.goto(f"{patient_stack.url}/local/mailbox?to={urllib.parse.quote(seller.shop_email)}")
    assert mailbox.ok
    email = page.locator("article", has_text=f"Новый заказ {oid}")
    confirm = email.locator("pre a[href*='/actions/']").first
    href = confirm.get_attribute("href")
    assert href == m.action_link(seller, oid, "confirm")

    # Following the link, reloading it, and a HEAD request change nothing.
    with page.expect_navigation():
        confirm.click()
    assert page.url == href
    assert page.locator("button[value=confirm]").is_visible()
    assert oid in page.content()
    response = page.reload()
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert context.request.head(href).status == 200
    page.wait_for_timeout(500)  # room for anything a script might try
    assert m.order(customer, oid)["status"] == "PAID"
    assert m.earnings(seller) == 0

    # Pressing the button confirms; the money moves to the seller.
    with page.expect_navigation():
        page.locator("button[value=confirm]").click()
    assert "Заказ подтверждён" in page.content()
    assert m.order(customer, oid)["status"] == "CONFIRMED"
    m.wait_event(customer, oid, "payment_captured")
    total = order["total"]["amount"]
    assert m.earnings(seller) == total
    assert m.wallet(customer) == {"available": 1_000_000 - total, "held": 0, "currency": "RUB"}

    # The link works once: opening it again shows that it was used.
    page.goto(href)
    assert "уже" in page.content().lower()

    # Nothing was loaded from anywhere but the stack itself.
    origin = patient_stack.url
    assert requested and all(u.startswith(origin) or u.startswith(("about:", "data:")) for u in requested), requested


def test_docs_page_sends_a_request_with_a_bearer_token(browser, patient_stack):
    """/docs (the vendored Swagger UI): authorize with a customer's token, try GET /wallet, and
    see the 200 with the wallet's money — everything loaded from the stack itself."""
    from playwright.sync_api import expect

    m = Market(patient_stack)
    customer = m.register("customer")
    m.top_up(customer, 12_345)
    context = browser.new_context(java_script_enabled=True)
    requests: list = []
    errors: list[str] = []
    context.on("request", lambda request: requests.append(request))
    page = context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{patient_stack.url}/docs")

    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").first.fill(customer.token)
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()

    operation = page.locator("#operations-wallet-get_wallet_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    answer = operation.locator(".live-responses-table tr.response")
    expect(answer.locator(".response-col_status").first).to_have_text("200")
    body = answer.locator(".response-col_description pre").first.inner_text()
    assert json.loads(body)["available"] == {"amount": 12_345, "currency": "RUB"}

    sent = [r for r in requests if r.url == f"{patient_stack.url}/wallet"]
    assert sent and sent[-1].headers["authorization"] == f"Bearer {customer.token}"
    assert all(r.url.startswith(patient_stack.url) or r.url.startswith(("about:", "data:")) for r in requests), \
        [r.url for r in requests]
    assert errors == []
    context.close()
