"""Customer wallets and seller balances as their owners see them; top-ups.

A top-up is the only way money enters the ledger: charge the card through the payment
provider, then post ``provider clearing → customer available`` for the charged amount. Both
steps are keyed by ``reference`` (from ``idempotency.derived_id``), so a retry after a crash
between them charges nothing twice and credits nothing twice (see ``services/idempotency``).
"""

from __future__ import annotations

from typing import Any

from chalicelib import metrics
from chalicelib.domain import ledger as dl
from chalicelib.errors import NotFound
from chalicelib.services import ledger, payments
from chalicelib.store import ledger as ledger_store


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
