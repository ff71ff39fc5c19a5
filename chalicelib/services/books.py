"""The books: proof that the ledger balances, and that every order's money matches its state.

One pass over the ledger table (``GET /admin/ledger/reconciliation``, or
``python -m chalicelib.services.books`` against the configured tables):

1. the journal: every transaction's legs sum to zero, and every balance item equals the sum of
   its account's legs (the projections never drifted from the journal);
2. the equation — everything the marketplace holds is what came in less what went out::

     wallets (available) + holds + seller earnings + payouts in flight + fee revenue
       − promotion expense  =  top-ups + card payments − payouts paid

   (top-ups are the sum of the top-up transactions; card payments what card orders' transactions
   took from the providers' clearing accounts, net of voids and refunds back to them; the
   clearing accounts mirror the two together);
3. every order with money: its hold's state allows the order's status (held: PAID; captured:
   CONFIRMED, SHIPPED or DELIVERED; released: CANCELLED or never paid; refunded: CANCELLED), the
   order's recorded fee is the capture's, and its returns refunded at most what was captured.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from chalicelib.domain import ledger as dl
from chalicelib.domain import orders as st
from chalicelib.services import ledger
from chalicelib.store import ledger as store
from chalicelib.store import orders as orders_store

ALLOWED = {
    dl.HELD: {st.PAID},
    dl.CAPTURED: {st.CONFIRMED, st.SHIPPED, st.DELIVERED},
    dl.RELEASED: {st.CANCELLED, st.AWAITING_PAYMENT},
    dl.REFUNDED: {st.CANCELLED},
}
MAX_PROBLEMS = 100


def _projection(item: dict[str, Any]) -> dict[str, int]:
    kind, _, owner = item["PK"].partition("#")
    if item.get("SK") != "BALANCE":
        return {}
    if kind == "WALLET":
        return {dl.customer_available(owner): int(item.get(dl.AVAILABLE, 0)),
                dl.customer_held(owner): int(item.get(dl.HELD_BUCKET, 0))}
    if kind == "EARNINGS":
        return {dl.seller_earnings(owner): int(item.get(dl.EARNINGS, 0)),
                dl.seller_in_flight(owner): int(item.get(dl.IN_FLIGHT, 0)),
                dl.seller_paid_out(owner): int(item.get(dl.PAID_OUT, 0))}
    name, _, shard = owner.rpartition("#")
    if kind == "CLEARING":
        return {dl.provider_clearing(name, int(shard)): int(item.get("balance", 0))}
    if kind == "MARKETPLACE":
        account = dl.marketplace_fees(int(shard)) if name == dl.FEES else dl.marketplace_promotions(int(shard))
        return {account: int(item.get("balance", 0))}
    return {}


def reconcile() -> dict[str, Any]:
    journal: Counter[str] = Counter()
    projected: Counter[str] = Counter()
    problems: list[str] = []
    topups = cards = 0
    holds: dict[str, dict[str, Any]] = {}
    for item in store.scan_all():
        if item.get("SK") == "TXN":
            legs = [int(e["amount"]) for e in item["entries"]]
            if sum(legs) != 0:
                problems.append(f"transaction {item['txn_id']} does not balance")
            for e in item["entries"]:
                journal[e["account"]] += int(e["amount"])
            if item["kind"] == dl.TOPUP:
                topups += int(item["amount"])
            else:  # a card order's authorization, void or refund: money from or back to a provider
                cards -= sum(int(e["amount"]) for e in item["entries"] if e["account"].startswith("provider:"))
        elif item.get("SK") == "HOLD":
            holds[item["order_id"]] = item
        else:
            projected.update(_projection(item))
    for account in set(journal) | set(projected):
        if journal[account] != projected[account]:
            problems.append(f"account {account}: balance {projected[account]} but journal {journal[account]}")

    def total(prefix: str, bucket: str | None = None) -> int:
        return sum(v for k, v in projected.items()
                   if k.startswith(prefix) and (bucket is None or dl.parse_account(k).bucket == bucket))

    terms = {
        "wallets": total("customer:", dl.AVAILABLE),
        "holds": total("customer:", dl.HELD_BUCKET),
        "seller_balances": total("seller:", dl.EARNINGS),
        "payouts_in_flight": total("seller:", dl.IN_FLIGHT),
        "marketplace_revenue": total("marketplace:", dl.REVENUE),
        "marketplace_expenses": -total("marketplace:", dl.EXPENSE),
        "topups": topups,
        "card_payments": cards,
        "payouts_paid": total("seller:", dl.PAID_OUT),
    }
    held_side = (terms["wallets"] + terms["holds"] + terms["seller_balances"] + terms["payouts_in_flight"]
                 + terms["marketplace_revenue"] - terms["marketplace_expenses"])
    if held_side != topups + cards - terms["payouts_paid"]:
        problems.append(f"the books do not balance: {held_side} held, {topups + cards - terms['payouts_paid']} owed")
    if -total("provider:") != topups + cards:
        problems.append(f"the clearing accounts ({-total('provider:')}) do not mirror the top-ups and card "
                        f"payments ({topups + cards})")
    problems += _orders(holds)
    return {"balanced": not problems, "currency": ledger.currency(), **terms,
            "holds_checked": len(holds), "problems": problems[:MAX_PROBLEMS]}


def _orders(holds: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    ids = list(holds)
    for start in range(0, len(ids), 100):
        for order in orders_store.load_many(ids[start:start + 100]):
            hold = holds[order.order_id]
            if order.status not in ALLOWED.get(hold["state"], set()):
                problems.append(f"order {order.order_id} is {order.status} but its money is {hold['state']}")
            if order.fee_amount != int(hold.get("fee", 0)):
                problems.append(f"order {order.order_id}: fee {order.fee_amount} but captured {hold.get('fee', 0)}")
            if int(hold.get("ret_amount", 0)) > int(hold["amount"]):
                problems.append(f"order {order.order_id}: returns refunded more than was captured")
    return problems


if __name__ == "__main__":  # the operator's command: python -m chalicelib.services.books
    print(json.dumps(reconcile(), indent=2))
