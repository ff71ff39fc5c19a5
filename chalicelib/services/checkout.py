"""Checkout: the customer's carts become one order per seller, stock reserved atomically.

Steps and DynamoDB calls (the floor for this access pattern, see ``bench/commerce_bench.py``):

1. Query the cart lines (1 call).
2. BatchGetItem the products and the sellers' shops together (1 call; consistent reads).
3. Validate (``domain/cart.plan_checkout``): a delivery method of that seller chosen for each
   seller, every line sellable with enough stock, each order's total within what one ledger
   movement may hold (``ledger.MAX_AMOUNT``; 422 on ``cart.<seller_id>``); then the customer
   pays what they saw (``domain/cart.check_seen``, below). Problems answer 4xx before any
   write.
4. ONE TransactWriteItems (``store/orders.place``): per line a conditional stock decrement
   (or an availability check for products without a stock count), both also conditional on
   the price the order uses; per seller the order Put; the cart line Deletes; the checkout
   record. If any line cannot be reserved, nothing is written, and the 409 lists the failing
   lines with what is available (one more BatchGetItem, only on that path).
5. Start one Step Functions execution per order, named by the order id (not DynamoDB).

6. One consistent BatchGetItem of the limited products' stock after the write: a product this
   checkout (or one racing it) sold out leaves the available listings
   (``store/catalog.relist_sold_out``; one more transaction only for such a product).

Promo codes (``promo_codes``; rules in ``domain/promos.py``, redemption in ``store/promos.py``):
the codes are read in step 2's BatchGetItem, applied to the planned orders exactly as
``POST /cart/quote`` shows them (any code that does not apply: 409 ``promo-code-rejected``,
before any write), so ``expected_total`` confirms the discounted total; their use counters,
the customer's counters and the redemption records join step 4's transaction (3 items per
code, hence ``domain/cart.MAX_LINES``), so a use limit holds whatever the concurrency and a
refused redemption places nothing. A checkout with codes costs the same 4 calls.

So a checkout costs 4 DynamoDB calls whatever its size (up to ``MAX_LINES`` lines). The floor
for placing is 3: the lines, then the prices/stock/delivery (which depend on the lines), then
the one write that depends on both; the fourth exists because the listing keys cannot join
the transaction (100 items) and the stock a concurrent checkout left is known only after it.
The idempotency wrapper of the route adds its own calls.

Prices — the customer pays what they saw: orders use the current product and delivery prices,
and the checkout proceeds only when the body's ``expected_total`` (minor units: every order's
items + chosen delivery) equals that grand total, or, without ``expected_total``, when no
line's price and no chosen delivery price rose above what the cart lines recorded as seen
(``price_seen``, ``delivery_seen``; drops pass). Otherwise 409 ``cart-changed`` with
``changes`` (old = seen, new = now), ``total`` and ``currency``: the client shows them and
retries with ``expected_total = total``. The check runs before the transaction, so nothing
is reserved, written or held on that path. ``expected_total`` on a cart in several currencies
is a 422 (one number cannot state it). The stock condition also pins each price, so a price
change racing the checkout fails it with a 409 asking to review the cart instead of charging
a price the customer did not confirm. The order's total is then fixed: the workflow's hold
and ``POST /orders/{id}/pay`` hold exactly the stored total.

Idempotency: ``checkout_id`` comes from the route's Idempotency-Key (``derived_id``); its
record is written in the same transaction with ``attribute_not_exists``, so concurrent or
retried requests with one key place one set of orders, and a retry after a crash answers with
the orders already placed (and makes sure their executions are started).

Workflow start (``adapters/stepfunctions.py``): ``ORDER_STATE_MACHINE_ARN`` empty means "not
configured" (unit-level runs): the start is skipped and logged. An execution that already
exists counts as started (a retry).
Any other failure answers 503 and the retry — same key — starts what is missing. If the
process dies before the start and the client never retries, the order is still listed as
"workflow pending" and ``services/reconcile.py`` starts it, by the same name, within minutes.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import clients, logs, metrics, tracing
from chalicelib.adapters.stepfunctions import state_machine
from chalicelib.config import settings
from chalicelib.domain import cart as rules
from chalicelib.domain import orders as order_rules
from chalicelib.domain import promos as promo_rules
from chalicelib.errors import AlreadyExists, DependencyError, OutOfStock, Unavailable, ValidationFailed
from chalicelib.services import card_payments, promos
from chalicelib.services import orders as order_views
from chalicelib.store import carts, catalog
from chalicelib.store import orders as store
from chalicelib.store import promos as promo_store
from chalicelib.store.toolkit import TransactionCancelled


def checkout(
    *,
    customer_id: str,
    checkout_id: str,
    delivery: dict[str, str],
    address: dict[str, Any],
    payment_method: str,
    expected_total: int | None = None,
    promo_codes: list[str] | None = None,
) -> dict[str, Any]:
    texts = list(promo_codes or [])
    promos.check_texts(texts)
    if payment_method == card_payments.CARD:
        card_payments.check_available()  # 503 before anything is placed when no provider is configured
    lines = carts.lines(customer_id)
    if not lines:
        record = store.get_checkout(checkout_id)  # a retry after the cart was emptied by us
        if record is not None and record.get("customer_id") == customer_id:
            return _replay(record)
        raise ValidationFailed.one("cart", "the cart is empty")
    if len(lines) > rules.MAX_LINES:
        raise ValidationFailed.one("cart", f"too many lines to check out at once (at most {rules.MAX_LINES})")
    seller_ids = [x.seller_id for x in lines]
    promo_items: list[dict[str, Any]] = []
    if texts:  # the codes join the same BatchGetItem
        products, shops, promo_items = carts.snapshot_with(
            [x.product_id for x in lines], seller_ids, promo_store.checkout_keys(texts, seller_ids, customer_id),
            consistent=True)
    else:
        products, shops = carts.snapshot([x.product_id for x in lines], seller_ids, consistent=True)
    now_ms = int(time.time() * 1000)
    orders, reservations = rules.plan_checkout(
        checkout_id=checkout_id, customer_id=customer_id, lines=lines, products=products, shops=shops,
        delivery=delivery, address=address, payment_method=payment_method,
        now_iso=store.now_iso(), now_ms=now_ms,
    )
    # the codes apply exactly as POST /cart/quote shows them (or the checkout is refused), so the
    # totals the customer confirms below are the discounted ones
    redemptions = promos.for_checkout(texts, customer_id, lines, products, shops, promo_items, orders)
    rules.check_seen(orders, lines, expected_total)
    record = {
        "checkout_id": checkout_id,
        "customer_id": customer_id,
        "order_ids": [o["order_id"] for o in orders],
        "created_at": orders[0]["created_at"],
    }
    if redemptions:
        record["promo_codes"] = [{"issuer": r["issuer"], "code": r["code"]} for r in redemptions]
    placed_at = orders[0]["created_at"]
    try:
        store.place(checkout=record, orders=orders, reservations=reservations, cart_lines=lines,
                    promo_ops=promo_store.redemption_ops(redemptions, checkout_id=checkout_id,
                                                         customer_id=customer_id, now_iso=placed_at))
    except TransactionCancelled as cancelled:
        # only a refused redemption reaches here (store/orders.place explains every other cause)
        refused = [{"code": r["code"], "reason": reason, "detail": _REFUSED.get(reason, reason),
                    **({} if r["issuer"] == promo_rules.MARKETPLACE else {"seller_id": r["issuer"]})}
                   for r in redemptions
                   if (reason := promo_store.refused_reason(cancelled, r, placed_at)) is not None]
        if not refused:
            raise
        raise promos.rejected(refused) from cancelled
    except AlreadyExists:
        existing = store.get_checkout(checkout_id)
        if existing is None or existing.get("customer_id") != customer_id:
            raise
        return _replay(existing)
    except OutOfStock as err:
        raise _explain(err) from err
    logs.event("checkout placed", checkout_id=checkout_id, orders=len(orders), lines=len(lines))
    metrics.count("OrdersPlaced", len(orders))
    tracing.annotate(checkout_id=checkout_id, order_id=orders[0]["order_id"] if len(orders) == 1 else None)
    _relist([r["product_id"] for r in reservations if r["limited"]])
    orders = _with_card_payments(orders)
    start_workflows([order_rules.Order.from_item(o) for o in orders])
    return _result(checkout_id, orders)


_REFUSED = {
    promo_rules.EXHAUSTED: "the code was used up by other customers just now",
    promo_rules.CUSTOMER_LIMIT: "you have used this code as many times as it may be used by one customer",
    promo_rules.EXPIRED: "the code expired just now",
    promo_rules.ENDED: "the code was ended by its issuer just now",
    "changed": "the code's terms changed just now: quote again",
}


def _relist(product_ids: list[str]) -> None:
    """Products this checkout sold out leave the available listings. The orders are placed
    whatever happens here: a failure is logged, and the product's page, cart and checkout
    already go by its stock (the next stock change relists it)."""
    try:
        catalog.relist_sold_out(product_ids)
    except (*clients.AWS_ERRORS, Unavailable):
        logs.log.exception("sold-out products not relisted", extra={"fields": {"products": product_ids}})


def _explain(err: OutOfStock) -> OutOfStock:
    """Add what is available now to each failing line (one BatchGetItem)."""
    failing = err.lines or []
    products, _ = carts.snapshot([x["product_id"] for x in failing], [], consistent=True)
    lines = []
    for line in failing:
        product = products.get(line["product_id"])
        available = rules.stock_of(product)
        reason = rules.UNAVAILABLE if available == 0 and not rules.offered(product) else (
            rules.NOT_ENOUGH_STOCK if available is not None and available < line["requested"] else "price_changed")
        lines.append({**line, "available": available, "reason": reason})
    return OutOfStock(rules.failure_detail(lines), lines=lines)


def _with_card_payments(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Card orders get their provider payment now, so the answer carries where to pay. The
    orders are placed whatever the provider does: if it is unreachable, the workflow's payment
    step and ``POST /orders/{id}/pay`` create the payment later (the order id is its key)."""
    out = []
    for order in orders:
        record = order_rules.Order.from_item(order)
        if card_payments.is_card(record):
            try:
                order = {**order, "payment": card_payments.view(card_payments.start(record))}
            except Unavailable:
                logs.log.exception("card payment not started", extra={"fields": {"order_id": order["order_id"]}})
        out.append(order)
    return out


def _replay(record: dict[str, Any]) -> dict[str, Any]:
    placed = store.load_many(record.get("order_ids") or [])
    orders = _with_card_payments([order_views.view(o, timeline=False) for o in placed])
    start_workflows(placed)
    return _result(record["checkout_id"], orders)


def _result(checkout_id: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
    totals = rules.grand_totals(orders)
    return {
        "checkout_id": checkout_id,
        "orders": orders,
        "totals": [{"amount": a, "currency": c} for c, a in sorted(totals.items())],
    }


def workflow_input(order: order_rules.Order) -> dict[str, Any]:
    return {"order_id": order.order_id, "customer_id": order.customer_id, "seller_id": order.seller_id,
            "total": order.total, "currency": order.currency}


def start_workflow(order: order_rules.Order) -> bool:
    """Start the order's execution, named by the order id; False when it already exists (an
    earlier attempt, or the reconciler, started it). Raises ``DependencyUnavailable`` or
    ``DependencyFailed`` when Step Functions did not start it."""
    assert order_rules.EXECUTION_NAME_RE.match(order.order_id)
    return state_machine().start(order.order_id, workflow_input(order))


def start_workflows(orders: list[order_rules.Order]) -> None:
    """Start every order's execution; ``Unavailable`` (503, with the ``order_ids`` that did not
    start) when any failed — the same request again starts what is missing."""
    arn = settings().order_state_machine_arn
    if not arn:
        logs.event("order workflow not configured; executions not started",
                   orders=[o.order_id for o in orders])
        return
    failed = []
    for order in orders:
        try:
            start_workflow(order)
        except DependencyError:
            # the reconciler starts it within minutes if the client never retries
            failed.append(order.order_id)
            logs.log.exception("order workflow did not start", extra={"fields": {"order_id": order.order_id}})
    if failed:
        raise Unavailable("your orders are placed but their processing did not start; "
                          "retry the same request (same Idempotency-Key) to finish", order_ids=failed)
