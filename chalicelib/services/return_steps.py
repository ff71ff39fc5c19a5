"""The return workflow's tasks: what each ``lambda:invoke`` state of ``statemachines/return.asl.json``
does (``run_step``, on the workflows' shared ``StepRunner``, called by ``events/workflow.py``). Why
a machine of its own and who moves what: ``services/return_workflow.py``.

Each step reads the return, does one idempotent thing and returns what the next state needs:

- ``requested``: the order's timeline gets ``return_seller_emailed`` and the shop its accept /
  reject links (once: the timeline entry's id guards the email), unless the return was decided
  already or its deadline passed (a late start by the reconciler); → ``{answer_timeout}``, the
  seconds left until the deadline (at least 1: Step Functions wants a positive wait);
- ``await_decision``: parks the task token, then resumes itself if the return was decided;
- ``settle``: after the deadline (``timed_out``) accepts as the system — the seller's decision
  recorded just before wins (one conditional write) —; → ``{outcome: accepted | rejected |
  requested}``;
- ``notify_decided``: the customer's ``return_accepted`` / ``return_rejected`` email, once
  (timeline ``return_customer_emailed``).

A failure that may pass is raised as ``TransientError`` (retried with backoff by the state
machine); anything else ends the execution ``ReturnWorkflowFailed`` (an alarm): the return keeps
its state, and the reconciler accepts it once overdue (``services.returns.sweep_overdue``).
"""

import contextlib
import math
import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain import returns as rules
from chalicelib.errors import Conflict, NotFound
from chalicelib.services import return_emails, return_workflow
from chalicelib.services import returns as service
from chalicelib.services.workflow.contract import StepInputError
from chalicelib.services.workflow.runner import StepRunner
from chalicelib.store import orders as orders_store
from chalicelib.store import returns as store
from chalicelib.store import workflow as wf_store


class ReturnStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    step: str
    return_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    task_token: str | None = Field(default=None, max_length=4096)
    timed_out: bool = False


def _load(return_id: str) -> dict[str, Any]:
    ret = store.get(return_id)
    if ret is None:
        raise NotFound(f"return {return_id} does not exist")
    return ret


def _seconds_left(ret: dict[str, Any]) -> float:
    deadline = datetime.fromisoformat(ret["deadline"].replace("Z", "+00:00")).timestamp()
    return deadline - time.time()


def _once(ret: dict[str, Any], type_: str, key: str, **detail: Any) -> bool:
    """Add the timeline entry ``type_`` for this return once; False when it was there already."""
    return orders_store.add_event(ret["order_id"], {"type": type_, "actor": "system",
                                                     "detail": {"return_id": ret["return_id"], **detail}},
                                  event_id=f"return:{ret['return_id']}:{key}")


def requested(ev: ReturnStep) -> dict[str, Any]:
    ret = _load(ev.return_id)
    left = _seconds_left(ret)
    if ret["state"] == rules.REQUESTED and left > 0 and _once(ret, "return_seller_emailed", "email:requested"):
        return_emails.email_requested(ev.return_id)
    return {"answer_timeout": max(1, math.ceil(left))}


def await_decision(ev: ReturnStep) -> dict[str, Any]:
    if not ev.task_token:
        raise StepInputError("await_decision needs the task token")
    ret = _load(ev.return_id)
    wf_store.park_token(wf_store.return_wait(ev.return_id), ev.task_token,
                        wait_seconds=max(1, math.ceil(_seconds_left(ret))), step=ev.step)
    now = _load(ev.return_id)  # decided before the token was parked: nobody else will wake us
    if now["state"] != rules.REQUESTED:
        return_workflow.resume(ev.return_id, {"decision": now["state"], "by": "self"})
    return {"outcome": "waiting"}


def settle(ev: ReturnStep) -> dict[str, Any]:
    if ev.timed_out:
        wf_store.forget_token(wf_store.return_wait(ev.return_id))  # a decider now finds nothing to wake
        with contextlib.suppress(Conflict):  # the seller rejected just before the deadline: that stands
            service.decide(ev.return_id, "accept", seller_id=None, actor="timeout", wake=False)
    return {"outcome": _load(ev.return_id)["state"]}


def notify_decided(ev: ReturnStep) -> dict[str, Any]:
    ret = _load(ev.return_id)
    if ret["state"] == rules.REQUESTED or not _once(ret, "return_customer_emailed", f"email:{ret['state']}",
                                                    kind=f"return_{ret['state']}"):
        return {"sent": []}
    return_emails.email_decided(ev.return_id)
    return {"sent": [f"return_{ret['state']}"]}


run_step = StepRunner(
    label="return workflow",
    payload=ReturnStep,
    subject="return_id",
    steps={"requested": requested, "await_decision": await_decision, "settle": settle,
           "notify_decided": notify_decided},
)
STEP_NAMES = run_step.step_names
