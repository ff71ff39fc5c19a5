"""The return-workflow Lambda: every ``lambda:invoke`` Task of ``statemachines/return.asl.json``.

The state machine passes ``{"step": ..., "return_id": ...}``; ``services.return_steps.run_step``
does the work. An exception is a Lambda function error, which the state machine's
``Retry``/``Catch`` see by its class name. ``{"step": "health"}`` answers without touching any
service (smoke checks).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.events import names

bp = Blueprint(__name__)


@bp.lambda_function(name=names.RETURN_WORKFLOW_FUNCTION)
def return_workflow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("step") == "health":
        return {"ok": True, "function": getattr(context, "function_name", None)}
    from chalicelib import metrics, tracing
    from chalicelib.services.return_steps import run_step

    metrics.scope.set(names.RETURN_WORKFLOW_FUNCTION)
    try:
        with tracing.unit(f"return step {event.get('step')}"):
            tracing.annotate(return_id=event.get("return_id"))
            return run_step(event)
    finally:
        metrics.flush(function=names.RETURN_WORKFLOW_FUNCTION)
