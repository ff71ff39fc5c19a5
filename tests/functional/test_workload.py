"""A seeded random marketplace workload under injected faults: money and stock stay right.

Each run (one seed) creates sellers with products of small stock and customers with some
money, then several threads perform random operations through the real services — top-ups,
checkouts of one to three products (often more than is left), payments, customer cancels,
seller confirms, cancels and shipments, receipts — while the real order state machine runs in
moto (``lambda:invoke`` tasks in-process) with timeouts of a few seconds, so unpaid and
unanswered orders expire on their own in the middle of it all.

Faults, through botocore event hooks on the app's clients while the operations run:

- ``before-call.dynamodb.*``: a share of DynamoDB calls fail with
  ``ProvisionedThroughputExceededException`` (the request never reaches the table);
- ``after-call.dynamodb.*`` on writes: a share of *successful* writes lose their answer (the
  caller gets ``InternalServerError`` although the write happened);
- ``before-call.sesv2.SendEmail``: a share of emails fail with ``ServiceUnavailable`` and a
  few are rejected for good (``MessageRejected``).

After the operations stop, the faults are switched off and the run waits until every order
has settled (timeouts fired, retries done); then it checks, over this run's accounts, products
and orders:

1. money is conserved: what the customers hold (available + held) and the sellers earned
   equals the top-ups the ledger recorded; every ledger transaction balances and every
   balance equals its journal;
2. no balance is negative;
3. no stock is oversold: every product's stock is >= 0 and equals its initial stock minus
   the units of its orders that still keep them reserved;
4. every order's state agrees with its money and stock: CANCELLED ⇒ stock returned, money
   released or never taken; CONFIRMED / SHIPPED / DELIVERED ⇒ money captured to its seller,
   stock kept; nothing left AWAITING_PAYMENT or PAID (the timeouts end those); each
   customer's held money equals their open holds; each seller's earnings equal their
   captured orders.

The summary line (``runs × operations, violations``) is printed; any violation fails the test
with the list. ``WORKLOAD_SEEDS`` (default 3) and ``WORKLOAD_OPS`` (per thread) scale it.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.errors import DomainError, Unavailable
from chalicelib.services import actions, checkout, payments, wallet
from chalicelib.services import cart as cart_service
from chalicelib.store import keys
from tests.functional.ledger_stack import module_api, module_aws  # noqa: F401 - one moto stack per module
from tests.functional.workflow_stack import workflow_machine  # noqa: F401 - fixture
from tests.unit.commerce import factories as f

pytestmark = pytest.mark.timeout(600)

SEEDS = [int(s) for s in os.environ.get("WORKLOAD_SEEDS", "11,23,37").split(",")]
THREADS, OPS_PER_THREAD = 5, int(os.environ.get("WORKLOAD_OPS", "24"))
SELLERS, PRODUCTS_PER_SELLER, CUSTOMERS = 3, 3, 10
THROTTLE_RATE, LOST_REPLY_RATE, SES_FAIL_RATE, SES_REJECT_RATE = 0.04, 0.02, 0.15, 0.03
TIMEOUTS = {"PAYMENT_TIMEOUT_SECONDS": "2", "SELLER_TIMEOUT_SECONDS": "4", "DELIVERY_AUTO_SECONDS": "2"}
SETTLE_SECONDS = 90
CARD = payments.Card(number="4242424242424242", exp_month=12, exp_year=2035, cvc="123")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
RESULTS: list[tuple[int, int, int]] = []  # (seed, operations, violations) of every run, for the summary


# --- faults ------------------------------------------------------------------------------------


class Faults:
    """Botocore event hooks on the app's clients; inert until ``on``."""

    def __init__(self, seed: int) -> None:
        self.rng, self.lock, self.on = random.Random(seed), threading.Lock(), False
        self.injected: Counter[str] = Counter()

    def _roll(self, rate: float) -> bool:
        with self.lock:
            return self.on and self.rng.random() < rate

    @staticmethod
    def _error(code: str, operation: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "injected by the workload test"},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, operation)

    def before_dynamodb(self, model, **_: Any) -> None:
        if self._roll(THROTTLE_RATE):
            self.injected["dynamodb throttled"] += 1
            raise self._error("ProvisionedThroughputExceededException", model.name, 400)

    def after_dynamodb(self, model, http_response, **_: Any) -> None:
        if model.name in WRITES and http_response.status_code == 200 and self._roll(LOST_REPLY_RATE):
            self.injected["dynamodb reply lost"] += 1
            raise self._error("InternalServerError", model.name, 500)

    def before_send_email(self, model, **_: Any) -> None:
        if self._roll(SES_REJECT_RATE):
            self.injected["ses rejected"] += 1
            raise self._error("MessageRejected", model.name, 400)
        if self._roll(SES_FAIL_RATE):
            self.injected["ses unavailable"] += 1
            raise self._error("ServiceUnavailable", model.name, 503)

    def install(self) -> None:
        """On every client the app uses (clients copy their event hooks when they are made)."""
        clients.reset()
        for client in (clients.client("dynamodb"), clients.dynamodb_resource().meta.client):
            client.meta.events.register("before-call.dynamodb", self.before_dynamodb)
            client.meta.events.register("after-call.dynamodb", self.after_dynamodb)
        clients.client("sesv2").meta.events.register("before-call.sesv2.SendEmail", self.before_send_email)


class StepFailures(logging.Handler):
    """Workflow steps that failed for good: with every injected fault transient (retried) or
    handled (a rejected email is recorded), any of these is a bug the books may not show."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() in ("workflow step failed", "unhandled error"):
            fields = getattr(record, "fields", {}) or {}
            self.seen.append(f"{record.getMessage()}: {fields.get('step')} {fields.get('error')} "
                             f"{fields.get('detail', '')}"[:200])


# --- the workload ------------------------------------------------------------------------------


@dataclass
class World:
    sellers: list[Any]
    customers: list[Any]
    products: dict[str, dict[str, Any]]  # product_id -> product (with its initial stock)
    orders: list[dict[str, Any]] = field(default_factory=list)  # as placed: order_id, customer, seller
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_world(register, rng: random.Random) -> World:
    sellers, products = [], {}
    for n in range(SELLERS):
        seller = register("seller")
        shop = f.shop(seller.id, name=f"Workload shop {n}")
        shop["contact_email"] = f"shop-{seller.id[:8]}@example.com"
        f.put_shop(shop)
        sellers.append(seller)
        for _ in range(PRODUCTS_PER_SELLER):
            item = f.put_product(f.product(seller.id, price=rng.choice([5_000, 12_000, 30_000]),
                                           stock=rng.randint(2, 6)))
            products[item["product_id"]] = item
    customers = [register("customer") for _ in range(CUSTOMERS)]
    for customer in customers:  # some start rich, some poor (their orders wait for payment)
        wallet.topup(customer.id, rng.choice([20_000, 60_000, 150_000]), None, CARD, reference=uuid.uuid4().hex)
    return World(sellers, customers, products)


OPS = (("checkout", 5), ("topup", 2), ("pay", 2), ("customer_cancel", 1), ("confirm", 6), ("seller_cancel", 1),
       ("ship", 2), ("received", 1))


def plan(rng: random.Random, world: World) -> list[list[tuple[str, int, int]]]:
    """Per thread: (operation, actor index, pick) — the pick chooses an order when it runs."""
    names, weights = zip(*OPS, strict=True)
    lanes = []
    for lane in range(THREADS):
        own = [c for c in range(CUSTOMERS) if c % THREADS == lane]  # a customer's cart stays in one lane
        lanes.append([(op, rng.choice(own) if op in ("checkout", "topup", "pay", "customer_cancel", "received")
                       else rng.randrange(SELLERS), rng.randrange(1 << 30))
                      for op in rng.choices(names, weights, k=OPS_PER_THREAD)])
    return lanes


def perform(world: World, op: str, actor: int, pick: int) -> str:
    """One operation, as a client does it: a 503-like failure (throttled, reply lost) is
    retried with the same request — for a checkout, the same Idempotency-Key."""
    rng = random.Random(pick)
    if op == "checkout":
        customer = world.customers[actor]
        chosen = rng.sample(sorted(world.products), rng.randint(1, 3))
        quantities = {p: rng.randint(1, 3) for p in chosen}
        try:
            for product_id, quantity in quantities.items():
                retrying(lambda p=product_id, q=quantity: cart_service.set_quantity(customer.id, p, q))
            sellers = {world.products[p]["seller_id"] for p in chosen}
            checkout_id = uuid.uuid4().hex
            placed = retrying(lambda: checkout.checkout(
                customer_id=customer.id, checkout_id=checkout_id, delivery=dict.fromkeys(sellers, "courier"),
                address=f.ADDRESS, payment_method="wallet"))
        finally:
            retrying(lambda: cart_service.clear(customer.id))
        with world.lock:
            world.orders += [{"order_id": o["order_id"], "customer": customer.id, "seller": o["seller_id"]}
                             for o in placed["orders"]]
        return "ok"
    if op == "topup":
        customer, reference = world.customers[actor], uuid.uuid4().hex
        amount = rng.choice([10_000, 40_000])
        retrying(lambda: wallet.topup(customer.id, amount, None, CARD, reference=reference))
        return "ok"
    with world.lock:
        if op in ("pay", "customer_cancel", "received"):
            mine = [o for o in world.orders if o["customer"] == world.customers[actor].id]
        else:
            mine = [o for o in world.orders if o["seller"] == world.sellers[actor].id]
        order = mine[-1 - pick % min(len(mine), 4)] if mine else None  # mostly recent orders
    if order is None:
        return "nothing to do"
    oid, customer_id, seller_id = order["order_id"], order["customer"], order["seller"]
    if op == "pay":
        retrying(lambda: actions.pay(oid, customer_id))
    elif op == "customer_cancel":
        retrying(lambda: actions.cancel(oid, customer_id))
    elif op == "received":
        retrying(lambda: actions.received(oid, customer_id))
    else:
        action = {"confirm": "confirm", "seller_cancel": "cancel", "ship": "ship"}[op]
        retrying(lambda: actions.seller_decides(oid, seller_id, action, via="api", actor_id=seller_id))
    return "ok"


def retrying(call, attempts: int = 4):
    for attempt in range(attempts):
        try:
            return call()
        except (ClientError, BotoCoreError, Unavailable):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def run_workload(world: World, lanes: list[list[tuple[str, int, int]]]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    start = threading.Barrier(len(lanes))

    def lane(ops: list[tuple[str, int, int]]) -> None:
        start.wait()
        for op, actor, pick in ops:
            try:
                outcome = perform(world, op, actor, pick)
            except DomainError as err:  # refused for a reason the caller is told (4xx, or 503: retry)
                outcome = type(err).__name__
            except (ClientError, BotoCoreError) as exc:  # still failing after the retries: a 503 (or 500)
                code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
                outcome = f"aws {code}"
            except Exception as exc:  # noqa: BLE001 - kept, and reported as unexpected
                outcome = f"UNEXPECTED {type(exc).__name__}: {exc}"[:200]
            outcomes[f"{op}: {outcome}"] += 1

    threads = [threading.Thread(target=lane, args=(ops,)) for ops in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a workload thread hung"
    return outcomes


# --- reading the books -------------------------------------------------------------------------


def scan(table_name: str) -> list[dict[str, Any]]:
    table, items, start = clients.table(table_name), [], None
    while True:
        page = table.scan(ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def ledger_view() -> dict[str, Any]:
    items = scan(settings().ledger_table)
    return {
        "txns": [i for i in items if i["SK"] == "TXN"],
        "holds": {i["order_id"]: i for i in items if i["SK"] == "HOLD"},
        "wallets": {i["PK"].partition("#")[2]: i for i in items if i["PK"].startswith("WALLET#")},
        "earnings": {i["PK"].partition("#")[2]: i for i in items if i["PK"].startswith("EARNINGS#")},
        "items": items,
    }


def orders_of(world: World) -> dict[str, dict[str, Any]]:
    """Every order of this run's customers, as stored — including any placed by a request
    whose answer was lost (the client never learned its id)."""
    customers = {c.id for c in world.customers}
    return {i["order_id"]: i for i in scan(settings().commerce_table)
            if i["SK"] == keys.ORDER_SK and i.get("customer_id") in customers}


def settled(order: dict[str, Any], hold: dict[str, Any] | None) -> bool:
    """The order is where the workflow leaves it for good (or until someone ships it)."""
    state = hold["state"] if hold else None
    status = order["status"]
    if status == "CANCELLED":
        # never paid, paid and released, or confirmed (captured) and then refunded
        return bool(order.get("stock_released")) and state in (None, dl.RELEASED, dl.REFUNDED)
    if status in ("SHIPPED", "DELIVERED") and any(i.get("reserved") for i in order.get("items", [])):
        return state == dl.CAPTURED and bool(order.get("reservation_shipped"))
    return status in ("CONFIRMED", "SHIPPED", "DELIVERED") and state == dl.CAPTURED


def wait_until_settled(world: World) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        holds = ledger_view()["holds"]
        orders = orders_of(world)
        if all(settled(o, holds.get(oid)) for oid, o in orders.items()):
            return
        time.sleep(0.5)


def violations(world: World) -> list[str]:
    found: list[str] = []
    books = ledger_view()
    holds, txns = books["holds"], books["txns"]
    customer_ids = {c.id for c in world.customers}
    seller_ids = {s.id for s in world.sellers}

    # 1. every transaction balances; every balance equals its journal (whole ledger)
    journal: Counter[str] = Counter()
    for txn in txns:
        legs = [int(e["amount"]) for e in txn["entries"]]
        if sum(legs) != 0:
            found.append(f"unbalanced transaction {txn['txn_id']}: {legs}")
        for e in txn["entries"]:
            journal[e["account"]] += int(e["amount"])
    for cid, w in books["wallets"].items():
        for bucket, account in (("available", dl.customer_available(cid)), ("held", dl.customer_held(cid))):
            if int(w.get(bucket, 0)) != journal[account]:
                found.append(f"{account} is {w.get(bucket)} but its journal says {journal[account]}")
    for sid, e in books["earnings"].items():
        if int(e.get("earnings", 0)) != journal[dl.seller_earnings(sid)]:
            found.append(f"earnings of {sid} are {e.get('earnings')}, journal {journal[dl.seller_earnings(sid)]}")

    # 1. money conserved over this run's people; 2. nothing negative
    topups = sum(int(t["amount"]) for t in txns if t["kind"] == dl.TOPUP and t["customer_id"] in customer_ids)
    owned = 0
    for cid in customer_ids:
        w = books["wallets"].get(cid, {})
        available, held = int(w.get("available", 0)), int(w.get("held", 0))
        owned += available + held
        if available < 0 or held < 0:
            found.append(f"customer {cid} has a negative balance: available {available}, held {held}")
    for sid in seller_ids:
        earned = int(books["earnings"].get(sid, {}).get("earnings", 0))
        owned += earned
        if earned < 0:
            found.append(f"seller {sid} has negative earnings {earned}")
    if owned != topups:
        found.append(f"money not conserved: customers and sellers hold {owned}, top-ups brought {topups}")

    # 3. stock: never below zero; initial = now + what live orders still reserve
    orders = orders_of(world)
    missing = {o["order_id"] for o in world.orders} - set(orders)
    if missing:
        found.append(f"acknowledged orders are missing: {sorted(missing)}")
    reserved: Counter[str] = Counter()
    unshipped: Counter[str] = Counter()  # sold, still in the seller's warehouse
    for order in orders.values():
        if not order.get("stock_released"):
            for line in order.get("items", []):
                if line.get("reserved"):
                    reserved[line["product_id"]] += int(line["quantity"])
                    if not order.get("reservation_shipped"):
                        unshipped[line["product_id"]] += int(line["quantity"])
    catalog = clients.table(settings().catalog_table)
    for pid, product in world.products.items():
        item = catalog.get_item(Key=keys.product(pid), ConsistentRead=True)["Item"]
        stock = int(item["stock"])
        if int(item.get("reserved", 0)) != unshipped[pid]:
            found.append(f"product {pid}: reserved {item.get('reserved', 0)} != units of unshipped orders "
                         f"{unshipped[pid]}")
        if stock < 0:
            found.append(f"product {pid} oversold: stock {stock}")
        if stock + reserved[pid] != int(product["stock"]):
            found.append(f"product {pid}: stock {stock} + reserved {reserved[pid]} != initial {product['stock']}")

    # 4. each order's state agrees with its money and its stock
    open_held: Counter[str] = Counter()
    captured: Counter[str] = Counter()
    for oid, order in orders.items():
        hold = holds.get(oid)
        state = hold["state"] if hold else None
        if hold is not None and int(hold["amount"]) != int(order["total"]):
            found.append(f"order {oid}: hold {hold['amount']} != total {order['total']}")
        if not settled(order, hold):
            found.append(f"order {oid} is {order['status']} with money {state} and "
                         f"stock_released={order.get('stock_released')}")
        if order["status"] != "CANCELLED" and order.get("stock_released"):
            found.append(f"order {oid} is {order['status']} but its stock was given back")
        if state == dl.HELD:
            open_held[order["customer_id"]] += int(hold["amount"])
        if state == dl.CAPTURED:
            captured[order["seller_id"]] += int(hold["amount"])
            if hold.get("seller_id") != order["seller_id"]:
                found.append(f"order {oid} was captured to {hold.get('seller_id')}, not its seller")
    for cid in customer_ids:
        held = int(books["wallets"].get(cid, {}).get("held", 0))
        if held != open_held[cid]:
            found.append(f"customer {cid} holds {held} but their open holds are {open_held[cid]}")
    for sid in seller_ids:
        earned = int(books["earnings"].get(sid, {}).get("earnings", 0))
        if earned != captured[sid]:
            found.append(f"seller {sid} earned {earned} but their captured orders are {captured[sid]}")
    return found


# --- the test ----------------------------------------------------------------------------------


@pytest.fixture
def short_timeouts(workflow_machine, monkeypatch):  # noqa: F811 - the imported fixture
    for k, v in TIMEOUTS.items():
        monkeypatch.setenv(k, v)
    settings.cache_clear()
    assert settings().seller_timeout_seconds == int(TIMEOUTS["SELLER_TIMEOUT_SECONDS"])
    yield
    settings.cache_clear()


@pytest.mark.parametrize("seed", SEEDS)
def test_money_and_stock_survive_a_random_workload_with_faults(seed, short_timeouts, register, workflow_machine):  # noqa: F811
    rng = random.Random(seed)
    world = build_world(register, rng)
    lanes = plan(rng, world)
    faults, step_failures = Faults(seed), StepFailures()
    faults.install()
    faults.on = True
    logging.getLogger("marketplace").addHandler(step_failures)
    started = time.monotonic()
    try:
        outcomes = run_workload(world, lanes)
    finally:
        faults.on = False
    ran = time.monotonic() - started
    try:
        wait_until_settled(world)
    finally:
        logging.getLogger("marketplace").removeHandler(step_failures)
    found = violations(world)
    unexpected = [k for k in outcomes if "UNEXPECTED" in k] + sorted(set(step_failures.seen))
    operations = sum(outcomes.values())
    RESULTS.append((seed, operations, len(found) + len(unexpected)))
    statuses = Counter(o["status"] for o in orders_of(world).values())
    print(f"\nworkload seed {seed}: {operations} operations in {ran:.1f} s, {len(world.orders)} orders "
          f"{dict(statuses)}, faults {dict(faults.injected)}, violations {len(found)}, unexpected {len(unexpected)}")
    print("  outcomes: " + ", ".join(f"{k} ×{v}" for k, v in sorted(outcomes.items())))
    runs = len(RESULTS)
    print(f"workload so far: {runs} runs × {sum(r[1] for r in RESULTS)} operations, "
          f"{sum(r[2] for r in RESULTS)} violations")
    _stop_running_executions(workflow_machine, world)
    assert not found, "\n".join(found[:40])
    assert not unexpected, unexpected
    assert faults.injected["dynamodb throttled"] > 0, "no fault was injected: the hooks are not wired"
    assert sum(statuses.values()) >= 5, f"too few orders to prove anything: {statuses}"


def _stop_running_executions(machine: str, world: World) -> None:
    """Orders waiting for a shipment wait a year: stop them, so no thread outlives the run."""
    sfn = boto3.client("stepfunctions")
    for oid in orders_of(world):
        arn = machine.replace(":stateMachine:", ":execution:") + f":{oid}"
        try:
            if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                sfn.stop_execution(executionArn=arn)
        except ClientError:
            continue
