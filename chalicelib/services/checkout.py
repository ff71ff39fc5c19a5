"""Checkout: the customer's carts become one order per seller, stock reserved atomically.

Steps and DynamoDB calls (the floor for this access pattern, see ``bench/commerce_bench.py``):

1. Query the cart lines (1 call).
2. BatchGetItem the products and the sellers' shops together (1 call; consistent reads).
3. Validate (``domain/cart.plan_checkout``): a delivery method of that seller chosen for each
   seller, every line sellable with enough stock. Problems answer 4xx before any write.
4. ONE TransactWriteItems (``store/orders.place``): per line a conditional stock decrement
   (or an availability check for products without a stock count), both also conditional on
   the price the order uses; per seller the order Put; the cart line Deletes; the checkout
   record. If any line cannot be reserved, nothing is written, and the 409 lists the failing
   lines with what is available (one more BatchGetItem, only on that path).
5. Start one Step Functions execution per order, named by the order id (not DynamoDB).

So a checkout costs 3 DynamoDB calls whatever its size (up to ``MAX_LINES`` lines). Fewer is
impossible: the lines, then the prices/stock/delivery (which depend on the lines), then the
one write that depends on both. The idempotency wrapper of the route adds its own calls.

Prices: orders use the current product price (GET /cart flags lines that became dearer);
the stock condition also pins that price, so a price change racing the checkout fails it
with a 409 asking to review the cart instead of charging a price the response did not show.
The customer still pays explicitly (POST /orders/{id}/pay) after seeing the totals.

Idempotency: ``checkout_id`` comes from the route's Idempotency-Key (``derived_id``); its
record is written in the same transaction with ``attribute_not_exists``, so concurrent or
retried requests with one key place one set of orders, and a retry after a crash answers with
the orders already placed (and makes sure their executions are started).

Workflow start: ``ORDER_STATE_MACHINE_ARN`` empty means "not configured" (unit-level runs):
the start is skipped and logged. ``ExecutionAlreadyExists`` counts as started (a retry).
Any other failure answers 503 and the retry — same key — starts what is missing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clients, logs
from chalicelib.config import settings
from chalicelib.domain import cart as rules
from chalicelib.domain import orders as order_rules
from chalicelib.errors import AlreadyExists, OutOfStock, Unavailable, ValidationFailed
from chalicelib.store import carts
from chalicelib.store import orders as store


def checkout(
    *,
    customer_id: str,
    checkout_id: str,
    delivery: dict[str, str],
    address: dict[str, Any],
    payment_method: str,
) -> dict[str, Any]:
    lines = carts.lines(customer_id)
    if not lines:
        record = store.get_checkout(checkout_id)  # a retry after the cart was emptied by us
        if record is not None and record.get("customer_id") == customer_id:
            return _replay(record)
        raise ValidationFailed.one("cart", "the cart is empty")
    if len(lines) > rules.MAX_LINES:
        raise ValidationFailed.one("cart", f"too many lines to check out at once (at most {rules.MAX_LINES})")
    products, shops = carts.snapshot([x["product_id"] for x in lines], [x["seller_id"] for x in lines],
                                     consistent=True)
    now_ms = int(time.time() * 1000)
    orders, reservations = rules.plan_checkout(
        checkout_id=checkout_id, customer_id=customer_id, lines=lines, products=products, shops=shops,
        delivery=delivery, address=address, payment_method=payment_method,
        now_iso=store.now_iso(), now_ms=now_ms,
    )
    record = {
        "checkout_id": checkout_id,
        "customer_id": customer_id,
        "order_ids": [o["order_id"] for o in orders],
        "created_at": orders[0]["created_at"],
    }
    try:
        store.place(checkout=record, orders=orders, reservations=reservations, cart_lines=lines)
    except AlreadyExists:
        existing = store.get_checkout(checkout_id)
        if existing is None or existing.get("customer_id") != customer_id:
            raise
        return _replay(existing)
    except OutOfStock as err:
        raise _explain(err) from err
    logs.event("checkout placed", checkout_id=checkout_id, orders=len(orders), lines=len(lines))
    _start_workflows(orders)
    return _result(checkout_id, orders)


def _explain(err: OutOfStock) -> OutOfStock:
    """Add what is available now to each failing line (one BatchGetItem)."""
    failing = err.extra.get("lines") or []
    products, _ = carts.snapshot([x["product_id"] for x in failing], [], consistent=True)
    lines = []
    for line in failing:
        product = products.get(line["product_id"])
        available = rules.stock_of(product)
        reason = rules.UNAVAILABLE if available == 0 and not rules.offered(product) else (
            rules.NOT_ENOUGH_STOCK if available is not None and available < line["requested"] else "price_changed")
        lines.append({**line, "available": available, "reason": reason})
    return OutOfStock(rules.failure_detail(lines), lines=lines)


def _replay(record: dict[str, Any]) -> dict[str, Any]:
    orders = store.get_orders(record.get("order_ids") or [])
    _start_workflows(orders)
    return _result(record["checkout_id"], orders)


def _result(checkout_id: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for o in orders:
        totals[o["currency"]] = totals.get(o["currency"], 0) + int(o["total"])
    return {
        "checkout_id": checkout_id,
        "orders": orders,
        "totals": [{"amount": a, "currency": c} for c, a in sorted(totals.items())],
    }


def workflow_input(order: dict[str, Any]) -> dict[str, Any]:
    return {k: order[k] for k in ("order_id", "customer_id", "seller_id", "total", "currency")}


def _start_workflows(orders: list[dict[str, Any]]) -> None:
    arn = settings().order_state_machine_arn
    if not arn:
        logs.event("order workflow not configured; executions not started",
                   orders=[o["order_id"] for o in orders])
        return
    sfn = clients.client("stepfunctions")
    failed = []
    for order in orders:
        assert order_rules.EXECUTION_NAME_RE.match(order["order_id"])
        try:
            sfn.start_execution(stateMachineArn=arn, name=order["order_id"],
                                input=json.dumps(workflow_input(order)))
        except ClientError as exc:
            if store.error_code(exc) == "ExecutionAlreadyExists":
                continue  # started by an earlier attempt of this checkout
            failed.append(order["order_id"])
            logs.log.exception("order workflow did not start", extra={"fields": {"order_id": order["order_id"]}})
        except BotoCoreError:
            failed.append(order["order_id"])
            logs.log.exception("order workflow did not start", extra={"fields": {"order_id": order["order_id"]}})
    if failed:
        raise Unavailable("your orders are placed but their processing did not start; "
                          "retry the same request (same Idempotency-Key) to finish", order_ids=failed)
