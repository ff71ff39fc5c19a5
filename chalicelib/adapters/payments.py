"""The payment-provider port: payments the customer completes on the provider's own page.

The API never sees card data on this path. A payment is created with the provider
(``create_payment``: amount, an idempotency key, where to send the customer back), the customer
pays on ``confirmation_url``, and the provider reports the outcome with a webhook
(``verify_webhook``: the provider's own verification, then one ``PaymentEvent``).

Two adapters implement the port:

| name | module | where |
|---|---|---|
| ``sandbox`` | ``payments_sandbox.py`` | local stage only: a page served by the stack, HMAC-signed webhooks |
| ``yookassa`` | ``payments_yookassa.py`` | ``PAYMENT_PROVIDER=yookassa`` + shop id and secret key: REST API v3 |

``adapters/payment_gateways.gateway(name)`` is the composition root: services ask it for the
configured adapter (or the one a webhook names) and never import a provider module themselves. Adapters raise
``Unavailable`` when the provider's answer is unknown (timeouts, 5xx: the caller may retry with
the same idempotency key) and ``WebhookRejected`` when a webhook fails verification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# the statuses the services act on; a provider's others pass through. A two-stage payment
# (``create_payment(capture=False)``) is ``waiting_for_capture`` once the customer authorized it,
# until ``capture_payment`` (→ succeeded) or ``cancel_payment`` (→ canceled); a captured one may
# be refunded in one or several parts up to its amount (``refund_payment``: the sandbox reports
# ``refunded`` once nothing remains).
PENDING, SUCCEEDED, CANCELED = "pending", "succeeded", "canceled"
AUTHORIZED, REFUNDED = "waiting_for_capture", "refunded"


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider reports it (amount in integer minor units)."""

    id: str
    status: str
    amount: int
    currency: str
    confirmation_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    card_last4: str | None = None
    refunded: int = 0  # what refunds gave back so far (``refund_payment``'s answer)


@dataclass(frozen=True)
class PaymentEvent:
    """A verified webhook: ``payment`` is the provider's state of the payment it is about."""

    id: str  # the provider's event id, or "<payment id>:<status>" when it has none
    payment: ProviderPayment


class WebhookRejected(Exception):
    """A webhook that failed the provider's verification (forged, stale, malformed)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class PaymentRefused(Exception):
    """The provider refused an operation on a payment (a capture after a void, a second refund,
    another amount): nothing moved there. ``reason`` is the metric's dimension."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class PaymentGateway(Protocol):
    name: str

    def create_payment(self, amount: int, currency: str, *, idempotency_key: str, description: str,
                       return_url: str, metadata: dict[str, str], capture: bool = True) -> ProviderPayment:
        """Create (once per ``idempotency_key``) a payment the customer confirms on the
        provider's page; the answer carries ``confirmation_url``. ``capture=False``: only
        authorize (hold) the amount; ``capture_payment`` or ``cancel_payment`` ends it."""
        ...

    def capture_payment(self, payment_id: str, amount: int, currency: str, *, idempotency_key: str
                        ) -> ProviderPayment:
        """Take the authorized money (a retry answers as the first call); else PaymentRefused."""
        ...

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> ProviderPayment:
        """Void a payment not captured yet (a retry answers as the first call); else PaymentRefused."""
        ...

    def refund_payment(self, payment_id: str, amount: int, currency: str, *, idempotency_key: str
                       ) -> ProviderPayment:
        """Give back ``amount``: all or part of what remains captured (an order's total on a
        cancel; a return's share after delivery), once per ``idempotency_key`` (a retry with the
        same key answers as the first call). More than remains is PaymentRefused."""
        ...

    def verify_webhook(self, headers: dict[str, str], body: bytes, source_ip: str) -> PaymentEvent:
        """The event of a webhook that passed the provider's verification; else WebhookRejected."""
        ...
