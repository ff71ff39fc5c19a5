"""Promo codes: what a code is, when it applies and how much it takes off. No IO.

A code belongs to an *issuer*: a seller (it discounts that seller's order only, and the seller
funds it: their earnings are lower) or the marketplace (``MARKETPLACE``: it discounts the
orders of one checkout and the marketplace funds it as a promotion expense; the seller earns
the full price). Codes are case-insensitive (stored upper-case) and unique per issuer: the same
text may name a seller's code and a marketplace code, or two sellers' codes.

What a code the customer typed means (``evaluate``): its text is looked up for the marketplace
and for every seller with something in the cart; each code found is checked on its own. A text
that names no code of this cart is ``unknown`` — or ``not_for_this_cart`` when some other
seller has that code. At most one seller code per seller and one marketplace code per checkout.

Amounts are integer minor units. Rounding and spreading (the documented rules):

- a percent code takes ``floor(base * percent / 100)``: rounded *down* to the minor unit, so a
  code never takes more than it says (10 % of 9.99 is 0.99);
- a fixed code takes ``min(value, base)``: an order never goes below its delivery;
- seller codes apply first, on the seller's items subtotal; the marketplace code applies to
  what is left, over every order in its currency together (``min_subtotal`` is checked against
  that sum), and is spread over those orders in proportion to what is left of each
  (largest-remainder: each order gets the floor of its exact share, the units left over go one
  by one to the largest fractional parts, ties to the order first in the cart), so the shares
  add up to exactly the discount and no share exceeds its order's items;
- delivery is never discounted.

Use limits: ``max_uses`` counts checkouts that redeemed the code (a marketplace code spread
over several orders is one use), ``max_uses_per_customer`` the same per customer. A use comes
back when every order of that checkout that the code discounted is cancelled (before or after
capture: either way the customer's money all comes back, so the code bought nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MARKETPLACE = "marketplace"
PERCENT, FIXED = "percent", "fixed"
KINDS = (PERCENT, FIXED)
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")
# The largest fixed discount a code may give: 1 000 000.00 in minor units. A code is a
# promotion, not a way to move money; a bigger value is a typo (a 422 at creation).
MAX_FIXED = 100_000_000
MAX_USES = 10**9
MAX_MIN_SUBTOTAL = 10**12
# Codes one checkout may redeem: each takes 3 items of the checkout's one TransactWriteItems
# (the code's counter, the customer's counter, the redemption record; ``domain/cart.py``).
MAX_CODES = 4

# Why a code does not apply (the quote shows them; the checkout refuses with them).
UNKNOWN = "unknown"
NOT_FOR_THIS_CART = "not_for_this_cart"
DUPLICATE = "duplicate"
ENDED = "ended"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
EXHAUSTED = "exhausted"
CUSTOMER_LIMIT = "customer_limit_reached"
BELOW_MINIMUM = "below_minimum"
CURRENCY = "other_currency"
ONE_PER_SELLER = "one_code_per_seller"
ONE_MARKETPLACE = "one_marketplace_code"
TOO_MANY = "too_many_codes"
REASONS = (UNKNOWN, NOT_FOR_THIS_CART, DUPLICATE, ENDED, NOT_YET_VALID, EXPIRED, EXHAUSTED, CUSTOMER_LIMIT,
           BELOW_MINIMUM, CURRENCY, ONE_PER_SELLER, ONE_MARKETPLACE, TOO_MANY)


def normalize(code: str) -> str:
    return code.strip().upper()


def check_definition(kind: str, value: int, *, min_subtotal: int | None = None, starts_at: str | None = None,
                     ends_at: str | None = None, max_uses: int | None = None,
                     max_uses_per_customer: int | None = None) -> list[tuple[str, str]]:
    """``[(field, reason)]`` of a code's terms that cannot be (empty: fine)."""
    problems = []
    if kind == PERCENT and not 1 <= value <= 100:
        problems.append(("value", "a percent code takes 1..100 (percent)"))
    if kind == FIXED and not 1 <= value <= MAX_FIXED:
        problems.append(("value", f"a fixed code takes 1..{MAX_FIXED} (minor units)"))
    if min_subtotal is not None and not 0 <= min_subtotal <= MAX_MIN_SUBTOTAL:
        problems.append(("min_subtotal", f"0..{MAX_MIN_SUBTOTAL} (minor units)"))
    if starts_at and ends_at and ends_at <= starts_at:
        problems.append(("ends_at", "must be after starts_at"))
    for name, limit in (("max_uses", max_uses), ("max_uses_per_customer", max_uses_per_customer)):
        if limit is not None and not 1 <= limit <= MAX_USES:
            problems.append((name, f"1..{MAX_USES}"))
    return problems


def amount_off(kind: str, value: int, base: int) -> int:
    """The discount of one code on ``base`` (rounding: module docstring)."""
    if base <= 0:
        return 0
    if kind == PERCENT:
        return base * value // 100
    return min(value, base)


def spread(total: int, bases: list[int]) -> list[int]:
    """``total`` split over ``bases`` in proportion, summing exactly to ``total`` (largest
    remainder; ties to the earliest). ``total`` must not exceed ``sum(bases)``."""
    whole = sum(bases)
    if whole <= 0 or total <= 0:
        return [0] * len(bases)
    assert total <= whole
    shares = [total * b // whole for b in bases]
    remainders = sorted(range(len(bases)), key=lambda i: (-(total * bases[i] % whole), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def refusal(code: Mapping[str, Any], now_iso: str, *, customer_uses: int) -> str | None:
    """Why ``code`` cannot be redeemed now by a customer who used it ``customer_uses`` times."""
    if code.get("ended"):
        return ENDED
    if code.get("starts_at") and now_iso < str(code["starts_at"]):
        return NOT_YET_VALID
    if code.get("ends_at") and now_iso >= str(code["ends_at"]):
        return EXPIRED
    if code.get("max_uses") is not None and int(code.get("uses", 0)) >= int(code["max_uses"]):
        return EXHAUSTED
    limit = code.get("max_uses_per_customer")
    if limit is not None and customer_uses >= int(limit):
        return CUSTOMER_LIMIT
    return None


@dataclass
class Applied:
    """A code this checkout redeems and what it takes off each seller's order."""

    issuer: str
    code: str
    version: int
    kind: str
    value: int
    shares: dict[str, int] = field(default_factory=dict)  # seller_id -> minor units

    @property
    def funded_by(self) -> str:
        return MARKETPLACE if self.issuer == MARKETPLACE else "seller"


@dataclass
class Evaluation:
    applied: list[Applied]
    rejected: list[dict[str, Any]]  # [{code, reason, detail, seller_id?}]

    def discounts(self, seller_id: str) -> list[dict[str, Any]]:
        return [{"code": a.code, "funded_by": a.funded_by, "amount": a.shares[seller_id]}
                for a in self.applied if seller_id in a.shares]

    def discount(self, seller_id: str, funded_by: str | None = None) -> int:
        return sum(d["amount"] for d in self.discounts(seller_id) if funded_by in (None, d["funded_by"]))


_DETAIL = {
    UNKNOWN: "no such code",
    NOT_FOR_THIS_CART: "this code belongs to a seller who has nothing in your cart",
    DUPLICATE: "the same code is entered twice",
    ENDED: "the code was ended by its issuer",
    NOT_YET_VALID: "the code is not valid yet",
    EXPIRED: "the code has expired",
    EXHAUSTED: "the code has been used as many times as it may be",
    CUSTOMER_LIMIT: "you have used this code as many times as it may be used by one customer",
    BELOW_MINIMUM: "the order is below the code's minimum subtotal",
    CURRENCY: "the code is in another currency than the order",
    ONE_PER_SELLER: "one code per seller: another code of this seller already applies",
    ONE_MARKETPLACE: "one marketplace code per checkout: another one already applies",
    TOO_MANY: f"at most {MAX_CODES} codes can be redeemed in one checkout",
}


def _reject(text: str, reason: str, seller_id: str | None = None, **more: Any) -> dict[str, Any]:
    entry = {"code": text, "reason": reason, "detail": _DETAIL[reason], **more}
    if seller_id is not None:
        entry["seller_id"] = seller_id
    return entry


def evaluate(texts: Iterable[str], carts: list[Mapping[str, Any]], codes: Mapping[tuple[str, str], Mapping[str, Any]],
             issuers_of: Mapping[str, set[str]], customer_uses: Mapping[tuple[str, str], int],
             now_iso: str) -> Evaluation:
    """Which of the typed codes apply to ``carts`` (``[{seller_id, currency, subtotal}]`` in
    cart order: the items subtotal of each seller's order) and how much each takes off.

    ``codes``: the codes found, by ``(issuer, CODE)``; ``issuers_of``: every issuer having
    each text (to tell ``not_for_this_cart`` from ``unknown``); ``customer_uses``: this
    customer's uses by ``(issuer, CODE)``."""
    sellers = [c["seller_id"] for c in carts]
    by_seller = {c["seller_id"]: c for c in carts}
    applied: list[Applied] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    seller_coded: set[str] = set()
    marketplace: tuple[Mapping[str, Any], str] | None = None
    for raw in texts:
        text = normalize(raw)
        if text in seen:
            rejected.append(_reject(text, DUPLICATE))
            continue
        seen.add(text)
        found = [(issuer, codes[(issuer, text)]) for issuer in [MARKETPLACE, *sellers] if (issuer, text) in codes]
        if not found:
            rejected.append(_reject(text, NOT_FOR_THIS_CART if issuers_of.get(text) else UNKNOWN))
            continue
        for issuer, code in found:
            seller_id = None if issuer == MARKETPLACE else issuer
            reason = refusal(code, now_iso, customer_uses=customer_uses.get((issuer, text), 0))
            if reason is None and issuer == MARKETPLACE and marketplace is not None:
                reason = ONE_MARKETPLACE
            if reason is None and seller_id is not None:
                cart = by_seller[seller_id]
                if seller_id in seller_coded:
                    reason = ONE_PER_SELLER
                elif code["kind"] == FIXED and code.get("currency") not in (None, cart["currency"]):
                    reason = CURRENCY
                elif int(cart["subtotal"]) < int(code.get("min_subtotal") or 0):
                    reason = BELOW_MINIMUM
            if reason is None and len(applied) + (marketplace is not None) >= MAX_CODES:
                reason = TOO_MANY
            if reason is not None:
                rejected.append(_reject(text, reason, seller_id))
                continue
            if seller_id is None:
                marketplace = (code, text)
                continue
            seller_coded.add(seller_id)
            cart = by_seller[seller_id]
            applied.append(Applied(seller_id, text, int(code.get("version", 1)), code["kind"], int(code["value"]),
                                   {seller_id: amount_off(code["kind"], int(code["value"]), int(cart["subtotal"]))}))
    if marketplace is not None:
        code, text = marketplace
        currency = code.get("currency")
        eligible = [c for c in carts if code["kind"] == PERCENT or c["currency"] == currency]
        left = {c["seller_id"]: int(c["subtotal"]) - sum(a.shares.get(c["seller_id"], 0) for a in applied)
                for c in eligible}
        if not eligible:
            rejected.append(_reject(text, CURRENCY))
        elif sum(int(c["subtotal"]) for c in eligible) < int(code.get("min_subtotal") or 0):
            rejected.append(_reject(text, BELOW_MINIMUM))
        else:
            ids = list(left)
            total = amount_off(code["kind"], int(code["value"]), sum(left.values()))
            applied.append(Applied(MARKETPLACE, text, int(code.get("version", 1)), code["kind"], int(code["value"]),
                                   dict(zip(ids, spread(total, [left[i] for i in ids]), strict=True))))
    return Evaluation(applied, rejected)


def apply_to_orders(orders: list[dict[str, Any]], evaluation: Evaluation) -> list[dict[str, Any]]:
    """Write the discounts on the planned orders (``total`` = items − discount + delivery) and
    return the redemptions the checkout writes: ``[{issuer, code, version, order_ids}]``."""
    for order in orders:
        seller_id = order["seller_id"]
        discounts = evaluation.discounts(seller_id)
        if not discounts:
            continue
        order["discounts"] = discounts
        order["discount"] = sum(d["amount"] for d in discounts)
        order["seller_discount"] = evaluation.discount(seller_id, "seller")
        order["marketplace_discount"] = evaluation.discount(seller_id, MARKETPLACE)
        order["total"] = int(order["items_total"]) - order["discount"] + int(order["delivery_price"])
        order["promo_redemptions"] = [{"issuer": a.issuer, "code": a.code}
                                      for a in evaluation.applied if seller_id in a.shares]
    by_seller = {o["seller_id"]: o["order_id"] for o in orders}
    return [{"issuer": a.issuer, "code": a.code, "version": a.version,
             "order_ids": [by_seller[s] for s in a.shares if s in by_seller]} for a in evaluation.applied]
