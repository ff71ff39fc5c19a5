"""``StepRunner``: one workflow Lambda's dispatcher, shared by the order and the return workflows.

A runner holds a table step name → handler and the payload model its state machine sends. A
call parses the payload (one it does not understand is a definition bug: ``StepInputError``),
runs the step it names, logs the outcome, and classifies a failure: one that may pass
(``contract.is_transient``) is raised as ``TransientError``, which the state machine retries
with backoff; anything else is logged and raised for the state machine's ``Catch``. AWS error
messages are never logged: they may quote request parameters.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib import clients, logs, metrics
from chalicelib.services.workflow.contract import StepInputError, TransientError, is_transient

E = TypeVar("E", bound=BaseModel)
Outcome = dict[str, Any]


@dataclass(frozen=True)
class StepRunner(Generic[E]):
    label: str  # names the workflow in log lines: "<label> step", "<label> step failed"…
    payload: type[E]  # what the state machine sends every step
    subject: str  # the payload field that names what the execution is about (order_id, return_id)
    steps: Mapping[str, Callable[[E], Outcome]]
    logged: tuple[str, ...] = ("outcome", "sent")  # the outcome's fields worth the log line
    failure_metric: str | None = None  # counted, by step, when a step fails for good
    on_success: Callable[[str, Outcome], None] = field(default=lambda step, result: None)

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(self.steps)

    def __call__(self, event: dict[str, Any]) -> Outcome:
        """Run the step ``event["step"]`` names and return its outcome."""
        try:
            ev = self.payload.model_validate(event)
        except ValidationError as exc:
            fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
            raise StepInputError(f"invalid {self.label} step payload: {', '.join(fields)}") from None
        name = str(ev.step)  # type: ignore[attr-defined]  # every payload model has ``step``
        step = self.steps.get(name)
        if step is None:
            raise StepInputError(f"unknown {self.label} step {name!r}")
        subject = {self.subject: getattr(ev, self.subject)}
        started = time.perf_counter()
        try:
            result = step(ev)
        except Exception as exc:
            if is_transient(exc):
                logs.event(f"{self.label} step will be retried", 30, step=name, error=type(exc).__name__, **subject)
                raise TransientError(f"{name}: {type(exc).__name__}") from exc
            detail = "" if isinstance(exc, clients.AWS_ERRORS) else str(exc)[:300]
            logs.event(f"{self.label} step failed", 40, step=name, error=type(exc).__name__, detail=detail,
                       **subject)
            if self.failure_metric:
                metrics.count(self.failure_metric, by=name)
            raise
        self.on_success(name, result)
        logs.event(f"{self.label} step", step=name, ms=round((time.perf_counter() - started) * 1000, 1),
                   **subject, **{k: v for k, v in result.items() if k in self.logged})
        return result
