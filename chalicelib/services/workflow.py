"""The order workflow's tasks: what each ``lambda:invoke`` state of ``statemachines/order.asl.json``
does, and ``resume``, the one way anything wakes a waiting execution.

The state machine and this module's contract are drawn in ``statemachines/README.md``. In short:
the state machine decides *when*; each step reads the order, does one idempotent thing and
returns a small outcome the next ``Choice`` branches on. Every step is safe to run twice:

- status changes are ``store.orders.transition`` calls conditional on the state they leave,
  with the event id ``to:<STATUS>`` — each status is entered at most once, so a retry (or the
  API and a step racing to the same status) is a no-op that returns the order;
- money moves through ``services.ledger`` (hold / capture / release / refund_capture are
  idempotent per order);
- stock returns through ``store.orders.restock`` (exactly once);
- emails go through ``services.notifications.send`` (once per order and kind);
- timeline entries that are not transitions carry fixed event ids (``wf:…``, ``email:…``).

Who moves what (one owner per transition):

- the **API** records decisions: PAID→CONFIRMED, PAID or CONFIRMED→CANCELLED (seller),
  CONFIRMED→SHIPPED, →CANCELLED before confirmation (customer), SHIPPED→DELIVERED, and the late payment
  (hold + AWAITING_PAYMENT→PAID, so "insufficient funds" can be answered at once) — then
  ``resume``s the execution;
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
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib import clients, logs
from chalicelib.config import settings
from chalicelib.domain import ledger as money_states
from chalicelib.domain import orders as st
from chalicelib.errors import InsufficientFunds, InvalidTransition, NotFound, Unavailable
from chalicelib.services import ledger, notifications
from chalicelib.store import orders as orders_store
from chalicelib.store import workflow as wf_store

# wait kind -> the status the order sits in while that wait lasts
WAITS: dict[str, str] = {
    "payment": st.AWAITING_PAYMENT,
    "seller": st.PAID,
    "shipment": st.CONFIRMED,
    "receipt": st.SHIPPED,
}
PAID_OR_LATER = frozenset({st.PAID, st.CONFIRMED, st.SHIPPED, st.DELIVERED})
CONFIRMED_OR_LATER = frozenset({st.CONFIRMED, st.SHIPPED, st.DELIVERED})
RESUME_GONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class TransientError(Exception):
    """A failure that may pass: the state machine retries the step with backoff."""


class ResumeFailed(Exception):
    """``SendTaskSuccess`` failed. Raised ``from None`` with the error code only: AWS error
    messages may quote the task token, which must never reach a log or a traceback."""

    def __init__(self, code: str, *, transient: bool):
        super().__init__(f"SendTaskSuccess failed: {code}")
        self.code, self.transient = code, transient


class StepInputError(Exception):
    """The state machine sent a payload this module does not understand (a definition bug)."""


class StepEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    step: str
    order_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    task_token: str | None = Field(default=None, max_length=4096)
    event: str | None = None
    timed_out: bool = False
    error: dict[str, Any] | None = None


# --- entry point ----------------------------------------------------------------------------


def run_step(event: dict[str, Any]) -> dict[str, Any]:
    """Run one step of the order workflow (``event["step"]`` names it) and return its outcome."""
    try:
        ev = StepEvent.model_validate(event)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
        raise StepInputError(f"invalid step payload: {', '.join(fields)}") from None
    step = _STEPS.get(ev.step)
    if step is None:
        raise StepInputError(f"unknown workflow step {ev.step!r}")
    started = time.perf_counter()
    try:
        result = step(ev)
    except Exception as exc:
        if is_transient(exc):
            logs.event("workflow step will be retried", 30, step=ev.step, order_id=ev.order_id,
                       error=type(exc).__name__)
            raise TransientError(f"{ev.step}: {type(exc).__name__}") from exc
        # the message of an AWS error is not logged: it may quote request parameters
        detail = "" if isinstance(exc, ClientError) else str(exc)[:300]
        logs.event("workflow step failed", 40, step=ev.step, order_id=ev.order_id, error=type(exc).__name__,
                   detail=detail)
        raise
    logs.event("workflow step", step=ev.step, order_id=ev.order_id,
               ms=round((time.perf_counter() - started) * 1000, 1), **{k: v for k, v in result.items()
                                                                       if k in ("outcome", "sent", "refunded")})
    return result


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | Unavailable | notifications.EmailUnavailable | BotoCoreError):
        return True
    if isinstance(exc, ResumeFailed):
        return exc.transient
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return clients.is_transient(exc) or status >= 500
    return False


# --- resuming a waiting execution -----------------------------------------------------------


def resume(order_id: str, kind: str, output: dict[str, Any]) -> bool:
    """Wake the execution waiting on ``kind`` for this order. False when nothing waits (the wait
    is over, or not parked yet — then the waiting step sees the order changed and resumes
    itself). A transient failure puts the token back and raises."""
    token = wf_store.take_token(order_id, kind)
    if token is None:
        return False
    failure: ResumeFailed | None = None
    try:
        clients.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in RESUME_GONE:  # a duplicate or late signal: the wait already ended
            logs.event("workflow wait already over", order_id=order_id, kind=kind, code=code)
            return False
        failure = ResumeFailed(code, transient=is_transient(exc))
    except BotoCoreError as exc:
        failure = ResumeFailed(type(exc).__name__, transient=True)
    except Exception as exc:  # noqa: BLE001 - whatever broke in the call, the wait keeps its token
        logs.event("workflow wake-up call crashed", 40, order_id=order_id, kind=kind, error=type(exc).__name__)
        failure = ResumeFailed(type(exc).__name__, transient=True)
    if failure is not None:
        wf_store.restore_token(order_id, kind, token)
        raise failure from None
    logs.event("workflow resumed", order_id=order_id, kind=kind, decision=output.get("decision"))
    return True


# --- the steps ------------------------------------------------------------------------------


def _order(order_id: str) -> dict[str, Any]:
    order = orders_store.get_order(order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order


def _event(order_id: str, type_: str, event_id: str, *, actor: str = "system", **detail: Any) -> None:
    orders_store.add_event(order_id, {"type": type_, "actor": actor, "detail": detail}, event_id=event_id)


def _timeouts() -> dict[str, int]:
    cfg = settings()
    # Step Functions wants positive integers; 0 in the environment would mean "no time at all"
    return {
        "payment_timeout": max(1, cfg.payment_timeout_seconds),
        "seller_timeout": max(1, cfg.seller_timeout_seconds),
        "shipment_timeout": max(1, cfg.shipment_timeout_seconds),
        "delivery_timeout": max(1, cfg.delivery_auto_seconds),
    }


def start(ev: StepEvent) -> dict[str, Any]:
    """Check the order exists; hand the configured timeouts to the state machine."""
    _order(ev.order_id)
    _event(ev.order_id, "workflow_started", "wf:started")
    orders_store.workflow_started(ev.order_id)  # the reconciler need not start it
    return _timeouts()


def hold(ev: StepEvent) -> dict[str, Any]:
    """Hold the total on the customer's wallet: ``paid``, ``awaiting`` (funds short) or
    ``cancelled`` (the customer cancelled first)."""
    order = _order(ev.order_id)
    status = order["status"]
    if status == st.CANCELLED:
        return {"outcome": "cancelled"}
    if status in PAID_OR_LATER:  # the customer paid through the API before this step ran
        return {"outcome": "paid"}
    try:
        ledger.hold(order["order_id"], order["customer_id"], int(order["total"]), order["currency"])
    except InsufficientFunds as err:
        _event(ev.order_id, "payment_required", "wf:payment_required",
               required=int(order["total"]), available=int(err.extra.get("available", 0)),
               currency=order["currency"])
        return {"outcome": "awaiting"}
    return {"outcome": mark_paid(order, actor="system")}


def mark_paid(order: dict[str, Any], *, actor: str) -> str:
    """AWAITING_PAYMENT→PAID after the hold succeeded; if the order was cancelled meanwhile the
    hold is given back. Returns ``paid`` or ``cancelled``. (Also the API's late payment.)"""
    try:
        orders_store.transition(
            order["order_id"], from_statuses={st.AWAITING_PAYMENT}, to_status=st.PAID, event_id=f"to:{st.PAID}",
            event={"type": "payment_held", "actor": actor,
                   "detail": {"amount": int(order["total"]), "currency": order["currency"]}},
        )
    except InvalidTransition as err:
        if err.extra.get("current_status") in PAID_OR_LATER:
            return "paid"
        # Cancelled while we held: the money must not stay held for a dead order.
        ledger.release(order["order_id"], customer_id=order["customer_id"], amount=int(order["total"]))
        return "cancelled"
    return "paid"


def wait(kind: str) -> Callable[[StepEvent], dict[str, Any]]:
    def step(ev: StepEvent) -> dict[str, Any]:
        """Park the task token, then resume at once if the order already left the waited status."""
        if not ev.task_token:
            raise StepInputError("a waiting step needs task_token")
        wf_store.park_token(ev.order_id, kind, ev.task_token, wait_seconds=_wait_seconds(kind), step=ev.step)
        _event(ev.order_id, f"waiting_for_{kind}", f"wf:wait:{kind}")
        status = _order(ev.order_id)["status"]
        if status != WAITS[kind]:
            resume(ev.order_id, kind, {"decision": "status", "status": status, "by": "workflow"})
        return {"outcome": "parked"}

    return step


def _wait_seconds(kind: str) -> int:
    t = _timeouts()
    return {"payment": t["payment_timeout"], "seller": t["seller_timeout"], "shipment": t["shipment_timeout"],
            "receipt": t["delivery_timeout"]}.get(kind, 366 * 24 * 3600)


def expire_payment(ev: StepEvent) -> dict[str, Any]:
    """The payment wait timed out: cancel the unpaid order — unless it was paid just now."""
    with contextlib.suppress(InvalidTransition):  # paid (or cancelled) meanwhile: see below
        orders_store.transition(
            ev.order_id, from_statuses={st.AWAITING_PAYMENT}, to_status=st.CANCELLED, event_id=f"to:{st.CANCELLED}",
            event={"type": "payment_expired", "actor": "timeout"},
            updates={"cancelled_by": "timeout", "cancel_reason": "payment_timeout"},
        )
    status = _order(ev.order_id)["status"]
    return {"outcome": "paid" if status in PAID_OR_LATER else "cancelled"}


def seller_timeout(ev: StepEvent) -> dict[str, Any]:
    """The seller did not answer in time: treated as a cancel (unless they just confirmed)."""
    with contextlib.suppress(InvalidTransition):  # decided meanwhile: settle reads what won
        orders_store.transition(
            ev.order_id, from_statuses={st.PAID}, to_status=st.CANCELLED, event_id=f"to:{st.CANCELLED}",
            event={"type": "seller_timeout", "actor": "timeout"},
            updates={"cancelled_by": "timeout", "cancel_reason": "seller_timeout"},
        )
    return {"outcome": "decided"}


def shipment_timeout(ev: StepEvent) -> dict[str, Any]:
    """The seller confirmed but did not ship in time: cancelled (unless they just shipped); the
    captured money goes back to the customer on the cancel branch."""
    with contextlib.suppress(InvalidTransition):  # shipped or cancelled meanwhile: shipment_decided reads it
        orders_store.transition(
            ev.order_id, from_statuses={st.CONFIRMED}, to_status=st.CANCELLED, event_id=f"to:{st.CANCELLED}",
            event={"type": "shipment_timeout", "actor": "timeout"},
            updates={"cancelled_by": "timeout", "cancel_reason": "shipment_timeout"},
        )
    return {"outcome": "decided"}


def shipment_decided(ev: StepEvent) -> dict[str, Any]:
    """After the shipment wait: ``shipped``, ``cancelled`` (by the seller or the timeout: restock
    and refund follow) or ``waiting`` (nothing decided: wait again)."""
    status = _order(ev.order_id)["status"]
    if status in (st.SHIPPED, st.DELIVERED):
        orders_store.ship_reserved(ev.order_id)  # the units left the warehouse: no longer reserved
        return {"outcome": "shipped"}
    if status == st.CANCELLED:
        return {"outcome": "cancelled"}
    if status == st.CONFIRMED:
        return {"outcome": "waiting"}
    raise InvalidTransition(f"order {ev.order_id} is {status}: not waiting for shipment", current_status=status)


def settle(ev: StepEvent) -> dict[str, Any]:
    """After the seller's decision: capture on confirm. ``confirmed``, ``cancelled``, or
    ``waiting`` (nothing decided: wait again)."""
    order = _order(ev.order_id)
    status = order["status"]
    if status in CONFIRMED_OR_LATER:
        ledger.capture(order["order_id"], order["seller_id"], customer_id=order["customer_id"],
                       amount=int(order["total"]))
        _event(ev.order_id, "payment_captured", "wf:captured", amount=int(order["total"]),
               currency=order["currency"])
        return {"outcome": "confirmed"}
    if status == st.CANCELLED:
        return {"outcome": "cancelled"}
    if status == st.PAID:
        return {"outcome": "waiting"}
    raise InvalidTransition(f"order {ev.order_id} is {status}: nothing to settle", current_status=status)


def cancelled(ev: StepEvent) -> dict[str, Any]:
    """The order is cancelled: give its stock back (exactly once)."""
    order = _order(ev.order_id)
    if order["status"] != st.CANCELLED:
        raise InvalidTransition(f"order {ev.order_id} is {order['status']}, not cancelled",
                                current_status=order["status"])
    orders_store.restock(ev.order_id, actor="system")
    return {"outcome": "restocked"}


def refund(ev: StepEvent) -> dict[str, Any]:
    """Give a cancelled order's money back to the customer's available balance: release the
    hold, or refund the capture when the seller had confirmed (and was paid) first."""
    order = _order(ev.order_id)
    if order["status"] != st.CANCELLED:
        raise InvalidTransition(f"order {ev.order_id} is {order['status']}: no refund", current_status=order["status"])
    refunded = return_money(order)
    if refunded:
        _event(ev.order_id, "refund_completed", "wf:refunded", amount=int(order["total"]),
               currency=order["currency"])
    return {"refunded": refunded}


def return_money(order: dict[str, Any]) -> bool:
    """Put a cancelled order's money back on the customer's available balance, whatever became
    of it: held → released, captured → refunded (from the seller's earnings). True when it is
    back (now or by an earlier call), False when nothing was ever paid. Idempotent.

    The common case (cancelled before confirmation) is one write: the release, with the order's
    hints. Its refusal says what the hold is (``hold_state``), so a captured one costs one more
    write, not a read first.
    """
    hints = {"customer_id": order["customer_id"], "amount": int(order["total"])}
    try:
        return ledger.release(order["order_id"], **hints)
    except InvalidTransition as err:
        if err.extra.get("hold_state") not in (money_states.CAPTURED, money_states.REFUNDED):
            raise
    ledger.refund_capture(order["order_id"], seller_id=order["seller_id"], currency=order["currency"], **hints)
    return True


def deliver(ev: StepEvent) -> dict[str, Any]:
    """SHIPPED→DELIVERED: the customer said so (then a no-op) or the delivery time ran out."""
    actor = "timeout" if ev.timed_out else "system"
    try:
        orders_store.transition(
            ev.order_id, from_statuses={st.SHIPPED}, to_status=st.DELIVERED, event_id=f"to:{st.DELIVERED}",
            event={"type": "delivered", "actor": actor, "detail": {"auto": ev.timed_out}},
        )
    except InvalidTransition as err:
        if err.extra.get("current_status") != st.DELIVERED:
            raise
    return {"outcome": "delivered"}


# --- notifications --------------------------------------------------------------------------


def notify(ev: StepEvent) -> dict[str, Any]:
    """Send the emails of a workflow event (``ev.event``); each is sent once. A rejected email
    is recorded on the timeline; SES being unavailable is transient (retried)."""
    order = _order(ev.order_id)
    plan = _EMAILS.get(ev.event or "")
    if plan is None:
        raise StepInputError(f"unknown notification event {ev.event!r}")
    sent = []
    for kind, links, extra in plan(order):
        try:
            if notifications.send(order, kind, links=links, extra=extra):
                sent.append(kind)
        except notifications.EmailRejected as exc:
            _event(ev.order_id, "email_failed", f"email_failed:{kind}", kind=kind, reason=str(exc)[:200])
            logs.event("email rejected", 40, order_id=ev.order_id, kind=kind, reason=str(exc)[:200])
    return {"sent": sent}


Plan = list[tuple[str, dict[str, str] | None, dict[str, Any] | None]]


def _emails_payment_required(order: dict[str, Any]) -> Plan:
    wallet = ledger.wallet(order["customer_id"])
    pay_by = int(time.time()) + _timeouts()["payment_timeout"]
    return [("payment_required", None, {"pay_by": pay_by, "wallet_available": int(wallet["available"])})]


def _emails_paid(order: dict[str, Any]) -> Plan:
    from chalicelib.services import actions  # links live with the actions that use them

    return [("new_order", actions.issue_links(order), None), ("order_placed", None, None)]


def _emails_confirmed(order: dict[str, Any]) -> Plan:
    if order["status"] == st.CANCELLED:
        return []  # cancelled right after the confirmation: the cancellation email says it all
    return [("order_confirmed", None, None)]


def _emails_cancelled(order: dict[str, Any]) -> Plan:
    if order.get("cancel_reason") == "payment_timeout":
        return [("payment_expired", None, None)]
    if ledger.hold_state(order["order_id"]) is None:
        return []  # nothing was ever paid: no refund to announce (the customer cancelled it)
    by = order.get("cancelled_by")
    return [("order_cancelled_refund_started", None,
             {"cancelled_by": by if by in ("customer", "seller", "system") else "timeout",
              "timeout_stage": "shipment" if order.get("cancel_reason") == "shipment_timeout" else None,
              "reason": order.get("cancel_note") or None})]


def _emails_refunded(order: dict[str, Any]) -> Plan:
    if ledger.hold_state(order["order_id"]) not in (money_states.RELEASED, money_states.REFUNDED):
        return []
    return [("refund_completed", None, None)]


def _emails_shipped(order: dict[str, Any]) -> Plan:
    if order["status"] not in (st.SHIPPED, st.DELIVERED):
        return []  # an execution of an older definition reaching here for a cancelled order
    return [("order_shipped", None, {"tracking_number": order.get("tracking_number") or None})]


_EMAILS: dict[str, Callable[[dict[str, Any]], Plan]] = {
    "payment_required": _emails_payment_required,
    "paid": _emails_paid,
    "confirmed": _emails_confirmed,
    "cancelled": _emails_cancelled,
    "refunded": _emails_refunded,
    "shipped": _emails_shipped,
}


# --- compensation ---------------------------------------------------------------------------


def compensate(ev: StepEvent) -> dict[str, Any]:
    """A step failed for good: leave no money held and no stock reserved for a dead order.

    An order whose money is still held (not yet captured) is cancelled (``cancelled_by:
    system``), restocked and refunded. A cancelled order is restocked and refunded whatever
    became of its money — released, or the capture refunded (a cancel after confirmation whose
    refund step failed). An order captured and not cancelled (the failure came later: shipping
    emails, delivery) keeps its status — the API's ship/received routes still work without the
    workflow. Idempotent. If the money cannot be returned, the failure is put on the timeline
    (``refund_failed``) and raised: the state machine retries, then ends in
    ``OrderCompensationFailed`` for an operator — the money is never lost, it stays where the
    ledger says (the customer's held balance or the seller's earnings).
    """
    order = orders_store.get_order(ev.order_id)
    if order is None:
        return {"outcome": "no_order"}
    error = (ev.error or {}).get("Error") or "unknown"
    _event(ev.order_id, "workflow_failed", "wf:failed", error=str(error)[:100])
    orders_store.workflow_started(ev.order_id)  # it ran (and ends here): nothing to reconcile
    money = ledger.hold_state(ev.order_id)
    if order["status"] in (st.AWAITING_PAYMENT, st.PAID) or (
        order["status"] == st.CONFIRMED and money == money_states.HELD
    ):
        with contextlib.suppress(InvalidTransition):  # moved meanwhile: re-read below
            orders_store.transition(
                ev.order_id, from_statuses={st.AWAITING_PAYMENT, st.PAID, st.CONFIRMED}, to_status=st.CANCELLED,
                event_id=f"to:{st.CANCELLED}", event={"type": "cancelled_after_failure", "actor": "system"},
                updates={"cancelled_by": "system", "cancel_reason": "error"},
            )
        order = _order(ev.order_id)
    if order["status"] != st.CANCELLED:
        return {"outcome": "kept", "status": order["status"]}
    orders_store.restock(ev.order_id, actor="system")
    refunded = False
    if money is not None:
        try:
            refunded = return_money(order)
        except Exception as exc:
            if not is_transient(exc):  # a busy ledger is retried; anything else needs a person
                _event(ev.order_id, "refund_failed", "wf:refund_failed", error=type(exc).__name__)
                logs.event("compensation could not return the money", 50, order_id=ev.order_id,
                           error=type(exc).__name__)
            raise
        if refunded:
            _event(ev.order_id, "refund_completed", "wf:refunded", amount=int(order["total"]),
                   currency=order["currency"])
    for event in ("cancelled", "refunded"):
        try:
            notify(StepEvent(step="notify", order_id=ev.order_id, event=event))
        except Exception as exc:  # noqa: BLE001 - the money is safe; an email must not undo that
            logs.event("compensation email not sent", 40, order_id=ev.order_id, event=event,
                       error=type(exc).__name__)
    return {"outcome": "cancelled", "refunded": refunded}


_STEPS: dict[str, Callable[[StepEvent], dict[str, Any]]] = {
    "start": start,
    "hold": hold,
    "await_payment": wait("payment"),
    "expire_payment": expire_payment,
    "await_seller": wait("seller"),
    "seller_timeout": seller_timeout,
    "settle": settle,
    "shipment_timeout": shipment_timeout,
    "shipment_decided": shipment_decided,
    "cancelled": cancelled,
    "refund": refund,
    "await_shipment": wait("shipment"),
    "await_receipt": wait("receipt"),
    "deliver": deliver,
    "notify": notify,
    "compensate": compensate,
}
STEP_NAMES = tuple(_STEPS)
