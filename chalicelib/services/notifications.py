"""Order emails: who gets which email, in which language, sent once.

``send(order, kind, ...)`` renders ``kind`` (``notify/emails.py``) for its audience — the seller's
shop contact for ``new_order``, the customer's profile email for every other kind — in the
recipient's language (shop / profile ``language``, else ``settings().default_lang``), and hands
it to the mailer (``adapters/mailer.py``: SES v2, and in local runs a copy on the console and in
the outbox behind GET /local/mailbox).

Sent once per (order, kind): a marker in ``store/workflow.py`` is claimed before the mailer is
called and marked sent after, so a retried workflow step finds "sent" and does nothing.
``deliver`` retries a send that may pass (throttling, 5xx, connection errors) briefly, then
raises ``EmailUnavailable`` for the state machine to retry with backoff; a refusal (bad
address, unverified sender) raises ``EmailRejected`` — retrying cannot help, and the workflow
records it on the timeline rather than failing the order over an email.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import logs, metrics
from chalicelib.adapters.mailer import Email, mailer
from chalicelib.config import settings
from chalicelib.domain.orders import Order
from chalicelib.errors import DependencyFailed, DependencyUnavailable
from chalicelib.notify.emails import render_email
from chalicelib.store import accounts
from chalicelib.store import orders as order_store
from chalicelib.store import workflow as store

SELLER_KINDS = frozenset({"new_order"})
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


class EmailUnavailable(Exception):
    """SES did not take the email for a reason that may pass (the caller retries later)."""


class EmailRejected(Exception):
    """SES refused the email for good (address, sender identity, account)."""


class NoRecipient(EmailRejected):
    """The profile or shop has no email address to send to."""


def recipient(order: Order, kind: str, *, seen: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """``(email, language, name)`` of who gets ``kind`` about ``order``. ``seen``: the
    profiles and shops read for earlier emails of the same workflow event (read once)."""
    if kind in SELLER_KINDS:
        shop = _read(seen, "shop:" + order.seller_id, accounts.get_shop, order.seller_id)
        email, lang, name = shop.get("contact_email"), shop.get("language"), shop.get("name", "")
    else:
        profile = _read(seen, "profile:" + order.customer_id, accounts.get_profile, order.customer_id)
        email, lang, name = profile.get("email"), profile.get("language"), profile.get("name", "")
    if not email:
        raise NoRecipient(f"no email address for {kind} of order {order.order_id}")
    return str(email), str(lang or settings().default_lang), str(name or "")


def _read(seen: dict[str, Any] | None, key: str, read: Any, arg: str) -> dict[str, Any]:
    if seen is None:
        return read(arg) or {}
    if key not in seen:
        seen[key] = read(arg) or {}
    return seen[key]


def order_context(order: Order, *, customer_name: str = "") -> dict[str, Any]:
    """The ``order`` part of an email context (the documented shape of ``notify/emails.py``)."""
    delivery = order.delivery
    return {
        "order_id": order.order_id,
        "seller_name": order.seller_name,
        "customer_name": customer_name,
        "items": [{"name": i.name, "quantity": i.quantity, "price": i.price,
                   "line_total": i.line_total or i.price * i.quantity} for i in order.items],
        "delivery": {"name": delivery.name, "price": delivery.price, "days": delivery.days} if delivery else None,
        "discounts": [{"code": str(d["code"]), "amount": int(d["amount"])} for d in order.discounts],
        "total": order.total,
        "currency": order.currency,
        "address": order.address or "",
        "status": order.status,
    }


def send(order: Order, kind: str, *, links: dict[str, str] | None = None,
         extra: dict[str, Any] | None = None, seen: dict[str, Any] | None = None) -> bool:
    """Send ``kind`` about ``order`` unless it was sent already. True when this call sent it.
    ``seen``: see ``recipient``."""
    order_id = order.order_id
    claim = store.claim_email(order_id, kind)
    if claim == store.SENT:
        return False
    if claim == store.BUSY:
        raise EmailUnavailable(f"{kind} of order {order_id} is being sent by another attempt")
    try:
        to, lang, name = recipient(order, kind, seen=seen)
        customer_name = "" if kind in SELLER_KINDS else name
        if kind in SELLER_KINDS:
            customer = _read(seen, "profile:" + order.customer_id, accounts.get_profile, order.customer_id)
            customer_name = str(customer.get("name") or "")
        context = {"order": order_context(order, customer_name=customer_name), "links": links or {},
                   **(extra or {})}
        rendered = render_email(kind, lang, context, default_lang=settings().default_lang)
        email = Email(to=to, subject=rendered.subject, html=rendered.html, text=rendered.text, kind=kind,
                      order_id=order_id, lang=lang)
        message_id = deliver(email)
    except BaseException:
        store.drop_email_claim(order_id, kind)
        raise
    audience = "seller" if kind in SELLER_KINDS else "customer"
    event = {"type": "email_sent", "actor": "system", "detail": {"kind": kind, "to": audience}}
    # the "sent" mark and the timeline entry in one write; a retry finding the entry there
    # marks alone, and a vanished order is NotFound as ever
    if not store.mark_email_sent(order_id, kind, message_id=message_id, to=to,
                                 also=order_store.event_op(order_id, event, event_id=f"email:{kind}")):
        order_store.add_event(order_id, event, event_id=f"email:{kind}")
    logs.event("email sent", order_id=order_id, kind=kind, to=audience, lang=lang, message_id=message_id)
    mailer().keep_copy(email, message_id)
    return True


def deliver(email: Email) -> str:
    """Hand ``email`` to the mailer, with ``ATTEMPTS`` quick tries while the failure may pass;
    the message id. ``EmailRejected`` when refused, ``EmailUnavailable`` when still failing."""
    for attempt in range(ATTEMPTS):
        try:
            message_id = mailer().send(email)
            metrics.count("EmailsSent")
            return message_id
        except DependencyFailed as exc:
            metrics.count("EmailsFailed", by="rejected")
            raise EmailRejected(f"{exc.system} refused the email: {exc.code}") from exc
        except DependencyUnavailable as exc:
            failure = exc
        if attempt < ATTEMPTS - 1:
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    metrics.count("EmailsFailed", by="unavailable")
    raise EmailUnavailable(f"{failure.system} unavailable after {ATTEMPTS} attempts: {failure.code}") from failure


# --- account emails ----------------------------------------------------------------------------
# Verification, password reset, "someone tried to register with your address": not about an
# order, so no once-per-order marker (each request sends one; the routes are rate-limited).

ACCOUNT_KINDS = {"account_verify": ("Confirm", "Подтвердить"), "account_reset": ("Choose a new password",
                                                                                 "Задать новый пароль"),
                 "account_exists": ("Reset password", "Восстановить пароль")}


def send_account_email(kind: str, profile: dict[str, Any], link: str, *, hours: int = 0) -> None:
    """Render ``kind`` in the profile's language and send it to the profile's address. A mail
    that cannot be sent now is logged, not raised: the caller's answer must not depend on it
    (forgot-password answers the same whatever happened)."""
    send_link_email(kind, to=str(profile["email"]), language=str(profile.get("language") or ""), link=link,
                    buttons=ACCOUNT_KINDS[kind], variables={"name": str(profile.get("name") or ""), "hours": hours},
                    failure="account email not sent")


def send_link_email(kind: str, *, to: str, language: str, link: str, buttons: tuple[str, str],
                    variables: dict[str, Any], failure: str) -> None:
    """One email that is not about an order: a text template holding the subject, an HTML one
    around the same paragraphs and one button to ``link`` (``buttons``: its en and ru labels).
    Not sent now → logged as ``failure``, never raised."""
    from chalicelib.notify.rendering import environment, resolve_lang

    lang = resolve_lang(language, settings().default_lang)
    variables = {"lang": lang, "link": link, **variables}
    text_module = environment().get_template(f"email/{kind}.{lang}.txt").make_module(variables)
    subject = " ".join(str(text_module.subject).split())
    text = str(text_module).strip() + "\n"
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip() and p.strip() != link]
    label = buttons[0 if lang == "en" else 1]
    html = environment().get_template(f"email/{kind}.{lang}.html").render(
        variables, subject=subject, paragraphs=paragraphs, button_label=label)
    email = Email(to=to, subject=subject, html=html, text=text, kind=kind, order_id="", lang=lang)
    try:
        message_id = deliver(email)
    except (EmailUnavailable, EmailRejected) as exc:
        logs.event(failure, 40, kind=kind, error=str(exc))
        return
    logs.event("email sent", kind=kind, lang=lang, message_id=message_id)
    mailer().keep_copy(email, message_id)
