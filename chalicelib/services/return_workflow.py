"""The return workflow's controls: ``start`` an execution, ``resume`` the one waiting for the seller.

One Standard execution per return, named by the return id, on its own state machine
(``statemachines/return.asl.json``; its steps are ``services/return_steps.py``):

    Requested (timeline, email the shop its links) → AwaitDecision (task token, timeout = the
    return's deadline) → Settle (resumed: read the decision) | Deadline (silence: accept) →
    NotifyDecided (email the customer) → Done

**Why a state machine of its own, not a branch of the order's.** The order's execution has
ended (DELIVERED is its last state) when a return is asked, and an order may have several
returns, each with its own deadline, possibly at the same time: one execution per return is the
natural unit, and its history shows that return alone. Extending the order's machine would keep
every order's execution open for the whole return window.

**Who moves what.** The seller's decision (API or link) is recorded and its money moved by
``services.returns.decide`` in one transaction, so the answer carries the refund; then
``resume`` wakes the execution, which sends the customer's email. Only the deadline is the
workflow's to apply (``Deadline``: ``decide`` as the system). Both sides go through the one
conditional write ``requested →``, so a decision racing the deadline applies once.

Waking is the order workflow's (``services/workflow/wake.py``): the waiting step parks
its token, then re-reads the return and resumes itself if it was decided meanwhile; a decider
records first and wakes after, so one of the two always sees the other. The token is never
logged, returned or emailed.
"""

from __future__ import annotations

from typing import Any

from chalicelib import logs
from chalicelib.adapters.stepfunctions import StepFunctions
from chalicelib.config import settings
from chalicelib.services.workflow import wake
from chalicelib.store import workflow as wf_store


def _machine() -> StepFunctions:
    return StepFunctions(settings().return_state_machine_arn)


def start(return_id: str) -> bool:
    """Start the return's execution; False when it already exists (a duplicate start is harmless)
    or no return state machine is configured (``RETURN_STATE_MACHINE_ARN`` empty: unit-level runs,
    logged; the reconciler's sweep settles such a return once overdue)."""
    if not settings().return_state_machine_arn:
        logs.event("return workflow not configured: not started", 30, return_id=return_id)
        return False
    return _machine().start(return_id, {"return_id": return_id})


def status(return_id: str) -> str:
    """The execution's status (RUNNING, SUCCEEDED, FAILED…); the adapter's error when it has none."""
    return _machine().status(return_id)


def resume(return_id: str, output: dict[str, Any]) -> bool:
    """Wake the execution waiting for this return's decision. False when nothing waits (the wait
    is over, or not parked yet: then the waiting step sees the decision and resumes itself). A
    failed call leaves the token for the next attempt and raises ``ResumeFailed``."""
    return wake.answer(_machine(), wf_store.return_wait(return_id), output, "return workflow",
                       return_id=return_id)
