"""The order-workflow Lambda: every ``lambda:invoke`` Task of ``statemachines/order.asl.json``.

The state machine passes ``{"step": ..., ...}``; ``services.workflow.run_step`` does the work
and returns the task's result. An exception is a Lambda function error, which the state
machine's ``Retry``/``Catch`` see by its class name (``errorType``).

``{"step": "health"}`` answers without touching any service: smoke checks (locally and after
a deploy) prove the function is wired without creating an order.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.events import names

bp = Blueprint(__name__)


@bp.lambda_function(name=names.WORKFLOW_FUNCTION)
def order_workflow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("step") == "health":
        return {"ok": True, "function": getattr(context, "function_name", None)}
    from chalicelib import metrics, tracing
    from chalicelib.services.workflow import run_step

    metrics.scope.set(names.WORKFLOW_FUNCTION)
    try:
        with tracing.unit(f"step {event.get('step')}"):
            tracing.annotate(order_id=event.get("order_id"))
            return run_step(event)
    finally:
        metrics.flush(function=names.WORKFLOW_FUNCTION, step=event.get("step") if isinstance(event, dict) else None,
                      order_id=event.get("order_id") if isinstance(event, dict) else None)
