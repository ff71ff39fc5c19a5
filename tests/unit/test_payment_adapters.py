"""The payment adapters' pure parts: YooKassa's decimal amounts and payment objects, and the
sandbox's webhook signature (no IO)."""

from __future__ import annotations

import time

import pytest

from chalicelib.adapters import payments_sandbox, payments_yookassa
from chalicelib.adapters.payments import WebhookRejected
from chalicelib.errors import Unavailable


@pytest.mark.parametrize(("minor", "text"), [(1, "0.01"), (150_000, "1500.00"), (150_050, "1500.50"),
                                             (1_000_000_000, "10000000.00")])
def test_amounts_round_trip_through_the_api_decimal_strings(minor, text):
    assert payments_yookassa.to_decimal(minor) == text
    assert payments_yookassa.to_minor(text) == minor


@pytest.mark.parametrize("bad", ["1.005", "abc", ""])
def test_error_on_amounts_that_are_not_kopecks(bad):
    with pytest.raises(ValueError):
        payments_yookassa.to_minor(bad)


def test_a_published_payment_object_is_read():
    payment = payments_yookassa.parse_payment({
        "id": "23d93cac-000f-5000-8000-126628f15141", "status": "pending", "paid": False,
        "amount": {"value": "100.00", "currency": "RUB"},
        "confirmation": {"type": "redirect", "confirmation_url": "https://pay.example/confirm?orderId=1"},
        "created_at": "2019-01-22T14:30:45.129Z", "description": "Заказ №1", "metadata": {"topup_id": "tp_1"},
        "recipient": {"account_id": "100500", "gateway_id": "100700"}, "refundable": False, "test": False,
    })
    assert (payment.id, payment.status, payment.amount, payment.currency) == (
        "23d93cac-000f-5000-8000-126628f15141", "pending", 10_000, "RUB")
    assert payment.confirmation_url == "https://pay.example/confirm?orderId=1"
    assert payment.metadata == {"topup_id": "tp_1"} and payment.card_last4 is None


def test_an_unexpected_answer_is_unavailable_not_a_crash():
    with pytest.raises(Unavailable):
        payments_yookassa.parse_payment({"id": "x", "amount": {"value": "1.00"}})


def test_the_gateway_needs_credentials():
    with pytest.raises(Unavailable):
        payments_yookassa.YooKassaGateway("", "", "https://api.example/v3")


def test_sandbox_signature_checks(monkeypatch):
    gateway = payments_sandbox.SandboxGateway()
    body = (b'{"id":"evt_1","payment":{"id":"sbx_1","status":"succeeded",'
            b'"amount":{"amount":100,"currency":"RUB"},"metadata":{"topup_id":"tp_1"}}}')
    event = gateway.verify_webhook({"Sandbox-Signature": payments_sandbox.sign(body)}, body, "127.0.0.1")
    assert (event.id, event.payment.amount, event.payment.metadata) == ("evt_1", 100, {"topup_id": "tp_1"})
    for header, reason in [("", "signature-missing"),
                           (payments_sandbox.sign(body, at=int(time.time()) - 600), "signature-stale"),
                           (payments_sandbox.sign(body + b" "), "signature-invalid")]:
        with pytest.raises(WebhookRejected) as refused:
            gateway.verify_webhook({"Sandbox-Signature": header}, body, "127.0.0.1")
        assert refused.value.reason == reason
