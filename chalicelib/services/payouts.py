"""A seller's balance (available, pending, paid out) and payouts to their bank account.

**Balance.** ``earnings`` (the ledger account) holds every captured net not refunded and not
paid out. Of it, ``pending`` is the net of orders still inside their return window (captured,
not delivered yet, or delivered less than ``return_window_seconds`` ago; ``store/seller_money``);
``available`` is the rest: what a payout may take.

**Payouts.** ``request`` (``POST /seller/payouts``, under an Idempotency-Key) checks the minimum
(``payout_minimum``), then in ONE transaction moves the amount earnings → in flight and records
the payout ``requested``; the transaction's debit carries ``earnings >= amount + pending``, so
two payouts racing never take pending money. The provider is then asked to pay (keyed by the
payout id); its answer settles the payout in one more transaction: ``paid`` (in flight → paid
out) or ``failed`` (in flight → earnings: available again). When the provider's answer is
unknown the payout stays ``requested`` (money in flight, shown in the books) and the same
request retried sends it again, safely.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import payouts as port
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.errors import Conflict, InsufficientFunds, NotFound, ValidationFailed
from chalicelib.services import ledger
from chalicelib.store import ledger as ledger_store
from chalicelib.store import seller_money as store


def balance(seller_id: str) -> dict[str, Any]:
    return ledger.seller_balance(seller_id)


def request(seller_id: str, amount: int, account: str, *, reference: str) -> dict[str, Any]:
    """Ask for a payout of ``amount``; ``reference`` (stable across retries) is the payout id."""
    cfg = settings()
    if amount < cfg.payout_minimum:
        raise ValidationFailed.one("amount", f"a payout is at least {cfg.payout_minimum} (minor units)")
    existing = store.get_payout(reference)
    if existing is None:
        _open(seller_id, amount, account, reference)
    elif existing["seller_id"] != seller_id or existing["amount"] != amount:
        raise Conflict("this payout was already requested with other details")
    payout = store.get_payout(reference) or {}
    if payout.get("state") == store.REQUESTED:
        result = port.provider().send(reference, amount, payout["currency"], payout["account"])
        _settle(payout, result)
    return view(store.get_payout(reference) or {})


def _open(seller_id: str, amount: int, account: str, payout_id: str) -> None:
    now = dl.now_iso()
    pending = store.pending_total(seller_id, now)
    cur = ledger.currency()
    record = {"payout_id": payout_id, "seller_id": seller_id, "amount": amount, "currency": cur,
              "account": account, "provider": port.provider().name, "created_at": now}
    txn = dl.payout_txn(dl.PAYOUT, payout_id, seller_id, amount, cur, now)
    try:
        ledger_store.post(txn, [store.create_payout_op(record)], floors={dl.seller_earnings(seller_id): pending})
    except ledger_store.TransactionCancelled as cancelled:
        if cancelled.failed(store.PAYOUT) or cancelled.failed(ledger_store.TXN):
            return  # a retry racing the first request: the payout exists
        label = ledger_store.balance_label(dl.seller_earnings(seller_id))
        if cancelled.failed(label):
            earnings = int((cancelled.item(label) or {}).get(dl.EARNINGS, 0))
            raise InsufficientFunds("the payout is more than the available balance",
                                    available=max(0, earnings - pending), required=amount, currency=cur
                                    ) from cancelled
        raise


def _settle(payout: dict[str, Any], result: port.PayoutResult) -> None:
    kind, state = ((dl.PAYOUT_PAID, store.PAID) if result.status == port.PAID
                   else (dl.PAYOUT_FAILED, store.FAILED))
    at = dl.now_iso()
    txn = dl.payout_txn(kind, payout["payout_id"], payout["seller_id"], int(payout["amount"]), payout["currency"], at)
    try:
        ledger_store.post(txn, [store.resolve_payout_op(payout["payout_id"], state, at, result.reason)])
    except ledger_store.TransactionCancelled as cancelled:
        if not (cancelled.failed(store.PAYOUT) or cancelled.failed(ledger_store.TXN)):
            raise  # the in-flight balance always covers its own payout: never expected


def get(seller_id: str, payout_id: str) -> dict[str, Any]:
    payout = store.get_payout(payout_id)
    if payout is None or payout["seller_id"] != seller_id:
        raise NotFound(f"payout {payout_id} not found")
    return view(payout)


def listing(seller_id: str, *, limit: int, start: dict[str, Any] | None
            ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, last = store.list_payouts(seller_id, limit=limit, start=start)
    return [view(i) for i in items], last


def view(payout: dict[str, Any]) -> dict[str, Any]:
    account = str(payout.get("account", ""))
    return {"id": payout["payout_id"], "state": payout["state"],
            "amount": {"amount": int(payout["amount"]), "currency": payout["currency"]},
            "account_last4": account[-4:], "failure_reason": payout.get("failure_reason"),
            "created_at": payout["created_at"], "resolved_at": payout.get("resolved_at")}


def window_end(delivered_at: datetime | None = None) -> str:
    """The end of a return window starting now (or at ``delivered_at``), as the ledger's ISO text."""
    start = delivered_at or datetime.now(UTC)
    return datetime.fromtimestamp(start.timestamp() + settings().return_window_seconds, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
