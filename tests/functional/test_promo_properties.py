"""Promo codes never bend the books: a property-based workload over the real services on moto.

Hypothesis draws checkouts of two sellers' products by three customers with seller codes and a
marketplace code (percent or fixed, some with a use limit), then for every order one fate the
workflow can give it — captured; cancelled before payment; cancelled while held; captured then
cancelled (refunded) — run through the workflow's own steps (``hold``, ``settle``,
``cancelled``, ``refund``), some of them twice (a retried task). After every plan:

1. every ledger transaction balances and the sum over all accounts is 0;
2. every seller earns exactly, over their captured and not refunded orders, the list price of
   the items + delivery − their *own* codes' discounts (a marketplace code costs them nothing);
3. the marketplace's promotion expense moved by exactly the marketplace discounts of those
   orders;
4. every order's total is items − discount + delivery, its discount within its items;
5. each code's ``uses`` is the number of its checkouts with an order not cancelled, never
   above ``max_uses``; the customers' counters likewise.

``PROMO_EXAMPLES`` raises the number of plans (default 10). Each plan uses fresh sellers,
customers and code texts on one moto stack per module.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import clients
from chalicelib.config import settings as app_settings
from chalicelib.domain import ledger as dl
from chalicelib.domain import orders as states
from chalicelib.errors import PromoCodeRejected
from chalicelib.services import cart as cart_service
from chalicelib.services import checkout as checkout_service
from chalicelib.services import ledger, promos
from chalicelib.services.payments import Charge
from chalicelib.services.workflow import steps
from chalicelib.services.workflow.contract import StepEvent
from chalicelib.store import orders as orders_store
from chalicelib.store import promos as promo_store
from tests.support import factories as f

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)

EXAMPLES = int(os.environ.get("PROMO_EXAMPLES", "10"))
FATES = ("captured", "cancelled_unpaid", "cancelled_held", "refunded")
PRICES = st.sampled_from([1, 99, 999, 1500, 4_000, 12_345])


@dataclass(frozen=True)
class CodeSpec:
    kind: str
    value: int
    max_uses: int | None
    min_subtotal: int


@dataclass(frozen=True)
class Buy:
    customer: int
    lines: tuple[tuple[int, int, int], ...]  # (seller, product, quantity)
    codes: tuple[str, ...]  # "S0", "S1", "M"
    fates: tuple[str, ...]
    retry: bool


codes = st.one_of(
    st.builds(CodeSpec, st.just("percent"), st.integers(1, 100), st.sampled_from([None, 1, 2, 3]),
              st.sampled_from([0, 0, 2000])),
    st.builds(CodeSpec, st.just("fixed"), st.sampled_from([1, 500, 5000]), st.sampled_from([None, 1, 2, 3]),
              st.sampled_from([0, 0, 2000])))
buys = st.builds(
    Buy, st.integers(0, 2),
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(1, 3)), min_size=1, max_size=3,
             unique_by=lambda x: (x[0], x[1])).map(tuple),
    st.lists(st.sampled_from(["S0", "S1", "M"]), unique=True, max_size=3).map(tuple),
    st.lists(st.sampled_from(FATES), min_size=2, max_size=2).map(tuple),
    st.booleans())


def _ev(order_id: str, step: str) -> StepEvent:
    return StepEvent(step=step, order_id=order_id)


def _cancel(order_id: str, retry: bool) -> None:
    order = orders_store.load(order_id)
    orders_store.transition(order_id, from_statuses={order.status}, to_status=states.CANCELLED,
                            event={"type": "cancelled", "actor": "test"}, event_id="to:CANCELLED")
    for _ in range(2 if retry else 1):
        steps.cancelled(_ev(order_id, "cancelled"))
        steps.refund(_ev(order_id, "refund"))


def _fate(order: dict, fate: str, retry: bool) -> None:
    oid = order["order_id"]
    if fate == "cancelled_unpaid":
        return _cancel(oid, retry)
    assert steps.hold(_ev(oid, "hold"))["outcome"] == "paid"
    if fate == "cancelled_held":
        return _cancel(oid, retry)
    orders_store.transition(oid, from_statuses={states.PAID}, to_status=states.CONFIRMED,
                            event={"type": "confirmed", "actor": "test"}, event_id="to:CONFIRMED")
    for _ in range(2 if retry else 1):
        steps.settle(_ev(oid, "settle"))
    if fate == "refunded":
        _cancel(oid, retry)


def _promotion_balance() -> int:
    table = clients.table(app_settings().ledger_table)
    total = 0
    for shard in range(dl.PROMOTION_SHARDS):
        from chalicelib.store import keys

        item = table.get_item(Key=keys.marketplace_account("promotions", shard), ConsistentRead=True).get("Item")
        total += int((item or {}).get("balance", 0))
    return total


def _scan_ledger_txns() -> list[dict]:
    table, items, start = clients.table(app_settings().ledger_table), [], None
    while True:
        page = table.scan(ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += [i for i in page["Items"] if i["SK"] == "TXN"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


@pytest.fixture
def no_workflow(monkeypatch):
    monkeypatch.setattr(checkout_service, "start_workflows", lambda orders: None)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seller_codes=st.lists(codes, min_size=2, max_size=2), market=codes, prices=st.lists(PRICES, min_size=4,
                                                                                          max_size=4),
       plan=st.lists(buys, min_size=1, max_size=4))
def test_books_balance_and_sellers_earn_list_price_minus_their_own_discounts(api, no_workflow, seller_codes, market,
                                                                           prices, plan):
    run = uuid.uuid4().hex[:8]
    sellers = [f"s{run}{n}" for n in range(2)]
    customers = [f"c{run}{n}" for n in range(3)]
    for s in sellers:
        f.put_shop(f.shop(s))
    products = [[f.put_product(f.product(s, offer=f"p{i}", price=prices[2 * n + i], stock=None))["product_id"]
                 for i in range(2)] for n, s in enumerate(sellers)]
    texts = {"S0": f"A{run}".upper(), "S1": f"B{run}".upper(), "M": f"M{run}".upper()}
    specs = {"S0": (sellers[0], seller_codes[0]), "S1": (sellers[1], seller_codes[1]), "M": ("marketplace", market)}
    for name, (issuer, spec) in specs.items():
        promos.create(issuer, {"code": texts[name], "kind": spec.kind, "value": spec.value,
                               "max_uses": spec.max_uses, "min_subtotal": spec.min_subtotal or None})
    for c in customers:
        ledger.record_topup(f"topup:{c}", c, 10**8, "RUB", Charge(id=f"ch{c}", last4="4242", provider="sandbox"))
    promotion_before = _promotion_balance()

    placed: list[tuple[dict, str]] = []  # (order, fate)
    checkouts_by_code: dict[str, list[list[str]]] = defaultdict(list)  # text -> per checkout, its order ids
    per_customer: Counter = Counter()
    for n, buy in enumerate(plan):
        customer = customers[buy.customer]
        cart_service.clear(customer)
        for seller, product, qty in buy.lines:
            cart_service.add(customer, products[seller][product], qty)
        used = [texts[c] for c in buy.codes]
        try:
            result = checkout_service.checkout(
                customer_id=customer, checkout_id=f"c{run}{n}", delivery={s: "courier" for s in sellers
                                                                          if any(x[0] == sellers.index(s)
                                                                                 for x in buy.lines)},
                address={"city": "Moscow"}, payment_method="wallet", promo_codes=used)
        except PromoCodeRejected:
            continue
        for i, order in enumerate(result["orders"]):
            assert order["total"] == order["items_total"] - order.get("discount", 0) + order["delivery_price"]
            assert 0 <= order.get("discount", 0) <= order["items_total"]
            placed.append((order, buy.fates[i % len(buy.fates)]))
        for text in {d["code"] for o in result["orders"] for d in o.get("discounts", [])}:
            checkouts_by_code[text].append([o["order_id"] for o in result["orders"]
                                            if any(d["code"] == text for d in o.get("discounts", []))])
            per_customer[(text, customer)] += 1
    for (order, fate), retry in zip(placed, [b.retry for b in plan] * 10, strict=False):
        _fate(order, fate, retry)

    # 1. balanced, and all accounts sum to 0
    txns = _scan_ledger_txns()
    for t in txns:
        assert sum(int(e["amount"]) for e in t["entries"]) == 0, t
    # 2. + 3. who pays
    expected = Counter()
    promotion = 0
    for order, fate in placed:
        if fate == "captured":
            stored = orders_store.load(order["order_id"])
            expected[order["seller_id"]] += stored.items_total + stored.delivery_price - stored.seller_discount
            promotion += stored.marketplace_discount
    for s in sellers:
        assert ledger.seller_balance(s)["earnings"] == expected[s], s
    assert promotion_before - _promotion_balance() == promotion
    # 5. uses: checkouts still holding an order not cancelled
    cancelled = {o["order_id"] for o, fate in placed if fate != "captured"}
    for name, (issuer, spec) in specs.items():
        text = texts[name]
        holding = sum(1 for ids in checkouts_by_code[text] if set(ids) - cancelled)
        code = promo_store.get(issuer, text)
        assert code["uses"] == holding, (name, code, checkouts_by_code[text])
        assert spec.max_uses is None or len(checkouts_by_code[text]) <= spec.max_uses
    app_settings.cache_clear()
