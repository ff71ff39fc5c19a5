"""HTML pages behind the emailed action links, and the local-only mailbox page.

``GET /actions/{token}`` must have no effect — mail scanners pre-open links — so it shows
``render_action_page``: the order and a plain ``<form method="post">`` (works with JS off; there
is no JS, so nothing can auto-submit). Only the POST acts, and answers with
``render_action_result``. Serve both with ``SECURITY_HEADERS``: ``no-referrer`` keeps the
token in the URL from leaking to any other site, and the CSP forbids every load from elsewhere.

Form fields the POST handler receives: ``action`` (the button's value, to double-check against
the token's claims), ``csrf`` (when a value was given), ``reason`` (cancel, optional, ≤ 500
chars) and ``tracking_number`` (ship, optional, ≤ 100 chars). Validate them there.

Pure: no AWS; the order comes in as the same ``order`` dict the emails take (see ``emails``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.notify.context import Order, order_view, validate
from chalicelib.notify.links import ACTIONS
from chalicelib.notify.rendering import environment, resolve_lang

if TYPE_CHECKING:
    from markupsafe import Markup

SECURITY_HEADERS: dict[str, str] = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

OUTCOMES = ("done", "already_done", "expired", "invalid", "conflict")
# A suggestion for the route: the page is the body whatever the status.
OUTCOME_STATUS: dict[str, int] = {
    "done": 200,
    "already_done": 200,
    "expired": 410,
    "invalid": 404,
    "conflict": 409,
}

_URL = re.compile(r"https?://[^\s<>\"']+")


def _check_form_action(url: str) -> None:
    # Same-origin path or our own absolute URL; "//host" would post to another site.
    relative = url.startswith("/") and not url.startswith("//")
    if not (relative or url.startswith(("https://", "http://"))):
        raise ValueError("form_action_url must be an absolute path or an http(s) URL")


def render_action_page(
    lang: str,
    order_summary_context: Mapping[str, Any],
    action: str,
    form_action_url: str,
    csrf_field_value: str | None = None,
    *,
    default_lang: str = "ru",
) -> str:
    """The GET page: order summary and one POST button for ``action`` (confirm/cancel/ship)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, got {action!r}")
    _check_form_action(form_action_url)
    lang = resolve_lang(lang, default_lang)
    order = order_view(validate(Order, order_summary_context), lang)
    return (
        environment()
        .get_template(f"pages/action.{lang}.html")
        .render(
            lang=lang,
            order=order,
            action=action,
            form_action_url=form_action_url,
            csrf=csrf_field_value or "",
        )
    )


def render_action_result(
    lang: str,
    outcome: str,
    action: str | None = None,
    *,
    order_id: str | None = None,
    default_lang: str = "ru",
) -> str:
    """The page after a POST (or for a link that cannot be used). ``action`` names what was done."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    if action is not None and action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, got {action!r}")
    lang = resolve_lang(lang, default_lang)
    return (
        environment()
        .get_template(f"pages/result.{lang}.html")
        .render(lang=lang, outcome=outcome, action=action or "", order_id=order_id or "")
    )


def render_mailbox_page(emails: list[dict[str, Any]], *, own_base_url: str) -> str:
    """Local runs only: list sent emails (newest order is the caller's choice).

    Each email: ``to`` (str or list), ``subject``, ``time`` (epoch seconds, datetime or str),
    ``text``, ``html`` (optional), ``from`` (optional). The marketplace's own links in the text
    (those under ``own_base_url``) are clickable; any other URL stays plain text.
    """
    view = [
        {
            "to": _recipients(mail.get("to")),
            "sender": str(mail.get("from") or ""),
            "subject": str(mail.get("subject") or ""),
            "time": _time_text(mail.get("time")),
            "text_html": linkify(str(mail.get("text") or ""), own_base_url),
            "html": str(mail.get("html") or ""),
        }
        for mail in emails
    ]
    return environment().get_template("pages/mailbox.html").render(emails=view)


def _urls(text: str) -> list[tuple[int, str]]:
    # A sentence's full stop or closing bracket is not part of the URL before it.
    return [(m.start(), m.group(0).rstrip(".,;:!?)")) for m in _URL.finditer(text)]


def is_own_url(url: str, own_base_url: str) -> bool:
    """``url`` is under ``own_base_url`` — not merely starting with its text, which
    ``http://127.0.0.1:8000.evil.example/`` or ``…:8000@evil.example`` would."""
    base = own_base_url.rstrip("/")
    return bool(base) and (url == base or url.startswith((f"{base}/", f"{base}?", f"{base}#")))


def own_urls(text: str, own_base_url: str) -> list[str]:
    """The marketplace's own URLs in ``text``, in reading order, each once."""
    return list(dict.fromkeys(url for _, url in _urls(text) if is_own_url(url, own_base_url)))


def linkify(text: str, own_base_url: str) -> Markup:
    """Escape ``text`` and turn the URLs under ``own_base_url`` into links.

    Only our own: the text carries what sellers and customers wrote (defanged by the email
    renderer, but this page must not depend on that), and a link in the local mailbox is one a
    developer will click.
    """
    from markupsafe import Markup, escape  # jinja2's; imported with it, by the first page

    out: list[str] = []
    last = 0
    for start, url in _urls(text):
        if not is_own_url(url, own_base_url):
            continue
        out.append(escape(text[last:start]))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = start + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _recipients(to: Any) -> str:
    if isinstance(to, list | tuple):
        return ", ".join(str(t) for t in to)
    return str(to or "")


def _time_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "")
