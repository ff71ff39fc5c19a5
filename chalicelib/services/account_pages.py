"""The pages the account emails' links open (``/auth/links/{token}``), like the order links'
(``services/action_pages.py``): GET shows one button and changes nothing (mail scanners
pre-open links); the form POST verifies the address, or sets the new password, once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.config import settings
from chalicelib.domain.accounts import password_policy
from chalicelib.errors import Gone, ValidationFailed
from chalicelib.notify import account_links
from chalicelib.notify.links import ExpiredLink, LinkError
from chalicelib.notify.pages import SECURITY_HEADERS
from chalicelib.notify.rendering import environment, resolve_lang
from chalicelib.services import accounts
from chalicelib.store import accounts as store

__all__ = ["SECURITY_HEADERS", "Page", "open_link", "use_link"]

STATUS = {"done": 200, "already_done": 200, "expired": 410, "invalid": 404, "weak": 422}


@dataclass(frozen=True)
class Page:
    status: int
    html: str


def _render(purpose: str, lang: str | None, *, outcome: str = "", token: str = "", detail: str = "") -> Page:
    lang = resolve_lang(lang, settings().default_lang)
    html = environment().get_template(f"pages/account.{lang}.html").render(
        lang=lang, purpose=purpose, outcome=outcome, detail=detail,
        form_action_url=accounts.link_url(token) if token else "")
    return Page(STATUS.get(outcome, 200), html)


def _check(token: str) -> tuple[account_links.AccountClaims | None, str | None, Page | None]:
    try:
        claims = account_links.verify_token(settings().link_secret, token, int(time.time()))
    except ExpiredLink as exc:
        return None, None, _render(exc.claims.purpose, None, outcome="expired")
    except LinkError:
        return None, None, _render("verify", None, outcome="invalid")
    profile = store.get_profile(claims.user_id)
    if profile is None:
        return None, None, _render(claims.purpose, None, outcome="invalid")
    return claims, str(profile.get("language") or ""), None


def open_link(token: str) -> Page:
    claims, lang, page = _check(token)
    if page is not None:
        return page
    assert claims is not None
    return _render(claims.purpose, lang, token=token)


def use_link(token: str, form: dict[str, str]) -> Page:
    claims, lang, page = _check(token)
    if page is not None:
        return page
    assert claims is not None
    if form.get("action", claims.purpose) != claims.purpose:
        return _render(claims.purpose, lang, outcome="invalid")
    try:
        if claims.purpose == "verify":
            accounts.verify_email(token)
        else:
            password = form.get("password") or ""
            try:
                if len(password) < 8 or len(password) > 128:
                    raise ValueError("too weak: needs at least 8 characters")
                password_policy(password)
            except ValueError as exc:
                return _render(claims.purpose, lang, outcome="weak", token=token, detail=str(exc))
            accounts.reset_password(token, password)
    except Gone:
        return _render(claims.purpose, lang, outcome="already_done")
    except ValidationFailed as err:
        return _render(claims.purpose, lang, outcome="weak", token=token, detail=err.detail)
    return _render(claims.purpose, lang, outcome="done")
