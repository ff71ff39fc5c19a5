"""Emails to a seller about their feeds (today: a feed URL keeps failing). Same rendering as
the account emails (a text template holding the subject, an HTML one around the same
paragraphs); the seller's URL and any reason text are defanged, so no link but ours is
clickable. A mail that cannot be sent is logged, never raised: the fetch is done either way."""

from __future__ import annotations

from typing import Any

from chalicelib import logs
from chalicelib.adapters.mailer import Email, mailer
from chalicelib.config import settings
from chalicelib.notify.defang import defang
from chalicelib.services.notifications import EmailRejected, EmailUnavailable, deliver

BUTTONS = {"feed_fetch_failing": ("Feed status", "Статус фида")}


def send(kind: str, shop: dict[str, Any], link: str, **facts: Any) -> None:
    from chalicelib.notify.rendering import environment, resolve_lang

    to = str(shop.get("contact_email") or "")
    if not to:
        return
    lang = resolve_lang(str(shop.get("language") or ""), settings().default_lang)
    safe = {k: defang(v) if isinstance(v, str) else v for k, v in facts.items()}
    variables = {"lang": lang, "shop": defang(str(shop.get("name") or "")), "link": link, **safe}
    text_module = environment().get_template(f"email/{kind}.{lang}.txt").make_module(variables)
    subject = " ".join(str(text_module.subject).split())
    text = str(text_module).strip() + "\n"
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and p.strip() != link]
    label = BUTTONS[kind][0 if lang == "en" else 1]
    html = environment().get_template(f"email/{kind}.{lang}.html").render(
        variables, subject=subject, paragraphs=paragraphs, button_label=label)
    email = Email(to=to, subject=subject, html=html, text=text, kind=kind, order_id="", lang=lang)
    try:
        message_id = deliver(email)
    except (EmailUnavailable, EmailRejected) as exc:
        logs.event("feed email not sent", 40, kind=kind, error=str(exc))
        return
    logs.event("email sent", kind=kind, lang=lang, message_id=message_id)
    mailer().keep_copy(email, message_id)
