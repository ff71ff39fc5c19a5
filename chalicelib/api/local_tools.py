"""Local-only tools: the mailbox of every email the local run sent.

    GET /local/mailbox   HTML: the emails, newest first, the marketplace's own links clickable
                         (a URL people wrote into a name or an address stays plain text)
    GET /local/emails    JSON: the same, for scripts and tests (``to=`` filters by recipient)

Both answer 404 unless ``settings().local`` (``MARKETPLACE_LOCAL``): the routes exist in every
deployment (registering them depends on nothing read at import time), but only a local run
has an outbox. Emails are written there by the local mailer (``adapters/mailer.py``) after SES took them.
"""

from typing import Annotated

from chalice import Blueprint, Response
from pydantic import StringConstraints

from chalicelib.api.http import Ctx, endpoint
from chalicelib.api.models import Body, Out
from chalicelib.config import settings
from chalicelib.errors import NotFound
from chalicelib.lazy import lazy

pages = lazy("chalicelib.notify.pages")
wf_store = lazy("chalicelib.store.workflow")

bp = Blueprint(__name__)

MAX_EMAILS = 200


class MailboxQuery(Body):
    to: Annotated[str, StringConstraints(max_length=320)] | None = None


class SentEmail(Out):
    to: str
    subject: str
    text: str
    html: str
    kind: str
    order_id: str
    message_id: str
    sent_at: str
    links: list[str]


class SentEmails(Out):
    items: list[SentEmail]


def _emails(to: str | None = None) -> list[dict]:
    if not settings().local:
        raise NotFound("no such page")
    return wf_store.list_outbox(MAX_EMAILS, to=to)


@endpoint(bp, "/local/mailbox", summary="Local runs only: every email sent, newest first", query=MailboxQuery,
          content_type="text/html", errors=(404,), tags=("local",))
def mailbox(ctx: Ctx) -> Response:
    emails = _emails(ctx.query.to)
    view = [{**e, "time": e.get("sent_at", "")} for e in emails]
    # The emails' HTML is shown in a sandboxed srcdoc frame (pages.render_mailbox_page), so the
    # page can carry the action pages' strict headers too.
    return Response(body=pages.render_mailbox_page(view, own_base_url=settings().public_base_url), status_code=200,
                    headers={**pages.SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8"})


@endpoint(bp, "/local/emails", summary="Local runs only: every email sent, newest first (JSON)",
          query=MailboxQuery, response=SentEmails, errors=(404,), tags=("local",))
def emails(ctx: Ctx) -> SentEmails:
    return SentEmails(items=[SentEmail(**e) for e in _emails(ctx.query.to)])
