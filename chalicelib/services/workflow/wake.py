"""Waking a waiting execution: ``resume``, the one way anything ends a wait.

A waiting step parks its task token (``store.workflow.park_token``). Whoever resumes reads it,
answers the task through ``adapters/stepfunctions.py`` and only then drops it: a failure at
any point — the call, or a reply lost after the call went through — leaves the token, so the
same request again finishes the job (the wait's own timeout is days away). A signal that
comes after the wait ended (a duplicate, or the wait timed out) changes nothing, and two
racing signallers both answer: Step Functions takes the first and refuses the second as over.
"""

from __future__ import annotations

from typing import Any

from chalicelib import logs
from chalicelib.adapters.stepfunctions import state_machine
from chalicelib.errors import DependencyError, DependencyFailed
from chalicelib.store import workflow as wf_store


class ResumeFailed(Exception):
    """``SendTaskSuccess`` failed. Raised ``from None`` with the error code only: AWS error
    messages may quote the task token, which must never reach a log or a traceback."""

    def __init__(self, code: str, *, transient: bool):
        super().__init__(f"SendTaskSuccess failed: {code}")
        self.code, self.transient = code, transient


def resume(order_id: str, kind: str, output: dict[str, Any]) -> bool:
    """Wake the execution waiting on ``kind`` for this order. False when nothing waits (the wait
    is over, or not parked yet — then the waiting step sees the order changed and resumes
    itself). A failure leaves the token parked and raises ``ResumeFailed``."""
    token = wf_store.peek_token(order_id, kind)
    if token is None:
        return False
    failure: ResumeFailed | None = None
    try:
        answered = state_machine().succeed(token, output)
    except DependencyError as exc:
        failure = ResumeFailed(exc.code, transient=not isinstance(exc, DependencyFailed))
    except Exception as exc:  # noqa: BLE001 - whatever broke in the call, the wait keeps its token
        logs.event("workflow wake-up call crashed", 40, order_id=order_id, kind=kind, error=type(exc).__name__)
        failure = ResumeFailed(type(exc).__name__, transient=True)
    if failure is not None:
        raise failure from None
    wf_store.drop_token(order_id, kind, token)  # answered, or refused as over: either way done
    if not answered:  # a duplicate or late signal: the wait already ended
        logs.event("workflow wait already over", order_id=order_id, kind=kind)
        return False
    logs.event("workflow resumed", order_id=order_id, kind=kind, decision=output.get("decision"))
    return True
