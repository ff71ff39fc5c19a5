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

A card order's payment (``metadata.order_id``; ``services/card_payments.py``) goes through the
same checks against the order's payment record, then:

- ``waiting_for_capture`` (the customer authorized it): ``ledger.card_hold`` (provider clearing
  → the customer's held bucket, once) and the order ``AWAITING_PAYMENT → PAID``, and the
  workflow's payment wait is woken (``authorized``). If the order was cancelled first (the
  customer, the payment timeout), the authorization is voided at once and nothing is held
  (``voided``);
- ``canceled`` before any authorization (declined, canceled on the page, expired at the
  provider): the order is cancelled like an unpaid one (``canceled``);
- ``succeeded`` (our own capture, reported back) and repeats: ``already-applied`` / ``ignored``.

Every refusal is logged and counted (``PaymentWebhooksRefused`` by reason).
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients, logs, metrics
from chalicelib.adapters import payment_gateways
from chalicelib.adapters import payments as port
from chalicelib.domain import ledger as dl
from chalicelib.domain import orders as order_rules
from chalicelib.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    field_error,
)
from chalicelib.services import card_payments, ledger, wallet
from chalicelib.services.workflow import steps
from chalicelib.services.workflow.wake import ResumeFailed, resume
from chalicelib.store import ledger as ledger_store
from chalicelib.store import orders as orders_store
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
        _refused(provider, refused.reason or refused.slug, str(refused))
        raise


def _apply(provider: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    event = payment_gateways.gateway(provider).verify_webhook(headers, body, source_ip)
    payment = event.payment
    if "order_id" in payment.metadata and "topup_id" not in payment.metadata:
        return _order_event(provider, event)
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


def _order_event(provider: str, event: port.PaymentEvent) -> dict[str, Any]:
    payment = event.payment
    order_id = payment.metadata["order_id"]
    record = card_payments.record_of(order_id) if order_rules.EXECUTION_NAME_RE.match(order_id) else None
    order = orders_store.load(order_id) if record else None
    if (order is None or record is None or record["provider"] != provider
            or record["provider_payment_id"] != payment.id):
        raise NotFound(f"payment {payment.id} is not one of ours", reason="unknown-payment")
    if payment.currency != record["currency"]:
        raise _mismatch("currency", f"the order is in {record['currency']}, the payment in {payment.currency}")
    if payment.amount != int(record["amount"]):
        raise _mismatch("amount", f"the order's total is {record['amount']}, the payment {payment.amount}")
    if payment.status == port.AUTHORIZED:
        outcome = _authorized(provider, order, payment)
    elif payment.status == port.CANCELED:
        outcome = _order_payment_canceled(order, record)
    elif payment.status == port.SUCCEEDED and record["status"] == card_payments.CAPTURED:
        outcome = "already-applied"
    else:
        outcome = "ignored"
    logs.event("payment webhook", provider=provider, event_id=event.id, order_id=order_id,
               status=payment.status, outcome=outcome)
    return {"event_id": event.id, "order_id": order_id, "status": payment.status, "outcome": outcome}


def _authorized(provider: str, order: order_rules.Order, payment: port.ProviderPayment) -> str:
    if order.status in order_rules.PAID_OR_LATER:
        return "already-applied"
    if order.status != order_rules.AWAITING_PAYMENT:  # cancelled before the customer paid
        _void_late(provider, order, payment)
        return "voided"
    ledger.card_hold(order.order_id, order.customer_id, order.total, order.currency,
                     provider=provider, payment_id=payment.id)
    store.move_order_payment(order.order_id, from_states=(card_payments.PENDING,),
                             to_state=card_payments.AUTHORIZED, card_last4=payment.card_last4 or "")
    if steps.mark_paid(order, actor=f"provider:{provider}") != "paid":
        return "voided"  # cancelled meanwhile: mark_paid gave the hold back and voided it
    metrics.count("CardPaymentsAuthorized")
    _wake(order.order_id, {"decision": "paid", "by": f"provider:{provider}"})
    return "authorized"


def _void_late(provider: str, order: order_rules.Order, payment: port.ProviderPayment) -> None:
    """An authorization for an order that is over: give it back at the provider, hold nothing."""
    payment_gateways.gateway(provider).cancel_payment(payment.id, idempotency_key=f"void-{order.order_id}")
    store.move_order_payment(order.order_id, from_states=(card_payments.PENDING, card_payments.AUTHORIZED),
                             to_state=card_payments.CANCELED)


def _order_payment_canceled(order: order_rules.Order, record: dict[str, Any]) -> str:
    """The provider canceled the payment before any authorization: the order is cancelled as an
    unpaid one (its workflow restocks it); a cancel after our own void is already applied."""
    store.move_order_payment(order.order_id, from_states=(card_payments.PENDING,), to_state=card_payments.CANCELED)
    if order.status != order_rules.AWAITING_PAYMENT:
        return "already-applied"
    try:
        orders_store.transition(
            order.order_id, from_statuses={order_rules.AWAITING_PAYMENT}, to_status=order_rules.CANCELLED,
            event_id=f"to:{order_rules.CANCELLED}", event={"type": "payment_canceled", "actor": "provider"},
            updates={"cancelled_by": "system", "cancel_reason": "payment_canceled"})
    except InvalidTransition:
        return "already-applied"  # paid or cancelled just now: that decision stands
    _wake(order.order_id, {"decision": "cancel", "by": "provider"})
    return "canceled"


def _wake(order_id: str, output: dict[str, Any]) -> None:
    try:
        resume(order_id, "payment", output)
    except (ResumeFailed, *clients.AWS_ERRORS) as exc:
        # the order's status is recorded: the payment wait's own timeout reconciles by status
        logs.event("workflow not resumed", 30, order_id=order_id, kind="payment", error=type(exc).__name__)


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
