"""Order emails: sent once through SES even when SES stumbles, in the recipient's language,
visible locally in the mailbox; a rejected email never blocks the order."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto.backends import get_backend

from chalicelib import clients
from chalicelib.config import settings
from tests.functional.workflow_stack import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def ses_messages_to(address: str) -> list:
    backend = get_backend("ses")["123456789012"]["us-east-1"]
    return [m for m in backend.sent_messages
            if address in (getattr(m, "destinations", {}) or {}).get("ToAddresses", [])]


@pytest.fixture
def ses_hook():
    """Register a botocore event handler on the app's SES client for one test (default
    ``before-call.sesv2.SendEmail``: the moment the request would go out)."""
    events = clients.client("sesv2").meta.events
    registered = []

    def add(handler, event="before-call.sesv2.SendEmail"):
        events.register(event, handler, unique_id=f"test-{id(handler)}")
        registered.append((event, handler))

    yield add
    for event, handler in registered:
        events.unregister(event, unique_id=f"test-{id(handler)}")


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": 429}}, "SendEmail")


def test_ses_failing_a_few_times_then_succeeding_sends_the_email_once(flow, ses_hook):
    failures = {"left": 5}  # more than one step attempt's own retries: the state machine retries too

    def flaky(**_):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise throttled()

    seller, customer = flow.seller(), flow.customer(balance=100_000)
    before = len(ses_messages_to(customer.email))  # (the account's verification email)
    ses_hook(flaky)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller", timeout=40)
    assert failures["left"] == 0
    assert len(ses_messages_to(seller.shop_email)) == 1
    assert len(ses_messages_to(customer.email)) == before + 1
    assert [e["kind"] for e in flow.emails(seller.shop_email)] == ["new_order"]
    sent = [e for e in flow.order(oid)["timeline"] if e["type"] == "email_sent"]
    assert sorted(e["detail"]["kind"] for e in sent) == ["new_order", "order_placed"]


def test_a_rejected_email_is_recorded_and_the_order_goes_on(flow, ses_hook):
    seller, customer = flow.seller(), flow.customer(balance=100_000)

    def reject_customer(params, **_):
        if customer.email in params.get("Destination", {}).get("ToAddresses", []):
            raise ClientError({"Error": {"Code": "MessageRejected", "Message": "no such mailbox"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendEmail")

    ses_hook(reject_customer, "before-parameter-build.sesv2.SendEmail")  # sees the API parameters
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    failed = flow.wait_event(oid, "email_failed")
    assert failed["detail"]["kind"] == "order_placed"
    assert flow.emails(seller.shop_email, "new_order")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_event(oid, "payment_captured")


def test_emails_speak_the_recipients_language(flow):
    seller = flow.seller(lang="ru")
    customer = flow.customer(balance=100_000)
    resp = flow.api.http.patch("/me", headers=customer.headers, body=json.dumps({"language": "en"}))
    assert resp.status_code == 200, resp.body
    oid = flow.buy(customer, seller)["order_id"]
    to_seller = flow.wait_email(seller.shop_email, "new_order")
    to_customer = flow.wait_email(customer.email, "order_placed")
    assert to_seller["subject"].startswith("Новый заказ")
    assert to_customer["subject"] == f"Order {oid} placed"
    assert "<html" in to_customer["html"].lower() and to_customer["text"].strip()
    message = ses_messages_to(customer.email)[0]
    assert message.source == settings().ses_sender


def test_local_mailbox_lists_sent_emails_with_clickable_links(flow):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_email(seller.shop_email, "new_order")
    page = flow.api.http.get("/local/mailbox")
    assert page.status_code == 200
    html = page.body.decode()
    assert f"New order {oid}" in html
    assert '<a href="http://127.0.0.1:8000/actions/v1.' in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    listed = flow.api.http.get(f"/local/emails?to={seller.shop_email}").json_body["items"]
    assert [e["kind"] for e in listed] == ["new_order"]
    assert {len([u for u in listed[0]["links"] if "/actions/" in u])} == {3}


def test_mailbox_is_not_there_outside_local_runs(flow, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_LOCAL", "0")
    monkeypatch.setenv("LINK_SECRET", "a-production-like-secret-0123456789")
    settings.cache_clear()
    try:
        assert settings().local is False
        assert flow.api.http.get("/local/mailbox").status_code == 404
        assert flow.api.http.get("/local/emails").status_code == 404
    finally:
        monkeypatch.undo()
        flow.timeouts()


def test_sending_the_same_email_twice_sends_it_once(flow):
    from chalicelib.services import notifications
    from chalicelib.store import orders as order_store

    seller, customer = flow.seller(), flow.customer(balance=100_000)
    before = len(ses_messages_to(customer.email))  # (the account's verification email)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_email(customer.email, "order_placed")
    assert notifications.send(order_store.load(oid), "order_placed") is False
    assert len(ses_messages_to(customer.email)) == before + 1
    wait_until(lambda: len([e for e in flow.order(oid)["timeline"] if e["type"] == "email_sent"]) == 2)
