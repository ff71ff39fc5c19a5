"""Top-ups paid on the sandbox provider's page, over the real app: the pending top-up, the card
page (success, decline, 3-D Secure), the signed webhook that credits the wallet once, and the
webhooks that are refused (forged, stale, not ours, another amount or currency, out of order).

The sandbox sends its webhooks over HTTP on the local stack; here they are collected as it
sends them (``tests/support/sandbox.py``) and delivered through the in-process client, so a test
can also replay or alter one.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from chalicelib.adapters import payments_sandbox
from chalicelib.config import settings
from tests.support.sandbox import deliver, event, local_path, signed, submit


@pytest.fixture
def customer(register):
    return register("customer")


def start(api, user, amount=150_000, key=None, **extra):
    headers = {**user.headers, "Idempotency-Key": key or f"k-{uuid.uuid4().hex}"}
    return api.http.post("/wallet/topups", body=json.dumps({"amount": amount, **extra}), headers=headers)


def page_path(topup) -> str:
    return local_path(topup["confirmation_url"])


def available(api, user) -> int:
    return api.http.get("/wallet", headers=user.headers).json_body["available"]["amount"]


def event_for(topup: dict, payment_id: str, *, status="succeeded", amount=None, currency="RUB") -> dict:
    return event(payment_id, status, amount or topup["amount"]["amount"], currency, topup_id=topup["topup_id"])


def payment_id(topup) -> str:
    return page_path(topup).rsplit("/", 1)[1]


def test_top_up_is_pending_until_paid_on_the_sandbox_page(api, customer, sent):
    resp = start(api, customer, amount=150_000)
    assert resp.status_code == 201, resp.body
    topup = resp.json_body
    assert topup["status"] == "pending" and topup["amount"] == {"amount": 150_000, "currency": "RUB"}
    assert topup["confirmation_url"].startswith(f"{settings().public_base_url}/payments/sandbox/sbx_")
    assert resp.headers["Location"] == f"{settings().public_base_url}/wallet/topups/{topup['topup_id']}"
    assert available(api, customer) == 0

    page = api.http.get(page_path(topup))
    assert page.status_code == 200 and "1 500.00 RUB" in page.body.decode()
    done = submit(api, page_path(topup), action="pay", number="4242 4242 4242 4242", exp="12/30", cvc="123")
    assert "Payment succeeded" in done.body.decode()
    assert len(sent) == 1 and available(api, customer) == 0  # nothing until the webhook arrives

    answer = deliver(api, sent[0])
    assert answer.status_code == 200, answer.body
    assert answer.json_body["outcome"] == "credited"
    assert available(api, customer) == 150_000
    status = api.http.get(f"/wallet/topups/{topup['topup_id']}", headers=customer.headers).json_body
    assert status["status"] == "succeeded"
    line = api.http.get(f"/wallet/transactions/{status['transaction_id']}", headers=customer.headers).json_body
    assert line["kind"] == "topup" and line["card_last4"] == "4242"

    # the provider retries, someone replays: applied once
    again = deliver(api, sent[0])
    assert again.status_code == 200 and again.json_body["outcome"] == "already-applied"
    submit(api, page_path(topup), action="pay", number="4242424242424242")
    assert len(sent) == 1 and available(api, customer) == 150_000


def test_a_declined_card_credits_nothing(api, customer, sent):
    topup = start(api, customer, amount=5_000).json_body
    page = submit(api, page_path(topup), action="pay", number="4000 0000 0000 0002", exp="12/30", cvc="123")
    assert "Payment failed" in page.body.decode() and "card-declined" in page.body.decode()
    assert deliver(api, sent[0]).json_body["outcome"] == "canceled"
    assert available(api, customer) == 0
    assert api.http.get(f"/wallet/topups/{topup['topup_id']}", headers=customer.headers).json_body["status"] \
        == "canceled"


def test_three_d_secure_code_decides(api, customer, sent):
    good = start(api, customer, amount=7_000).json_body
    page = submit(api, page_path(good), action="pay", number="4000000000003220", exp="12/30", cvc="123")
    assert "3-D Secure" in page.body.decode() and not sent
    submit(api, page_path(good), action="3ds", code="123456")
    assert deliver(api, sent[-1]).json_body["outcome"] == "credited"

    bad = start(api, customer, amount=9_000).json_body
    submit(api, page_path(bad), action="pay", number="4000000000003220")
    failed = submit(api, page_path(bad), action="3ds", code="000000")
    assert "3ds-failed" in failed.body.decode()
    assert deliver(api, sent[-1]).json_body["outcome"] == "canceled"
    assert available(api, customer) == 7_000


def test_a_retried_request_gets_the_same_top_up(api, customer, sent):
    first = start(api, customer, key="same-key-123")
    second = start(api, customer, key="same-key-123")
    assert first.json_body == second.json_body
    assert second.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize("signature", ["", "t=1,v1=00", "nonsense", None])
def test_forged_or_stale_webhooks_are_refused(api, customer, sent, signature):
    topup = start(api, customer).json_body
    forged = signed(event_for(topup, payment_id(topup)))
    if signature is None:  # a real signature, but made long ago: a replay
        signature = payments_sandbox.sign(forged[1], at=int(time.time()) - 3600)
    resp = deliver(api, forged, signature=signature)
    assert resp.status_code == 401, resp.body
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert available(api, customer) == 0


def test_a_webhook_signed_with_another_secret_is_refused(api, customer, sent):
    topup = start(api, customer).json_body
    path, body, headers = signed(event_for(topup, payment_id(topup)))
    resp = deliver(api, (path, body, headers), signature=payments_sandbox.sign(body, secret=b"not-ours"))
    assert resp.status_code == 401 and resp.json_body["reason"] == "signature-invalid"
    assert available(api, customer) == 0


def test_unknown_payments_and_mismatches_are_refused(api, customer, sent):
    topup = start(api, customer, amount=10_000).json_body
    unknown = deliver(api, signed(event_for({**topup, "topup_id": "tp_nope"}, payment_id(topup))))
    assert unknown.status_code == 404
    other_payment = deliver(api, signed(event_for(topup, "sbx_someone_else")))
    assert other_payment.status_code == 404
    more = deliver(api, signed(event_for(topup, payment_id(topup), amount=1_000_000)))
    assert more.status_code == 422 and more.json_body["errors"][0]["field"] == "amount"
    dollars = deliver(api, signed(event_for(topup, payment_id(topup), currency="USD")))
    assert dollars.status_code == 422 and dollars.json_body["errors"][0]["field"] == "currency"
    assert available(api, customer) == 0
    # the real event still works afterwards
    assert deliver(api, signed(event_for(topup, payment_id(topup)))).json_body["outcome"] == "credited"
    assert available(api, customer) == 10_000


def test_succeeded_after_canceled_does_not_credit(api, customer, sent):
    topup = start(api, customer, amount=4_000).json_body
    assert deliver(api, signed(event_for(topup, payment_id(topup), status="canceled"))).status_code == 200
    late = deliver(api, signed(event_for(topup, payment_id(topup), status="succeeded")))
    assert late.status_code == 409 and late.json_body["current_status"] == "canceled"
    assert available(api, customer) == 0


def test_refusals_are_counted(api, customer, sent, monkeypatch, capsys):
    monkeypatch.setenv("METRICS_ENABLED", "1")
    topup = start(api, customer).json_body
    capsys.readouterr()
    deliver(api, signed(event_for(topup, payment_id(topup))), signature="t=1,v1=00")
    deliver(api, signed(event_for(topup, payment_id(topup), amount=1)))
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    refused = {d["by"]: d["PaymentWebhooksRefused"] for d in docs if "PaymentWebhooksRefused" in d}
    assert refused == {"signature-stale": 1, "amount-mismatch": 1}


def test_card_data_is_refused_outside_the_local_stage(api, customer, monkeypatch):
    monkeypatch.setenv("STAGE", "prod")
    settings.cache_clear()
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    resp = start(api, customer, card=card)
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json_body["errors"]] == ["card"]
    assert available(api, customer) == 0
    # and the sandbox's page does not exist there
    assert api.http.get("/payments/sandbox/sbx_anything").status_code == 404


def test_the_local_card_path_still_credits_at_once(api, customer):
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    resp = start(api, customer, amount=3_000, card=card)
    assert resp.status_code == 201 and resp.json_body["status"] == "succeeded"
    assert "topup_id" not in resp.json_body and re.match(r"topup:", resp.json_body["id"])
    assert available(api, customer) == 3_000


def test_top_ups_are_private(api, customer, register, sent):
    topup = start(api, customer).json_body
    other = register("customer")
    assert api.http.get(f"/wallet/topups/{topup['topup_id']}", headers=other.headers).status_code == 404
    assert api.http.get("/wallet/topups/tp_nope", headers=customer.headers).status_code == 404


def test_a_mistyped_card_shows_the_form_again(api, customer, sent):
    topup = start(api, customer).json_body
    page = submit(api, page_path(topup), action="pay", number="42")
    assert page.status_code == 200 and "Enter the card number" in page.body.decode()
    assert 'id="card-form"' in page.body.decode() and not sent


def test_the_sandbox_retries_a_webhook_the_api_could_not_take(api, customer, monkeypatch):
    answers = [503, 200]
    delivered: list[bytes] = []

    def flaky(url: str, body: bytes, headers: dict[str, str]) -> int:
        delivered.append(body)
        return answers.pop(0)

    monkeypatch.setattr(payments_sandbox, "transport", flaky)
    topup = start(api, customer).json_body
    submit(api, page_path(topup), action="pay", number="4242424242424242")
    assert len(delivered) == 2 and delivered[0] == delivered[1]
