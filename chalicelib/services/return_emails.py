"""Returns by email: the seller's accept / reject links and the return emails (ru/en).

The links follow the order links' rules (``services/action_links.py``): a signed, expiring token
naming a link record (one per return, seller and action; the token's ``order_id`` claim carries
the return id); their pages are ``services/return_links.py``. Emails: ``return_requested`` to the
shop (the accept link as its button, the reject link in its text), ``return_accepted`` /
``return_rejected`` to the customer. Everything people wrote (the reason, the comment, names) is
defanged. A mail that cannot be sent is logged, never raised: the return does not depend on it.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.config import settings
from chalicelib.domain.orders import Order
from chalicelib.notify import links as link_tokens
from chalicelib.notify.defang import defang
from chalicelib.notify.money_format import format_money
from chalicelib.notify.rendering import resolve_lang
from chalicelib.services import notifications
from chalicelib.services.action_links import link_url
from chalicelib.store import accounts
from chalicelib.store import orders as orders_store
from chalicelib.store import returns as store
from chalicelib.store import workflow as wf_store

ACTIONS = ("return_accept", "return_reject")
BUTTONS = {"return_requested": ("Accept the return", "Принять возврат"),
           "return_accepted": ("See the return", "Открыть возврат"),
           "return_rejected": ("See the return", "Открыть возврат")}


def issue_links(ret: dict[str, Any]) -> dict[str, str]:
    cfg = settings()
    out = {}
    for action in ACTIONS:
        record = wf_store.ensure_link(ret["return_id"], ret["seller_id"], action,
                                      expires_at=int(time.time()) + cfg.link_ttl_seconds)
        token = link_tokens.make_link_token(cfg.link_secret, link_id=record["link_id"], order_id=ret["return_id"],
                                            seller_id=ret["seller_id"], action=action,
                                            expires_at=int(record["expires_at"]))
        out[action] = link_url(token)
    return out


def _items(ret: dict[str, Any], order: Order | None) -> list[dict[str, Any]]:
    names = {line.product_id: line.name for line in (order.items if order else ())}
    return [{"name": defang(str(names.get(x["product_id"]) or x["product_id"])), "quantity": int(x["quantity"])}
            for x in ret["lines"]]


def _items_text(lines: list[dict[str, Any]]) -> str:
    return ", ".join(f"{x['name']} × {x['quantity']}" for x in lines)


def email_requested(return_id: str) -> None:
    ret = store.get(return_id)
    order = orders_store.load(ret["order_id"]) if ret else None
    shop = accounts.get_shop(ret["seller_id"]) if ret else None
    if not ret or not order or not (shop or {}).get("contact_email"):
        return
    links = issue_links(ret)
    notifications.send_link_email(
        "return_requested", to=str(shop["contact_email"]), language=str(shop.get("language") or ""),
        link=links["return_accept"], buttons=BUTTONS["return_requested"], failure="return email not sent",
        variables={"order_id": ret["order_id"], "items": _items_text(_items(ret, order)),
                   "reason": defang(ret["reason"]), "deadline": ret["deadline"][:16].replace("T", " "),
                   "reject_link": links["return_reject"]})


def email_decided(return_id: str) -> None:
    ret = store.get(return_id)
    order = orders_store.load(ret["order_id"]) if ret else None
    profile = accounts.get_profile(ret["customer_id"]) if ret else None
    if not ret or not order or not (profile or {}).get("email") or ret["state"] == "requested":
        return
    kind = f"return_{ret['state']}"
    lang = resolve_lang(str(profile.get("language") or ""), settings().default_lang)
    decision = ret.get("decision") or {}
    notifications.send_link_email(
        kind, to=str(profile["email"]), language=lang, buttons=BUTTONS[kind], failure="return email not sent",
        link=f"{settings().public_base_url}/orders/{ret['order_id']}/returns",
        variables={"order_id": ret["order_id"], "items": _items_text(_items(ret, order)),
                   "refund": format_money(int(decision.get("refund", 0)), ret["currency"], lang),
                   "to_card": decision.get("refunded_to") == "card",
                   "comment": defang(str(decision.get("comment") or ""))})
