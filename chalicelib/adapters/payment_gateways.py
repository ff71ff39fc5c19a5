"""The composition root of the payment providers: which adapter of the port
(``adapters/payments.py``) serves this deployment, or the webhook a provider sent.

``PAYMENT_PROVIDER`` names it: ``sandbox`` (the default on the local stage, and only there) or
``yookassa``; unset elsewhere, top-ups answer 503 and webhooks 404.
"""

from __future__ import annotations

from chalicelib.adapters import payments_sandbox, payments_yookassa
from chalicelib.adapters.payments import PaymentGateway
from chalicelib.config import settings
from chalicelib.errors import NotFound, Unavailable


def gateway(name: str | None = None) -> PaymentGateway:
    """The adapter called ``name`` (a webhook's path), or the configured one. A provider that is
    not configured for this deployment is NotFound for a webhook and Unavailable for a payment."""
    configured = settings().payment_provider
    wanted = name or configured
    if not wanted or wanted != configured:
        if name is not None:
            raise NotFound(f"no payment provider {name!r} is configured here")
        raise Unavailable("no payment provider is configured for this deployment")
    if wanted == "sandbox" and settings().sandbox_stage:
        return payments_sandbox.SandboxGateway()
    if wanted == "yookassa":
        return payments_yookassa.from_settings()
    raise Unavailable(f"the payment provider {wanted!r} is not available on this stage")

