"""Card orders (``payment_method: "card"``): the order's money is a two-stage payment at the
configured provider instead of a hold on the wallet.

| order step | wallet order | card order |
|---|---|---|
| checkout | — | ``start``: the provider payment (``capture=False``), its ``confirmation_url`` |
| payment | ``ledger.hold`` (available → held) | the provider's ``waiting_for_capture`` webhook: |
| | | ``ledger.card_hold`` (provider clearing → held; ``services/payment_webhooks.py``) |
| seller confirms | ``ledger.capture`` | ``capture`` at the provider, then the same ``ledger.capture`` |
| cancel / timeout before capture | ``ledger.release`` → available | ``void`` at the provider, release → clearing |
| cancel after capture | ``ledger.refund_capture`` → available | ``refund`` at the provider, refund → clearing |
| return accepted (after delivery) | ``return`` txn → available | ``refund_return`` (the return's share) at the |
| | | provider, the ``return`` txn → clearing (``services/returns.py``) |

The provider is called first, with an idempotency key per order and operation, then the ledger:
a step retried after the provider answered gets the same answer, so nothing moves twice. An
operation the provider refuses (a capture after a void, a second refund, another amount) is
counted (``CardPaymentsRefused`` by reason), logged, and raised as ``InvalidTransition``: the
ledger does not move.
"""

from __future__ import annotations

from typing import Any

from chalicelib import logs, metrics
from chalicelib.adapters import payment_gateways
from chalicelib.adapters import payments as port
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.domain.orders import Order
from chalicelib.errors import InvalidTransition, NotFound
from chalicelib.store import payments as store

CARD = "card"
PENDING, AUTHORIZED, CAPTURED, CANCELED, REFUNDED = "pending", "authorized", "captured", "canceled", "refunded"


def is_card(order: Order) -> bool:
    return order.payment_method == CARD


def check_available() -> None:
    """Before placing a card order: ``Unavailable`` (503) when no provider is configured."""
    payment_gateways.gateway()


def start(order: Order) -> dict[str, Any]:
    """The order's provider payment, created once (the order id is the idempotency key)."""
    existing = store.get_order_payment(order.order_id)
    if existing is not None:
        return existing
    gateway = payment_gateways.gateway()
    payment = gateway.create_payment(
        order.total, order.currency, idempotency_key=f"order-{order.order_id}",
        description=f"Order {order.order_id}",
        return_url=settings().payment_return_url or f"{settings().public_base_url}/payments/return",
        metadata={"order_id": order.order_id}, capture=False)
    record = store.put_order_payment({
        "order_id": order.order_id, "customer_id": order.customer_id, "provider": gateway.name,
        "provider_payment_id": payment.id, "amount": order.total, "currency": order.currency,
        "status": PENDING, "confirmation_url": payment.confirmation_url or "", "created_at": dl.now_iso(),
    })
    metrics.count("CardPaymentsStarted")
    logs.event("card payment started", order_id=order.order_id, provider=gateway.name, payment_id=payment.id)
    return record


def view(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the customer sees of it (``payment`` on the order)."""
    if record is None:
        return None
    url = record.get("confirmation_url") if record["status"] == PENDING else None
    return {"provider": record["provider"], "status": record["status"], "confirmation_url": url or None}


def record_of(order_id: str) -> dict[str, Any] | None:
    return store.get_order_payment(order_id)


def _record(order: Order) -> dict[str, Any]:
    record = store.get_order_payment(order.order_id)
    if record is None:
        raise NotFound(f"order {order.order_id} has no card payment")
    return record


def capture(order: Order) -> None:
    """Take the authorized total at the provider (the seller confirmed)."""
    record = _record(order)
    _call(order, "capture", lambda g: g.capture_payment(
        record["provider_payment_id"], order.total, order.currency,
        idempotency_key=f"capture-{order.order_id}"))
    store.move_order_payment(order.order_id, from_states=(PENDING, AUTHORIZED), to_state=CAPTURED)


def void(order: Order) -> str | None:
    """Cancel the payment at the provider before any capture; the provider's name, or None
    when the order has no payment there (nothing to void)."""
    record = store.get_order_payment(order.order_id)
    if record is None:
        return None
    if record["status"] == PENDING:
        # never authorized: some providers (YooKassa) cannot cancel a payment the customer has not
        # confirmed; it expires there, and an authorization arriving later is voided by the webhook
        try:
            payment_gateways.gateway(record["provider"]).cancel_payment(
                record["provider_payment_id"], idempotency_key=f"void-{order.order_id}")
        except port.PaymentRefused as refused:
            logs.event("unconfirmed card payment left to expire", order_id=order.order_id, reason=refused.reason)
        store.move_order_payment(order.order_id, from_states=(PENDING,), to_state=CANCELED)
    elif record["status"] != CANCELED:
        _call(order, "void", lambda g: g.cancel_payment(record["provider_payment_id"],
                                                        idempotency_key=f"void-{order.order_id}"))
        store.move_order_payment(order.order_id, from_states=(PENDING, AUTHORIZED), to_state=CANCELED)
    return str(record["provider"])


def refund(order: Order) -> str:
    """Give the captured total back to the card, once; the provider's name."""
    record = _record(order)
    _call(order, "refund", lambda g: g.refund_payment(
        record["provider_payment_id"], order.total, order.currency,
        idempotency_key=f"refund-{order.order_id}"))
    store.move_order_payment(order.order_id, from_states=(CAPTURED,), to_state=REFUNDED)
    return str(record["provider"])


def refund_return(order: Order, return_id: str, amount: int) -> port.ProviderPayment:
    """Give an accepted return's share (part of the capture) back to the card, once per return:
    the key is ``return-<return id>``, so a retried acceptance gets the first answer and nothing
    more. A refusal (more than remains captured, the provider's own reasons) is counted, logged
    and raised as ``InvalidTransition`` (``reason``): nothing moved at the provider."""
    record = _record(order)
    answer = _call(order, "refund-return", lambda g: g.refund_payment(
        record["provider_payment_id"], amount, order.currency, idempotency_key=f"return-{return_id}"))
    metrics.count("CardReturnRefunds")
    logs.event("card return refunded", order_id=order.order_id, return_id=return_id, amount=amount,
               provider=record["provider"])
    return answer


def provider_of(order: Order) -> str:
    return str(_record(order)["provider"])


def _call(order: Order, operation: str, call: Any) -> port.ProviderPayment:
    record = _record(order)
    try:
        return call(payment_gateways.gateway(record["provider"]))
    except port.PaymentRefused as refused:
        refused_operation(record["provider"], refused.reason, str(refused), order_id=order.order_id,
                          operation=operation)
        raise InvalidTransition(f"the provider refused to {operation} the payment of order {order.order_id}: "
                                f"{refused}", reason=refused.reason) from refused


def refused_operation(provider: str, reason: str, detail: str, **fields: Any) -> None:
    metrics.count("CardPaymentsRefused", by=reason)
    logs.event("card payment operation refused", provider=provider, reason=reason, detail=detail, **fields)
