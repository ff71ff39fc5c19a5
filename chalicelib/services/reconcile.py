"""The reconciler: orders whose workflow never started are started, or wound up, within minutes.

Checkout writes the orders and then starts one execution per order (``services/checkout.py``).
If the process dies between the two and the client never retries with its Idempotency-Key,
the order would sit in AWAITING_PAYMENT forever with its stock reserved. Checkout writes every
order into a sparse index ("workflow pending", GSI4 of the commerce table); the workflow's
first step takes it out. This function, run on a schedule, reads the orders that have stayed
in that index longer than ``RECONCILE_GRACE_SECONDS`` and starts their execution **by the
order id**, so a start that raced a late checkout retry is a harmless ``ExecutionAlreadyExists``.

Why a schedule and not a DynamoDB stream consumer: a stream record arrives when the order is
written, which is exactly when the checkout is about to start the execution itself; the
consumer could not tell a lost start from one a few milliseconds away without waiting anyway.
A one-minute schedule reading one sparse index page costs one Query when there is nothing to
do, needs no stream or event-source mapping, and runs the same on the local stack (a timer).

An execution that exists but is no longer running without having taken the order out of the
index (stopped by an operator, or failed before its first step) gets the workflow's own
compensation: the order is cancelled if it is still before confirmation, its stock returned,
and any held money released — no reservation or hold outlives its workflow.

The same pass delivers decisions whose wake-up failed: a decision (``services/actions.py``) is
recorded first and wakes the waiting execution after; when every attempt of that wake-up fails,
its parked token is marked "wake pending" (GSI4, ``store/workflow.py``). The pass wakes each
marked wait older than the grace period the way a waiting step wakes itself (``{"decision":
"status"}``: the resumed step reads the order), so a seller's cancel after confirmation is
refunded within minutes, not at the shipment wait's timeout days later. Answering, or finding
the wait over, takes the mark away with the token; a failure leaves it for the next pass. A
mark whose order is still in the waited status (nothing to deliver) is only cleared.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import logs
from chalicelib.adapters.stepfunctions import state_machine
from chalicelib.config import settings
from chalicelib.domain import orders as st
from chalicelib.errors import DependencyError
from chalicelib.services import checkout
from chalicelib.store import orders as store
from chalicelib.store import workflow as wf_store

PAGE = 100  # per pass (one Query); a larger backlog drains over the next passes


def reconcile(now: float | None = None) -> dict[str, int]:
    """One pass: start or wind up every order pending longer than the grace period.
    Returns counts by outcome (logged too)."""
    cfg = settings()
    counts = {"started": 0, "running": 0, "wound_up": 0, "woken": 0, "failed": 0}
    if not cfg.order_state_machine_arn:
        return counts
    before = datetime.fromtimestamp((now or time.time()), UTC) - timedelta(seconds=cfg.reconcile_grace_seconds)
    before_iso = before.isoformat(timespec="microseconds").replace("+00:00", "Z")
    _wake_pending(before_iso, counts)
    for order in store.workflow_pending(before_iso, PAGE):
        oid = order.order_id
        try:
            if checkout.start_workflow(order):
                counts["started"] += 1
                logs.event("reconciler started a lost order workflow", 30, order_id=oid)
            elif state_machine().status(oid) == "RUNNING":
                counts["running"] += 1  # its first step has not run yet; it will clear the mark
            else:
                _wind_up(oid)
                counts["wound_up"] += 1
        except DependencyError as exc:  # Step Functions did not answer as it should
            counts["failed"] += 1  # the next pass tries again
            logs.event("reconciler could not start an order workflow", 40, order_id=oid, error=exc.code)
        except Exception as exc:  # noqa: BLE001 - one order's wind-up must not stop the pass
            counts["failed"] += 1
            logs.event("reconciler could not wind up an order", 40, order_id=oid, error=type(exc).__name__)
    if any(counts.values()):
        logs.event("reconciled orders", **counts)
    return counts


def _wake_pending(before_iso: str, counts: dict[str, int]) -> None:
    """Wake the waits whose decision was recorded but whose wake-up failed (marked before
    ``before_iso``)."""
    from chalicelib.services.workflow import resume

    for order_id, kind in wf_store.wakes_pending(before_iso, PAGE):
        try:
            order = store.load(order_id)
            if order is None or order.status == st.WAITS.get(kind):
                wf_store.clear_wake_pending(order_id, kind)  # nothing decided: the wait goes on
                continue
            resume(order_id, kind, {"decision": "status", "status": order.status, "by": "reconciler"})
            counts["woken"] += 1
            logs.event("reconciler woke a workflow", 30, order_id=order_id, kind=kind)
        except Exception as exc:  # noqa: BLE001 - the mark stays: the next pass tries again
            counts["failed"] += 1
            logs.event("reconciler could not wake a workflow", 40, order_id=order_id, kind=kind,
                       error=type(exc).__name__)


def _wind_up(order_id: str) -> dict[str, Any]:
    from chalicelib.services import workflow

    logs.event("order workflow ended without starting; compensating", 30, order_id=order_id)
    return workflow.run_step({"step": "compensate", "order_id": order_id,
                              "error": {"Error": "WorkflowNotRunning"}})
