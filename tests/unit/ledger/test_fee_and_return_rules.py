"""The fee and return money rules (no IO): rounding, and that returns never give back more than
was captured — however an order is split into partial returns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import fees, returns
from chalicelib.domain.orders import Order


def delivered_order(**fields) -> Order:
    return Order.from_item({"order_id": "o1", "customer_id": "c1", "seller_id": "s1", "status": "DELIVERED",
                            "currency": "RUB", **fields})


def test_fee_is_rounded_down_and_the_seller_keeps_the_remainder():
    assert fees.order_fee(45_000, [], 45_000, 333).amount == 1_498  # 1_498.5
    assert fees.order_fee(1, [], 1, 9_999).amount == 0


def test_each_line_pays_its_category_rate_and_delivery_the_default():
    fee = fees.order_fee(45_000, [("boots", 10_000, 1_250)], 35_000, 500)
    assert (fee.amount, fee.rates, fee.rate_bps) == (3_000, {"boots": 1_250, "delivery": 500}, None)


@pytest.mark.parametrize(("value", "bps"), [(0, 0), (7.5, 750), (100, 10_000), ("12.25", 1_225)])
def test_percent_to_basis_points(value, bps):
    assert fees.percent_to_bps(value) == bps


@pytest.mark.parametrize("value", [100.01, -1, 1.234, True, None, "abc", float("nan")])
def test_error_on_a_rate_the_schedule_cannot_hold(value):
    with pytest.raises(fees.BadRate):
        fees.percent_to_bps(value)


def test_a_high_fee_on_tiny_items_never_makes_the_sellers_part_of_a_return_negative():
    # ten items of 1 at a 90 % fee: each partial return gives back its share of the fee rounded up
    order = delivered_order(items=[{"product_id": "p", "price": 1, "quantity": 10, "line_total": 10}],
                            items_total=10, delivery_price=0, total=10)
    hold = {"amount": 10, "promotion": 0, "fee": 9}
    for n in range(1, 11):
        money = returns.money_of(order, hold, [(0, 1)], {0: n})
        assert money.seller_part >= 0, (n, money)
        hold = {**hold, "ret_amount": hold.get("ret_amount", 0) + money.refund,
                "ret_fee": hold.get("ret_fee", 0) + money.fee}
    assert (hold["ret_amount"], hold["ret_fee"]) == (10, 9)


@st.composite
def orders(draw):
    lines = draw(st.lists(st.tuples(st.one_of(st.integers(1, 3), st.integers(1, 50_000)), st.integers(1, 6)),
                          min_size=1, max_size=3))
    items = [{"product_id": f"p{i}", "price": p, "quantity": q, "line_total": p * q} for i, (p, q) in enumerate(lines)]
    items_total = sum(i["line_total"] for i in items)
    delivery = draw(st.integers(0, 40_000))
    discount = draw(st.integers(0, items_total))
    promotion = draw(st.integers(0, discount))  # the marketplace's part of the discount
    total = items_total + delivery - discount
    rate = draw(st.sampled_from([0, 1, 333, 1_000, 9_000, 9_999, 10_000]))
    fee = fees.order_fee(total + promotion, [(i["product_id"], i["line_total"], rate) for i in items], delivery,
                         rate).amount
    order = delivered_order(items=items, items_total=items_total, delivery_price=delivery, total=total)
    hold = {"amount": total, "promotion": promotion, "fee": fee}
    # units returned one request at a time, in a random order, until all are back
    units = [i for i, item in enumerate(items) for _ in range(item["quantity"])]
    return order, hold, draw(st.permutations(units)), draw(st.integers(1, 3))


@given(orders())
def test_returns_never_refund_more_than_was_captured_and_a_full_return_settles_all(case):
    order, hold, units, batch = case
    hold = dict(hold)
    accepted: dict[int, int] = {}
    for start in range(0, len(units), batch):
        lines: dict[int, int] = {}
        for i in units[start:start + batch]:
            lines[i] = lines.get(i, 0) + 1
        after = {i: accepted.get(i, 0) + lines.get(i, 0) for i in set(accepted) | set(lines)}
        money = returns.money_of(order, hold, sorted(lines.items()), after)
        assert min(money.refund, money.promotion, money.fee, money.seller_part) >= 0, money
        hold["ret_amount"] = hold.get("ret_amount", 0) + money.refund
        hold["ret_promotion"] = hold.get("ret_promotion", 0) + money.promotion
        hold["ret_fee"] = hold.get("ret_fee", 0) + money.fee
        assert hold["ret_amount"] <= hold["amount"] and hold["ret_fee"] <= hold["fee"]
        accepted = after
    assert money.full
    assert (hold["ret_amount"], hold["ret_promotion"], hold["ret_fee"]) == (hold["amount"], hold["promotion"],
                                                                            hold["fee"])
