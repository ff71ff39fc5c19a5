"""``run_step``: the entry point of the order workflow Lambda (``events/workflow.py``): the
order workflow's step table on the shared ``runner.StepRunner`` (parse, run the named step,
log, classify a failure), plus the business counters a step's outcome adds to.
"""

from __future__ import annotations

from typing import Any

from chalicelib import metrics
from chalicelib.services.workflow import steps
from chalicelib.services.workflow.compensation import compensate
from chalicelib.services.workflow.contract import StepEvent
from chalicelib.services.workflow.email_plans import notify
from chalicelib.services.workflow.runner import StepRunner

# (step, outcome) -> the business counter the step's outcome adds to (each status is entered once)
_COUNTERS = {("hold", "paid"): "OrdersPaid", ("settle", "confirmed"): "OrdersConfirmed",
             ("expire_payment", "cancelled"): "OrdersExpired", ("deliver", "delivered"): "OrdersDelivered"}


def _count(step: str, result: dict[str, Any]) -> None:
    counter = _COUNTERS.get((step, str(result.get("outcome"))))
    if counter:
        metrics.count(counter)
    if step == "cancelled":
        metrics.count("OrdersCancelled", by=str(result.get("cancelled_by")))


run_step = StepRunner(
    label="workflow",
    payload=StepEvent,
    subject="order_id",
    steps={
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
    },
    logged=("outcome", "sent", "refunded"),
    failure_metric="WorkflowStepFailures",
    on_success=_count,
)
STEP_NAMES = run_step.step_names
