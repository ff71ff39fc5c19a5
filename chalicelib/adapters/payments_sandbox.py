"""The sandbox payment provider: a provider that runs inside the local stack.

It behaves like a hosted-page provider: ``create_payment`` stores a payment and answers with
``confirmation_url`` = ``<PUBLIC_BASE_URL>/payments/sandbox/<id>``, the stack serves that page
(``api/payments.py``), the customer types a test card there, and the sandbox reports the
outcome with a webhook to ``POST /payments/webhooks/sandbox`` signed with HMAC-SHA256 over
``<timestamp>.<body>`` with ``PAYMENT_WEBHOOK_SECRET``::

    Sandbox-Signature: t=1767225600,v1=<hex digest>

A signature more than ``SIGNATURE_TOLERANCE_SECONDS`` old is refused, so a captured webhook
cannot be replayed later. Test cards (any future expiry, any CVC; ``docs/payments.md``):

| number | outcome |
|---|---|
| 4242 4242 4242 4242, 5555 5555 5555 4444, 2200 0000 0000 0004 | succeeds |
| 4000 0000 0000 3220 | asks for the 3-D Secure code: ``123456`` succeeds, another code fails |
| 4000 0000 0000 0002 | declined (``card-declined``) |
| 4000 0000 0000 9995 | declined (``insufficient-funds``) |
| any other number | declined (``not-a-test-card``) |

A payment leaves ``pending`` (or ``awaiting_3ds``) once, by a conditional write; its page then
shows the outcome, and posting the form again changes nothing and sends nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import logs
from chalicelib.adapters.payments import CANCELED, PENDING, SUCCEEDED, PaymentEvent, ProviderPayment, WebhookRejected
from chalicelib.config import settings
from chalicelib.notify.rendering import environment
from chalicelib.store import payments as store

NAME = "sandbox"
SIGNATURE_HEADER = "sandbox-signature"
SIGNATURE_TOLERANCE_SECONDS = 300
AWAITING_3DS = "awaiting_3ds"
THREE_DS_CODE = "123456"
DELIVERY_ATTEMPTS = 3

SUCCEEDS = ("4242424242424242", "5555555555554444", "2200000000000004")
NEEDS_3DS = "4000000000003220"
DECLINED = {"4000000000000002": "card-declined", "4000000000009995": "insufficient-funds"}


def sign(body: bytes, *, at: int | None = None, secret: bytes | None = None) -> str:
    """The ``Sandbox-Signature`` header value of ``body``."""
    stamp = int(time.time()) if at is None else at
    key = settings().payment_webhook_secret if secret is None else secret
    digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def _send(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - our API
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# How webhooks leave the sandbox: an HTTP POST to the API (the local stack). Functional tests
# replace it to deliver through their in-process client.
transport: Callable[[str, bytes, dict[str, str]], int] = _send


class SandboxGateway:
    name = NAME

    def create_payment(self, amount: int, currency: str, *, idempotency_key: str, description: str,
                       return_url: str, metadata: dict[str, str]) -> ProviderPayment:
        payment_id = "sbx_" + hashlib.sha256(f"{NAME}/{idempotency_key}".encode()).hexdigest()[:24]
        item = store.put_sandbox({
            "id": payment_id, "status": PENDING, "amount": amount, "currency": currency,
            "description": description, "return_url": return_url, "metadata": dict(metadata),
            "created_at": int(time.time()),
        })
        return _payment(item)

    def verify_webhook(self, headers: dict[str, str], body: bytes, source_ip: str) -> PaymentEvent:
        header = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        stamp, given = parts.get("t", ""), parts.get("v1", "")
        if not stamp.isdigit() or not given:
            raise WebhookRejected("signature-missing", f"the {SIGNATURE_HEADER} header is missing or malformed")
        if abs(time.time() - int(stamp)) > SIGNATURE_TOLERANCE_SECONDS:
            raise WebhookRejected("signature-stale", "the signature is too old (a replayed webhook?)")
        expected = sign(body, at=int(stamp)).partition("v1=")[2]
        if not hmac.compare_digest(expected, given):
            raise WebhookRejected("signature-invalid", "the signature does not match the body")
        try:
            data = json.loads(body)
            obj = data["payment"]
            payment = ProviderPayment(
                id=str(obj["id"]), status=str(obj["status"]), amount=int(obj["amount"]["amount"]),
                currency=str(obj["amount"]["currency"]), metadata=dict(obj.get("metadata") or {}),
                card_last4=obj.get("card_last4"))
            return PaymentEvent(id=str(data["id"]), payment=payment)
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("malformed", "the event is not a sandbox payment event") from exc


def _payment(item: Mapping[str, Any]) -> ProviderPayment:
    return ProviderPayment(
        id=item["id"], status=item["status"], amount=int(item["amount"]), currency=item["currency"],
        confirmation_url=f"{settings().public_base_url}/payments/sandbox/{item['id']}",
        metadata=dict(item.get("metadata") or {}), card_last4=item.get("card_last4"))


# -- the payment page (the provider's side; served by api/payments.py) --------------------------


def page(payment_id: str) -> tuple[int, str]:
    item = store.get_sandbox(payment_id)
    if item is None:
        return 404, _render(None, error="This payment does not exist.")
    return 200, _render(item)


def submit(payment_id: str, form: Mapping[str, str]) -> tuple[int, str]:
    """The page's form: ``action`` = pay (card fields), 3ds (``code``) or cancel."""
    item = store.get_sandbox(payment_id)
    if item is None:
        return 404, _render(None, error="This payment does not exist.")
    action, status = form.get("action", ""), item["status"]
    if status not in (PENDING, AWAITING_3DS):
        return 200, _render(item)  # already decided: show the outcome, change nothing
    if action == "cancel":
        return _finish(item, CANCELED, reason="canceled-by-customer")
    if action == "3ds" and status == AWAITING_3DS:
        if form.get("code", "").strip() == THREE_DS_CODE:
            return _finish(item, SUCCEEDED)
        return _finish(item, CANCELED, reason="3ds-failed")
    if action == "pay" and status == PENDING:
        number = "".join(ch for ch in form.get("number", "") if ch not in " -")
        if not (number.isascii() and number.isdigit() and 12 <= len(number) <= 19):
            # a form shown again with its error, as a provider's page does (nothing changed)
            return 200, _render(item, error="Enter the card number (12-19 digits).")
        last4 = number[-4:]
        if number == NEEDS_3DS:
            if store.move_sandbox(payment_id, from_states=(PENDING,), to_state=AWAITING_3DS, card_last4=last4):
                item = {**item, "status": AWAITING_3DS, "card_last4": last4}
            return 200, _render(store.get_sandbox(payment_id) or item)
        if number in SUCCEEDS:
            return _finish(item, SUCCEEDED, last4=last4)
        return _finish(item, CANCELED, reason=DECLINED.get(number, "not-a-test-card"), last4=last4)
    return 200, _render(item, error="Nothing to do: use the form.")


def _finish(item: dict[str, Any], status: str, *, reason: str | None = None, last4: str | None = None
            ) -> tuple[int, str]:
    fields: dict[str, Any] = {"reason": reason or "-"}
    if last4:
        fields["card_last4"] = last4
    if store.move_sandbox(item["id"], from_states=(PENDING, AWAITING_3DS), to_state=status, **fields):
        item = {**item, "status": status, **fields}
        _notify(item)
    return 200, _render(store.get_sandbox(item["id"]) or item)


def _notify(item: Mapping[str, Any]) -> None:
    """Send the signed webhook of the payment's new status to the API."""
    event = {
        "id": f"evt_{item['id']}_{item['status']}",
        "type": f"payment.{item['status']}",
        "created": int(time.time()),
        "payment": {"id": item["id"], "status": item["status"],
                    "amount": {"amount": int(item["amount"]), "currency": item["currency"]},
                    "metadata": dict(item.get("metadata") or {}), "card_last4": item.get("card_last4"),
                    "reason": item.get("reason")},
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    url = f"{settings().public_base_url}/payments/webhooks/{NAME}"
    headers = {"Content-Type": "application/json", "Sandbox-Signature": sign(body)}
    for attempt in range(DELIVERY_ATTEMPTS):  # like a provider: retried until a 2xx/4xx answer
        try:
            answer = transport(url, body, headers)
        except OSError as exc:
            answer, error = 0, str(exc)
        else:
            error = ""
        if 0 < answer < 500:
            logs.event("sandbox webhook sent", payment_id=item["id"], status=item["status"], answer=answer)
            return
        time.sleep(0.2 * 2**attempt)
    logs.event("sandbox webhook not delivered", payment_id=item["id"], answer=answer, error=error)


def _render(item: Mapping[str, Any] | None, *, error: str | None = None) -> str:
    template = environment().get_template("pages/sandbox_payment.html")
    return template.render(lang="en", payment=item, error=error, code=THREE_DS_CODE,
                           amount_text=_amount_text(item) if item else "")


def _amount_text(item: Mapping[str, Any]) -> str:
    amount = int(item["amount"])
    return f"{amount // 100:,}.{amount % 100:02d} {item['currency']}".replace(",", " ")
