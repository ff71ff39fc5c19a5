"""Workflow emails: ``notify`` sends the emails of one workflow event, and the plans say which.

A plan reads the order (and, for some events, the ledger) and lists ``(kind, links, extra)``
for ``services.notifications.send``, which sends each at most once per order. An event whose
email no longer fits what happened (confirmed, then cancelled at once) plans none. The
seller's confirm / cancel / ship links come from ``services/action_links.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib import logs
from chalicelib.domain import ledger as money_states
from chalicelib.domain import orders as st
from chalicelib.services import ledger, notifications
from chalicelib.services.action_links import issue_links
from chalicelib.services.workflow.contract import StepEvent, StepInputError
from chalicelib.services.workflow.steps import load_order, record, timeouts


def notify(ev: StepEvent) -> dict[str, Any]:
    """Send the emails of a workflow event (``ev.event``); each is sent once. A rejected email
    is recorded on the timeline; SES being unavailable is transient (retried)."""
    order = load_order(ev.order_id)
    plan = PLANS.get(ev.event or "")
    if plan is None:
        raise StepInputError(f"unknown notification event {ev.event!r}")
    sent = []
    seen: dict[str, Any] = {}  # the profiles and shops read for this event's emails
    for kind, links, extra in plan(order):
        try:
            if notifications.send(order, kind, links=links, extra=extra, seen=seen):
                sent.append(kind)
        except notifications.EmailRejected as exc:
            record(ev.order_id, "email_failed", f"email_failed:{kind}", kind=kind, reason=str(exc)[:200])
            logs.event("email rejected", 40, order_id=ev.order_id, kind=kind, reason=str(exc)[:200])
    return {"sent": sent}


Plan = list[tuple[str, dict[str, str] | None, dict[str, Any] | None]]


def _emails_payment_required(order: st.Order) -> Plan:
    if order.payment_method == "card":
        return []  # the customer is on the provider's page (the checkout's confirmation_url)
    wallet = ledger.wallet(order.customer_id)
    pay_by = int(time.time()) + timeouts()["payment_timeout"]
    return [("payment_required", None, {"pay_by": pay_by, "wallet_available": int(wallet["available"])})]


def _emails_paid(order: st.Order) -> Plan:
    return [("new_order", issue_links(order), None), ("order_placed", None, None)]


def _emails_confirmed(order: st.Order) -> Plan:
    if order.status == st.CANCELLED:
        return []  # cancelled right after the confirmation: the cancellation email says it all
    return [("order_confirmed", None, None)]


def _emails_cancelled(order: st.Order) -> Plan:
    if order.cancel_reason == "payment_timeout":
        return [("payment_expired", None, None)]
    if ledger.hold_state(order.order_id) is None:
        return []  # nothing was ever paid: no refund to announce (the customer cancelled it)
    by = order.cancelled_by
    return [("order_cancelled_refund_started", None,
             {"cancelled_by": by if by in ("customer", "seller", "system") else "timeout",
              "timeout_stage": "shipment" if order.cancel_reason == "shipment_timeout" else None,
              "reason": order.cancel_note or None})]


def _emails_refunded(order: st.Order) -> Plan:
    if ledger.hold_state(order.order_id) not in (money_states.RELEASED, money_states.REFUNDED):
        return []
    return [("refund_completed", None, None)]


def _emails_shipped(order: st.Order) -> Plan:
    if order.status not in (st.SHIPPED, st.DELIVERED):
        return []  # an execution of an older definition reaching here for a cancelled order
    return [("order_shipped", None, {"tracking_number": order.tracking_number or None})]


PLANS: dict[str, Callable[[st.Order], Plan]] = {
    "payment_required": _emails_payment_required,
    "paid": _emails_paid,
    "confirmed": _emails_confirmed,
    "cancelled": _emails_cancelled,
    "refunded": _emails_refunded,
    "shipped": _emails_shipped,
}
