"""Decisions on an order by its customer or its seller — from the API or an emailed link.

Each decision is ONE conditional transition of the order (``store.orders.transition``: it
applies only while the order is in the status the decision leaves), then ``workflow.resume``
wakes the execution, which moves the money, the stock and sends the emails (see
``services/workflow.py`` for who owns what). So the caller sees the new status at once;
capture / release / refund follow within the second. A decision repeated after it took effect answers
like the first one (and re-sends the wake-up, in case the first one was lost).

| decision | who | from | to | wakes |
|---|---|---|---|---|
| confirm | seller | PAID | CONFIRMED | seller wait → capture |
| cancel | seller | PAID, CONFIRMED | CANCELLED | seller or shipment wait → restock, refund |
| ship | seller | CONFIRMED | SHIPPED | shipment wait → email |
| pay | customer | AWAITING_PAYMENT | PAID (after the hold) | payment wait |
| cancel | customer | AWAITING_PAYMENT, PAID | CANCELLED | payment or seller wait |
| received | customer | SHIPPED | DELIVERED | receipt wait |

Action links: ``issue_links`` makes the seller's confirm / cancel / ship links (signed tokens of
``notify/links.py`` naming a link record, never a task token); ``open_link`` renders the GET
page (no effect: mail scanners pre-open links); ``use_link`` acts on POST, once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import logs
from chalicelib.config import settings
from chalicelib.domain import orders as st
from chalicelib.errors import InvalidTransition, NotFound
from chalicelib.notify import links as link_tokens
from chalicelib.notify.pages import OUTCOME_STATUS, render_action_page, render_action_result
from chalicelib.services import ledger, notifications, workflow
from chalicelib.services import orders as order_views
from chalicelib.store import accounts
from chalicelib.store import orders as orders_store
from chalicelib.store import workflow as wf_store


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    wakes: tuple[str, ...]  # wait kinds to resume
    event: str  # timeline event type


SELLER_MOVES: dict[str, Move] = {
    "confirm": Move(frozenset({st.PAID}), st.CONFIRMED, ("seller",), "order_confirmed"),
    # Before SHIPPED the seller may still cancel (SPEC): once confirmed, the captured money is
    # refunded from their earnings. The new-order email's cancel link keeps working after the
    # confirm link was used (its own record, once, until it expires).
    "cancel": Move(frozenset({st.PAID, st.CONFIRMED}), st.CANCELLED, ("seller", "shipment"), "order_cancelled"),
    "ship": Move(frozenset({st.CONFIRMED}), st.SHIPPED, ("shipment",), "order_shipped"),
}
CUSTOMER_CANCEL = Move(frozenset({st.AWAITING_PAYMENT, st.PAID}), st.CANCELLED, ("payment", "seller"),
                       "order_cancelled")
RECEIVED = Move(frozenset({st.SHIPPED}), st.DELIVERED, ("receipt",), "delivered")


def _apply(order: dict[str, Any], move: Move, *, actor: str, decision: str,
           updates: dict[str, Any] | None = None, detail: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """Transition + wake-up. Returns (order after, applied now?)."""
    order_id = order["order_id"]
    applied = False
    if order["status"] != move.target:
        order = orders_store.transition(
            order_id, from_statuses=move.sources, to_status=move.target, event_id=f"to:{move.target}",
            event={"type": move.event, "actor": actor, "detail": detail or {}}, updates=updates,
        )
        applied = True
    for kind in move.wakes:
        _wake(order_id, kind, {"decision": decision, "by": actor})
    return order, applied


def _wake(order_id: str, kind: str, output: dict[str, Any]) -> None:
    try:
        workflow.resume(order_id, kind, output)
    except (workflow.ResumeFailed, ClientError, BotoCoreError) as exc:
        # The decision is recorded; the token is back in place, so repeating the request (or
        # the wait's own timeout, which reconciles by status) finishes the job.
        logs.event("workflow not resumed", 30, order_id=order_id, kind=kind, error=type(exc).__name__)


# --- seller -------------------------------------------------------------------------------


def _seller_order(order_id: str, seller_id: str | None) -> dict[str, Any]:
    order = orders_store.get_order(order_id)
    if order is None or (seller_id is not None and order.get("seller_id") != seller_id):
        raise NotFound(f"order {order_id} not found")
    return order


def seller_decides(order_id: str, seller_id: str | None, action: str, *, via: str, actor_id: str,
                   reason: str | None = None, tracking_number: str | None = None) -> tuple[dict[str, Any], bool]:
    """Confirm, cancel or ship one of the seller's orders (``seller_id`` None: an admin)."""
    move = SELLER_MOVES[action]
    order = _seller_order(order_id, seller_id)
    updates: dict[str, Any] = {}
    if action == "cancel":
        updates = {"cancelled_by": "seller", "cancel_reason": "seller"}
        if reason:
            updates["cancel_note"] = reason
    if action == "ship" and tracking_number:
        updates["tracking_number"] = tracking_number
    # Already cancelled (by the customer, or by this seller's earlier request): nothing to record,
    # but the wake-up is repeated — an earlier one may have failed after the decision was saved.
    return _apply(order, move, actor=f"seller:{actor_id}", decision=action, updates=updates, detail={"via": via})


# --- customer -----------------------------------------------------------------------------


def _customer_order(order_id: str, customer_id: str | None) -> dict[str, Any]:
    order = orders_store.get_order(order_id)
    if order is None or (customer_id is not None and order.get("customer_id") != customer_id):
        raise NotFound(f"order {order_id} not found")
    return order


def pay(order_id: str, customer_id: str | None, *, expected_total: int | None = None) -> dict[str, Any]:
    """Hold the total now (the wallet was topped up): ``InsufficientFunds`` if still short,
    ``OrderTotalChanged`` if the payer was shown another total (``expected_total``)."""
    order = _customer_order(order_id, customer_id)
    if order["status"] in workflow.PAID_OR_LATER:
        _wake(order_id, "payment", {"decision": "paid", "by": f"customer:{order['customer_id']}"})
        return order
    if order["status"] != st.AWAITING_PAYMENT:
        raise InvalidTransition(f"order {order_id} is {order['status']}; it cannot be paid",
                                order_id=order_id, current_status=order["status"])
    order_views.check_total(order, expected_total)
    ledger.hold(order_id, order["customer_id"], int(order["total"]), order["currency"])
    outcome = workflow.mark_paid(order, actor=f"customer:{order['customer_id']}")
    if outcome != "paid":
        current = orders_store.get_order(order_id) or order
        raise InvalidTransition(f"order {order_id} was cancelled; nothing was charged",
                                order_id=order_id, current_status=current["status"])
    _wake(order_id, "payment", {"decision": "paid", "by": f"customer:{order['customer_id']}"})
    return orders_store.get_order(order_id) or order


def cancel(order_id: str, customer_id: str | None) -> dict[str, Any]:
    """Cancel before the seller confirms; the workflow then restocks and refunds."""
    order = _customer_order(order_id, customer_id)
    order, _ = _apply(order, CUSTOMER_CANCEL, actor=f"customer:{order['customer_id']}", decision="cancel",
                      updates={"cancelled_by": "customer", "cancel_reason": "customer"})
    return order


def received(order_id: str, customer_id: str | None) -> dict[str, Any]:
    order = _customer_order(order_id, customer_id)
    order, _ = _apply(order, RECEIVED, actor=f"customer:{order['customer_id']}", decision="received")
    return order


# --- action links -------------------------------------------------------------------------


def link_url(token: str) -> str:
    return f"{settings().public_base_url}/actions/{token}"


def issue_links(order: dict[str, Any]) -> dict[str, str]:
    """The seller's confirm / cancel / ship links for ``order`` (the same records when asked
    again: a retried step emails the same links)."""
    cfg = settings()
    expires_at = int(time.time()) + cfg.link_ttl_seconds
    out = {}
    for action in ("confirm", "cancel", "ship"):
        record = wf_store.ensure_link(order["order_id"], order["seller_id"], action, expires_at=expires_at)
        token = link_tokens.make_link_token(
            cfg.link_secret, link_id=record["link_id"], order_id=order["order_id"], seller_id=order["seller_id"],
            action=action, expires_at=int(record["expires_at"]),
        )
        out[action] = link_url(token)
    return out


@dataclass(frozen=True)
class Page:
    status: int
    html: str


def _lang(seller_id: str | None) -> str:
    shop = accounts.get_shop(seller_id) if seller_id else None
    return str((shop or {}).get("language") or settings().default_lang)


def _result(outcome: str, *, lang: str, action: str | None = None, order_id: str | None = None) -> Page:
    html = render_action_result(lang, outcome, action, order_id=order_id, default_lang=settings().default_lang)
    return Page(OUTCOME_STATUS[outcome], html)


def _check(token: str) -> tuple[link_tokens.LinkClaims | None, dict[str, Any] | None, Page | None]:
    """Verify the token and find its link record; a Page when the link cannot be used."""
    cfg = settings()
    try:
        claims = link_tokens.verify_link_token(cfg.link_secret, token, int(time.time()))
    except link_tokens.ExpiredLink as exc:
        c = exc.claims
        return None, None, _result("expired", lang=_lang(c.seller_id), action=c.action, order_id=c.order_id)
    except link_tokens.LinkError:
        return None, None, _result("invalid", lang=cfg.default_lang)
    record = wf_store.get_link(claims.link_id)
    if record is None or (record["order_id"], record["seller_id"], record["action"]) != (
        claims.order_id, claims.seller_id, claims.action
    ):
        return None, None, _result("invalid", lang=cfg.default_lang)
    return claims, record, None


def open_link(token: str) -> Page:
    """GET /actions/{token}: the order and one button. Changes nothing."""
    claims, record, page = _check(token)
    if page is not None:
        return page
    assert claims is not None and record is not None
    lang = _lang(claims.seller_id)
    order = orders_store.get_order(claims.order_id)
    if order is None or order.get("seller_id") != claims.seller_id:
        return _result("invalid", lang=lang)
    move = SELLER_MOVES[claims.action]
    if record.get("used_at") or order["status"] == move.target:
        return _result("already_done", lang=lang, action=claims.action, order_id=claims.order_id)
    if order["status"] not in move.sources:
        return _result("conflict", lang=lang, action=claims.action, order_id=claims.order_id)
    customer = accounts.get_profile(order["customer_id"]) or {}
    summary = notifications.order_context(order, customer_name=str(customer.get("name") or ""))
    html = render_action_page(lang, summary, claims.action, link_url(token), default_lang=settings().default_lang)
    return Page(200, html)


def use_link(token: str, form: dict[str, str]) -> Page:
    """POST /actions/{token}: do the action once; a second POST answers "already done"."""
    claims, record, page = _check(token)
    if page is not None:
        return page
    assert claims is not None and record is not None
    lang = _lang(claims.seller_id)
    if form.get("action", claims.action) != claims.action:
        return _result("invalid", lang=lang)
    if not wf_store.claim_link(claims.link_id, by=f"seller:{claims.seller_id}"):
        return _result("already_done", lang=lang, action=claims.action, order_id=claims.order_id)
    try:
        _, applied = seller_decides(
            claims.order_id, claims.seller_id, claims.action, via="link", actor_id=claims.seller_id,
            reason=(form.get("reason") or "").strip()[:500] or None,
            tracking_number=(form.get("tracking_number") or "").strip()[:100] or None,
        )
    except NotFound:
        return _result("invalid", lang=lang)
    except InvalidTransition as err:
        if err.extra.get("current_status") == SELLER_MOVES[claims.action].target:
            return _result("already_done", lang=lang, action=claims.action, order_id=claims.order_id)
        wf_store.unclaim_link(claims.link_id)  # e.g. "ship" before "confirm": usable later
        return _result("conflict", lang=lang, action=claims.action, order_id=claims.order_id)
    except Exception:
        wf_store.unclaim_link(claims.link_id)
        raise
    outcome = "done" if applied else "already_done"
    return _result(outcome, lang=lang, action=claims.action, order_id=claims.order_id)
