"""Order emails through SES: who gets which email, in which language, sent once.

``send(order, kind, ...)`` renders ``kind`` (``notify/emails.py``) for its audience — the seller's
shop contact for ``new_order``, the customer's profile email for every other kind — in the
recipient's language (shop / profile ``language``, else ``settings().default_lang``), and sends
it with SES v2 ``SendEmail`` (Simple content: subject, HTML and text) from
``settings().ses_sender``, the identity the deploy template defines.

Sent once per (order, kind): a marker in ``store/workflow.py`` is claimed before SES is called
and marked sent after, so a retried workflow step finds "sent" and does nothing. Transient SES
failures (throttling, 5xx, connection errors) are retried here briefly, then raised as
``EmailUnavailable`` for the state machine to retry with backoff; a rejection (bad address,
unverified sender) raises ``EmailRejected`` — retrying cannot help, and the workflow records it
on the timeline rather than failing the order over an email.

Local runs (``settings().local``): each sent email is also printed to the console (one JSON log
line with its links, then the plain text) and kept in the outbox behind GET /local/mailbox.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clients, logs
from chalicelib.config import settings
from chalicelib.notify.emails import render_email
from chalicelib.notify.pages import own_urls
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


def recipient(order: dict[str, Any], kind: str) -> tuple[str, str, str]:
    """``(email, language, name)`` of who gets ``kind`` about ``order``."""
    if kind in SELLER_KINDS:
        shop = accounts.get_shop(order["seller_id"]) or {}
        email, lang, name = shop.get("contact_email"), shop.get("language"), shop.get("name", "")
    else:
        profile = accounts.get_profile(order["customer_id"]) or {}
        email, lang, name = profile.get("email"), profile.get("language"), profile.get("name", "")
    if not email:
        raise NoRecipient(f"no email address for {kind} of order {order['order_id']}")
    return str(email), str(lang or settings().default_lang), str(name or "")


def order_context(order: dict[str, Any], *, customer_name: str = "") -> dict[str, Any]:
    """The ``order`` part of an email context (the documented shape of ``notify/emails.py``)."""
    delivery = order.get("delivery") or None
    return {
        "order_id": order["order_id"],
        "seller_name": order.get("seller_name") or "",
        "customer_name": customer_name,
        "items": [
            {"name": i["name"], "quantity": int(i["quantity"]), "price": int(i["price"]),
             "line_total": int(i.get("line_total", int(i["price"]) * int(i["quantity"])))}
            for i in order.get("items", [])
        ],
        "delivery": (
            {"name": delivery["name"], "price": int(delivery["price"]),
             "days": int(delivery["days"]) if delivery.get("days") is not None else None}
            if delivery else None
        ),
        "total": int(order["total"]),
        "currency": order["currency"],
        "address": order.get("address") or "",
        "status": order.get("status", ""),
    }


def send(order: dict[str, Any], kind: str, *, links: dict[str, str] | None = None,
         extra: dict[str, Any] | None = None) -> bool:
    """Send ``kind`` about ``order`` unless it was sent already. True when this call sent it."""
    order_id = order["order_id"]
    claim = store.claim_email(order_id, kind)
    if claim == store.SENT:
        return False
    if claim == store.BUSY:
        raise EmailUnavailable(f"{kind} of order {order_id} is being sent by another attempt")
    try:
        to, lang, name = recipient(order, kind)
        customer_name = "" if kind in SELLER_KINDS else name
        if kind in SELLER_KINDS:
            customer_name = str((accounts.get_profile(order["customer_id"]) or {}).get("name") or "")
        context = {"order": order_context(order, customer_name=customer_name), "links": links or {},
                   **(extra or {})}
        rendered = render_email(kind, lang, context, default_lang=settings().default_lang)
        message_id = _send_with_retries(to, rendered.subject, rendered.html, rendered.text)
    except BaseException:
        store.drop_email_claim(order_id, kind)
        raise
    store.mark_email_sent(order_id, kind, message_id=message_id, to=to)
    audience = "seller" if kind in SELLER_KINDS else "customer"
    order_store.add_event(order_id, {"type": "email_sent", "actor": "system",
                                     "detail": {"kind": kind, "to": audience}}, event_id=f"email:{kind}")
    logs.event("email sent", order_id=order_id, kind=kind, to=audience, lang=lang, message_id=message_id)
    if settings().local:
        _show_locally(order_id, kind, to, lang, rendered.subject, rendered.html, rendered.text, message_id)
    return True


def _send_with_retries(to: str, subject: str, html: str, text: str) -> str:
    for attempt in range(ATTEMPTS):
        try:
            resp = clients.client("sesv2").send_email(
                FromEmailAddress=settings().ses_sender,
                Destination={"ToAddresses": [to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": subject, "Charset": "UTF-8"},
                        "Body": {"Html": {"Data": html, "Charset": "UTF-8"},
                                 "Text": {"Data": text, "Charset": "UTF-8"}},
                    }
                },
            )
            return str(resp["MessageId"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if not clients.is_transient(exc) and status < 500:
                raise EmailRejected(f"SES refused the email: {code}") from exc
            failure: Exception = exc
        except BotoCoreError as exc:  # connection refused / reset, read timeout
            failure = exc
        if attempt < ATTEMPTS - 1:
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    raise EmailUnavailable(f"SES unavailable after {ATTEMPTS} attempts: {type(failure).__name__}") from failure


def _show_locally(order_id: str, kind: str, to: str, lang: str, subject: str, html: str, text: str,
                  message_id: str) -> None:
    """Local runs: the console shows the email and its links; the mailbox page lists it."""
    sent_at = order_store.now_iso()
    links = own_urls(text, settings().public_base_url)  # ours only: people-written text is not a link
    logs.event("local email", order_id=order_id, kind=kind, to=to, subject=subject, links=links,
               message_id=message_id)
    rule = "-" * 72
    sys.stdout.write(f"{rule}\nEMAIL to {to} [{kind}, {lang}] order {order_id}\nSubject: {subject}\n\n"
                     f"{text.rstrip()}\n{rule}\n")
    sys.stdout.flush()
    store.add_outbox({"to": to, "from": settings().ses_sender, "subject": subject, "text": text, "html": html,
                      "kind": kind, "order_id": order_id, "message_id": message_id, "sent_at": sent_at,
                      "links": links},
                     sent_at=sent_at, message_id=message_id)
