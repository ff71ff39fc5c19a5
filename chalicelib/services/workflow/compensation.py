"""Compensation: what the workflow does when a step failed for good (``Compensate``, reached
by the state machine's ``Catch`` from every task but the emails; ``CompensateShipmentTimeout``
from the shipment timeout's own cancel; and by the reconciler for an execution that ended
without starting).
"""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib import logs
from chalicelib.domain import ledger as money_states
from chalicelib.domain import orders as st
from chalicelib.errors import InvalidTransition
from chalicelib.services import ledger
from chalicelib.services.workflow.contract import StepEvent, is_transient
from chalicelib.services.workflow.email_plans import notify
from chalicelib.services.workflow.steps import load_order, record, return_money, shipment_timeout
from chalicelib.store import orders as orders_store


def compensate(ev: StepEvent) -> dict[str, Any]:
    """A step failed for good: leave no money held and no stock reserved for a dead order.

    An order whose money is still held (not yet captured) is cancelled (``cancelled_by:
    system``), restocked and refunded. A cancelled order is restocked and refunded whatever
    became of its money — released, or the capture refunded (a cancel after confirmation whose
    refund step failed). An order captured and not cancelled (the failure came later: shipping
    emails, delivery) keeps its status — the API's ship/received routes still work without the
    workflow — except when the shipment wait had timed out (``timed_out``: its cancel is what
    failed): the timeout's cancel stands, so a still CONFIRMED order is cancelled by
    ``timeout`` as the ``ShipmentTimeout`` step would have (the transition is conditional: a
    seller's ship or cancel recorded first wins), then restocked and its capture refunded —
    nothing would cancel it later, and the seller no longer has a wait to ship through.
    Idempotent. If the money cannot be returned, the failure is put on the timeline
    (``refund_failed``) and raised: the state machine retries, then ends in
    ``OrderCompensationFailed`` for an operator — the money is never lost, it stays where the
    ledger says (the customer's held balance or the seller's earnings).
    """
    order = orders_store.load(ev.order_id)
    if order is None:
        return {"outcome": "no_order"}
    error = (ev.error or {}).get("Error") or "unknown"
    record(ev.order_id, "workflow_failed", "wf:failed", error=str(error)[:100])
    orders_store.workflow_started(ev.order_id)  # it ran (and ends here): nothing to reconcile
    if ev.timed_out and order.status == st.CONFIRMED:
        shipment_timeout(ev)  # CONFIRMED→CANCELLED by the timeout, unless shipped or cancelled just now
        order = load_order(ev.order_id)
    money = ledger.hold_state(ev.order_id)
    if order.status in (st.AWAITING_PAYMENT, st.PAID) or (
        order.status == st.CONFIRMED and money == money_states.HELD
    ):
        with contextlib.suppress(InvalidTransition):  # moved meanwhile: re-read below
            orders_store.transition(
                ev.order_id, from_statuses={st.AWAITING_PAYMENT, st.PAID, st.CONFIRMED}, to_status=st.CANCELLED,
                event_id=f"to:{st.CANCELLED}", event={"type": "cancelled_after_failure", "actor": "system"},
                updates={"cancelled_by": "system", "cancel_reason": "error"},
            )
        order = load_order(ev.order_id)
    if order.status != st.CANCELLED:
        return {"outcome": "kept", "status": order.status}
    orders_store.restock(ev.order_id, actor="system")
    refunded = False
    if money is not None:
        try:
            refunded = return_money(order)
        except Exception as exc:
            if not is_transient(exc):  # a busy ledger is retried; anything else needs a person
                record(ev.order_id, "refund_failed", "wf:refund_failed", error=type(exc).__name__)
                logs.event("compensation could not return the money", 50, order_id=ev.order_id,
                           error=type(exc).__name__)
            raise
        if refunded:
            record(ev.order_id, "refund_completed", "wf:refunded", amount=order.total,
                   currency=order.currency)
    for event in ("cancelled", "refunded"):
        try:
            notify(StepEvent(step="notify", order_id=ev.order_id, event=event))
        except Exception as exc:  # noqa: BLE001 - the money is safe; an email must not undo that
            logs.event("compensation email not sent", 40, order_id=ev.order_id, event=event,
                       error=type(exc).__name__)
    return {"outcome": "cancelled", "refunded": refunded}
