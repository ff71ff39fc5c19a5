"""Promo code rules (``domain/promos.py``), no IO: what a code takes off, when it applies, how a
marketplace code is spread over a checkout's orders, and what an order then totals."""

from __future__ import annotations

import pytest

from chalicelib.domain import promos as p

NOW = "2026-06-01T12:00:00Z"
S1, S2, S3 = "seller-1", "seller-2", "seller-3"


def code(issuer: str, text: str, kind: str = p.PERCENT, value: int = 10, **terms) -> dict:
    return {"issuer": issuer, "code": text, "kind": kind, "value": value, "currency": "RUB", "uses": 0,
            "version": 1, "ended": False, **terms}


def carts(*subtotals: tuple[str, int], currency: str = "RUB") -> list[dict]:
    return [{"seller_id": s, "currency": currency, "subtotal": v} for s, v in subtotals]


def evaluate(texts, cart_list, *codes_, customer_uses=None, now=NOW, other_issuers=None) -> p.Evaluation:
    found = {(c["issuer"], c["code"]): c for c in codes_}
    issuers: dict[str, set[str]] = {}
    for c in codes_:
        issuers.setdefault(c["code"], set()).add(c["issuer"])
    for text, who in (other_issuers or {}).items():
        issuers.setdefault(text, set()).update(who)
    return p.evaluate(texts, cart_list, found, issuers, customer_uses or {}, now)


# --- amounts: percent and fixed, rounding ------------------------------------------------------


@pytest.mark.parametrize(("kind", "value", "base", "off"), [
    (p.PERCENT, 10, 999, 99),        # 10 % of 9.99 is 0.99: rounded down, never more than it says
    (p.PERCENT, 15, 1, 0),           # less than a minor unit: nothing
    (p.PERCENT, 100, 12_345, 12_345),
    (p.PERCENT, 33, 300, 99),
    (p.FIXED, 500, 12_345, 500),
    (p.FIXED, 50_000, 12_345, 12_345),  # capped at the base: an order never goes below its delivery
    (p.FIXED, 500, 0, 0),
    (p.PERCENT, 10, -5, 0),
])
def test_amount_off_rounds_down_and_never_exceeds_the_base(kind, value, base, off):
    assert p.amount_off(kind, value, base) == off


def test_spread_adds_up_exactly_and_gives_leftover_units_to_the_largest_remainders():
    assert p.spread(100, [100, 100, 100]) == [34, 33, 33]  # ties: the order first in the cart
    assert p.spread(10, [3, 7]) == [3, 7]
    assert p.spread(5, [2, 3, 5]) == [1, 2, 2]  # exact 1.0, 1.5, 2.5: floors 1, 1, 2; the tie to the earlier
    assert p.spread(0, [5, 5]) == [0, 0] and p.spread(3, [0, 0]) == [0, 0]
    shares = p.spread(997, [123, 4567, 89, 1])
    assert sum(shares) == 997 and all(s <= b for s, b in zip(shares, [123, 4567, 89, 1], strict=True))


# --- definitions (the 422s of create and update) -----------------------------------------------


@pytest.mark.parametrize(("kind", "value", "terms", "field"), [
    (p.PERCENT, 0, {}, "value"),
    (p.PERCENT, 101, {}, "value"),            # a percent above 100
    (p.FIXED, 0, {}, "value"),
    (p.FIXED, p.MAX_FIXED + 1, {}, "value"),  # a fixed value above the cap
    (p.PERCENT, 10, {"min_subtotal": -1}, "min_subtotal"),
    (p.PERCENT, 10, {"starts_at": "2026-06-02T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}, "ends_at"),
    (p.PERCENT, 10, {"starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}, "ends_at"),
    (p.PERCENT, 10, {"max_uses": 0}, "max_uses"),
    (p.PERCENT, 10, {"max_uses_per_customer": 0}, "max_uses_per_customer"),
])
def test_error_on_a_code_that_cannot_be(kind, value, terms, field):
    assert [f for f, _ in p.check_definition(kind, value, **terms)] == [field]


def test_a_sound_code_has_no_problems_and_codes_are_case_insensitive():
    assert p.check_definition(p.PERCENT, 100, min_subtotal=0, max_uses=1, max_uses_per_customer=1,
                              starts_at="2026-06-01T00:00:00Z", ends_at="2026-06-02T00:00:00Z") == []
    assert p.check_definition(p.FIXED, p.MAX_FIXED) == []
    assert p.normalize("  spring-25 ") == "SPRING-25"


# --- when a code may be redeemed: windows, limits, ended ----------------------------------------


@pytest.mark.parametrize(("terms", "customer_uses", "reason"), [
    ({}, 0, None),
    ({"ended": True}, 0, p.ENDED),
    ({"starts_at": "2026-06-01T12:00:01Z"}, 0, p.NOT_YET_VALID),
    ({"starts_at": NOW}, 0, None),                 # valid from its first instant
    ({"ends_at": NOW}, 0, p.EXPIRED),              # and not at its end
    ({"ends_at": "2026-06-01T12:00:01Z"}, 0, None),
    ({"max_uses": 5, "uses": 5}, 0, p.EXHAUSTED),
    ({"max_uses": 5, "uses": 4}, 0, None),
    ({"max_uses_per_customer": 2}, 2, p.CUSTOMER_LIMIT),
    ({"max_uses_per_customer": 2}, 1, None),
])
def test_refusal_follows_the_window_the_limits_and_the_issuers_end(terms, customer_uses, reason):
    assert p.refusal(code(S1, "X10", **terms), NOW, customer_uses=customer_uses) == reason


# --- evaluate: which typed codes apply to a cart ----------------------------------------------


def test_a_seller_code_discounts_that_sellers_cart_only():
    result = evaluate(["x10"], carts((S1, 10_000), (S2, 5_000)), code(S1, "X10", value=10))
    assert result.rejected == []
    assert result.discounts(S1) == [{"code": "X10", "funded_by": "seller", "amount": 1_000}]
    assert result.discount(S2) == 0


@pytest.mark.parametrize(("texts", "cart_list", "codes_", "other", "reason"), [
    (["NOPE"], carts((S1, 1000)), [], None, p.UNKNOWN),
    (["THEIRS"], carts((S1, 1000)), [], {"THEIRS": {S3}}, p.NOT_FOR_THIS_CART),
    (["X10", "x10"], carts((S1, 1000)), [code(S1, "X10")], None, p.DUPLICATE),
    (["BIG"], carts((S1, 999)), [code(S1, "BIG", min_subtotal=1000)], None, p.BELOW_MINIMUM),
    (["USD"], carts((S1, 1000)), [code(S1, "USD", p.FIXED, 100, currency="USD")], None, p.CURRENCY),
    (["A10", "B10"], carts((S1, 1000)), [code(S1, "A10"), code(S1, "B10")], None, p.ONE_PER_SELLER),
    (["M1", "M2"], carts((S1, 1000)), [code(p.MARKETPLACE, "M1"), code(p.MARKETPLACE, "M2")], None,
     p.ONE_MARKETPLACE),
    (["MBIG"], carts((S1, 600), (S2, 399)), [code(p.MARKETPLACE, "MBIG", min_subtotal=1000)], None,
     p.BELOW_MINIMUM),
    (["GONE"], carts((S1, 1000)), [code(S1, "GONE", max_uses=1, uses=1)], None, p.EXHAUSTED),
])
def test_a_code_that_does_not_apply_is_rejected_with_its_reason(texts, cart_list, codes_, other, reason):
    result = evaluate(texts, cart_list, *codes_, other_issuers=other)
    assert [r["reason"] for r in result.rejected] == [reason]
    assert result.rejected[0]["detail"]


def test_a_marketplace_minimum_counts_every_order_of_the_checkout_together():
    result = evaluate(["MBIG"], carts((S1, 600), (S2, 400)), code(p.MARKETPLACE, "MBIG", p.FIXED, 100,
                                                                    min_subtotal=1000))
    assert result.rejected == [] and result.discount(S1) + result.discount(S2) == 100


def test_at_most_max_codes_apply_in_one_checkout():
    sellers = [f"s{i}" for i in range(p.MAX_CODES + 1)]
    codes_ = [code(s, f"C{i}X") for i, s in enumerate(sellers)]
    result = evaluate([c["code"] for c in codes_], carts(*[(s, 1000) for s in sellers]), *codes_)
    assert len(result.applied) == p.MAX_CODES
    assert [r["reason"] for r in result.rejected] == [p.TOO_MANY]


def test_the_marketplace_code_applies_after_seller_codes_spread_over_what_is_left():
    result = evaluate(["S50", "M300"], carts((S1, 1000), (S2, 2000)),
                      code(S1, "S50", p.PERCENT, 50), code(p.MARKETPLACE, "M300", p.FIXED, 300))
    assert result.discount(S1, "seller") == 500
    # left: 500 and 2000 -> 300 spread 60 / 240
    assert result.discount(S1, p.MARKETPLACE) == 60 and result.discount(S2, p.MARKETPLACE) == 240
    assert result.discount(S2, "seller") == 0


def test_a_fixed_marketplace_code_skips_orders_in_another_currency_and_a_percent_one_does_not():
    mixed = [*carts((S1, 1000)), *carts((S2, 1000), currency="USD")]
    fixed = evaluate(["MF"], mixed, code(p.MARKETPLACE, "MF", p.FIXED, 100))
    assert fixed.discount(S1) == 100 and fixed.discount(S2) == 0
    percent = evaluate(["MP"], mixed, code(p.MARKETPLACE, "MP", p.PERCENT, 10))
    assert percent.discount(S1) == 100 and percent.discount(S2) == 100


def test_a_seller_code_and_a_marketplace_code_may_share_a_text():
    result = evaluate(["SALE"], carts((S1, 1000)), code(S1, "SALE", p.PERCENT, 10),
                      code(p.MARKETPLACE, "SALE", p.FIXED, 100))
    assert result.rejected == []
    assert {d["funded_by"]: d["amount"] for d in result.discounts(S1)} == {"seller": 100, p.MARKETPLACE: 100}


# --- the orders a checkout writes --------------------------------------------------------------


def test_orders_total_items_less_discount_plus_delivery_and_name_their_redemptions():
    result = evaluate(["S10", "M300"], carts((S1, 1000), (S2, 2000)),
                      code(S1, "S10", p.PERCENT, 10), code(p.MARKETPLACE, "M300", p.FIXED, 300, version=3))
    orders = [{"order_id": "o1", "seller_id": S1, "items_total": 1000, "delivery_price": 350},
              {"order_id": "o2", "seller_id": S2, "items_total": 2000, "delivery_price": 0}]
    redemptions = p.apply_to_orders(orders, result)
    o1, o2 = orders
    assert (o1["seller_discount"], o1["marketplace_discount"], o1["discount"]) == (100, 93, 193)  # 300 over 900/2000
    assert o1["total"] == 1000 - 193 + 350 and o2["total"] == 2000 - 207
    assert o1["discount"] + o2["discount"] == 100 + 300
    assert {(r["issuer"], r["code"], r["version"], tuple(r["order_ids"])) for r in redemptions} == {
        (S1, "S10", 1, ("o1",)), (p.MARKETPLACE, "M300", 3, ("o1", "o2"))}


def test_an_order_no_code_touches_keeps_its_total():
    result = evaluate(["S10"], carts((S1, 1000), (S2, 2000)), code(S1, "S10"))
    orders = [{"order_id": "o2", "seller_id": S2, "items_total": 2000, "delivery_price": 0, "total": 2000}]
    p.apply_to_orders(orders, result)
    assert orders[0] == {"order_id": "o2", "seller_id": S2, "items_total": 2000, "delivery_price": 0, "total": 2000}
