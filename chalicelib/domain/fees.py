"""The marketplace fee: rates, the fee of one order, its rounding. No IO.

Rates are kept in basis points (1/100 of a percent, an integer): the admin sets percents with at
most two decimals (``7.5`` → 750), from 0 to 100 inclusive. A schedule has a default rate and
rates per category; a category is the product's leaf category *name*, compared case- and
space-insensitively ("Books", " books " are one category), because category ids are the
sellers' own and mean nothing across shops.

The fee of an order is taken at capture from what the seller would otherwise earn (the
``base``: what the customer paid plus the marketplace's part of a promo discount). Each item
line weighs by its ``line_total`` at its category's rate and the delivery by its price at the
default rate, so an order of one category pays exactly that category's rate on its base::

    fee = floor(base × Σ(weight_i × rate_i) / (Σ weight_i × 10 000))

**Rounding: down to the minor unit.** The remainder (less than one minor unit per order) stays
with the seller: the marketplace never takes more than the rate it published. A fee is never
negative and never above the base (rates are capped at 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

FULL_BPS = 10_000  # 100 %
MAX_CATEGORIES = 500
MAX_CATEGORY_NAME = 200
DELIVERY = "delivery"  # the key of the delivery's rate in an order's ``rates``


class BadRate(ValueError):
    """A percent the schedule cannot hold; the message says why (shown to the admin)."""


def percent_to_bps(value: Any) -> int:
    """A JSON number (or its text) of percent with at most two decimals, 0..100 → basis points."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise BadRate("must be a number of percent, e.g. 7.5")
    try:
        exact = Decimal(str(value))
    except InvalidOperation as exc:
        raise BadRate("must be a number of percent, e.g. 7.5") from exc
    if not exact.is_finite():
        raise BadRate("must be a number of percent, e.g. 7.5")
    if exact < 0:
        raise BadRate("must not be negative")
    if exact > 100:
        raise BadRate("must be at most 100 (percent)")
    bps = exact * 100
    if bps != bps.to_integral_value():
        raise BadRate("at most two decimal places (basis points)")
    return int(bps)


def bps_to_percent(bps: int) -> float:
    """750 → 7.5 (for answers; exact for two decimals)."""
    return bps / 100


def category_key(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


@dataclass(frozen=True)
class Schedule:
    default_bps: int = 0
    categories: dict[str, int] = field(default_factory=dict)  # category_key → bps

    def rate_for(self, category_name: str | None) -> int:
        return self.categories.get(category_key(category_name), self.default_bps)


@dataclass(frozen=True)
class OrderFee:
    amount: int  # minor units the marketplace takes
    rates: dict[str, int]  # product_id (and ``delivery``) → bps it was charged at
    rate_bps: int | None  # the one rate of the order when every line had the same, else None


def order_fee(base: int, lines: list[tuple[str, int, int]], delivery_price: int, default_bps: int) -> OrderFee:
    """The fee on ``base`` for ``lines`` of ``(product_id, line_total, rate_bps)`` plus the delivery.

    Rounded down (the seller keeps the remainder); 0 for a base of 0 or an order weighing nothing.
    """
    rates = {pid: bps for pid, _, bps in lines}
    weighted = [(w, bps) for _, w, bps in lines]
    if delivery_price > 0:
        rates[DELIVERY] = default_bps
        weighted.append((delivery_price, default_bps))
    distinct = {bps for w, bps in weighted if w > 0}
    one = next(iter(distinct)) if len(distinct) == 1 else None
    total_weight = sum(w for w, _ in weighted)
    if base <= 0 or total_weight <= 0:
        return OrderFee(0, rates, one)
    fee = base * sum(w * bps for w, bps in weighted) // (total_weight * FULL_BPS)
    return OrderFee(min(fee, base), rates, one)


def fee_share(fee: int, base: int, part: int) -> int:
    """The part of a captured ``fee`` that a return of ``part`` of its ``base`` gives back,
    rounded UP — in the seller's favour, as the fee itself is rounded down — so however an order
    is returned piece by piece, the fee left to give back never exceeds the money left
    (``fee − Σ shares ≤ fee × rest / base ≤ rest``); all of it for the whole base."""
    if part >= base:
        return fee
    return -(-fee * part // base) if base > 0 else 0
