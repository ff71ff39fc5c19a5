"""The steps that move an order along the workflow: what each task of the state machine does,
except ``notify`` (``email_plans.py``) and ``compensate`` (``compensation.py``).

Each step reads the order, does one idempotent thing and returns the outcome the next
``Choice`` branches on (``statemachines/README.md``, "Steps"). ``mark_paid`` (the hold's
transition) is also the API's late payment (``services/actions.pay``); ``return_money`` is
shared with compensation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from chalicelib import logs, tracing
from chalicelib.config import settings
from chalicelib.domain import ledger as money_states
from chalicelib.domain import orders as st
from chalicelib.errors import InsufficientFunds, InvalidTransition, NotFound, Unavailable
from chalicelib.services import card_payments, fees, ledger, payouts
from chalicelib.services.workflow.contract import StepEvent, StepInputError
from chalicelib.services.workflow.wake import resume
from chalicelib.store import fees as fees_store
from chalicelib.store import orders as orders_store
from chalicelib.store import seller_money
from chalicelib.store import workflow as wf_store


def load_order(order_id: str) -> st.Order:
    order = orders_store.load(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    tracing.annotate(seller_id=order.seller_id, customer_id=order.customer_id)
    return order


def record(order_id: str, type_: str, event_id: str, *, actor: str = "system", **detail: Any) -> bool:
    """Append a timeline entry once (``event_id``); False when it was there already."""
    return orders_store.add_event(order_id, {"type": type_, "actor": actor, "detail": detail}, event_id=event_id)


def timeouts() -> dict[str, int]:
    cfg = settings()
    # Step Functions wants positive integers; 0 in the environment would mean "no time at all"
    return {
        "payment_timeout": max(1, cfg.payment_timeout_seconds),
        "seller_timeout": max(1, cfg.seller_timeout_seconds),
        "shipment_timeout": max(1, cfg.shipment_timeout_seconds),
        "delivery_timeout": max(1, cfg.delivery_auto_seconds),
    }


def start(ev: StepEvent) -> dict[str, Any]:
    """Check the order exists (``NotFound``), record the start and take the order off the
    "workflow pending" index (the reconciler need not start it) in one write; hand the
    configured timeouts to the state machine."""
    if not orders_store.add_event(ev.order_id, {"type": "workflow_started", "actor": "system", "detail": {}},
                                  event_id="wf:started", remove=orders_store.WORKFLOW_PENDING_INDEX):
        orders_store.workflow_started(ev.order_id)  # a retry: the first attempt's write did it
    return timeouts()


def hold(ev: StepEvent) -> dict[str, Any]:
    """Hold the total on the customer's wallet: ``paid``, ``awaiting`` (funds short) or
    ``cancelled`` (the customer cancelled first)."""
    order = load_order(ev.order_id)
    status = order.status
    if status == st.CANCELLED:
        return {"outcome": "cancelled"}
    if status in st.PAID_OR_LATER:  # the customer paid through the API before this step ran
        return {"outcome": "paid"}
    if card_payments.is_card(order):
        return _await_card(order)
    try:
        ledger.hold(order.order_id, order.customer_id, order.total, order.currency)
    except InsufficientFunds as err:
        record(ev.order_id, "payment_required", "wf:payment_required",
               required=order.total, available=int(err.available or 0),
               currency=order.currency)
        return {"outcome": "awaiting"}
    return {"outcome": mark_paid(order, actor="system")}


def _await_card(order: st.Order) -> dict[str, Any]:
    """A card order waits for the provider's webhook (the authorization marks it paid); the
    payment is made here if checkout could not reach the provider."""
    try:
        card_payments.start(order)
    except Unavailable:
        logs.event("card payment not started; the customer may retry POST /orders/{id}/pay", 30,
                   order_id=order.order_id)
    record(order.order_id, "card_payment_required", "wf:card_payment_required",
           required=order.total, currency=order.currency)
    return {"outcome": "awaiting"}


def give_back_hold(order: st.Order) -> bool:
    """Release an order's hold: to the wallet, or for a card order void the authorization at
    the provider and release to its clearing account. True when released (now or before)."""
    hints = {"customer_id": order.customer_id, "amount": order.total}
    if not card_payments.is_card(order):
        return ledger.release(order.order_id, **hints)
    provider = card_payments.void(order)
    if provider is None:
        return False
    return ledger.release(order.order_id, **hints, provider=provider)


def mark_paid(order: st.Order, *, actor: str) -> str:
    """AWAITING_PAYMENT→PAID after the hold succeeded; if the order was cancelled meanwhile the
    hold is given back. Returns ``paid`` or ``cancelled``. (Also the API's late payment.)"""
    try:
        orders_store.transition(
            order.order_id, from_statuses={st.AWAITING_PAYMENT}, to_status=st.PAID, event_id=f"to:{st.PAID}",
            event={"type": "payment_held", "actor": actor,
                   "detail": {"amount": order.total, "currency": order.currency}},
        )
    except InvalidTransition as err:
        if err.current_status in st.PAID_OR_LATER:
            return "paid"
        # Cancelled while we held: the money must not stay held for a dead order.
        give_back_hold(order)
        return "cancelled"
    return "paid"


def wait(kind: str) -> Callable[[StepEvent], dict[str, Any]]:
    def step(ev: StepEvent) -> dict[str, Any]:
        """Park the task token, then resume at once if the order already left the waited status."""
        if not ev.task_token:
            raise StepInputError("a waiting step needs task_token")
        wf_store.park_token(wf_store.order_wait(ev.order_id, kind), ev.task_token,
                            wait_seconds=_wait_seconds(kind), step=ev.step)
        record(ev.order_id, f"waiting_for_{kind}", f"wf:wait:{kind}")
        status = load_order(ev.order_id).status
        if status != st.WAITS[kind]:
            resume(ev.order_id, kind, {"decision": "status", "status": status, "by": "workflow"})
        return {"outcome": "parked"}

    return step


def _wait_seconds(kind: str) -> int:
    t = timeouts()
    return {"payment": t["payment_timeout"], "seller": t["seller_timeout"], "shipment": t["shipment_timeout"],
            "receipt": t["delivery_timeout"]}.get(kind, 366 * 24 * 3600)


def _cancel_for_timeout(order_id: str, waited_in: str, event_type: str, reason: str) -> None:
    """A wait timed out: →CANCELLED by ``timeout``, unless the order left ``waited_in`` just now
    (then the transition's condition fails, and the next step reads what won)."""
    with contextlib.suppress(InvalidTransition):
        orders_store.transition(
            order_id, from_statuses={waited_in}, to_status=st.CANCELLED, event_id=f"to:{st.CANCELLED}",
            event={"type": event_type, "actor": "timeout"},
            updates={"cancelled_by": "timeout", "cancel_reason": reason},
        )


def expire_payment(ev: StepEvent) -> dict[str, Any]:
    """The payment wait timed out: cancel the unpaid order — unless it was paid just now."""
    _cancel_for_timeout(ev.order_id, st.AWAITING_PAYMENT, "payment_expired", "payment_timeout")
    status = load_order(ev.order_id).status
    return {"outcome": "paid" if status in st.PAID_OR_LATER else "cancelled"}


def seller_timeout(ev: StepEvent) -> dict[str, Any]:
    """The seller did not answer in time: treated as a cancel (unless they just confirmed;
    ``settle`` reads what won)."""
    _cancel_for_timeout(ev.order_id, st.PAID, "seller_timeout", "seller_timeout")
    return {"outcome": "decided"}


def shipment_timeout(ev: StepEvent) -> dict[str, Any]:
    """The seller confirmed but did not ship in time: cancelled (unless they just shipped or
    cancelled; ``shipment_decided`` reads it); the captured money goes back to the customer on
    the cancel branch."""
    _cancel_for_timeout(ev.order_id, st.CONFIRMED, "shipment_timeout", "shipment_timeout")
    return {"outcome": "decided"}


def shipment_decided(ev: StepEvent) -> dict[str, Any]:
    """After the shipment wait: ``shipped``, ``cancelled`` (by the seller or the timeout: restock
    and refund follow) or ``waiting`` (nothing decided: wait again)."""
    status = load_order(ev.order_id).status
    if status in (st.SHIPPED, st.DELIVERED):
        orders_store.ship_reserved(ev.order_id)  # the units left the warehouse: no longer reserved
        return {"outcome": "shipped"}
    if status == st.CANCELLED:
        return {"outcome": "cancelled"}
    if status == st.CONFIRMED:
        return {"outcome": "waiting"}
    raise InvalidTransition(f"order {ev.order_id} is {status}: not waiting for shipment", current_status=status)


def settle(ev: StepEvent) -> dict[str, Any]:
    """After the seller's decision: capture on confirm. ``confirmed``, ``cancelled``, or
    ``waiting`` (nothing decided: wait again)."""
    order = load_order(ev.order_id)
    status = order.status
    if status in st.CONFIRMED_OR_LATER:
        # The fee is quoted from the schedule at capture and recorded on the order in the same
        # transaction; a retry after the capture gets back what the first one took.
        fee = fees.quote(order)
        if card_payments.is_card(order):
            card_payments.capture(order)  # the provider first; a retry gets its first answer
        taken = ledger.capture(order.order_id, order.seller_id, customer_id=order.customer_id,
                               amount=order.total, promotion=order.marketplace_discount,
                               seller_discount=order.seller_discount, fee=fee.amount,
                               fee_rate_bps=fee.rate_bps, extra=(
                                   fees_store.order_fee_op(order.order_id, fee),
                                   # the net stays pending until the return window ends
                                   seller_money.pending_put_op(order.seller_id, order.order_id, _net(order, fee)),
                               ))
        record(ev.order_id, "payment_captured", "wf:captured", amount=order.total,
               currency=order.currency, fee=taken["fee"], fee_rate_bps=taken["fee_rate_bps"])
        return {"outcome": "confirmed"}
    if status == st.CANCELLED:
        return {"outcome": "cancelled"}
    if status == st.PAID:
        return {"outcome": "waiting"}
    raise InvalidTransition(f"order {ev.order_id} is {status}: nothing to settle", current_status=status)


def _net(order: st.Order, fee: Any) -> int:
    return order.total + order.marketplace_discount - fee.amount


def cancelled(ev: StepEvent) -> dict[str, Any]:
    """The order is cancelled: give its stock back (exactly once)."""
    order = load_order(ev.order_id)
    if order.status != st.CANCELLED:
        raise InvalidTransition(f"order {ev.order_id} is {order.status}, not cancelled",
                                current_status=order.status)
    orders_store.restock(ev.order_id, actor="system")
    return {"outcome": "restocked", "cancelled_by": str(order.cancelled_by or "unknown")}


def refund(ev: StepEvent) -> dict[str, Any]:
    """Give a cancelled order's money back to the customer's available balance: release the
    hold, or refund the capture when the seller had confirmed (and was paid) first."""
    order = load_order(ev.order_id)
    if order.status != st.CANCELLED:
        raise InvalidTransition(f"order {ev.order_id} is {order.status}: no refund", current_status=order.status)
    refunded = return_money(order)
    if refunded:
        record(ev.order_id, "refund_completed", "wf:refunded", amount=order.total,
               currency=order.currency)
    return {"refunded": refunded}


def return_money(order: st.Order) -> bool:
    """Put a cancelled order's money back on the customer's available balance, whatever became
    of it: held → released, captured → refunded (from the seller's earnings). True when it is
    back (now or by an earlier call), False when nothing was ever paid. Idempotent.

    The common case (cancelled before confirmation) is one write: the release, with the order's
    hints. Its refusal says what the hold is (``hold_state``), so a captured one costs one more
    write, not a read first.
    """
    hints = {"customer_id": order.customer_id, "amount": order.total}
    provider = None
    if card_payments.is_card(order):
        # a card order's money is at the provider: void or refund there first (idempotent)
        state = ledger.hold_state(order.order_id)
        if state in (None, money_states.HELD, money_states.RELEASED):
            return give_back_hold(order) and state is not None
        provider = card_payments.refund(order)
    else:
        try:
            return ledger.release(order.order_id, **hints)
        except InvalidTransition as err:
            if err.hold_state not in (money_states.CAPTURED, money_states.REFUNDED):
                raise
    ledger.refund_capture(order.order_id, seller_id=order.seller_id, currency=order.currency,
                          promotion=order.marketplace_discount, fee=order.fee_amount,
                          extra=(seller_money.pending_delete_op(order.seller_id, order.order_id),), **hints,
                          provider=provider)
    return True


def deliver(ev: StepEvent) -> dict[str, Any]:
    """SHIPPED→DELIVERED: the customer said so (then a no-op) or the delivery time ran out."""
    actor = "timeout" if ev.timed_out else "system"
    try:
        orders_store.transition(
            ev.order_id, from_statuses={st.SHIPPED}, to_status=st.DELIVERED, event_id=f"to:{st.DELIVERED}",
            event={"type": "delivered", "actor": actor, "detail": {"auto": ev.timed_out}},
        )
    except InvalidTransition as err:
        if err.current_status != st.DELIVERED:
            raise
    # the return window starts: the seller's net stays pending until it ends (idempotent)
    order = load_order(ev.order_id)
    seller_money.start_window(order.seller_id, ev.order_id, payouts.window_end())
    return {"outcome": "delivered"}
