"""Money never leaks: a property-based, concurrent workload over the real handlers on moto.

Hypothesis draws plans of top-ups (through ``POST /wallet/topups``, with reused idempotency
keys), holds, captures, releases and refunds of captures (the ledger primitives the order
workflow calls, with and without hints), retries included, spread over threads that start
together. After every plan the whole ledger is scanned and must satisfy:

1. every transaction balances (its entries sum to zero);
2. every balance item equals the sum of its account's journal entries;
3. no available, held or earnings balance is below zero;
4. every hold is resolved at most once: one hold transaction, at most one capture *or*
   release, at most one refund and only after a capture (held → captured → refunded), and
   its state says which;
5. each customer's ``held`` equals the sum of their open holds;
6. top-ups are the only source of money: the customers' and sellers' money equals the sum of
   the acknowledged top-ups (each once), and the clearing account mirrors it;
7. what callers were told agrees with the ledger (a capture that succeeded is captured...);
8. the marketplace fee: each order's captures take the fee of its rate (rates change between
   orders), a refund gives back exactly the capture's fee and never more than it captured;
   accepted returns (partial, concurrent, after payouts) refund at most what was captured, the
   fee back at most the fee taken, and a returned capture is never refunded whole as well;
9. payouts (some to the sandbox's failing account, some retried): a payout is paid or failed
   once, a failed one's money is back on the seller's earnings, and the books balance —
   wallets + holds + earnings + payouts in flight + fee revenue = top-ups − paid out.

Each plan runs on fresh ledger and idempotency tables, its customers funded by one top-up
each. moto's DynamoDB is serialized with ``local.patches.serialize_dynamodb`` (without it moto
is not atomic and the test would be meaningless); threads interleave between DynamoDB calls.
``LEDGER_EXAMPLES`` raises the number of plans (default 30). Mutation check: dropping the
``available >= amount`` condition, the ``state = held`` condition or the refund's
``state = captured`` and ``seller_id`` conditions (either alone is still covered by the other:
only a captured hold carries a seller) makes this test fail.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib import clients
from chalicelib.adapters.payouts import SANDBOX_FAILING_ACCOUNT
from chalicelib.config import settings as app_settings
from chalicelib.domain import fees as fee_rules
from chalicelib.domain import ledger as dl
from chalicelib.domain import returns as return_rules
from chalicelib.domain.orders import Order
from chalicelib.errors import InsufficientEarnings, InsufficientFunds, InvalidTransition
from chalicelib.services import ledger, payouts
from chalicelib.store import ledger as ledger_store
from infra import resources
from local import patches

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)

THREADS, CUSTOMERS, SELLERS, ORDERS, KEYS = 4, 3, 2, 6, 4
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": datetime.now(UTC).year + 2, "cvc": "123"}
EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "30"))
SEED_AMOUNT = 10_000


@dataclass(frozen=True)
class TopUp:
    customer: int
    amount: int
    key: int


@dataclass(frozen=True)
class Hold:
    order: int
    customer: int
    amount: int


@dataclass(frozen=True)
class Capture:
    order: int
    seller: int
    hinted: bool


@dataclass(frozen=True)
class Payout:
    seller: int
    amount: int
    fails: bool
    key: int


@dataclass(frozen=True)
class Return:
    order: int
    units: int  # of the order's RETURN_UNITS


@dataclass(frozen=True)
class Release:
    order: int
    hinted: bool


@dataclass(frozen=True)
class Refund:
    order: int
    seller: int  # the hint: right only when it names the seller the capture paid
    hinted: bool


customers = st.integers(0, CUSTOMERS - 1)
FEE_RATES = (0, 333, 1000, 10_000)  # basis points: none, 3.33 %, 10 %, all of it
RETURN_UNITS = 4  # each order is RETURN_UNITS units of one line; returns take some back
topup_amounts = st.sampled_from([500, 2_000, 20_000])
hold_amounts = st.sampled_from([1, 500, 2_000, 7_500, 20_000])


@st.composite
def plans(draw) -> list[tuple[int, object]]:
    """Top-ups (some retried, some keys reused for another amount) and, per order, a hold
    followed by what the workflow might do to it: retries, a different hold, captures, releases
    and refunds (with or without hints) — shuffled and dealt to the threads."""
    steps: list[object] = []
    for key in range(draw(st.integers(1, KEYS))):
        first = TopUp(draw(customers), draw(topup_amounts), key)
        steps += [first] * draw(st.integers(1, 2))
        if draw(st.booleans()):
            steps.append(TopUp(first.customer, draw(topup_amounts), key))  # same key, maybe another body
    for order in range(draw(st.integers(1, ORDERS))):
        hold = Hold(order, draw(customers), draw(hold_amounts))
        steps.append(hold)
        steps += draw(st.lists(st.one_of(
            st.just(hold),  # a retried hold
            st.builds(Hold, st.just(order), customers, hold_amounts),
            st.builds(Capture, st.just(order), st.integers(0, SELLERS - 1), st.booleans()),
            st.builds(Release, st.just(order), st.booleans()),
            st.builds(Refund, st.just(order), st.integers(0, SELLERS - 1), st.booleans()),
            st.builds(Return, st.just(order), st.integers(1, RETURN_UNITS)),
        ), max_size=6))
    for key in range(draw(st.integers(0, KEYS))):
        payout = Payout(draw(st.integers(0, SELLERS - 1)), draw(st.sampled_from([1, 700, 5_000])), draw(st.booleans()),
                        key)
        steps += [payout] * draw(st.integers(1, 2))  # some retried with the same key
    steps = draw(st.permutations(steps))
    lanes = draw(st.lists(st.integers(0, THREADS - 1), min_size=len(steps), max_size=len(steps)))
    return list(zip(lanes, steps, strict=True))


class Workload:
    """Runs plans against the app and remembers what every caller was told."""

    def __init__(self, api, customers, monkeypatch) -> None:
        self.api = api
        self.customers = customers
        self.monkeypatch = monkeypatch
        self.sellers = [f"seller-{n}" for n in range(SELLERS)]
        self.acked_topups: dict[str, int] = {}
        self.fee_of_order: dict[int, int] = {}  # the rate (bps) of each order: fees change between orders
        self.returned_units: dict[str, int] = {}
        self.http_lock = threading.Lock()  # chalice.test.Client keeps one current request

    def fresh_ledger(self, prefix: str) -> None:
        """Each plan gets empty ledger and idempotency tables: its checks see only its own
        money, and moto (which copies a table on every transaction) stays fast."""
        ddb = clients.dynamodb()
        for logical_id, spec in resources.TABLES.items():
            if spec["env"] in ("LEDGER_TABLE", "IDEMPOTENCY_TABLE"):
                ddb.create_table(**resources.table_api_params(logical_id, f"{prefix}-{logical_id}"))
                self.monkeypatch.setenv(spec["env"], f"{prefix}-{logical_id}")
        self.monkeypatch.setenv("PAYOUT_MINIMUM", "1")
        app_settings.cache_clear()
        self.acked_topups = {}
        # everyone starts with some money, through the route like any top-up
        for n in range(CUSTOMERS):
            assert self.topup(TopUp(n, SEED_AMOUNT, -1), prefix) == "ok"

    def run(self, plan: list[tuple[int, object]], fee_rates: list[int]) -> list[tuple[object, str, str]]:
        prefix = uuid.uuid4().hex[:8]
        self.fee_of_order = dict(enumerate(fee_rates))
        self.returned_units = {}
        self.fresh_ledger(prefix)
        first_hold = {}
        for _, op in plan:
            if isinstance(op, Hold):
                first_hold.setdefault(op.order, op)
        lanes: dict[int, list[object]] = defaultdict(list)
        for lane, op in plan:
            lanes[lane].append(op)
        start = threading.Barrier(len(lanes))
        outcomes: list[tuple[object, str, str]] = []

        def lane_worker(ops: list[object]) -> None:
            start.wait()
            for op in ops:
                outcomes.append((op, f"{prefix}-o{getattr(op, 'order', '')}", self.perform(op, prefix, first_hold)))

        threads = [threading.Thread(target=lane_worker, args=(ops,)) for ops in lanes.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a lane hung"
        return outcomes

    def perform(self, op: object, prefix: str, first_hold: dict[int, Hold]) -> str:
        order = f"{prefix}-o{getattr(op, 'order', '')}"
        try:
            if isinstance(op, TopUp):
                return self.topup(op, prefix)
            if isinstance(op, Return):
                return self.accept_return(op, order, prefix)
            if isinstance(op, Payout):
                account = SANDBOX_FAILING_ACCOUNT if op.fails else "40702810000000000001"
                got = payouts.request(self.sellers[op.seller], op.amount, account,
                                      reference=f"{prefix}-p{op.seller}-{op.key}-{op.amount}-{op.fails}")
                return f"payout-{got['state']}"
            if isinstance(op, Hold):
                ledger.hold(order, self.customers[op.customer].id, op.amount, "RUB")
                return "ok"
            hint = first_hold.get(op.order)
            hints = {"customer_id": self.customers[hint.customer].id if hint else "nobody",
                     "amount": hint.amount if hint else 1} if op.hinted else {}
            # the fee of the order's total, as the workflow computes it: the hinted amount, or
            # (no hints) the amount actually held, read as the capture itself would
            rate = self.fee_of_order.get(op.order, 0)
            held = hints.get("amount") if op.hinted else int((ledger_store.get_hold(order) or {}).get("amount", 0))
            fee = fee_rules.order_fee(held, [], held, rate).amount if held else 0
            if isinstance(op, Capture) and not held:
                # the workflow captures only an order it held (and knows its total, so its fee):
                # a capture that read no hold would race the hold with a fee computed from nothing
                return "no-hold-yet"
            if isinstance(op, Capture):
                ledger.capture(order, self.sellers[op.seller], **hints, fee=fee, fee_rate_bps=rate)
                return f"captured:{self.sellers[op.seller]}"
            if isinstance(op, Refund):
                seller = self.sellers[op.seller]
                ledger.refund_capture(order, **({**hints, "seller_id": seller, "fee": fee} if op.hinted else {}))
                return f"refunded:{seller}" if op.hinted else "refunded"
            return "released" if ledger.release(order, **hints) else "nothing-to-release"
        except InsufficientFunds:
            return "insufficient"
        except InsufficientEarnings:  # the seller was paid out first: nothing moves
            return "insufficient-earnings"
        except InvalidTransition:
            return "invalid"
        except Exception as exc:  # noqa: BLE001 - reported as a failed property, with its cause
            return f"ERROR {type(exc).__name__}: {exc}"

    def accept_return(self, op: Return, order: str, prefix: str) -> str:
        """What ``services.returns`` does on acceptance, for an order of RETURN_UNITS units."""
        hold = ledger_store.get_hold(order)
        if not hold or hold["state"] != dl.CAPTURED:
            return "not-captured"
        amount = int(hold["amount"])
        items = [{"product_id": "p", "price": amount // RETURN_UNITS, "quantity": RETURN_UNITS,
                  "line_total": amount // RETURN_UNITS * RETURN_UNITS}]
        with self.http_lock:
            done = self.returned_units.get(order, 0)
        if done + op.units > RETURN_UNITS:
            return "already-returned"
        shape = Order.from_item({"order_id": order, "customer_id": hold["customer_id"], "seller_id": hold["seller_id"],
                                 "status": "DELIVERED", "total": amount, "currency": "RUB", "items": items,
                                 "items_total": items[0]["line_total"] or 1, "delivery_price": 0})
        money = return_rules.money_of(shape, hold, [(0, op.units)], {0: done + op.units})
        seen = (int(hold.get("ret_amount", 0)), int(hold.get("ret_promotion", 0)), int(hold.get("ret_fee", 0)))
        hold_op = ledger_store.return_hold_op(order, seen=seen, refund=money.refund, promotion=money.promotion,
                                              fee=money.fee)
        rid = f"{order}-r{uuid.uuid4().hex[:6]}"
        try:
            if money.refund + money.promotion:
                ledger_store.post(dl.return_txn(rid, order, hold["customer_id"], hold["seller_id"], "RUB",
                                                dl.now_iso(), refund=money.refund, promotion=money.promotion,
                                                fee=money.fee), [hold_op])
            else:
                ledger_store.transact([hold_op])
        except ledger_store.TransactionCancelled as cancelled:
            if cancelled.failed(ledger_store.HOLD):
                return "raced"  # another return or a refund changed the capture first: nothing moved
            if cancelled.failed(ledger_store.balance_label(dl.seller_earnings(hold["seller_id"]))):
                return "insufficient-earnings"
            raise
        with self.http_lock:
            self.returned_units[order] = self.returned_units.get(order, 0) + op.units
        return "returned"

    def topup(self, op: TopUp, prefix: str) -> str:
        user = self.customers[op.customer]
        body = json.dumps({"amount": op.amount, "currency": "RUB", "card": CARD})
        headers = {**user.headers, "Idempotency-Key": f"{prefix}-k{op.key}"}
        with self.http_lock:
            resp = self.api.http.post("/wallet/topups", body=body, headers=headers)
        if resp.status_code == 201:
            receipt = resp.json_body
            assert self.acked_topups.setdefault(receipt["id"], receipt["amount"]["amount"]) == op.amount
            return "ok"
        if resp.status_code in (409, 422) and resp.json_body["type"].endswith(
                ("idempotency-key-reused", "idempotency-in-flight")):
            return "key-reused"
        return f"ERROR http {resp.status_code}: {resp.body[:200]!r}"


def scan_ledger() -> list[dict]:
    table, items, start = clients.table(app_settings().ledger_table), [], None
    while True:
        kwargs = {"ConsistentRead": True, **({"ExclusiveStartKey": start} if start else {})}
        page = table.scan(**kwargs)
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def check_ledger(workload: Workload, outcomes: list[tuple[object, str, str]]) -> None:
    errors = [o for o in outcomes if o[2].startswith("ERROR")]
    assert not errors, errors
    items = scan_ledger()
    txns = [i for i in items if i["SK"] == "TXN"]
    holds = {i["order_id"]: i for i in items if i["SK"] == "HOLD"}

    # 1. balanced transactions; the journal's sum per account
    journal: Counter[str] = Counter()
    for txn in txns:
        legs = [int(e["amount"]) for e in txn["entries"]]
        assert sum(legs) == 0, txn
        assert sum(x for x in legs if x > 0) == int(txn["amount"])
        for e in txn["entries"]:
            journal[e["account"]] += int(e["amount"])

    # 2 + 3. projections equal the journal; nothing below zero
    projected: Counter[str] = Counter()
    for item in items:
        kind, _, owner = item["PK"].partition("#")
        if kind == "WALLET":
            projected[dl.customer_available(owner)] += int(item.get("available", 0))
            projected[dl.customer_held(owner)] += int(item.get("held", 0))
        elif kind == "EARNINGS":
            projected[dl.seller_earnings(owner)] += int(item.get("earnings", 0))
            projected[dl.seller_in_flight(owner)] += int(item.get(dl.IN_FLIGHT, 0))
            projected[dl.seller_paid_out(owner)] += int(item.get(dl.PAID_OUT, 0))
        elif kind == "MARKETPLACE":
            name, _, shard = owner.rpartition("#")
            assert name == dl.FEES, item  # no promo codes in these plans
            projected[dl.marketplace_fees(int(shard))] += int(item.get("balance", 0))
        elif kind == "CLEARING":
            provider, _, shard = owner.rpartition("#")
            projected[dl.provider_clearing(provider, int(shard))] += int(item.get("balance", 0))
    assert {k: v for k, v in projected.items() if v} == {k: v for k, v in journal.items() if v}
    for account, balance in projected.items():
        if not dl.parse_account(account).may_go_negative:
            assert balance >= 0, (account, balance)

    # 4. each hold resolved at most once, and its state says how
    steps: dict[str, Counter[str]] = defaultdict(Counter)
    for txn in txns:
        if txn.get("order_id"):
            steps[txn["order_id"]][txn["kind"]] += 1
    for order, hold in holds.items():
        seen = steps[order]
        assert seen["hold"] == 1, (order, seen)
        assert seen["capture"] + seen["release"] <= 1, (order, seen)
        assert seen["refund"] <= seen["capture"], (order, seen)  # only a capture is refunded, once
        expected = {(0, 0, 0): dl.HELD, (1, 0, 0): dl.CAPTURED, (0, 1, 0): dl.RELEASED,
                    (1, 0, 1): dl.REFUNDED}[(seen["capture"], seen["release"], seen["refund"])]
        assert hold["state"] == expected, (order, hold, seen)
        if seen["refund"]:  # the refund took back what the capture paid, from that seller
            capture, refund = (next(t for t in txns if t.get("order_id") == order and t["kind"] == k)
                               for k in (dl.CAPTURE, dl.REFUND))
            assert refund["seller_id"] == capture["seller_id"] == hold["seller_id"]
            assert int(refund["amount"]) == int(capture["amount"]) == int(hold["amount"])
            assert int(refund.get("fee", 0)) == int(capture.get("fee", 0)) == int(hold.get("fee", 0))
    # 8b. returns: never more than captured (money, promotion, fee), counted on the hold
    for order, hold in holds.items():
        back = [t for t in txns if t.get("order_id") == order and t["kind"] == dl.RETURN]
        refunds = sum(next((int(e["amount"]) for e in t["entries"] if e["account"].startswith("customer:")), 0)
                      for t in back)
        fees_back = sum(int(t.get("fee", 0)) for t in back)
        assert refunds == int(hold.get("ret_amount", 0)) <= int(hold["amount"]), (order, hold, back)
        assert fees_back == int(hold.get("ret_fee", 0)) <= int(hold.get("fee", 0)), (order, hold, back)
        if back:
            assert steps[order]["refund"] == 0, (order, "a returned capture was also refunded whole")
    # 8. every capture took its order's fee, rounded down
    for txn in txns:
        if txn["kind"] == dl.CAPTURE:
            order = int(txn["order_id"].rsplit("-o", 1)[1])
            rate = workload.fee_of_order[order]
            assert int(txn.get("fee", 0)) == int(txn["amount"]) * rate // 10_000, txn
    assert set(steps) <= set(holds), "a capture, release or refund without a hold"

    # 5. held equals the sum of open holds, per customer
    open_holds: Counter[str] = Counter()
    for hold in holds.values():
        if hold["state"] == dl.HELD:
            open_holds[dl.customer_held(hold["customer_id"])] += int(hold["amount"])
    for account, balance in projected.items():
        if account.endswith(":held"):
            assert balance == open_holds[account], (account, balance, open_holds[account])

    # 6. top-ups are the only source of money, each counted once
    topups = {t["txn_id"]: int(t["amount"]) for t in txns if t["kind"] == dl.TOPUP}
    assert topups == workload.acked_topups
    def total(kind: str, bucket: str | None = None) -> int:
        return sum(v for k, v in projected.items() if k.startswith(kind + ":") and (
            bucket is None or dl.parse_account(k).bucket == bucket))

    paid_out = total("seller", dl.PAID_OUT)
    books = total("customer") + total("seller", dl.EARNINGS) + total("seller", dl.IN_FLIGHT) + total("marketplace")
    assert books == sum(topups.values()) - paid_out
    assert -total("provider") == sum(topups.values())
    assert total("marketplace") >= 0  # fees only: the revenue never goes below what refunds gave back

    # 9. payouts: each resolved once, and its state says how; sync sandbox: nothing stays in flight
    payout_items = {i["payout_id"]: i for i in items if i["SK"] == "PAYOUT"}
    for pid, payout in payout_items.items():
        kinds = Counter(t["kind"] for t in txns if t.get("payout_id") == pid)
        expected = {dl.PAYOUT: 1, (dl.PAYOUT_PAID if payout["state"] == "paid" else dl.PAYOUT_FAILED): 1}
        assert payout["state"] in ("paid", "failed") and kinds == expected, (payout, kinds)
    assert total("seller", dl.IN_FLIGHT) == 0
    assert paid_out == sum(int(p["amount"]) for p in payout_items.values() if p["state"] == "paid")

    # 7. callers were told the truth
    told: dict[str, list[tuple[object, str]]] = defaultdict(list)
    for op, order, outcome in outcomes:
        if isinstance(op, Payout):
            assert outcome in ("payout-paid", "payout-failed", "insufficient"), (op, outcome)
            assert outcome != "payout-paid" or not op.fails, (op, outcome)
        elif not isinstance(op, TopUp):
            told[order].append((op, outcome))
    for order, said in told.items():
        hold = holds.get(order)
        held_ok = [op for op, outcome in said if isinstance(op, Hold) and outcome == "ok"]
        assert bool(held_ok) == (hold is not None), (order, said)
        for op in held_ok:  # every "ok" hold is the one stored (others were refused)
            assert (workload.customers[op.customer].id, op.amount) == (hold["customer_id"], int(hold["amount"]))
        captured = {outcome for _, outcome in said if outcome.startswith("captured:")}
        if captured:
            assert hold["state"] in (dl.CAPTURED, dl.REFUNDED) and captured == {f"captured:{hold['seller_id']}"}
        if any(outcome == "released" for _, outcome in said):
            assert hold["state"] == dl.RELEASED
        refunded = [outcome for _, outcome in said if outcome.startswith("refunded")]
        if refunded:
            assert hold["state"] == dl.REFUNDED, (order, said)
            assert {r for r in refunded if r != "refunded"} <= {f"refunded:{hold['seller_id']}"}


@pytest.fixture
def workload(api, register, monkeypatch) -> Iterator[Workload]:
    patches.serialize_dynamodb()
    yield Workload(api, [register("customer") for _ in range(CUSTOMERS)], monkeypatch)
    monkeypatch.undo()
    app_settings.cache_clear()


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=plans(), fee_rates=st.lists(st.sampled_from(FEE_RATES), min_size=ORDERS, max_size=ORDERS))
def test_money_never_leaks_under_concurrent_workloads(workload, plan, fee_rates):
    outcomes = workload.run(plan, fee_rates)
    for op, _, outcome in outcomes:  # shown by --hypothesis-show-statistics
        event(f"{type(op).__name__} -> {outcome.split(':')[0]}")
    check_ledger(workload, outcomes)
