"""Emails to a seller about their feeds: a feed URL keeps failing; an import ended (its counts
and the link to its CSV report). Same rendering as
the account emails (a text template holding the subject, an HTML one around the same
paragraphs); the seller's URL and any reason text are defanged, so no link but ours is
clickable. A mail that cannot be sent is logged, never raised: the fetch is done either way."""

from __future__ import annotations

from typing import Any

from chalicelib.notify.defang import defang
from chalicelib.services.notifications import send_link_email

BUTTONS = {"feed_fetch_failing": ("Feed status", "Статус фида"),
           "feed_import_finished": ("Report (CSV)", "Отчёт (CSV)")}


def send(kind: str, shop: dict[str, Any], link: str, **facts: Any) -> None:
    to = str(shop.get("contact_email") or "")
    if not to:
        return
    safe = {k: defang(v) if isinstance(v, str) else v for k, v in facts.items()}
    send_link_email(kind, to=to, language=str(shop.get("language") or ""), link=link, buttons=BUTTONS[kind],
                    variables={"shop": defang(str(shop.get("name") or "")), **safe}, failure="feed email not sent")
