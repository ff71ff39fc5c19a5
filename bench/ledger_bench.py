"""Ledger benchmark: DynamoDB calls per money primitive, and hold → capture throughput.

Run: ``.venv/bin/python -m bench.ledger_bench`` (also part of ``make bench``).

Everything runs in one in-process moto (``mock_aws``) with the tables of
``infra/resources.py``. Calls are counted with a botocore ``before-call.dynamodb.*`` hook on
the session ``chalicelib.clients`` builds every client from.

Goal: exactly ONE write call (one ``TransactWriteItems``) per primitive and no read before it
when the caller passes what the order already knows (``customer_id``, ``amount``). The
"already done" and "insufficient funds" answers also cost one call: the cancellation reasons
carry the items as they were, so no read follows the refused write.

Throughput is hold → capture pairs through the service functions, on a fresh ledger table and
again after 1,000 unrelated items were loaded into it, with the local stack's DynamoDB hooks
(``local/patches.py``): stock moto deep-copies every table a ``TransactWriteItems`` touches,
so there a transaction costs O(table size); the local stack's item-level transactions do not. On AWS a
3–4 item transaction takes a few ms whatever the table size, and different orders never
contend (only one customer's concurrent holds meet, on their wallet item).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from bench.support import CallCounter, use_emulator_env

use_emulator_env(in_process=True)

PAIRS = int(os.environ.get("LEDGER_BENCH_PAIRS", "50"))
FILLER_ITEMS = 1_000
FILLED_PAIRS = 20
THREADS = 4


def _setup() -> CallCounter:
    from local import bootstrap

    env = bootstrap.create_all(prefix=f"b{uuid.uuid4().hex[:6]}")
    os.environ.update(env)
    from chalicelib import clients
    from chalicelib.config import settings

    settings.cache_clear()
    clients.reset()
    counter = CallCounter()
    # register before any client exists: clients copy the session's event hooks when made
    clients._session().events.register("before-call.dynamodb.*", counter)
    return counter


def _fund(customer: str, amount: int) -> None:
    from chalicelib.services import ledger
    from chalicelib.services.payments import Charge

    ledger.record_topup(f"topup:{uuid.uuid4().hex}", customer, amount, "RUB", Charge("ch_bench", "4242", "sandbox"))


def calls_per_primitive(counter: CallCounter) -> list[tuple[str, dict[str, int]]]:
    from chalicelib.errors import InsufficientFunds
    from chalicelib.services import idempotency, ledger, payments, wallet

    rows: list[tuple[str, dict[str, int]]] = []
    customer, seller = f"c-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    _fund(customer, 1_000_000)
    o1, o2, o3, o4 = (f"o-{uuid.uuid4().hex[:8]}" for _ in range(4))

    def row(name: str, call: Any) -> None:
        with counter.measure() as calls:
            call()
            rows.append((name, dict(calls)))

    card = payments.Card("4242424242424242", 12, 2099, "123")
    row("top-up (service)", lambda: wallet.topup(customer, 10_000, "RUB", card, reference=uuid.uuid4().hex))
    row("top-up (+ idempotency record)", lambda: idempotency.run(
        scope=f"{customer}:POST:/wallet/topups", key=uuid.uuid4().hex, fingerprint="bench",
        execute=lambda: (201, str(wallet.topup(customer, 10_000, "RUB", card,
                                               reference=idempotency.derived_id("topup"))), {})))
    row("hold", lambda: ledger.hold(o1, customer, 5_000, "RUB"))
    row("hold, retried (no-op)", lambda: ledger.hold(o1, customer, 5_000, "RUB"))

    def short() -> None:
        try:
            ledger.hold(o4, customer, 10**9, "RUB")
        except InsufficientFunds:
            return
        raise AssertionError("expected insufficient funds")

    row("hold, insufficient funds", short)
    row("capture (with hints)", lambda: ledger.capture(o1, seller, customer_id=customer, amount=5_000))
    row("capture, retried (no-op)", lambda: ledger.capture(o1, seller, customer_id=customer, amount=5_000))
    ledger.hold(o2, customer, 5_000, "RUB")
    row("capture (no hints)", lambda: ledger.capture(o2, seller))
    ledger.hold(o3, customer, 5_000, "RUB")
    row("release (with hints)", lambda: ledger.release(o3, customer_id=customer, amount=5_000))
    row("release, retried (no-op)", lambda: ledger.release(o3, customer_id=customer, amount=5_000))
    row("wallet balance", lambda: ledger.wallet(customer))
    row("wallet statement page", lambda: wallet.transactions(customer, limit=20, start=None))
    return rows


def hold_capture_rate(pairs: int, threads: int = 1) -> float:
    """hold → capture pairs per second (each pair: two TransactWriteItems)."""
    from chalicelib.services import ledger

    customers = [f"c-{uuid.uuid4().hex[:8]}" for _ in range(threads)]
    for c in customers:
        _fund(c, pairs * 100)

    def lane(customer: str, n: int) -> None:
        for _ in range(n):
            order = f"o-{uuid.uuid4().hex[:10]}"
            ledger.hold(order, customer, 100, "RUB")
            ledger.capture(order, "seller-bench", customer_id=customer, amount=100)

    started = time.perf_counter()
    workers = [threading.Thread(target=lane, args=(c, pairs // threads)) for c in customers]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (pairs // threads * threads) / (time.perf_counter() - started)


def fresh_ledger_table() -> None:
    """Point the app at a new, empty ledger table."""
    from chalicelib import clients
    from chalicelib.config import settings
    from infra import resources

    name = f"bench-ledger-{uuid.uuid4().hex[:6]}"
    clients.dynamodb().create_table(**resources.table_api_params("LedgerTable", name))
    os.environ["LEDGER_TABLE"] = name
    settings.cache_clear()


def fill_ledger_table(n: int) -> None:
    """``n`` unrelated closed holds (BatchWriteItem: moto copies nothing for those)."""
    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.store import keys

    with clients.table(settings().ledger_table).batch_writer() as batch:
        for i in range(n):
            batch.put_item(Item={**keys.hold(f"filler-{i}"), "state": "released", "amount": 1,
                                 "customer_id": "filler", "order_id": f"filler-{i}"})


def main() -> list[tuple[str, str, str]]:
    import logging

    from moto import mock_aws

    from chalicelib import logs
    from local import patches

    logs.log.setLevel(logging.WARNING)
    # the local stack's hooks: atomic requests (threads below) and item-level transactions
    patches.serialize_dynamodb()
    patches.item_level_transactions()
    with mock_aws():
        counter = _setup()
        rows = calls_per_primitive(counter)
        table: list[tuple[str, str, str]] = []
        print("DynamoDB calls per ledger operation (in-process moto; goal: one write call per primitive)")
        print(f"{'operation':<32} {'writes':>6} {'reads':>5}  calls")
        for name, calls in rows:
            writes = sum(v for k, v in calls.items() if k in ("TransactWriteItems", "PutItem", "UpdateItem",
                                                              "DeleteItem", "BatchWriteItem"))
            reads = sum(calls.values()) - writes
            detail = ", ".join(f"{k}×{v}" for k, v in sorted(calls.items()))
            print(f"{name:<32} {writes:>6} {reads:>5}  {detail}")
            table.append((f"DynamoDB calls: {name}", f"{writes + reads} ({writes} writes + {reads} reads)",
                          "floor 1 call"))
        print("top-up through the route also pays the token revocation check (GetItem) and the")
        print("idempotency record's claim and completion (UpdateItem×2), shown on the second row.")
        print()
        print("hold → capture throughput (in-process moto; a pair is two primitives)")

        def line(label: str, rate: float, note: str = "") -> None:
            print(f"  {label:<34} {rate:6.1f} pairs/s = {2 * rate:6.1f} ops/s{note}")
            table.append((f"hold → capture, {label}", f"{rate:.1f} pairs/s", note.strip() or "in-process moto"))

        fresh_ledger_table()
        line(f"fresh table, 1 thread, {PAIRS} pairs", hold_capture_rate(PAIRS))
        fresh_ledger_table()
        line(f"fresh table, {THREADS} threads, {PAIRS} pairs", hold_capture_rate(PAIRS, threads=THREADS))
        fresh_ledger_table()
        fill_ledger_table(FILLER_ITEMS)
        line(f"{FILLER_ITEMS} items in table, {FILLED_PAIRS} pairs", hold_capture_rate(FILLED_PAIRS),
             "  (item-level transactions: no table copies)")
        return table

if __name__ == "__main__":
    main()
