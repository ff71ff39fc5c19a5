"""Payment-provider routes: webhooks, the return page, and the local sandbox's payment page.

    POST /payments/webhooks/{provider}   the provider reports a payment's outcome (public; the
                                         provider's verification is the authentication):
                                         200 {event_id, topup_id | order_id, status, outcome}; 401 forged or
                                         stale, 404 not our payment, 422 amount/currency differ,
                                         409 contradicts the recorded outcome
    GET  /payments/return                where the provider's page sends the customer back
    GET  /payments/sandbox/{payment_id}  the sandbox provider's card page (local stage only)
    POST /payments/sandbox/{payment_id}  its form: pay, 3-D Secure code, cancel

The sandbox pages are the provider's side, not the marketplace's: on any stage where the
sandbox is not the configured provider they answer 404.
"""

import urllib.parse
from typing import Annotated, Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.http import Ctx, client_address, endpoint
from chalicelib.api.models import Out
from chalicelib.config import settings
from chalicelib.lazy import lazy

pages = lazy("chalicelib.notify.pages")
payment_webhooks = lazy("chalicelib.services.payment_webhooks")
rendering = lazy("chalicelib.notify.rendering")

bp = Blueprint(__name__)

HTML = "text/html; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 4096


class WebhookResult(Out):
    event_id: str
    topup_id: str | None = Field(default=None, description="the top-up the payment was for")
    order_id: str | None = Field(default=None, description="the card order the payment was for")
    status: str
    outcome: Literal["credited", "canceled", "already-applied", "ignored", "authorized", "voided"]


class SandboxForm(BaseModel):
    """The sandbox page's form, as documented (the handler reads it; never a 5xx)."""

    model_config = ConfigDict(defer_build=True)  # only /openapi.json builds it

    action: Literal["pay", "3ds", "cancel"]
    number: Annotated[str, StringConstraints(max_length=23)] | None = None
    exp: Annotated[str, StringConstraints(max_length=5)] | None = None
    cvc: Annotated[str, StringConstraints(max_length=4)] | None = None
    code: Annotated[str, StringConstraints(max_length=10)] | None = None


@endpoint(bp, "/payments/webhooks/{provider}", method="POST", summary="A payment provider's webhook",
          response=WebhookResult, errors=(401, 404, 409, 422, 503), tags=("payments",))
def payment_webhook(ctx: Ctx, provider: str) -> WebhookResult:
    request = ctx.request
    result = payment_webhooks.apply(provider, dict(request.headers), request.raw_body or b"",
                                    client_address(request))
    return WebhookResult(**result)


@endpoint(bp, "/payments/return", summary="The page the provider sends the customer back to",
          content_type="text/html", tags=("payments",))
def payment_return(ctx: Ctx) -> Response:
    html = rendering.environment().get_template("pages/payment_return.html").render(lang="en")
    return _html(200, html)


def _sandbox():
    if not (settings().sandbox_stage and settings().payment_provider == "sandbox"):
        return None
    from chalicelib.adapters import payments_sandbox  # the local stage's provider, never deployed in use

    return payments_sandbox


@endpoint(bp, "/payments/sandbox/{payment_id}", summary="The sandbox provider's card page (local stage only)",
          content_type="text/html", errors=(404,), tags=("payments",))
def sandbox_page(ctx: Ctx, payment_id: str) -> Response:
    sandbox = _sandbox()
    if sandbox is None:
        return _html(404, "<!DOCTYPE html><title>Not found</title><p>Not found</p>")
    return _html(*sandbox.page(payment_id))


@endpoint(bp, "/payments/sandbox/{payment_id}", method="POST", summary="The sandbox card page's form",
          content_type="text/html", content_types=(FORM,), form=SandboxForm, errors=(404,),
          tags=("payments",))
def sandbox_submit(ctx: Ctx, payment_id: str) -> Response:
    sandbox = _sandbox()
    if sandbox is None:
        return _html(404, "<!DOCTYPE html><title>Not found</title><p>Not found</p>")
    raw = ctx.request.raw_body or b""
    try:
        pairs = urllib.parse.parse_qsl(raw[:MAX_FORM_BYTES].decode("utf-8"), keep_blank_values=True,
                                       max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        pairs = []
    return _html(*sandbox.submit(payment_id, dict(pairs)))


def _html(status: int, html: str) -> Response:
    return Response(body=html, status_code=status, headers={**pages.SECURITY_HEADERS, "Content-Type": HTML})
