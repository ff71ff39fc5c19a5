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

Two-stage payments (``create_payment(capture=False)``, card orders): a card that succeeds leaves
the payment ``waiting_for_capture`` (authorized, webhook sent); then ``capture_payment`` →
``succeeded``, ``cancel_payment`` → ``canceled``, and ``refund_payment`` of a captured one gives
back all or part of what remains captured (``refunded`` grows; the payment is ``refunded`` once
nothing remains: returns refund part of an order), each one conditional write, answered at once
(the caller knows the outcome, so no webhook follows them). A capture after a void, a void after
a capture, a refund of more than remains (a second whole refund), or another amount under a key
already used raise ``PaymentRefused``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import logs
from chalicelib.adapters.payments import (
    AUTHORIZED,
    CANCELED,
    PENDING,
    REFUNDED,
    SUCCEEDED,
    PaymentEvent,
    PaymentRefused,
    ProviderPayment,
    WebhookRejected,
)
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
    import urllib.error  # with urllib.request (http.client, email, ssl): by the first webhook, not with the app
    import urllib.request

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
                       return_url: str, metadata: dict[str, str], capture: bool = True) -> ProviderPayment:
        payment_id = "sbx_" + hashlib.sha256(f"{NAME}/{idempotency_key}".encode()).hexdigest()[:24]
        item = store.put_sandbox({
            "id": payment_id, "status": PENDING, "amount": amount, "currency": currency,
            "description": description, "return_url": return_url, "metadata": dict(metadata),
            "created_at": int(time.time()), "capture": capture,
        })
        return _payment(item)

    def capture_payment(self, payment_id: str, amount: int, currency: str, *, idempotency_key: str
                        ) -> ProviderPayment:
        item = _existing(payment_id)
        _same_money(item, amount, currency)
        if item["status"] == AUTHORIZED and store.move_sandbox(payment_id, from_states=(AUTHORIZED,),
                                                               to_state=SUCCEEDED, capture_key=idempotency_key):
            return _payment(_existing(payment_id))
        item = _existing(payment_id)
        if item["status"] in (SUCCEEDED, REFUNDED) and item.get("capture_key") == idempotency_key:
            return _payment(item)  # a retry
        reason = {CANCELED: "capture-after-void"}.get(item["status"], "not-authorized")
        raise PaymentRefused(reason, f"payment {payment_id} is {item['status']}: it cannot be captured")

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderPayment:
        item = _existing(payment_id)
        if item["status"] != CANCELED and store.move_sandbox(
                payment_id, from_states=(PENDING, AWAITING_3DS, AUTHORIZED), to_state=CANCELED,
                reason="canceled-by-merchant"):
            return _payment(_existing(payment_id))
        item = _existing(payment_id)
        if item["status"] == CANCELED:
            return _payment(item)  # a retry, or the customer canceled first
        raise PaymentRefused("void-after-capture", f"payment {payment_id} is {item['status']}: it cannot be voided")

    def refund_payment(self, payment_id: str, amount: int, currency: str, *, idempotency_key: str
                       ) -> ProviderPayment:
        """Refund ``amount`` (all or part of what remains captured) once per key: one conditional
        write adds it to ``refunded`` and records the key; the payment becomes ``refunded`` when
        nothing remains. The same key again answers as the first refund (another amount under it
        is refused); more than remains is refused (``refund-exceeds-captured``, ``double-refund``
        once nothing remains)."""
        item = _existing(payment_id)
        if currency != item["currency"] or not 0 < amount <= int(item["amount"]):
            raise PaymentRefused("amount-mismatch", f"payment {payment_id} is {item['amount']} {item['currency']}, "
                                                    f"not refundable by {amount} {currency}")
        for _ in range(3):  # another refund of the payment landed in between: read again
            item = _existing(payment_id)
            done = store.sandbox_refunds(item)
            if idempotency_key in done:
                if done[idempotency_key] != amount:
                    raise PaymentRefused("idempotency-key-reused", f"the refund {idempotency_key} of {payment_id} "
                                                                   f"was for {done[idempotency_key]}, not {amount}")
                return _payment(item)  # a retry
            if item["status"] not in (SUCCEEDED, REFUNDED):
                raise PaymentRefused("not-captured", f"payment {payment_id} is {item['status']}: it cannot be refunded")
            refunded = int(item.get("refunded", 0))
            if refunded + amount > int(item["amount"]):
                reason = "double-refund" if item["status"] == REFUNDED else "refund-exceeds-captured"
                raise PaymentRefused(reason, f"payment {payment_id}: {int(item['amount']) - refunded} remains "
                                             f"captured, not {amount}")
            if store.refund_sandbox(payment_id, idempotency_key, amount, seen=refunded,
                                    full=refunded + amount == int(item["amount"])):
                return _payment(_existing(payment_id))
        raise PaymentRefused("refund-conflict", f"payment {payment_id} changed while refunding; retry")

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


def _existing(payment_id: str) -> dict[str, Any]:
    item = store.get_sandbox(payment_id)
    if item is None:
        raise PaymentRefused("unknown-payment", f"the sandbox has no payment {payment_id}")
    return item


def _same_money(item: Mapping[str, Any], amount: int, currency: str) -> None:
    """The sandbox captures the whole amount only (what card orders need)."""
    if amount != int(item["amount"]) or currency != item["currency"]:
        raise PaymentRefused("amount-mismatch", f"payment {item['id']} is {item['amount']} {item['currency']}, "
                                                f"not {amount} {currency}")


def _payment(item: Mapping[str, Any]) -> ProviderPayment:
    return ProviderPayment(
        id=item["id"], status=item["status"], amount=int(item["amount"]), currency=item["currency"],
        confirmation_url=f"{settings().public_base_url}/payments/sandbox/{item['id']}",
        refunded=int(item.get("refunded", 0)),
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
            return _finish(item, _success(item))
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
            return _finish(item, _success(item), last4=last4)
        return _finish(item, CANCELED, reason=DECLINED.get(number, "not-a-test-card"), last4=last4)
    return 200, _render(item, error="Nothing to do: use the form.")


def _success(item: Mapping[str, Any]) -> str:
    """A good card captures at once, or only authorizes a two-stage payment."""
    return SUCCEEDED if item.get("capture", True) else AUTHORIZED


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
