"""Returns after delivery: the customer asks, the seller (or the deadline) decides, money follows.

- ``request``: within ``return_window_seconds`` of delivery, some or all of the order's items
  with a reason → ``requested`` (one transaction that also claims the units on the order, so
  nothing is returned twice or beyond what was bought; ``store/returns.py``).
- ``decide``: the seller accepts (optionally restocking) or rejects, by the API or the emailed
  link, then wakes the return's workflow; the workflow itself accepts, without restocking, a
  return the seller left unanswered past its deadline (``return_answer_seconds`` after the
  request).
- An acceptance is ONE TransactWriteItems: the ledger's ``return`` transaction (refund to the
  customer's wallet — for a card order to the card: the provider refunds first, then the refund
  goes to its clearing account; "a card order's return" below —, the fee and promo shares back;
  ``domain/returns.py`` says how much), the
  hold's running return totals (never above the capture), the return's state, the order's
  accepted counts, the seller's pending net, and the restock. A retry or a racing decision finds
  the return decided and changes nothing.

**The workflow.** Each return runs a Step Functions execution of its own
(``services/return_workflow.py`` says why and who moves what; its steps are
``services/return_steps.py``): it emails the shop, waits for the decision with the deadline as
its timeout, accepts on silence and emails the customer. ``request`` starts it after the
return is stored.

**The reconciler's sweep stays, as a backstop only** (``sweep_overdue``): a start lost between
the stored return and ``StartExecution`` (a crash, Step Functions unavailable) would leave the
return waiting for ever, as the order reconciler guards against for orders. Once a return is a
grace period past its deadline and still undecided, the sweep starts its execution (which
accepts at once, the deadline being over, and emails the customer); if the execution exists but
ended without a decision (``ReturnWorkflowFailed``) it accepts the return itself. In normal
operation the sweep finds nothing: the execution decided at the deadline.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalicelib import logs
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.domain import orders as order_states
from chalicelib.domain import returns as rules
from chalicelib.errors import (
    Conflict,
    DependencyError,
    InsufficientEarnings,
    InvalidTransition,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from chalicelib.services import card_payments, return_emails, return_workflow
from chalicelib.services.workflow.wake import ResumeFailed
from chalicelib.store import catalog as catalog_store
from chalicelib.store import keys, seller_money
from chalicelib.store import ledger as ledger_store
from chalicelib.store import orders as orders_store
from chalicelib.store import returns as store
from chalicelib.store.toolkit import Op, TransactionCancelled, write_one

SWEEP_PAGE = 100


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _delivered_at(order: order_states.Order) -> float | None:
    for event in order.timeline:
        if event.get("status") == order_states.DELIVERED:
            return datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
    return None


def request(customer_id: str, order_id: str, items: list[tuple[str, int]], reason: str, *, return_id: str
            ) -> dict[str, Any]:
    """Ask to return ``items`` ((product id, quantity)) of a delivered order of this customer."""
    existing = store.get(return_id)
    if existing is not None:  # a retry of this very request
        if existing["customer_id"] != customer_id or existing["order_id"] != order_id:
            raise Conflict("this return was already requested with other details")
        if existing["state"] == rules.REQUESTED:
            _start(return_id)  # the first attempt may have stopped before (a duplicate start is harmless)
        return view(existing)
    order = orders_store.load(order_id)
    if order is None or order.customer_id != customer_id:
        raise NotFound(f"order {order_id} not found")
    if order.status != order_states.DELIVERED:
        raise InvalidTransition(f"order {order_id} is {order.status}: only a delivered order can be returned",
                                current_status=order.status)
    cfg, now = settings(), time.time()
    delivered = _delivered_at(order) or now
    if now > delivered + cfg.return_window_seconds:
        raise InvalidTransition(f"the return window of order {order_id} ended at "
                                f"{_iso(delivered + cfg.return_window_seconds)}", current_status=order.status)
    lines, errors = rules.lines_to_return(order, items)
    if errors:
        raise ValidationFailed("these items cannot be returned", errors=errors)
    record = {"return_id": return_id, "order_id": order_id, "customer_id": customer_id,
              "seller_id": order.seller_id, "state": rules.REQUESTED, "reason": reason,
              "lines": [{"index": i, "product_id": order.items[i].product_id, "quantity": q} for i, q in lines],
              "currency": order.currency, "created_at": _iso(now),
              "deadline": _iso(now + cfg.return_answer_seconds)}
    for _ in range(3):  # another return of the order moved or lowered its pending net meanwhile: read again
        try:
            store.create(record, order, lines, _keep_pending(order, now + cfg.return_answer_seconds))
            break
        except TransactionCancelled as cancelled:
            if cancelled.failed(store.RETURN):
                return view(store.get(return_id) or record)
            if not cancelled.failed(store.ORDER) and (cancelled.failed(seller_money.PENDING)
                                                      or cancelled.failed(seller_money.PENDING_HOLD)):
                continue
            raise ValidationFailed.one("items", "already returned: another return claimed these units") from cancelled
    else:
        raise Conflict("the order's returns changed while asking; retry")
    orders_store.add_event(order_id, {"type": "return_requested", "actor": f"customer:{customer_id}",
                                      "detail": {"return_id": return_id, "reason": reason,
                                                 "items": [[x["product_id"], x["quantity"]] for x in record["lines"]]}},
                           event_id=f"return:{return_id}:requested")
    _start(return_id)
    return view(record)


def _keep_pending(order: order_states.Order, deadline: float) -> list[Op]:
    """The order's net stays pending (no payout takes it) until this return's deadline and the
    sweep's grace after it are over: the return may be decided after the window ends, and its
    refund comes out of the seller's earnings. Nothing when the window outlasts that already."""
    hold = ledger_store.get_hold(order.order_id) or {}
    until, to = hold.get("pending_until"), _iso(deadline + settings().reconcile_grace_seconds)
    if not until or until >= to:
        return []
    item = seller_money.pending_item(order.seller_id, order.order_id, until)
    if item is None:
        return []
    return seller_money.move_window_ops(order.seller_id, order.order_id, until, int(item["net"]), to)


def _start(return_id: str) -> None:
    """Start the return's workflow; one that cannot be started now is started by the sweep."""
    try:
        return_workflow.start(return_id)
    except (DependencyError, Unavailable) as exc:
        logs.event("return workflow not started (the reconciler will)", 40, return_id=return_id,
                   error=type(exc).__name__)


def decide(return_id: str, decision: str, *, seller_id: str | None, actor: str, restock: bool = False,
           comment: str | None = None, wake: bool = True) -> dict[str, Any]:
    """``accept`` or ``reject``; ``seller_id`` None: the system (the deadline, a link already
    checked). Deciding again the same way answers the same; the other way is a 409. Then the
    return's workflow is woken (``wake``; not from the workflow's own deadline step) to email the
    customer."""
    ret = store.get(return_id)
    if ret is None or (seller_id is not None and ret["seller_id"] != seller_id):
        raise NotFound(f"return {return_id} not found")
    wanted = rules.ACCEPTED if decision == "accept" else rules.REJECTED
    if ret["state"] != rules.REQUESTED:
        if ret["state"] == wanted:
            if wake:
                _wake(return_id, wanted)  # a wake-up lost the first time goes out now
            return view(ret)
        raise Conflict(f"return {return_id} was already {ret['state']}")
    lines = [(int(x["index"]), int(x["quantity"])) for x in ret["lines"]]
    at = dl.now_iso()
    try:
        if wanted == rules.REJECTED:
            ledger_store.transact([store.decide_op(return_id, wanted, at, actor, {"comment": comment or ""}),
                                   store.order_counts_op(ret["order_id"], lines, accepted=False),
                                   ledger_store.card_refund_op(ret["order_id"], return_id, ledger_store.NOT_STARTED)])
        else:
            _accept(ret, lines, at, actor, restock)
    except TransactionCancelled as cancelled:
        if cancelled.failed(store.RETURN):  # decided meanwhile (the other channel, the deadline)
            return decide(return_id, decision, seller_id=seller_id, actor=actor, restock=restock, comment=comment,
                          wake=wake)
        if wanted == rules.REJECTED and cancelled.failed(ledger_store.HOLD):
            raise Conflict(f"return {return_id} is being refunded to the card: it can only be accepted") from cancelled
        raise
    now = store.get(return_id) or ret
    orders_store.add_event(ret["order_id"], {"type": f"return_{wanted}", "actor": actor,
                                             "detail": {"return_id": return_id, **(now.get("decision") or {})}},
                           event_id=f"return:{return_id}:{wanted}")
    logs.event(f"return {wanted}", return_id=return_id, order_id=ret["order_id"], actor=actor)
    _release_pending(ret["seller_id"], ret["order_id"])
    if wake:
        _wake(return_id, wanted)
    return view(now)


def _release_pending(seller_id: str, order_id: str) -> None:
    """No return of the order is open any more: its pending net goes back to its window's own end
    (``_keep_pending`` moved it later). A request racing this moves the item itself or makes this
    move fail; if this step is lost, the money stays pending until the last deadline only."""
    hold = ledger_store.get_hold(order_id) or {}
    until, window = hold.get("pending_until"), hold.get("window_until")
    order = orders_store.load(order_id)
    if not until or not window or until <= window or order is None:
        return
    if any(line.returned > line.accepted for line in order.items):  # a return is still open
        return
    item = seller_money.pending_item(seller_id, order_id, until)
    if item is None:
        return
    try:
        ledger_store.transact(seller_money.move_window_ops(seller_id, order_id, until, int(item["net"]), window))
    except TransactionCancelled:
        logs.event("pending net not moved back (a return changed it meanwhile)", order_id=order_id)


def _wake(return_id: str, decision: str) -> None:
    """Wake the workflow waiting for this decision. The decision is recorded whatever happens
    here: a wake-up that fails is sent again by the same request repeated, and at worst the
    wait's timeout finds the return decided and goes on (the customer's email comes then)."""
    try:
        return_workflow.resume(return_id, {"decision": decision})
    except (ResumeFailed, Unavailable) as exc:
        logs.event("return workflow not woken", 30, return_id=return_id, error=type(exc).__name__)


def _accept(ret: dict[str, Any], lines: list[tuple[int, int]], at: str, actor: str, restock: bool) -> None:
    for _ in range(3):  # another return of the order accepted in between: compute again
        order = orders_store.load(ret["order_id"])
        hold = ledger_store.get_hold(ret["order_id"]) or {}
        if order is None or hold.get("state") != dl.CAPTURED:
            raise InvalidTransition(f"the money of order {ret['order_id']} is {hold.get('state')}, not captured")
        after = {i: line.accepted for i, line in enumerate(order.items)}
        for i, q in lines:
            after[i] += q
        money = rules.money_of(order, hold, lines, after)
        detail = {"refund": money.refund, "fee_returned": money.fee, "full": money.full, "restocked": restock}
        card = card_payments.is_card(order)
        provider = paid = None
        if card and money.refund:
            if not _claim_card_refund(ret, hold, money):
                continue  # another return was counted meanwhile: compute again
            paid = _refund_card(ret, order, money.refund)
            provider = card_payments.provider_of(order)
            detail["refunded_to"] = "card"
        ops = [store.decide_op(ret["return_id"], rules.ACCEPTED, at, actor, detail),
               store.order_counts_op(ret["order_id"], lines, accepted=True),
               ledger_store.return_hold_op(ret["order_id"], seen=(int(hold.get("ret_amount", 0)),
                                                                  int(hold.get("ret_promotion", 0)),
                                                                  int(hold.get("ret_fee", 0))),
                                           refund=money.refund, promotion=money.promotion, fee=money.fee,
                                           return_id=ret["return_id"] if card else None)]
        if hold.get("pending_until") and money.seller_part:
            ops.append(seller_money.pending_adjust_op(ret["seller_id"], ret["order_id"], hold["pending_until"],
                                                      -money.seller_part))
        if restock:
            stocked = catalog_store.load_products([x["product_id"] for x in ret["lines"]])
            ops += [store.restock_op(x["product_id"], int(x["quantity"])) for x in ret["lines"]
                    if (p := stocked.get(x["product_id"])) is not None and p.limited]
        try:
            if money.refund + money.promotion:
                txn = dl.return_txn(ret["return_id"], ret["order_id"], ret["customer_id"], ret["seller_id"],
                                    ret["currency"], at, refund=money.refund, promotion=money.promotion, fee=money.fee,
                                    provider=provider, refund_id=paid.id if paid else None)
                ledger_store.post(txn, ops)
            else:
                ledger_store.transact(ops)
        except TransactionCancelled as cancelled:
            if (cancelled.failed(ledger_store.HOLD) or cancelled.failed(seller_money.PENDING)) \
                    and not cancelled.failed(store.RETURN):
                continue  # another return was counted, or asked for (its pending net moved): compute again
            label = ledger_store.balance_label(dl.seller_earnings(ret["seller_id"]))
            if cancelled.failed(label):
                raise InsufficientEarnings("the seller's earnings do not cover this return",
                                           required=money.seller_part, currency=ret["currency"]) from cancelled
            raise
        if restock:
            catalog_store.sync_availability([x["product_id"] for x in ret["lines"]])
        return
    raise Conflict("the order's returns changed while accepting; retry")


# -- a card order's return: the refund goes back to the card ----------------------------------
#
# Order of operations as ``services/card_payments.py``: the provider first (key ``return-<id>``),
# then the ledger's conditional ``return`` transaction, whose refund leg goes to the provider's
# clearing account instead of the wallet. Before the provider call the hold is claimed for this
# return and amount (``store.ledger.card_refund_op``, ``CLAIM``): the order's other returns wait until it
# is booked, so what the provider refunded is what the ledger books, and the return can no longer
# be rejected (a retry after a crash between the two books it; nothing else can).
#
# A provider REFUSAL keeps the return undecided (``requested``) and raises: accepting it without
# the refund would leave the seller holding money the ledger says went back, or need a "refund
# owed" account the books do not have, and the order's later returns are computed from what
# earlier ones refunded. Undecided, nothing moved anywhere; the refusal is visible (the order's
# timeline ``return_refund_refused``, the metric ``CardPaymentsRefused`` by reason, a log) and is
# retried: the deadline accepts again, then the reconciler's sweep on every pass
# (``sweep_overdue``) until the provider refunds (or the seller rejects). A provider that does
# not answer (``Unavailable``) is retried the same way with the same key.


def _claim_card_refund(ret: dict[str, Any], hold: dict[str, Any], money: rules.ReturnMoney) -> bool:
    claimed = hold.get(ledger_store.REFUNDING)
    if claimed is not None and claimed != ret["return_id"]:
        raise Unavailable("another return of this order is being refunded to the card; retry shortly")
    earnings = int((ledger_store.get_earnings(ret["seller_id"]) or {}).get(dl.EARNINGS, 0))
    if claimed is None and earnings < money.seller_part:  # checked before the card gets anything
        raise InsufficientEarnings("the seller's earnings do not cover this return", required=money.seller_part,
                                   currency=ret["currency"])
    return write_one(ledger_store.card_refund_op(ret["order_id"], ret["return_id"], ledger_store.CLAIM,
                                                 amount=money.refund, seen=int(hold.get("ret_amount", 0))))


def _refund_card(ret: dict[str, Any], order: order_states.Order, amount: int) -> Any:
    try:
        return card_payments.refund_return(order, ret["return_id"], amount)
    except InvalidTransition as refused:  # counted and logged by card_payments
        write_one(ledger_store.card_refund_op(ret["order_id"], ret["return_id"], ledger_store.END))
        orders_store.add_event(ret["order_id"], {
            "type": "return_refund_refused", "actor": "system",
            "detail": {"return_id": ret["return_id"], "amount": amount, "reason": refused.reason}},
            event_id=f"return:{ret['return_id']}:refund_refused")
        logs.event("card refund of a return refused: the return stays undecided", 40, return_id=ret["return_id"],
                   order_id=ret["order_id"], reason=refused.reason)
        raise


def sweep_overdue(now: float | None = None) -> int:
    """The backstop (the module docstring): every return still undecided ``reconcile_grace_seconds``
    past its deadline gets its workflow started, or — its execution ended without deciding —
    is accepted (no restock) here. Returns how many it acted on."""
    done, cfg = 0, settings()
    for ret in store.due(_iso((now or time.time()) - cfg.reconcile_grace_seconds), SWEEP_PAGE):
        rid = ret["return_id"]
        try:
            if return_workflow.start(rid):
                logs.event("return workflow started late", 30, return_id=rid)
            elif not settings().return_state_machine_arn or return_workflow.status(rid) != "RUNNING":
                decide(rid, "accept", seller_id=None, actor="timeout", wake=False)
                return_emails.email_decided(rid)
            else:
                continue
            done += 1
        except Exception as exc:  # noqa: BLE001 - one return must not stop the sweep; retried next pass
            logs.event("could not settle an overdue return", 40, return_id=rid, error=type(exc).__name__)
    return done


def for_order(customer_id: str | None, order_id: str, *, limit: int, start: dict[str, Any] | None
              ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of the order's returns, newest first; a cursor of another listing is a 422."""
    order = orders_store.load(order_id)
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise NotFound(f"order {order_id} not found")
    partition = keys.order_returns_partition(order_id)
    if start is not None and (set(start) != {"PK", "SK", "GSI1PK", "GSI1SK"} or start["GSI1PK"] != partition):
        raise ValidationFailed.one("cursor", "this cursor belongs to another listing")
    items, last = store.list_page("GSI1", partition, limit=limit, start=start)
    return [view(r) for r in items], last


def for_seller(seller_id: str, *, limit: int, start: dict[str, Any] | None
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of the seller's returns, newest first; a cursor of another listing is a 422."""
    partition = keys.seller_returns_partition(seller_id)
    if start is not None and (set(start) != {"PK", "SK", "GSI2PK", "GSI2SK"} or start["GSI2PK"] != partition):
        raise ValidationFailed.one("cursor", "this cursor belongs to another listing")
    items, last = store.list_page("GSI2", partition, limit=limit, start=start)
    return [view(r) for r in items], last


def view(ret: dict[str, Any]) -> dict[str, Any]:
    decision = ret.get("decision") or {}
    cur = ret["currency"]
    return {"id": ret["return_id"], "order_id": ret["order_id"], "state": ret["state"], "reason": ret["reason"],
            "items": [{"product_id": x["product_id"], "quantity": int(x["quantity"])} for x in ret["lines"]],
            "created_at": ret["created_at"], "answer_by": ret["deadline"], "decided_at": ret.get("decided_at"),
            "decided_by": ret.get("decided_by"),
            "refund": {"amount": int(decision["refund"]), "currency": cur} if "refund" in decision else None,
            "restocked": decision.get("restocked")}
