"""The pages of the seller's return links (``services/return_emails.py`` issues them), called by
``services/action_pages.py`` for the ``return_*`` actions: GET shows the return and one form and
changes nothing (mail scanners open links); the form POST decides once (``services/returns.py``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import settings
from chalicelib.errors import Conflict, NotFound
from chalicelib.notify import links as link_tokens
from chalicelib.notify.defang import defang
from chalicelib.notify.rendering import environment, resolve_lang
from chalicelib.services import returns as service
from chalicelib.services.action_links import link_url
from chalicelib.services.return_emails import ACTIONS as ACTIONS  # the actions these pages serve
from chalicelib.services.return_emails import _items
from chalicelib.store import orders as orders_store
from chalicelib.store import returns as store
from chalicelib.store import workflow as wf_store


def open_page(claims: link_tokens.LinkClaims, record: dict[str, Any], token: str, lang: str) -> tuple[int, str]:
    """GET: the return and one form; changes nothing. ``(status, html)``, or (0, outcome)."""
    ret = store.get(claims.order_id)
    if ret is None or ret["seller_id"] != claims.seller_id:
        return 0, "invalid"
    if record.get("used_at") or ret["state"] != "requested":
        return 0, "already_done"
    order = orders_store.load(ret["order_id"])
    lang = resolve_lang(lang, settings().default_lang)
    html = environment().get_template(f"pages/return_action.{lang}.html").render(
        lang=lang, action=claims.action, ret={**ret, "reason": defang(ret["reason"]), "deadline": ret["deadline"][:16]},
        lines=_items(ret, order), form_action_url=link_url(token))
    return 200, html


def use(claims: link_tokens.LinkClaims, form: dict[str, str]) -> str:
    """POST: decide once. The outcome name of the result page."""
    if not wf_store.claim_link(claims.link_id, by=f"seller:{claims.seller_id}"):
        return "already_done"
    decision = "accept" if claims.action == "return_accept" else "reject"
    try:
        before = store.get(claims.order_id)
        if before is not None and before["state"] != "requested":
            return "already_done" if before["state"] == ("accepted" if decision == "accept" else "rejected") \
                else "conflict"
        service.decide(claims.order_id, decision, seller_id=claims.seller_id, actor=f"seller:{claims.seller_id}",
                       restock=form.get("restock") == "yes",
                       comment=(form.get("comment") or "").strip()[:500] or None)
    except NotFound:
        return "invalid"
    except Conflict:
        return "conflict"
    except Exception:
        wf_store.unclaim_link(claims.link_id)
        raise
    return "done"
