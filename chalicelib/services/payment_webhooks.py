"""A provider's webhook: verify it, then apply the payment's outcome to its top-up once.

``apply(provider, headers, body, source_ip)``:

1. the adapter verifies the webhook its provider's way (the sandbox's HMAC signature, YooKassa's
   sender address + reading the payment back) and returns the payment's state;
2. the payment must be one of ours: its ``metadata.topup_id`` names a top-up created with
   this provider for this very provider payment id; otherwise 404;
3. amount and currency must be the top-up's; otherwise 422 naming the field;
4. ``succeeded``: one TransactWriteItems credits the wallet and moves the top-up
   ``pending → succeeded``; ``canceled``: ``pending → canceled``. Both are conditional on
   ``pending``, so the same event again (a provider retry, a replay) moves nothing and answers
   200 ``already-applied``, and an event that contradicts the recorded outcome (``succeeded``
   after ``canceled``, or the reverse) is a 409 and moves nothing.

Every refusal is logged and counted (``PaymentWebhooksRefused`` by reason).
"""

from __future__ import annotations

from typing import Any

from chalicelib import logs, metrics
from chalicelib.adapters import payment_gateways
from chalicelib.adapters import payments as port
from chalicelib.domain import ledger as dl
from chalicelib.errors import Conflict, DomainError, NotFound, Unauthorized, Unavailable, ValidationFailed, field_error
from chalicelib.services import wallet
from chalicelib.store import ledger as ledger_store
from chalicelib.store import payments as store


def apply(provider: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    try:
        return _apply(provider, headers, body, source_ip)
    except port.WebhookRejected as rejected:
        _refused(provider, rejected.reason, str(rejected))
        if rejected.reason == "unknown-payment":
            raise NotFound(str(rejected)) from rejected
        raise Unauthorized(f"webhook refused: {rejected}", reason=rejected.reason) from rejected
    except (NotFound, ValidationFailed, Conflict) as refused:
        _refused(provider, refused.extra.get("reason", refused.slug), str(refused))
        raise


def _apply(provider: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    event = payment_gateways.gateway(provider).verify_webhook(headers, body, source_ip)
    payment = event.payment
    topup_id = payment.metadata.get("topup_id", "")
    topup = store.get_topup(topup_id) if wallet.is_topup_id(topup_id) else None
    if topup is None or topup["provider"] != provider or topup["provider_payment_id"] != payment.id:
        raise NotFound(f"payment {payment.id} is not one of ours", reason="unknown-payment")
    if payment.currency != topup["currency"]:
        raise _mismatch("currency", f"the top-up is in {topup['currency']}, the payment in {payment.currency}")
    if payment.amount != int(topup["amount"]):
        raise _mismatch("amount", f"the top-up is {topup['amount']}, the payment {payment.amount}")
    if payment.status == port.SUCCEEDED:
        outcome = _credit(topup, payment)
    elif payment.status == port.CANCELED:
        outcome = _cancel(topup, payment)
    else:  # pending, waiting_for_capture…: nothing to do yet
        outcome = "ignored"
    logs.event("payment webhook", provider=provider, event_id=event.id, topup_id=topup_id,
               status=payment.status, outcome=outcome)
    return {"event_id": event.id, "topup_id": topup_id, "status": payment.status, "outcome": outcome}


def _credit(topup: dict[str, Any], payment: port.ProviderPayment) -> str:
    at = dl.now_iso()
    txn = dl.topup_txn(f"{dl.TOPUP}:{topup['topup_id']}", topup["customer_id"], int(topup["amount"]),
                       topup["currency"], provider=topup["provider"], charge_id=payment.id,
                       card_last4=payment.card_last4 or "", created_at=at)
    try:
        ledger_store.post(txn, [store.settle_op(topup["topup_id"], provider_payment_id=payment.id, at=at)])
    except ledger_store.TransactionCancelled as cancelled:
        if not (cancelled.failed(store.PAYMENT) or cancelled.failed(ledger_store.TXN)):
            raise (Unavailable("the ledger is busy, retry shortly") if cancelled.transient
                   else RuntimeError(f"top-up credit refused unexpectedly: {cancelled}")) from cancelled
        current = store.get_topup(topup["topup_id"]) or topup
        if current["status"] == port.SUCCEEDED:
            return "already-applied"
        raise _contradiction(current, port.SUCCEEDED) from cancelled
    metrics.count("TopUps")
    return "credited"


def _cancel(topup: dict[str, Any], payment: port.ProviderPayment) -> str:
    if store.cancel(topup["topup_id"], provider_payment_id=payment.id, at=dl.now_iso()):
        return "canceled"
    current = store.get_topup(topup["topup_id"]) or topup
    if current["status"] == port.CANCELED:
        return "already-applied"
    raise _contradiction(current, port.CANCELED)


def _mismatch(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {reason}", errors=[field_error(field, reason)], reason=f"{field}-mismatch")


def _contradiction(current: dict[str, Any], wanted: str) -> DomainError:
    return Conflict(f"the top-up is already {current['status']}; a {wanted} event cannot change it",
                    reason="out-of-order", current_status=current["status"])


def _refused(provider: str, reason: str, detail: str) -> None:
    metrics.count("PaymentWebhooksRefused", by=reason)
    logs.event("payment webhook refused", provider=provider, reason=reason, detail=detail)
