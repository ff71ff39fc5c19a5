"""Decisions on an order by its customer or its seller — from the API or an emailed link.

Each decision is ONE conditional transition of the order (``store.orders.transition``: it
applies only while the order is in the status the decision leaves), then ``workflow.resume``
wakes the execution, which moves the money, the stock and sends the emails (see
``services/workflow/__init__.py`` for who owns what). So the caller sees the new status at
once; capture / release / refund follow within the second. A decision repeated after it took
effect answers like the first one (and re-sends the wake-up, in case the first one was lost).

| decision | who | from | to | wakes |
|---|---|---|---|---|
| confirm | seller | PAID | CONFIRMED | seller wait → capture |
| cancel | seller | PAID, CONFIRMED | CANCELLED | seller or shipment wait → restock, refund |
| ship | seller | CONFIRMED | SHIPPED | shipment wait → email |
| pay | customer | AWAITING_PAYMENT | PAID (after the hold; a card order: answers the provider's page) | payment wait |
| cancel | customer | AWAITING_PAYMENT, PAID | CANCELLED | payment or seller wait |
| received | customer | SHIPPED | DELIVERED | receipt wait |

The table is ``domain/orders.py``'s moves. The emailed links that lead to the seller's
decisions are ``services/action_links.py`` (issuing them) and ``services/action_pages.py``
(the pages they open).
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients, logs
from chalicelib.domain import orders as st
from chalicelib.errors import InvalidTransition, NotFound
from chalicelib.services import card_payments, ledger
from chalicelib.services import orders as order_views
from chalicelib.services.workflow.steps import mark_paid
from chalicelib.services.workflow.wake import ResumeFailed, resume
from chalicelib.store import orders as orders_store
from chalicelib.store import workflow as wf_store


def _apply(order: st.Order, move: st.Move, *, actor: str, decision: str,
           updates: dict[str, Any] | None = None, detail: dict[str, Any] | None = None) -> tuple[st.Order, bool]:
    """Transition + wake-up. Returns (the order after; applied now?)."""
    after, applied = order, False
    if order.status != move.target:
        after = orders_store.transition(
            order.order_id, from_statuses=move.sources, to_status=move.target, event_id=f"to:{move.target}",
            event={"type": move.event, "actor": actor, "detail": detail or {}}, updates=updates,
        )
        applied = True
    if after.status == st.SHIPPED:
        # The units left the warehouse with the decision: a feed imported from now on must not
        # count them as reserved too. Exactly once (the order's flag); the workflow's shipment
        # step repeats it as a backstop, and a repeated request after a crash here does too.
        orders_store.ship_reserved(order.order_id)
    for kind in move.wakes:
        _wake(order.order_id, kind, {"decision": decision, "by": actor})
    return after, applied


def _wake(order_id: str, kind: str, output: dict[str, Any]) -> None:
    try:
        resume(order_id, kind, output)
    except (ResumeFailed, *clients.AWS_ERRORS) as exc:
        # The decision is recorded; the token is back in place, marked for the reconciler
        # (``services/reconcile.py``), which wakes the wait within minutes. Repeating the request
        # does it too; failing both, the wait's own timeout reconciles by status.
        logs.event("workflow not resumed", 30, order_id=order_id, kind=kind, error=type(exc).__name__)
        try:
            wf_store.mark_wake_pending(order_id, kind, orders_store.now_iso())
        except Exception as mark_exc:  # noqa: BLE001 - the decision stands; the wait's timeout is the backstop
            logs.event("wake-up not marked for the reconciler", 40, order_id=order_id, kind=kind,
                       error=type(mark_exc).__name__)


# --- seller -------------------------------------------------------------------------------


def _seller_order(order_id: str, seller_id: str | None) -> st.Order:
    order = orders_store.load(order_id)
    if order is None or (seller_id is not None and order.seller_id != seller_id):
        raise NotFound(f"order {order_id} not found")
    return order


def seller_decides(order_id: str, seller_id: str | None, action: str, *, via: str, actor_id: str,
                   reason: str | None = None, tracking_number: str | None = None) -> tuple[st.Order, bool]:
    """Confirm, cancel or ship one of the seller's orders (``seller_id`` None: an admin)."""
    move = st.SELLER_MOVES[action]
    order = _seller_order(order_id, seller_id)
    updates: dict[str, Any] = {}
    if action == "cancel":
        updates = {"cancelled_by": "seller", "cancel_reason": "seller"}
        if reason:
            updates["cancel_note"] = reason
    if action == "ship" and tracking_number:
        updates["tracking_number"] = tracking_number
    # Already cancelled (by the customer, or by this seller's earlier request): nothing to record,
    # but the wake-up is repeated — an earlier one may have failed after the decision was saved.
    return _apply(order, move, actor=f"seller:{actor_id}", decision=action, updates=updates, detail={"via": via})


# --- customer -----------------------------------------------------------------------------


def _customer_order(order_id: str, customer_id: str | None) -> st.Order:
    order = orders_store.load(order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise NotFound(f"order {order_id} not found")
    return order


def pay(order_id: str, customer_id: str | None, *, expected_total: int | None = None
        ) -> tuple[st.Order, dict[str, Any] | None]:
    """Hold the total now (the wallet was topped up): ``InsufficientFunds`` if still short,
    ``OrderTotalChanged`` if the payer was shown another total (``expected_total``). Returns the
    order and, for a card order not paid yet, its payment at the provider (where to pay)."""
    order = _customer_order(order_id, customer_id)
    by = f"customer:{order.customer_id}"
    if order.status in st.PAID_OR_LATER:
        _wake(order_id, "payment", {"decision": "paid", "by": by})
        return order, None
    if order.status != st.AWAITING_PAYMENT:
        raise InvalidTransition(f"order {order_id} is {order.status}; it cannot be paid",
                                order_id=order_id, current_status=order.status)
    order_views.check_total(order, expected_total)
    if card_payments.is_card(order):
        # a card order is paid on the provider's page: the answer says where (its webhook marks it paid)
        return order, card_payments.view(card_payments.start(order))
    ledger.hold(order_id, order.customer_id, order.total, order.currency)
    if mark_paid(order, actor=by) != "paid":
        current = orders_store.load(order_id) or order
        raise InvalidTransition(f"order {order_id} was cancelled; nothing was charged",
                                order_id=order_id, current_status=current.status)
    _wake(order_id, "payment", {"decision": "paid", "by": by})
    return orders_store.load(order_id) or order, None


def cancel(order_id: str, customer_id: str | None) -> st.Order:
    """Cancel before the seller confirms; the workflow then restocks and refunds."""
    order = _customer_order(order_id, customer_id)
    after, _ = _apply(order, st.CUSTOMER_CANCEL, actor=f"customer:{order.customer_id}", decision="cancel",
                      updates={"cancelled_by": "customer", "cancel_reason": "customer"})
    return after


def received(order_id: str, customer_id: str | None) -> st.Order:
    order = _customer_order(order_id, customer_id)
    after, _ = _apply(order, st.RECEIVED, actor=f"customer:{order.customer_id}", decision="received")
    return after
