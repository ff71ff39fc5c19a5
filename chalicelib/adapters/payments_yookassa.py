"""YooKassa (API v3) as the payment provider: plain HTTPS with the standard library.

Chosen for this marketplace because its money is RUB and its customers pay with Russian cards
(Mir included), which YooKassa accepts and a global provider mostly does not; the official
Python SDK would add ``requests`` and its dependencies to the Lambda package for two calls.

Calls (``YOOKASSA_API_URL``, default the provider's ``/v3``; HTTP Basic auth with the shop id
and the secret key):

- create a payment: ``POST /payments`` with an ``Idempotence-Key`` header and
  ``{"amount": {"value": "1500.00", "currency": "RUB"}, "capture": true, "confirmation":
  {"type": "redirect", "return_url": …}, "description": …, "metadata": {"topup_id": …}}``;
  used from the answer: ``id``, ``status``, ``amount``, ``confirmation.confirmation_url``.
- read a payment: ``GET /payments/{id}``; used: ``status``, ``amount``, ``metadata``,
  ``payment_method.card.last4``.
- two-stage payments (card orders): ``"capture": false`` at creation; the customer's
  authorization makes it ``waiting_for_capture``; then ``POST /payments/{id}/capture``
  (``{"amount": …}``) → ``succeeded``, or ``POST /payments/{id}/cancel`` → ``canceled``; a
  captured payment is refunded with ``POST /refunds`` (``{"payment_id", "amount"}``): in full on a
  cancel, or in parts (an accepted return's share; the API refuses more than remains). Each call
  carries an ``Idempotence-Key``; a 4xx answer to them (e.g. a capture of a canceled payment) is
  ``PaymentRefused`` with the provider's ``code``.
- errors: ``{"type": "error", "code", "description", "parameter"}`` with 400/401/403/404/429;
  500 and 202 ("still processing") mean "retry with the same key".

Webhooks: YooKassa does not sign its notifications (``{"type": "notification", "event":
"payment.succeeded", "object": {…the payment…}}``). Its documented checks are done instead: the
sender's address must be in ``YOOKASSA_WEBHOOK_IPS`` (when set: the networks the provider
publishes), and the notification is never trusted for its content: the payment it names is read
back with ``GET /payments/{id}``, and that answer (status, amount, currency, metadata) is the
event. A forged notification therefore can at most make us read a payment's true state.

Amounts: the API's decimal strings ↔ integer minor units (two decimals: RUB).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib import logs
from chalicelib.adapters.payments import REFUNDED, PaymentEvent, PaymentRefused, ProviderPayment, WebhookRejected
from chalicelib.config import settings
from chalicelib.errors import Unavailable

NAME = "yookassa"
TIMEOUT_SECONDS = 10
MAX_DESCRIPTION = 128  # the API's limit on ``description``


class YooKassaGateway:
    name = NAME

    def __init__(self, shop_id: str, secret_key: str, api_url: str, webhook_networks: tuple[str, ...] = ()):
        if not shop_id or not secret_key:
            raise Unavailable("the YooKassa shop id and secret key are not configured")
        self._auth = "Basic " + base64.b64encode(f"{shop_id}:{secret_key}".encode()).decode()
        if urllib.parse.urlsplit(api_url).scheme not in ("https", "http"):
            raise Unavailable("YOOKASSA_API_URL must be an https URL")
        self._api = api_url.rstrip("/")
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in webhook_networks)

    def create_payment(self, amount: int, currency: str, *, idempotency_key: str, description: str,
                       return_url: str, metadata: dict[str, str], capture: bool = True) -> ProviderPayment:
        body = {
            "amount": {"value": to_decimal(amount), "currency": currency},
            "capture": capture,
            "confirmation": {"type": "redirect", "return_url": return_url},
            "description": description[:MAX_DESCRIPTION],
            "metadata": metadata,
        }
        status, data = self._call("POST", "/payments", body, idempotency_key=idempotency_key)
        if status != 200:
            raise Unavailable(_problem("the payment could not be created", status, data))
        return parse_payment(data)

    def capture_payment(self, payment_id: str, amount: int, currency: str, *, idempotency_key: str
                        ) -> ProviderPayment:
        body = {"amount": {"value": to_decimal(amount), "currency": currency}}
        return parse_payment(self._act(f"/payments/{_quoted(payment_id)}/capture", body, idempotency_key))

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderPayment:
        return parse_payment(self._act(f"/payments/{_quoted(payment_id)}/cancel", {}, idempotency_key))

    def refund_payment(self, payment_id: str, amount: int, currency: str, *, idempotency_key: str
                       ) -> ProviderPayment:
        body = {"payment_id": payment_id, "amount": {"value": to_decimal(amount), "currency": currency}}
        refund = self._act("/refunds", body, idempotency_key)
        if refund.get("status") == "canceled":
            raise PaymentRefused("refund-refused", f"YooKassa canceled the refund of {payment_id}")
        return ProviderPayment(id=payment_id, status=REFUNDED, amount=to_minor(refund["amount"]["value"]),
                               currency=str(refund["amount"]["currency"]))

    def _act(self, path: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        status, data = self._call("POST", path, body, idempotency_key=idempotency_key)
        if status in (400, 403, 404, 409, 422):  # the API refused this operation on this payment
            _problem("the operation was refused", status, data)
            raise PaymentRefused(str(data.get("code") or "refused"), str(data.get("description") or status))
        if status != 200:
            raise Unavailable(_problem("the payment operation failed", status, data))
        return data

    def get_payment(self, payment_id: str) -> ProviderPayment | None:
        status, data = self._call("GET", f"/payments/{urllib.parse.quote(payment_id, safe='')}")
        if status == 404:
            return None
        if status != 200:
            raise Unavailable(_problem("the payment could not be read", status, data))
        return parse_payment(data)

    def verify_webhook(self, headers: dict[str, str], body: bytes, source_ip: str) -> PaymentEvent:
        if self._networks and not _address_in(source_ip, self._networks):
            raise WebhookRejected("sender-not-allowed", f"notifications are not accepted from {source_ip}")
        try:
            data = json.loads(body)
            kind, obj_id = data["event"], str(data["object"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("malformed", "the body is not a YooKassa notification") from exc
        if data.get("type") != "notification" or not str(kind).startswith("payment."):
            raise WebhookRejected("malformed", f"not a payment notification: {kind!r}")
        payment = self.get_payment(obj_id)  # the provider's word, not the notification's
        if payment is None:
            raise WebhookRejected("unknown-payment", f"YooKassa knows no payment {obj_id}")
        return PaymentEvent(id=f"{payment.id}:{payment.status}", payment=payment)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
              idempotency_key: str | None = None) -> tuple[int, dict[str, Any]]:
        import urllib.error  # with urllib.request (http.client, email, ssl): by the first call, not with the app
        import urllib.request

        headers = {"Authorization": self._auth, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotence-Key"] = idempotency_key
        url = self._api + path  # https (http only for a test server): checked in __init__
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            # the outcome is unknown: the caller retries with the same Idempotence-Key
            raise Unavailable("the payment provider did not answer; retry shortly") from exc
        if status == 202 or status >= 500:  # 202: still processing; the same key gets the answer later
            raise Unavailable("the payment provider is busy; retry shortly")
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError as exc:
            raise Unavailable("the payment provider answered something unreadable") from exc


def from_settings() -> YooKassaGateway:
    s = settings()
    return YooKassaGateway(s.yookassa_shop_id, s.yookassa_secret_key, s.yookassa_api_url, s.yookassa_webhook_ips)


def to_decimal(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def to_minor(value: Any) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    minor = amount * 100
    if minor != minor.to_integral_value():
        raise ValueError(f"more than two decimals: {value!r}")
    return int(minor)


def parse_payment(data: dict[str, Any]) -> ProviderPayment:
    try:
        card = ((data.get("payment_method") or {}).get("card") or {})
        return ProviderPayment(
            id=str(data["id"]), status=str(data["status"]), amount=to_minor(data["amount"]["value"]),
            currency=str(data["amount"]["currency"]),
            confirmation_url=(data.get("confirmation") or {}).get("confirmation_url"),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            card_last4=card.get("last4"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        logs.event("yookassa answer not understood", error=str(exc))
        raise Unavailable("the payment provider answered something unexpected") from exc


def _quoted(payment_id: str) -> str:
    return urllib.parse.quote(payment_id, safe="")


def _address_in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def _problem(what: str, status: int, data: dict[str, Any]) -> str:
    code, detail = data.get("code", "?"), data.get("description", "")
    logs.event("yookassa refused a call", status=status, code=code, description=detail,
               parameter=data.get("parameter"))
    return f"{what} (provider answered {status} {code})"
