"""The workflow Lambdas: every ``lambda:invoke`` Task of ``statemachines/order.asl.json``
(``order_workflow``) and of ``statemachines/return.asl.json`` (``return_workflow``).

The state machine passes ``{"step": ..., <subject>: ...}`` (the order's or the return's id);
the workflow's ``run_step`` (``services.workflow`` / ``services.return_steps``, both a
``StepRunner``) does the work and returns the task's result. An exception is a Lambda function
error, which the state machine's ``Retry``/``Catch`` see by its class name (``errorType``).

``{"step": "health"}`` answers without touching any service: smoke checks (locally and after
a deploy) prove the function is wired without creating an order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint

from chalicelib.events import names

bp = Blueprint(__name__)


def _order_steps() -> Callable[[dict[str, Any]], dict[str, Any]]:
    from chalicelib.services.workflow import run_step

    return run_step


def _return_steps() -> Callable[[dict[str, Any]], dict[str, Any]]:
    from chalicelib.services.return_steps import run_step

    return run_step


def _run(function: str, unit: str, subject: str, runner: Callable[[], Callable[[dict[str, Any]], dict[str, Any]]],
         event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer a smoke check, or run the step (one traced unit; metrics flushed whatever happens)."""
    if isinstance(event, dict) and event.get("step") == "health":
        return {"ok": True, "function": getattr(context, "function_name", None)}
    from chalicelib import metrics, tracing

    step, about = (event.get("step"), event.get(subject)) if isinstance(event, dict) else (None, None)
    metrics.scope.set(function)
    try:
        with tracing.unit(f"{unit} {step}"):
            tracing.annotate(**{subject: about})
            return runner()(event)
    finally:
        metrics.flush(function=function, step=step, **{subject: about})


@bp.lambda_function(name=names.WORKFLOW_FUNCTION)
def order_workflow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run(names.WORKFLOW_FUNCTION, "step", "order_id", _order_steps, event, context)


@bp.lambda_function(name=names.RETURN_WORKFLOW_FUNCTION)
def return_workflow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run(names.RETURN_WORKFLOW_FUNCTION, "return step", "return_id", _return_steps, event, context)
