"""``run_step``: the entry point of the workflow Lambda (``events/workflow.py``).

It parses the payload (``contract.StepEvent``), runs the step it names, logs the outcome, and
classifies a failure: one that may pass is raised as ``TransientError`` (the state machine
retries it); anything else is logged and raised for the state machine's ``Catch``. AWS error
messages are never logged: they may quote request parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from chalicelib import clients, logs, metrics
from chalicelib.services.workflow import steps
from chalicelib.services.workflow.compensation import compensate
from chalicelib.services.workflow.contract import StepEvent, StepInputError, TransientError, is_transient
from chalicelib.services.workflow.email_plans import notify

_STEPS: dict[str, Callable[[StepEvent], dict[str, Any]]] = {
    "start": steps.start,
    "hold": steps.hold,
    "await_payment": steps.wait("payment"),
    "expire_payment": steps.expire_payment,
    "await_seller": steps.wait("seller"),
    "seller_timeout": steps.seller_timeout,
    "settle": steps.settle,
    "shipment_timeout": steps.shipment_timeout,
    "shipment_decided": steps.shipment_decided,
    "cancelled": steps.cancelled,
    "refund": steps.refund,
    "await_shipment": steps.wait("shipment"),
    "await_receipt": steps.wait("receipt"),
    "deliver": steps.deliver,
    "notify": notify,
    "compensate": compensate,
}
STEP_NAMES = tuple(_STEPS)
# (step, outcome) -> the business counter the step's outcome adds to (each status is entered once)
_COUNTERS = {("hold", "paid"): "OrdersPaid", ("settle", "confirmed"): "OrdersConfirmed",
             ("expire_payment", "cancelled"): "OrdersExpired", ("deliver", "delivered"): "OrdersDelivered"}


def run_step(event: dict[str, Any]) -> dict[str, Any]:
    """Run one step of the order workflow (``event["step"]`` names it) and return its outcome."""
    try:
        ev = StepEvent.model_validate(event)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
        raise StepInputError(f"invalid step payload: {', '.join(fields)}") from None
    step = _STEPS.get(ev.step)
    if step is None:
        raise StepInputError(f"unknown workflow step {ev.step!r}")
    started = time.perf_counter()
    try:
        result = step(ev)
    except Exception as exc:
        if is_transient(exc):
            logs.event("workflow step will be retried", 30, step=ev.step, order_id=ev.order_id,
                       error=type(exc).__name__)
            raise TransientError(f"{ev.step}: {type(exc).__name__}") from exc
        # the message of an AWS error is not logged: it may quote request parameters
        detail = "" if isinstance(exc, clients.AWS_ERRORS) else str(exc)[:300]
        logs.event("workflow step failed", 40, step=ev.step, order_id=ev.order_id, error=type(exc).__name__,
                   detail=detail)
        metrics.count("WorkflowStepFailures", by=ev.step)
        raise
    _count(ev.step, result)
    logs.event("workflow step", step=ev.step, order_id=ev.order_id,
               ms=round((time.perf_counter() - started) * 1000, 1), **{k: v for k, v in result.items()
                                                                       if k in ("outcome", "sent", "refunded")})
    return result


def _count(step: str, result: dict[str, Any]) -> None:
    counter = _COUNTERS.get((step, str(result.get("outcome"))))
    if counter:
        metrics.count(counter)
    if step == "cancelled":
        metrics.count("OrdersCancelled", by=str(result.get("cancelled_by")))
