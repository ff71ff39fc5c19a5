"""Top-ups through the YooKassa adapter, against a local server that answers like YooKassa's
published API v3 (``POST /v3/payments`` with ``Idempotence-Key``, ``GET /v3/payments/{id}``,
Basic auth, decimal-string amounts, ``{"type": "error", …}`` errors) — no network.

The deployment is a non-local stage (``STAGE=prod``) with ``PAYMENT_PROVIDER=yookassa``: card
data is refused, the customer pays on the provider's page, and the provider's notification is
only believed after the payment is read back from the API. The two-stage payments of card
orders (``"capture": false``, ``/capture``, ``/cancel``, ``/refunds``) are checked against the
same server at the end.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.adapters import payments_yookassa
from chalicelib.adapters.payments import PaymentRefused
from chalicelib.config import settings

SHOP_ID, SECRET = "123456", "test_secret-key"


class FakeYooKassa:
    """Payments as YooKassa keeps them; ``pay(id)`` is the customer paying on its page."""

    def __init__(self) -> None:
        self.payments: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str], dict[str, Any] | None]] = []
        self.fail_next: int | None = None

    def pay(self, payment_id: str, status: str = "succeeded") -> dict[str, Any]:
        payment = self.payments[payment_id]
        payment.update(status=status, paid=status in ("succeeded", "waiting_for_capture"))
        if status in ("succeeded", "waiting_for_capture"):
            payment["payment_method"] = {"type": "bank_card", "id": payment_id, "saved": False,
                                         "card": {"first6": "555555", "last4": "4477", "expiry_month": "07",
                                                  "expiry_year": "2030", "card_type": "MasterCard"}}
        return payment

    def handle(self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
               ) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, headers, body))
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            return status, {"type": "error", "id": uuid.uuid4().hex, "code": "internal_server_error"}
        expected = "Basic " + base64.b64encode(f"{SHOP_ID}:{SECRET}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"type": "error", "id": uuid.uuid4().hex, "code": "invalid_credentials",
                         "description": "Basic authentication failed"}
        if method == "POST" and path == "/v3/payments":
            key = headers.get("Idempotence-Key")
            if not key:
                return 400, {"type": "error", "id": uuid.uuid4().hex, "code": "invalid_request",
                             "parameter": "Idempotence-Key", "description": "Idempotence key is missing"}
            if key in self.by_key:  # the documented idempotency: the first answer again
                return 200, self.payments[self.by_key[key]]
            payment_id = f"2{uuid.uuid4().hex[:7]}-000f-5000-8000-{uuid.uuid4().hex[:12]}"
            assert body is not None
            self.payments[payment_id] = {
                "id": payment_id, "status": "pending", "paid": False, "amount": body["amount"],
                "confirmation": {"type": "redirect", "return_url": body["confirmation"]["return_url"],
                                 "confirmation_url": f"https://yoomoney.example/checkout?orderId={payment_id}"},
                "created_at": "2026-12-04T10:00:00.000Z", "description": body.get("description", ""),
                "metadata": body.get("metadata", {}), "recipient": {"account_id": SHOP_ID, "gateway_id": "1"},
                "refundable": False, "test": True,
            }
            self.by_key[key] = payment_id
            return 200, self.payments[payment_id]
        if method == "POST" and (path.endswith("/capture") or path.endswith("/cancel") or path == "/v3/refunds"):
            return self._two_stage(path, headers, body or {})
        if method == "GET" and path.startswith("/v3/payments/"):
            payment = self.payments.get(path.rsplit("/", 1)[1])
            if payment is None:
                return 404, {"type": "error", "id": uuid.uuid4().hex, "code": "not_found",
                             "description": "Payment doesn't exist or access denied"}
            return 200, payment
        return 404, {"type": "error", "id": uuid.uuid4().hex, "code": "not_found"}


    def _two_stage(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Capture, cancel and refunds as the API documents them: each needs an Idempotence-Key
        (the same key answers the first answer again); a payment in the wrong status is a 400."""
        key = headers.get("Idempotence-Key")
        if not key:
            return 400, {"type": "error", "code": "invalid_request", "parameter": "Idempotence-Key"}
        if key in self.by_key:
            return 200, self.refunds.get(self.by_key[key]) or self.payments[self.by_key[key]]
        if path == "/v3/refunds":
            payment = self.payments.get(body.get("payment_id", ""))
            if payment is None:
                return 404, {"type": "error", "code": "not_found"}
            refunded = sum(float(r["amount"]["value"]) for r in self.refunds.values()
                           if r["payment_id"] == payment["id"])
            if payment["status"] != "succeeded" or refunded + float(body["amount"]["value"]) > float(
                    payment["amount"]["value"]):
                return 400, {"type": "error", "code": "invalid_request",
                             "description": "Refund amount exceeds the payment's remaining amount"}
            refund_id = f"2{uuid.uuid4().hex[:7]}-0015-5000-9000-{uuid.uuid4().hex[:12]}"
            self.refunds[refund_id] = {"id": refund_id, "payment_id": payment["id"], "status": "succeeded",
                                       "amount": body["amount"], "created_at": "2026-12-04T11:00:00.000Z"}
            self.by_key[key] = refund_id
            return 200, self.refunds[refund_id]
        payment_id, action = path.split("/")[-2:]
        payment = self.payments.get(payment_id)
        if payment is None:
            return 404, {"type": "error", "code": "not_found"}
        if payment["status"] != "waiting_for_capture":
            return 400, {"type": "error", "code": "invalid_request",
                         "description": f"Payment is {payment['status']}: wrong status for {action}"}
        if action == "capture":
            payment.update(status="succeeded", paid=True, amount=body.get("amount", payment["amount"]))
        else:
            payment.update(status="canceled", cancellation_details={"party": "merchant",
                                                                    "reason": "canceled_by_merchant"})
        self.by_key[key] = payment_id
        return 200, payment


@pytest.fixture
def yookassa(monkeypatch, aws):
    fake = FakeYooKassa()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.handle(method, self.path, dict(self.headers), body)
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name, value in {"STAGE": "prod", "PAYMENT_PROVIDER": "yookassa", "YOOKASSA_SHOP_ID": SHOP_ID,
                        "YOOKASSA_SECRET_KEY": SECRET,
                        "YOOKASSA_API_URL": f"http://127.0.0.1:{server.server_port}/v3"}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def customer(register):
    return register("customer")


def start(api, user, amount=150_000, key=None, **extra):
    headers = {**user.headers, "Idempotency-Key": key or f"k-{uuid.uuid4().hex}"}
    return api.http.post("/wallet/topups", body=json.dumps({"amount": amount, **extra}), headers=headers)


def notify(api, payment: dict[str, Any], event: str = "payment.succeeded"):
    body = {"type": "notification", "event": event, "object": payment}
    return api.http.post("/payments/webhooks/yookassa", body=json.dumps(body),
                         headers={"Content-Type": "application/json"})


def available(api, user) -> int:
    return api.http.get("/wallet", headers=user.headers).json_body["available"]["amount"]


def test_top_up_creates_a_yookassa_payment_and_its_notification_credits(api, customer, yookassa):
    resp = start(api, customer, amount=150_050)
    assert resp.status_code == 201, resp.body
    topup = resp.json_body
    [payment_id] = yookassa.payments
    assert topup["status"] == "pending"
    assert topup["confirmation_url"] == yookassa.payments[payment_id]["confirmation"]["confirmation_url"]
    method, path, headers, body = yookassa.requests[0]
    assert (method, path) == ("POST", "/v3/payments")
    assert headers["Idempotence-Key"] == topup["topup_id"]
    assert body["amount"] == {"value": "1500.50", "currency": "RUB"} and body["capture"] is True
    assert body["confirmation"] == {"type": "redirect", "return_url": f"{settings().public_base_url}/payments/return"}
    assert body["metadata"] == {"topup_id": topup["topup_id"]}

    paid = yookassa.pay(payment_id)
    answer = notify(api, paid)
    assert answer.status_code == 200, answer.body
    assert answer.json_body["outcome"] == "credited"
    assert available(api, customer) == 150_050
    assert notify(api, paid).json_body["outcome"] == "already-applied"
    assert available(api, customer) == 150_050
    line = api.http.get(f"/wallet/transactions/topup:{topup['topup_id']}", headers=customer.headers).json_body
    assert line["card_last4"] == "4477"


def test_a_notification_is_believed_only_as_far_as_the_api_confirms(api, customer, yookassa):
    topup = start(api, customer, amount=10_000).json_body
    [payment_id] = yookassa.payments
    # a forged "succeeded" for a payment the customer has not paid: the API says pending
    forged = {**yookassa.payments[payment_id], "status": "succeeded", "paid": True}
    assert notify(api, forged).json_body["outcome"] == "ignored"
    # a forged larger amount is not what the API reports either
    bigger = {**forged, "amount": {"value": "999999.00", "currency": "RUB"}}
    assert notify(api, bigger).json_body["outcome"] == "ignored"
    assert available(api, customer) == 0
    # an id YooKassa does not know
    ghost = notify(api, {**forged, "id": "2ab00000-000f-5000-8000-000000000000"})
    assert ghost.status_code == 404
    # the customer cancels on the provider's page: the top-up is canceled, a later success refused
    yookassa.pay(payment_id, status="canceled")
    assert notify(api, forged, "payment.canceled").json_body["outcome"] == "canceled"
    yookassa.pay(payment_id, status="succeeded")  # a provider that contradicts itself
    late = notify(api, forged)
    assert late.status_code == 409 and available(api, customer) == 0
    status = api.http.get(f"/wallet/topups/{topup['topup_id']}", headers=customer.headers).json_body
    assert status["status"] == "canceled"


def test_a_payment_for_another_amount_is_refused(api, customer, yookassa):
    start(api, customer, amount=10_000)
    [payment_id] = yookassa.payments
    yookassa.payments[payment_id]["amount"] = {"value": "1.00", "currency": "RUB"}
    resp = notify(api, yookassa.pay(payment_id))
    assert resp.status_code == 422 and resp.json_body["errors"][0]["field"] == "amount"
    assert available(api, customer) == 0


def test_notifications_from_other_addresses_are_refused_when_networks_are_set(api, customer, yookassa,
                                                                              monkeypatch):
    monkeypatch.setenv("YOOKASSA_WEBHOOK_IPS", "185.71.76.0/27,2a02:5180::/32")
    settings.cache_clear()
    start(api, customer)
    [payment_id] = yookassa.payments
    resp = notify(api, yookassa.pay(payment_id))
    assert resp.status_code == 401 and resp.json_body["reason"] == "sender-not-allowed"
    assert available(api, customer) == 0


def test_card_data_is_refused_and_provider_errors_are_retryable(api, customer, yookassa):
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    refused = start(api, customer, card=card)
    assert refused.status_code == 422 and refused.json_body["errors"][0]["field"] == "card"
    assert not yookassa.requests

    yookassa.fail_next = 500
    failed = start(api, customer, key="retry-key-1")
    assert failed.status_code == 503
    retried = start(api, customer, key="retry-key-1")
    assert retried.status_code == 201
    assert len(yookassa.payments) == 1  # the same Idempotence-Key: one payment at the provider
    keys = {h["Idempotence-Key"] for m, _, h, _ in yookassa.requests if m == "POST"}
    assert keys == {retried.json_body["topup_id"]}


def test_wrong_credentials_make_top_ups_unavailable(api, customer, yookassa, monkeypatch):
    monkeypatch.setenv("YOOKASSA_SECRET_KEY", "wrong")
    settings.cache_clear()
    resp = start(api, customer)
    assert resp.status_code == 503
    assert available(api, customer) == 0


# --- two-stage payments (card orders): capture, cancel, refund ---------------------------------


def authorized(fake: FakeYooKassa, amount: int = 45_050) -> tuple[payments_yookassa.YooKassaGateway, str]:
    gateway = payments_yookassa.from_settings()
    payment = gateway.create_payment(amount, "RUB", idempotency_key="order-o1", description="Order o1",
                                     return_url="https://shop.example/payments/return",
                                     metadata={"order_id": "o1"}, capture=False)
    assert fake.requests[-1][3]["capture"] is False
    fake.pay(payment.id, "waiting_for_capture")
    return gateway, payment.id


def test_authorized_payment_is_captured_then_refunded_once(yookassa):
    gateway, pid = authorized(yookassa)
    captured = gateway.capture_payment(pid, 45_050, "RUB", idempotency_key="capture-o1")
    method, path, headers, body = yookassa.requests[-1]
    assert (method, path, headers["Idempotence-Key"]) == ("POST", f"/v3/payments/{pid}/capture", "capture-o1")
    assert body == {"amount": {"value": "450.50", "currency": "RUB"}}
    assert (captured.status, captured.amount) == ("succeeded", 45_050)
    assert gateway.capture_payment(pid, 45_050, "RUB", idempotency_key="capture-o1").status == "succeeded"  # retry

    refund = gateway.refund_payment(pid, 45_050, "RUB", idempotency_key="refund-o1")
    assert yookassa.requests[-1][1] == "/v3/refunds"
    assert yookassa.requests[-1][3] == {"payment_id": pid, "amount": {"value": "450.50", "currency": "RUB"}}
    assert (refund.status, refund.amount) == ("refunded", 45_050)
    assert gateway.refund_payment(pid, 45_050, "RUB", idempotency_key="refund-o1").amount == 45_050  # retry
    with pytest.raises(PaymentRefused) as twice:  # a second refund: the API refuses it
        gateway.refund_payment(pid, 45_050, "RUB", idempotency_key="refund-again")
    assert twice.value.reason == "invalid_request"
    assert len(yookassa.refunds) == 1


def test_returns_refund_part_of_a_captured_payment_up_to_what_remains(yookassa):
    gateway, pid = authorized(yookassa)
    gateway.capture_payment(pid, 45_050, "RUB", idempotency_key="capture-o1")
    first = gateway.refund_payment(pid, 10_000, "RUB", idempotency_key="return-r1")
    assert yookassa.requests[-1][2]["Idempotence-Key"] == "return-r1"
    assert yookassa.requests[-1][3] == {"payment_id": pid, "amount": {"value": "100.00", "currency": "RUB"}}
    assert first.amount == 10_000
    assert gateway.refund_payment(pid, 10_000, "RUB", idempotency_key="return-r1").amount == 10_000  # a retry
    with pytest.raises(PaymentRefused):  # more than remains captured
        gateway.refund_payment(pid, 35_051, "RUB", idempotency_key="return-r2")
    assert gateway.refund_payment(pid, 35_050, "RUB", idempotency_key="return-r2").amount == 35_050
    assert sorted(r["amount"]["value"] for r in yookassa.refunds.values()) == ["100.00", "350.50"]


def test_voided_payment_cannot_be_captured(yookassa):
    gateway, pid = authorized(yookassa)
    voided = gateway.cancel_payment(pid, idempotency_key="void-o1")
    assert yookassa.requests[-1][1] == f"/v3/payments/{pid}/cancel" and voided.status == "canceled"
    with pytest.raises(PaymentRefused):
        gateway.capture_payment(pid, 45_050, "RUB", idempotency_key="capture-o1")
    assert yookassa.payments[pid]["status"] == "canceled"
