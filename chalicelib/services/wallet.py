"""Customer wallets and seller balances as their owners see them; top-ups.

A top-up is the only way money enters the ledger, ``provider clearing → customer available``,
in one of two ways:

- ``start_topup`` (every stage): create a payment with the provider (``adapters/payments``)
  and record the top-up as ``pending``; the customer pays on the provider's page and the
  provider's webhook credits the wallet (``services/payment_webhooks``).
- ``topup`` (the local stage only: the card is in the request): charge the sandbox card and
  credit at once.

Both are keyed by ``reference`` (from ``idempotency.derived_id``), so a retry after a crash
charges nothing twice and credits nothing twice (see ``services/idempotency``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import logs, metrics
from chalicelib.adapters import payment_gateways
from chalicelib.adapters.payments import PaymentRefused
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.errors import DomainError, NotFound
from chalicelib.services import ledger, payments
from chalicelib.store import ledger as ledger_store
from chalicelib.store import payments as payment_store


def topup(customer_id: str, amount: int, currency: str | None, card: payments.Card, *, reference: str
          ) -> dict[str, Any]:
    """Charge ``card`` and credit the wallet; ``reference`` is stable across retries."""
    cur = ledger.check_currency(currency)
    dl.check_amount(amount, cap=dl.MAX_TOPUP)
    txn_id = f"{dl.TOPUP}:{reference}"
    charge = payments.provider().charge(amount, cur, card, idempotency_key=txn_id)
    txn = ledger.record_topup(txn_id, customer_id, amount, cur, charge)
    metrics.count("TopUps")
    return {
        "id": txn["txn_id"],
        "status": "succeeded",
        "amount": {"amount": txn["amount"], "currency": txn["currency"]},
        "card_last4": txn.get("card_last4"),
        "charge_id": txn.get("charge_id"),
        "created_at": txn["created_at"],
    }


def start_topup(customer_id: str, amount: int, currency: str | None, *, reference: str) -> dict[str, Any]:
    """Create the provider's payment for a top-up and record it as pending; the answer carries
    the page where the customer pays. The provider's ``Idempotence-Key`` is the top-up id, so a
    retried request gets the same payment, never a second one."""
    cur = ledger.check_currency(currency)
    dl.check_amount(amount, cap=dl.MAX_TOPUP)
    gateway = payment_gateways.gateway()
    topup_id = f"tp_{reference}"
    payment = gateway.create_payment(
        amount, cur, idempotency_key=topup_id, description=f"Wallet top-up {topup_id}",
        return_url=settings().payment_return_url or f"{settings().public_base_url}/payments/return",
        metadata={"topup_id": topup_id})
    item = payment_store.put_topup({
        "topup_id": topup_id, "customer_id": customer_id, "amount": amount, "currency": cur,
        "provider": gateway.name, "provider_payment_id": payment.id, "status": "pending",
        "confirmation_url": payment.confirmation_url, "created_at": dl.now_iso(),
    })
    metrics.count("TopUpsStarted")
    return topup_view(item)


def topup_status(customer_id: str | None, topup_id: str) -> dict[str, Any]:
    """A top-up paid on the provider's page; another customer's is not found (``None``: an admin)."""
    item = payment_store.get_topup(topup_id) if is_topup_id(topup_id) else None
    if item is None or (customer_id is not None and item["customer_id"] != customer_id):
        raise NotFound(f"top-up {topup_id} not found")
    return topup_view(item)


def expire_topups(now: float | None = None, *, limit: int = 100) -> int:
    """Expire the top-ups the provider has not reported on within ``TOPUP_EXPIRY_SECONDS``:
    cancel each at the provider (so the customer can no longer pay it), then ``pending →
    expired``. A provider that refuses the cancel (it cannot cancel a payment the customer has
    not confirmed, or it was paid just now) leaves the decision to its webhook: an expired
    top-up still settles or cancels once when the provider reports. Run by the reconciler's
    schedule; returns how many expired."""
    cutoff = datetime.fromtimestamp(time.time() if now is None else now, UTC) - timedelta(
        seconds=settings().topup_expiry_seconds)
    before = cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expired = 0
    for item in payment_store.pending_topups(before, limit):
        try:
            payment_gateways.gateway(item["provider"]).cancel_payment(
                item["provider_payment_id"], idempotency_key=f"expire-{item['topup_id']}")
        except PaymentRefused as refused:
            logs.event("top-up not canceled at the provider", topup_id=item["topup_id"], reason=refused.reason)
        except DomainError as exc:  # the provider unavailable or not configured: the next pass retries
            logs.event("top-up expiry deferred", 30, topup_id=item["topup_id"], error=type(exc).__name__)
            continue
        if payment_store.expire(item["topup_id"], at=dl.now_iso()):
            expired += 1
            metrics.count("TopUpsExpired")
    return expired


def is_topup_id(value: str) -> bool:
    """``tp_<32 hex>``: anything else names no top-up (and never reaches a DynamoDB key)."""
    return len(value) == 35 and value.startswith("tp_") and all(c in "0123456789abcdef" for c in value[3:])


def topup_view(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "topup_id": item["topup_id"],
        "status": item["status"],
        "amount": {"amount": int(item["amount"]), "currency": item["currency"]},
        "confirmation_url": item.get("confirmation_url"),
        "transaction_id": f"{dl.TOPUP}:{item['topup_id']}" if item["status"] == "succeeded" else None,
        "created_at": item["created_at"],
    }


def balance(customer_id: str) -> dict[str, Any]:
    return ledger.wallet(customer_id)


def transactions(customer_id: str, *, limit: int, start: dict[str, Any] | None
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The customer's wallet movements, newest first, each with its effect on both balances."""
    items, last = ledger.customer_transactions(customer_id, limit=limit, start=start)
    available, held = dl.customer_available(customer_id), dl.customer_held(customer_id)
    return [_statement_line(t, available=available, held=held) for t in items], last


def transaction(customer_id: str | None, txn_id: str) -> dict[str, Any]:
    """One movement of the customer's wallet (one GetItem); a transaction that moved none of
    this customer's money is not found, like one that does not exist. ``customer_id`` None:
    an admin, who reads any customer's movement."""
    item = ledger_store.get_txn(txn_id) or {}
    owner = customer_id or item.get("customer_id") or ""
    available, held = dl.customer_available(owner), dl.customer_held(owner)
    if not {available, held} & {e["account"] for e in item.get("entries", [])}:
        raise NotFound(f"transaction {txn_id} not found")
    return _statement_line(ledger.txn_view(item), available=available, held=held)


def seller_balance(seller_id: str) -> dict[str, Any]:
    return ledger.seller_balance(seller_id)


def seller_transactions(seller_id: str, *, limit: int, start: dict[str, Any] | None
                        ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, last = ledger.seller_transactions(seller_id, limit=limit, start=start)
    earnings = dl.seller_earnings(seller_id)
    return [_statement_line(t, earnings=earnings) for t in items], last


def _statement_line(txn: dict[str, Any], **accounts: str) -> dict[str, Any]:
    change = {e["account"]: int(e["amount"]) for e in txn.get("entries", [])}
    line: dict[str, Any] = {
        "id": txn["txn_id"],
        "kind": txn["kind"],
        "amount": {"amount": int(txn["amount"]), "currency": txn["currency"]},
        "order_id": txn.get("order_id"),
        "created_at": txn["created_at"],
    }
    for name, account in accounts.items():
        line[f"{name}_change"] = change.get(account, 0)
    if txn["kind"] == dl.TOPUP:
        line["card_last4"] = txn.get("card_last4")
    if "earnings" in accounts:  # the seller's statement shows what promo codes took off the order
        for name in ("seller_discount", "marketplace_discount"):
            if name in txn:
                line[name] = int(txn[name])
    return line
