"""What the state machine sends a step, and how a step's failure is classified.

``StepEvent`` is the payload of every ``lambda:invoke`` task of ``statemachines/order.asl.json``
(``statemachines/README.md``, "Steps"); one this package does not understand is a definition
bug (``StepInputError``). ``is_transient`` says which failures may pass — throttling, 5xx,
connection errors, a busy ledger, SES unavailable, a wake-up call that may pass — so
``run_step`` raises them as ``TransientError`` for the state machine to retry with backoff.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.adapters.aws import may_pass
from chalicelib.errors import Unavailable
from chalicelib.services.notifications import EmailUnavailable
from chalicelib.services.workflow.wake import ResumeFailed


class TransientError(Exception):
    """A failure that may pass: the state machine retries the step with backoff."""


class StepInputError(Exception):
    """The state machine sent a payload this package does not understand (a definition bug)."""


class StepEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    step: str
    order_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    task_token: str | None = Field(default=None, max_length=4096)
    event: str | None = None
    timed_out: bool = False
    error: dict[str, Any] | None = None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | Unavailable | EmailUnavailable):
        return True  # Unavailable includes an adapter's DependencyUnavailable
    if isinstance(exc, ResumeFailed):
        return exc.transient
    return may_pass(exc)  # an AWS error a store let through
