"""The mailer: emails out through SES v2, and in local runs a copy of each on the console and
in the outbox behind GET /local/mailbox.

Port: ``Mailer``. ``send(email)`` makes one attempt to hand the email to the provider and
returns its message id; ``services/notifications.py`` owns the retries and the "sent once"
marker. ``keep_copy(email, message_id)`` is called once that send is recorded.

Adapters: ``SesMailer`` sends ``SendEmail`` with Simple content (subject, HTML and text, UTF-8)
from ``settings().ses_sender``, the identity the deploy template defines, and keeps no copy.
With ``settings().ses_configuration_set`` (``SES_CONFIGURATION_SET``: the template's set) each
send names it and tags the email with its ``kind``, so SES publishes its sends, deliveries,
bounces and complaints by kind (the reputation alarms and the dashboard).
``LocalMailer`` (``settings().local``) sends the same way — to moto — then prints the email
(one JSON log line with its links, then the plain text) and adds it to the outbox
(``store/workflow.add_outbox``). ``mailer()`` returns the one for this run, or the replacement
installed with ``set_mailer``.

A failed send raises ``errors.DependencyUnavailable`` (may pass: busy, 5xx, no answer) or
``DependencyFailed`` (refused for good: the address, the sender identity, the account).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import clients, logs
from chalicelib.adapters import aws
from chalicelib.config import settings
from chalicelib.notify.pages import own_urls
from chalicelib.store import orders as order_store
from chalicelib.store import workflow as wf_store

SYSTEM = "SES"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # what an SES message tag value may not contain


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    html: str
    text: str
    # what it is about: the local copy is listed and printed with these
    kind: str
    order_id: str
    lang: str


class Mailer(Protocol):
    def send(self, email: Email) -> str:
        """Hand ``email`` to the provider once; its message id."""
        ...

    def keep_copy(self, email: Email, message_id: str) -> None:
        """The send is recorded: keep a copy where people look for it (or nowhere)."""
        ...


class SesMailer:
    def __init__(self, sender: str, configuration_set: str = "") -> None:
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, email: Email) -> str:
        events: dict[str, Any] = {}
        if self.configuration_set:
            events = {"ConfigurationSetName": self.configuration_set,
                      "EmailTags": [{"Name": "kind", "Value": _TAG_UNSAFE.sub("_", email.kind) or "other"}]}
        try:
            resp = clients.client("sesv2").send_email(
                **events,
                FromEmailAddress=self.sender,
                Destination={"ToAddresses": [email.to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                        "Body": {"Html": {"Data": email.html, "Charset": "UTF-8"},
                                 "Text": {"Data": email.text, "Charset": "UTF-8"}},
                    }
                },
            )
        except clients.AWS_ERRORS as exc:
            raise aws.translated(exc, SYSTEM) from None
        return str(resp["MessageId"])

    def keep_copy(self, email: Email, message_id: str) -> None:
        return None  # SES is the record; the deployed app keeps no copy of what it mailed


class LocalMailer(SesMailer):
    """Local runs: the console shows each sent email and its links; the mailbox page lists it."""

    def keep_copy(self, email: Email, message_id: str) -> None:
        sent_at = order_store.now_iso()
        links = own_urls(email.text, settings().public_base_url)  # ours only: people-written text is not a link
        logs.event("local email", order_id=email.order_id, kind=email.kind, to=email.to, subject=email.subject,
                   links=links, message_id=message_id)
        rule = "-" * 72
        sys.stdout.write(f"{rule}\nEMAIL to {email.to} [{email.kind}, {email.lang}] order {email.order_id}\n"
                         f"Subject: {email.subject}\n\n{email.text.rstrip()}\n{rule}\n")
        sys.stdout.flush()
        wf_store.add_outbox({"to": email.to, "from": self.sender, "subject": email.subject, "text": email.text,
                             "html": email.html, "kind": email.kind, "order_id": email.order_id,
                             "message_id": message_id, "sent_at": sent_at, "links": links},
                            sent_at=sent_at, message_id=message_id)


_override: Mailer | None = None


def mailer() -> Mailer:
    """The mailer of this run: an override (tests, fakes), else SES (with the outbox locally)."""
    if _override is not None:
        return _override
    cfg = settings()
    adapter = LocalMailer if cfg.local else SesMailer
    return adapter(cfg.ses_sender, cfg.ses_configuration_set)


def set_mailer(replacement: Mailer | None) -> None:
    """Swap the adapter (tests); None restores the default choice."""
    global _override
    _override = replacement
