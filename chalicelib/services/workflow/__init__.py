"""The order workflow's tasks: what each ``lambda:invoke`` state of ``statemachines/order.asl.json``
does, and ``resume``, the one way anything wakes a waiting execution.

The state machine and this package's contract are drawn in ``statemachines/README.md``. In
short: the state machine decides *when*; each step reads the order, does one idempotent thing
and returns a small outcome the next ``Choice`` branches on. Every step is safe to run twice:

- status changes are ``store.orders.transition`` calls conditional on the state they leave,
  with the event id ``to:<STATUS>`` — each status is entered at most once, so a retry (or the
  API and a step racing to the same status) is a no-op that returns the order;
- money moves through ``services.ledger`` (hold / capture / release / refund_capture are
  idempotent per order);
- stock returns through ``store.orders.restock`` (exactly once);
- emails go through ``services.notifications.send`` (once per order and kind);
- timeline entries that are not transitions carry fixed event ids (``wf:…``, ``email:…``).

Who moves what (one owner per transition):

- the **API** records decisions (``services/actions.py``): PAID→CONFIRMED, PAID or
  CONFIRMED→CANCELLED (seller), CONFIRMED→SHIPPED, →CANCELLED before confirmation (customer),
  SHIPPED→DELIVERED, and the late payment (hold + AWAITING_PAYMENT→PAID, so "insufficient
  funds" can be answered at once) — then ``resume``s the execution;
- the **workflow** moves the money and the stock that follow a decision (capture, release or
  refund of the capture, restock), sends every email, applies timeouts (→CANCELLED from PAID or
  CONFIRMED, →DELIVERED), the first hold, and the compensation after an unexpected failure.

Waits: a waiting step parks its task token (``store.workflow.park_token``) and then re-reads
the order; if the decision was recorded before the token was parked, it resumes itself. An API
call records the decision first and takes the token after, so one of the two always sees the
other (no lost wake-up). Task tokens are never logged, returned or emailed.

Errors: a failure that may pass (throttling, 5xx, connection errors, a busy ledger, SES
unavailable) is raised as ``TransientError``, which the state machine retries with backoff;
anything else is caught by the state machine and routed to ``compensate``.

Modules, by role:

  contract.py      the step payload (``StepEvent``) and how a failure is classified
  runner.py        ``StepRunner``: parse, run the named step, log, classify its failure (the
                   return workflow's steps run on it too)
  dispatch.py      ``run_step``: the order workflow's step table on a ``StepRunner``
  steps.py         the steps that move an order: start, hold, waits, timeouts, settle, refund…
  email_plans.py   ``notify``: which emails each workflow event sends
  compensation.py  ``compensate``: no money held, no stock reserved for a dead order
  wake.py          ``resume`` / ``answer``: answer a waiting task (Step Functions through
                   ``adapters/stepfunctions.py``), for the return workflow too
"""

from chalicelib.services.workflow.contract import StepEvent, StepInputError, TransientError
from chalicelib.services.workflow.dispatch import STEP_NAMES, run_step
from chalicelib.services.workflow.wake import ResumeFailed, resume

__all__ = ["STEP_NAMES", "ResumeFailed", "StepEvent", "StepInputError", "TransientError", "resume", "run_step"]
