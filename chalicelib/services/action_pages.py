"""The pages an emailed action link opens: ``open_link`` renders the GET page (the order and one
button; no effect, because mail scanners pre-open links), ``use_link`` acts on the form POST,
once (``store.workflow.claim_link``), through the seller's decision (``services/actions.py``).

A link that cannot be used — bad signature, expired, not matching its record, already used, or
a decision the order no longer allows — answers a result page with the matching status
(``notify.pages.OUTCOME_STATUS``), in the shop's language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import orders as st
from chalicelib.errors import InvalidTransition, NotFound
from chalicelib.notify import links as link_tokens
from chalicelib.notify.pages import OUTCOME_STATUS, render_action_page, render_action_result
from chalicelib.services import notifications, return_links
from chalicelib.services.action_links import link_url
from chalicelib.services.actions import seller_decides
from chalicelib.store import accounts
from chalicelib.store import orders as orders_store
from chalicelib.store import workflow as wf_store


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


def _verify(secrets: tuple[bytes, ...], token: str) -> link_tokens.LinkClaims:
    """Claims of a link signed with any accepted secret (the previous one during a rotation)."""
    for secret in secrets[:-1]:
        try:
            return link_tokens.verify_link_token(secret, token, int(time.time()))
        except link_tokens.ExpiredLink:
            raise
        except link_tokens.LinkError:
            continue
    return link_tokens.verify_link_token(secrets[-1], token, int(time.time()))


def _check(token: str) -> tuple[link_tokens.LinkClaims | None, dict[str, Any] | None, Page | None]:
    """Verify the token and find its link record; a Page when the link cannot be used."""
    cfg = settings()
    try:
        claims = _verify(cfg.link_secrets, token)
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
    if claims.action in return_links.ACTIONS:  # a return's link: the return's own page
        status, html = return_links.open_page(claims, record, token, lang)
        return Page(status, html) if status else _result(html, lang=lang)
    order = orders_store.load(claims.order_id)
    if order is None or order.seller_id != claims.seller_id:
        return _result("invalid", lang=lang)
    move = st.SELLER_MOVES[claims.action]
    if record.get("used_at") or order.status == move.target:
        return _result("already_done", lang=lang, action=claims.action, order_id=claims.order_id)
    if order.status not in move.sources:
        return _result("conflict", lang=lang, action=claims.action, order_id=claims.order_id)
    customer = accounts.get_profile(order.customer_id) or {}
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
    if claims.action in return_links.ACTIONS:
        return _result(return_links.use(claims, form), lang=lang)
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
        if err.current_status == st.SELLER_MOVES[claims.action].target:
            return _result("already_done", lang=lang, action=claims.action, order_id=claims.order_id)
        wf_store.unclaim_link(claims.link_id)  # e.g. "ship" before "confirm": usable later
        return _result("conflict", lang=lang, action=claims.action, order_id=claims.order_id)
    except Exception:
        wf_store.unclaim_link(claims.link_id)
        raise
    outcome = "done" if applied else "already_done"
    return _result(outcome, lang=lang, action=claims.action, order_id=claims.order_id)
