"""Returns after delivery: the customer asks, the seller (or the deadline) decides, money follows.

- ``request``: within ``return_window_seconds`` of delivery, some or all of the order's items
  with a reason → ``requested`` (one transaction that also claims the units on the order, so
  nothing is returned twice or beyond what was bought; ``store/returns.py``).
- ``decide``: the seller accepts (optionally restocking) or rejects, by the API or the emailed
  link; ``accept_due`` accepts, without restocking, every return the seller left unanswered past
  its deadline (``return_answer_seconds`` after the request).
- An acceptance is ONE TransactWriteItems: the ledger's ``return`` transaction (refund to the
  customer's wallet, the fee and promo shares back; ``domain/returns.py`` says how much), the
  hold's running return totals (never above the capture), the return's state, the order's
  accepted counts, the seller's pending net, and the restock. A retry or a racing decision finds
  the return decided and changes nothing.

**Why the reconciler's schedule and not a Step Functions workflow for the deadline.** A return
has one wait (the seller's answer) and one timeout with one outcome (accept); no compensation,
no chain of steps. The reconciler already runs every minute on a sparse index; a second sparse
index partition (``RETURNS_DUE``) costs one Query per minute, and the answer that races the
deadline is decided by the same conditional write (``requested →``) whoever comes first. A state
machine would add a definition, a role, a task token store and a start that can be lost (which
the reconciler would then have to repair anyway).
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
from chalicelib.errors import Conflict, InsufficientEarnings, InvalidTransition, NotFound, ValidationFailed
from chalicelib.services import return_emails
from chalicelib.store import catalog as catalog_store
from chalicelib.store import ledger as ledger_store
from chalicelib.store import orders as orders_store
from chalicelib.store import returns as store
from chalicelib.store import seller_money
from chalicelib.store.toolkit import TransactionCancelled

SWEEP_PAGE = 100


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _delivered_at(order: dict[str, Any]) -> float | None:
    for event in order.get("timeline") or []:
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
        return view(existing)
    order = orders_store.get_order(order_id)
    if order is None or order.get("customer_id") != customer_id:
        raise NotFound(f"order {order_id} not found")
    if order["status"] != order_states.DELIVERED:
        raise InvalidTransition(f"order {order_id} is {order['status']}: only a delivered order can be returned",
                                current_status=order["status"])
    cfg, now = settings(), time.time()
    delivered = _delivered_at(order) or now
    if now > delivered + cfg.return_window_seconds:
        raise InvalidTransition(f"the return window of order {order_id} ended at "
                                f"{_iso(delivered + cfg.return_window_seconds)}", current_status=order["status"])
    lines, errors = rules.lines_to_return(order, items)
    if errors:
        raise ValidationFailed("these items cannot be returned", errors=errors)
    record = {"return_id": return_id, "order_id": order_id, "customer_id": customer_id,
              "seller_id": order["seller_id"], "state": rules.REQUESTED, "reason": reason,
              "lines": [{"index": i, "product_id": order["items"][i]["product_id"], "quantity": q} for i, q in lines],
              "currency": order["currency"], "created_at": _iso(now),
              "deadline": _iso(now + cfg.return_answer_seconds)}
    try:
        store.create(record, order, lines)
    except TransactionCancelled as cancelled:
        if cancelled.failed(store.RETURN):
            return view(store.get(return_id) or record)
        raise ValidationFailed.one("items", "already returned: another return claimed these units") from cancelled
    orders_store.add_event(order_id, {"type": "return_requested", "actor": f"customer:{customer_id}",
                                      "detail": {"return_id": return_id, "reason": reason,
                                                 "items": [[x["product_id"], x["quantity"]] for x in record["lines"]]}},
                           event_id=f"return:{return_id}:requested")
    return_emails.email_requested(return_id)
    return view(record)


def decide(return_id: str, decision: str, *, seller_id: str | None, actor: str, restock: bool = False,
           comment: str | None = None) -> dict[str, Any]:
    """``accept`` or ``reject``; ``seller_id`` None: the system (the deadline, a link already
    checked). Deciding again the same way answers the same; the other way is a 409."""
    ret = store.get(return_id)
    if ret is None or (seller_id is not None and ret["seller_id"] != seller_id):
        raise NotFound(f"return {return_id} not found")
    wanted = rules.ACCEPTED if decision == "accept" else rules.REJECTED
    if ret["state"] != rules.REQUESTED:
        if ret["state"] == wanted:
            return view(ret)
        raise Conflict(f"return {return_id} was already {ret['state']}")
    lines = [(int(x["index"]), int(x["quantity"])) for x in ret["lines"]]
    at = dl.now_iso()
    try:
        if wanted == rules.REJECTED:
            ledger_store.transact([store.decide_op(return_id, wanted, at, actor, {"comment": comment or ""}),
                                   store.order_counts_op(ret["order_id"], lines, accepted=False)])
        else:
            _accept(ret, lines, at, actor, restock)
    except TransactionCancelled as cancelled:
        if cancelled.failed(store.RETURN):  # decided meanwhile (the other channel, the deadline)
            return decide(return_id, decision, seller_id=seller_id, actor=actor, restock=restock, comment=comment)
        raise
    now = store.get(return_id) or ret
    orders_store.add_event(ret["order_id"], {"type": f"return_{wanted}", "actor": actor,
                                             "detail": {"return_id": return_id, **(now.get("decision") or {})}},
                           event_id=f"return:{return_id}:{wanted}")
    logs.event(f"return {wanted}", return_id=return_id, order_id=ret["order_id"], actor=actor)
    return_emails.email_decided(return_id)
    return view(now)


def _accept(ret: dict[str, Any], lines: list[tuple[int, int]], at: str, actor: str, restock: bool) -> None:
    for _ in range(3):  # another return of the order accepted in between: compute again
        order = orders_store.get_order(ret["order_id"]) or {}
        hold = ledger_store.get_hold(ret["order_id"]) or {}
        if hold.get("state") != dl.CAPTURED:
            raise InvalidTransition(f"the money of order {ret['order_id']} is {hold.get('state')}, not captured")
        after = {i: int(order.get(f"accepted_qty_{i}", 0)) for i in range(len(order.get("items") or []))}
        for i, q in lines:
            after[i] += q
        money = rules.money_of(order, hold, lines, after)
        detail = {"refund": money.refund, "fee_returned": money.fee, "full": money.full, "restocked": restock}
        ops = [store.decide_op(ret["return_id"], rules.ACCEPTED, at, actor, detail),
               store.order_counts_op(ret["order_id"], lines, accepted=True),
               ledger_store.return_hold_op(ret["order_id"], seen=(int(hold.get("ret_amount", 0)),
                                                                  int(hold.get("ret_promotion", 0)),
                                                                  int(hold.get("ret_fee", 0))),
                                           refund=money.refund, promotion=money.promotion, fee=money.fee)]
        if hold.get("pending_until") and money.seller_part:
            ops.append(seller_money.pending_adjust_op(ret["seller_id"], ret["order_id"], hold["pending_until"],
                                                      -money.seller_part))
        if restock:
            stocked = catalog_store.batch_get_products([x["product_id"] for x in ret["lines"]])
            ops += [store.restock_op(x["product_id"], int(x["quantity"])) for x in ret["lines"]
                    if "stock" in (stocked.get(x["product_id"]) or {})]
        try:
            if money.refund + money.promotion:
                txn = dl.return_txn(ret["return_id"], ret["order_id"], ret["customer_id"], ret["seller_id"],
                                    ret["currency"], at, refund=money.refund, promotion=money.promotion, fee=money.fee)
                ledger_store.post(txn, ops)
            else:
                ledger_store.transact(ops)
        except TransactionCancelled as cancelled:
            if cancelled.failed(ledger_store.HOLD) and not cancelled.failed(store.RETURN):
                continue
            label = ledger_store.balance_label(dl.seller_earnings(ret["seller_id"]))
            if cancelled.failed(label):
                raise InsufficientEarnings("the seller's earnings do not cover this return",
                                           required=money.seller_part, currency=ret["currency"]) from cancelled
            raise
        if restock:
            catalog_store.sync_availability([x["product_id"] for x in ret["lines"]])
        return
    raise Conflict("the order's returns changed while accepting; retry")


def accept_due(now: float | None = None) -> int:
    """Accept (no restock) every return whose seller did not answer by its deadline."""
    done = 0
    for ret in store.due(_iso(now or time.time()), SWEEP_PAGE):
        try:
            decide(ret["return_id"], "accept", seller_id=None, actor="timeout")
            done += 1
        except Exception as exc:  # noqa: BLE001 - one return must not stop the sweep; retried next pass
            logs.event("could not accept an overdue return", 40, return_id=ret["return_id"], error=type(exc).__name__)
    return done


def for_order(customer_id: str | None, order_id: str) -> list[dict[str, Any]]:
    order = orders_store.get_order(order_id)
    if order is None or (customer_id is not None and order.get("customer_id") != customer_id):
        raise NotFound(f"order {order_id} not found")
    return [view(r) for r in store.list_for("GSI1", f"ORDER_RETURNS#{order_id}")]


def for_seller(seller_id: str) -> list[dict[str, Any]]:
    return [view(r) for r in store.list_for("GSI2", f"SELLER_RETURNS#{seller_id}")]


def view(ret: dict[str, Any]) -> dict[str, Any]:
    decision = ret.get("decision") or {}
    cur = ret["currency"]
    return {"id": ret["return_id"], "order_id": ret["order_id"], "state": ret["state"], "reason": ret["reason"],
            "items": [{"product_id": x["product_id"], "quantity": int(x["quantity"])} for x in ret["lines"]],
            "created_at": ret["created_at"], "answer_by": ret["deadline"], "decided_at": ret.get("decided_at"),
            "decided_by": ret.get("decided_by"),
            "refund": {"amount": int(decision["refund"]), "currency": cur} if "refund" in decision else None,
            "restocked": decision.get("restocked")}
