"""Waking a waiting execution: ``answer``, the one way anything ends a wait (``resume`` for
an order's execution; ``services.return_workflow.resume`` for a return's).

A waiting step parks its task token (``store.workflow.park_token``). Whoever resumes reads it,
answers the task through ``adapters/stepfunctions.py`` and only then drops it: a failure at
any point — the call, or a reply lost after the call went through — leaves the token, so the
same request again finishes the job (the wait's own timeout is days away). A signal that
comes after the wait ended (a duplicate, or the wait timed out) changes nothing, and two
racing signallers both answer: Step Functions takes the first and refuses the second as over.
A transient failure (a throttle, a lost reply) is tried again at once, ``ATTEMPTS`` times in
all: the caller's decision is already recorded and its answer sent, so a wake-up left to the
wait's own timeout would hold a refund for days.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import clients, logs
from chalicelib.adapters.stepfunctions import StateMachine, state_machine
from chalicelib.errors import DependencyError, DependencyFailed
from chalicelib.store import workflow as wf_store


class ResumeFailed(Exception):
    """``SendTaskSuccess`` failed. Raised ``from None`` with the error code only: AWS error
    messages may quote the task token, which must never reach a log or a traceback."""

    def __init__(self, code: str, *, transient: bool):
        super().__init__(f"SendTaskSuccess failed: {code}")
        self.code, self.transient = code, transient


def resume(order_id: str, kind: str, output: dict[str, Any]) -> bool:
    """Wake the order's execution waiting on ``kind``. False when nothing waits (the wait is
    over, or not parked yet — then the waiting step sees the order changed and resumes
    itself). A failure leaves the token parked and raises ``ResumeFailed``."""
    return answer(state_machine(), wf_store.order_wait(order_id, kind), output, "workflow",
                  order_id=order_id, kind=kind)


ATTEMPTS = 3
BACKOFF_SECONDS = 0.05  # then twice as long


def answer(machine: StateMachine, wait: dict[str, str], output: dict[str, Any], label: str,
           **subject: str) -> bool:
    """Answer the task parked at ``wait`` (``store.workflow``) with ``output``, then drop its
    token. ``label`` and ``subject`` name the execution in the log (never the token)."""
    for attempt in range(ATTEMPTS - 1):
        try:
            return _answer_once(machine, wait, output, label, **subject)
        except (ResumeFailed, *clients.AWS_ERRORS) as exc:
            if not (exc.transient if isinstance(exc, ResumeFailed) else clients.is_transient(exc)):
                raise
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    return _answer_once(machine, wait, output, label, **subject)


def _answer_once(machine: StateMachine, wait: dict[str, str], output: dict[str, Any], label: str,
                 **subject: str) -> bool:
    token = wf_store.peek_token(wait)
    if token is None:
        return False
    failure: ResumeFailed | None = None
    try:
        answered = machine.succeed(token, output)
    except DependencyError as exc:
        failure = ResumeFailed(exc.code, transient=not isinstance(exc, DependencyFailed))
    except Exception as exc:  # noqa: BLE001 - whatever broke in the call, the wait keeps its token
        logs.event(f"{label} wake-up call crashed", 40, error=type(exc).__name__, **subject)
        failure = ResumeFailed(type(exc).__name__, transient=True)
    if failure is not None:
        raise failure from None
    wf_store.drop_token(wait, token)  # answered, or refused as over: either way done
    if not answered:  # a duplicate or late signal: the wait already ended
        logs.event(f"{label} wait already over", **subject)
        return False
    logs.event(f"{label} resumed", decision=output.get("decision"), **subject)
    return True
