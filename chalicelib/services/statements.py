"""A seller's statement: every movement of their earnings, as lines a person can add up.

Each ledger transaction on the seller's account becomes one or more lines, each with the signed
change it made to the seller's balance (integer minor units), so the lines of a period sum to
what the balance moved:

| transaction | lines |
|---|---|
| capture | ``order`` (+ the value before the seller's own discount), ``discount`` (− it), ``fee`` (− the fee) |
| refund (order cancelled after capture) | ``refund`` (− what the capture paid), ``fee`` (+ the fee given back) |
| return accepted | ``refund`` (− the returned items' share), ``fee`` (+ its share of the fee) |
| payout | ``payout`` (− the amount, now in flight) |
| payout failed | ``payout_returned`` (+ the amount, available again) |

A payout that was paid changes nothing more on the balance; its line is ``payout_paid`` with 0.
A marketplace promo discount is the marketplace's expense: shown on the order line
(``marketplace_discount``), never deducted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.domain import ledger as dl
from chalicelib.domain.spreadsheet import csv_lines
from chalicelib.errors import ValidationFailed
from chalicelib.store import ledger as store

MAX_LINES = 10_000
CSV_HEADER = ("date", "kind", "order_id", "payout_id", "amount_minor", "currency", "description", "transaction_id")


def lines(seller_id: str, start: str, end: str) -> list[dict[str, Any]]:
    """Every line of the period, oldest first; a period with more than ``MAX_LINES`` movements is
    a 422 asking for a shorter one (a cut statement would not add up to the balance's change)."""
    txns = store.seller_txns_between(seller_id, start, end, cap=MAX_LINES + 1)
    if len(txns) > MAX_LINES:
        raise ValidationFailed.one("from", f"the period has more than {MAX_LINES} movements: ask for a shorter one")
    out: list[dict[str, Any]] = []
    for txn in txns:
        out += _lines_of(txn)
    return out


def _line(txn: dict[str, Any], kind: str, amount: int, description: str) -> dict[str, Any]:
    return {"date": txn["created_at"], "kind": kind, "amount": amount, "currency": txn["currency"],
            "order_id": txn.get("order_id"), "payout_id": txn.get("payout_id"), "description": description,
            "transaction_id": txn["txn_id"]}


def _lines_of(txn: dict[str, Any]) -> list[dict[str, Any]]:
    kind, amount = txn["kind"], int(txn["amount"])
    fee, own = int(txn.get("fee", 0)), int(txn.get("seller_discount", 0))
    if kind == dl.CAPTURE:
        mkt = int(txn.get("marketplace_discount", 0))
        note = f"order paid; marketplace promo {mkt} paid by the marketplace" if mkt else "order paid"
        rows = [_line(txn, "order", amount + own, note)]
        if own:
            rows.append(_line(txn, "discount", -own, "your promo code"))
        if fee:
            rate = txn.get("fee_rate_bps")
            rows.append(_line(txn, "fee", -fee, f"marketplace fee {int(rate) / 100:g} %" if rate is not None
                              else "marketplace fee"))
        return rows
    if kind in (dl.REFUND, dl.RETURN):
        rows = [_line(txn, "refund", -amount, "order cancelled: refund" if kind == dl.REFUND else "return accepted")]
        if fee:
            rows.append(_line(txn, "fee", fee, "marketplace fee returned"))
        return rows
    if kind == dl.PAYOUT:
        return [_line(txn, "payout", -amount, "payout requested")]
    if kind == dl.PAYOUT_FAILED:
        return [_line(txn, "payout_returned", amount, "payout failed: the money is available again")]
    if kind == dl.PAYOUT_PAID:
        return [_line(txn, "payout_paid", 0, "payout paid to your account")]
    return []


def csv_text(rows: list[dict[str, Any]]) -> Iterator[str]:
    return iter(csv_lines(CSV_HEADER, ([r["date"], r["kind"], r["order_id"], r["payout_id"], r["amount"],
                                        r["currency"], r["description"], r["transaction_id"]] for r in rows)))
