"""Returns after delivery: what may be returned, and what an accepted return refunds. No IO.

A customer returns some or all of an order's items within the return window after delivery
(``return_window_seconds``, 14 days by default). A line may be returned up to the quantity
bought, less what earlier returns (requested or accepted) already claimed; a rejected return
frees its quantities again.

**What an accepted return refunds** (integer minor units, all rounded down, so a partial return
never gives more than its share; the return that completes the order settles what is left
exactly, delivery included):

- to the customer: the returned items' share of what the customer paid for items (the order's
  total less delivery — discounts are on items), ``(total − delivery) × value / items_total``
  where ``value`` is the returned lines at their order price; the whole rest of ``total`` (with
  the delivery) when the order comes back entirely;
- the marketplace's promo discount share goes back to the promotion expense the same way;
- the marketplace fee is reversed proportionally: ``fee × (refund + promotion) / (total +
  promotion)``, rounded UP (the seller's favour, as the fee itself is rounded down; this keeps
  the fee still to give back within the money still to return); the whole rest on a full return;
- the seller gives back ``refund + promotion − fee``; their net on the order never goes below 0.

The sum of every return's refund is therefore at most what was captured (the total), exactly it
on a full return; the seller's part of each return is never negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.fees import fee_share
from chalicelib.domain.orders import RETURNED_QTY, Order

REQUESTED, ACCEPTED, REJECTED = "requested", "accepted", "rejected"
MAX_REASON = 1000


def returned_qty_field(index: int) -> str:
    """The order item's attribute counting the units of line ``index`` claimed by returns."""
    return f"{RETURNED_QTY}{index}"


@dataclass(frozen=True)
class ReturnMoney:
    refund: int  # to the customer's available balance
    promotion: int  # back to the marketplace's promotion expense
    fee: int  # back from the marketplace's fee revenue
    full: bool  # this return completes the order's return: the delivery comes back too

    @property
    def seller_part(self) -> int:
        return self.refund + self.promotion - self.fee


def lines_to_return(order: Order, wanted: list[tuple[str, int]]) -> tuple[list[tuple[int, int]], list[dict]]:
    """``wanted`` (product id, quantity) → ``[(line index, quantity)]`` and the field errors."""
    index = {item.product_id: i for i, item in enumerate(order.items)}
    out: dict[int, int] = {}
    errors = []
    for n, (pid, qty) in enumerate(wanted):
        if pid not in index:
            errors.append({"field": f"items.{n}.product_id", "reason": "this order has no such product"})
            continue
        i = index[pid]
        out[i] = out.get(i, 0) + qty
        left = order.items[i].quantity - order.items[i].returned
        if out[i] > left:
            errors.append({"field": f"items.{n}.quantity", "reason": (
                f"at most {left} can still be returned" if left else "already returned")})
    return sorted(out.items()), errors


def money_of(order: Order, hold: dict[str, Any], lines: list[tuple[int, int]],
             claimed_after: dict[int, int]) -> ReturnMoney:
    """What accepting ``lines`` moves, given what earlier accepted returns moved (on ``hold``:
    ``ret_amount``, ``ret_promotion``, ``ret_fee``) and every line's units claimed by accepted
    returns once this one is accepted (``claimed_after``)."""
    total, promotion, fee = int(hold["amount"]), int(hold.get("promotion", 0)), int(hold.get("fee", 0))
    done = (int(hold.get("ret_amount", 0)), int(hold.get("ret_promotion", 0)), int(hold.get("ret_fee", 0)))
    items = order.items
    full = all(claimed_after.get(i, 0) >= item.quantity for i, item in enumerate(items))
    if full:
        return ReturnMoney(total - done[0], promotion - done[1], fee - done[2], True)
    items_total = (order.items_total or sum(i.line_total for i in items)) or 1
    value = sum(items[i].price * q for i, q in lines)
    paid_for_items = max(0, total - order.delivery_price)
    refund = min(paid_for_items * value // items_total, total - done[0])
    promo = min(promotion * value // items_total, promotion - done[1])
    back = min(fee_share(fee, total + promotion, refund + promo), fee - done[2])
    return ReturnMoney(refund, promo, back, False)
