"""The pages problem ``type`` URLs lead to: one per kind of problem the API answers with.

    GET /problems          every problem type: status, title, link to its page
    GET /problems/{slug}   one problem type: its status, when it happens, what to do

A problem body's ``type`` is ``<PUBLIC_BASE_URL>/problems/<slug>`` (``errors.DomainError.problem``),
so following it from any error lands here. The kinds are the ``DomainError`` classes of
``chalicelib/errors.py`` plus ``gateway`` (API Gateway's own refusals, ``infra/template.py``);
``HELP`` says when each happens and what to do, and a test fails when a new error class has
no entry. The pages are static HTML that load nothing (a strict CSP), cached like the API
description.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from html import escape

from chalice import Blueprint, Response

from chalicelib.api.http import META_CACHE, Ctx, endpoint
from chalicelib.errors import DomainError, NotFound

bp = Blueprint(__name__)

HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Kind:
    slug: str
    status: int | str
    title: str
    when: str
    todo: str


# slug -> (when it happens, what to do). Money members of problem bodies are Money objects.
HELP: dict[str, tuple[str, str]] = {
    "bad-request": (
        "The request could not be read: the body is not JSON or is nested too deeply, or the request is malformed.",
        "Fix the request; sending the same one again fails the same way."),
    "validation-error": (
        "A field or query parameter is missing, has the wrong type or is out of range, or the body sends a field "
        "the API does not take (clients cannot set prices, totals, status or sellers). `errors` lists each "
        "`{field, reason}`.",
        "Correct the fields named in `errors` and send the request again."),
    "unauthorized": (
        "The route needs a logged-in user and the request has no bearer token, or it is malformed, expired or "
        "revoked (logged out).",
        "Log in (`POST /auth/login`) or refresh (`POST /auth/refresh`) and send `Authorization: Bearer "
        "<access_token>`."),
    "forbidden": (
        "The caller is logged in but the route is for another role (a customer calling a seller route, a "
        "non-admin an admin route).",
        "Call it as a user with the role named in `detail`."),
    "not-found": (
        "There is no such route, or the object does not exist — or it belongs to someone else: the API answers "
        "the same for both, so ids cannot be probed.",
        "Check the path and the id; `GET /openapi.json` lists every route."),
    "method-not-allowed": (
        "The path exists, but not with this method.",
        "Use one of the methods the `Allow` header lists."),
    "conflict": (
        "The request conflicts with the current state of what it acts on (a feed upload before the shop exists, "
        "a cart changed while it was being checked out...). `detail` says which.",
        "Read the resource again, then retry if the request still makes sense."),
    "already-exists": (
        "What the request creates exists already.",
        "Read the existing resource instead of creating it again."),
    "out-of-stock": (
        "A product is not available, or has fewer units than asked for (`available`; at checkout `lines` lists "
        "each failing line with what is available and why). Nothing was reserved or charged.",
        "Lower the quantity or remove the line (`PUT`/`DELETE /cart/items/{product_id}`), then retry."),
    "cart-changed": (
        "At checkout: a price or a chosen delivery price rose since the customer saw it, or `expected_total` is "
        "not the total. Nothing was reserved or charged. `changes` lists each difference (`old` and `new` are "
        "Money objects; `old` null: a delivery method not shown before), `total` is the new grand total (Money).",
        "Show the changes, and to accept them send the same checkout with `expected_total` = `total.amount`."),
    "order-total-changed": (
        "`POST /orders/{id}/pay` with an `expected_total` that is not the order's total. Nothing was held. "
        "`total` (Money) is the order's total.",
        "Review the order; pay with `expected_total` = `total.amount` to accept it."),
    "insufficient-funds": (
        "The wallet's available money (`available`, Money) does not cover what the order needs (`required`, "
        "Money). The order waits for payment until its deadline.",
        "Top up (`POST /wallet/topups`), then pay (`POST /orders/{id}/pay`) before the deadline."),
    "insufficient-earnings": (
        "Refunding a captured order needs more than the seller's earnings hold (`earnings`, `required`: Money): "
        "they were paid out.",
        "Support settles it with the seller; the order keeps its state until then."),
    "promo-code-rejected": (
        "A promo code sent to `POST /checkout` does not apply to this cart: `codes` lists each one with its "
        "`reason` (unknown, not_for_this_cart, ended, not_yet_valid, expired, exhausted, customer_limit_reached, "
        "below_minimum, other_currency, one_code_per_seller, one_marketplace_code, too_many_codes, changed) and a "
        "`detail`. Nothing was reserved, redeemed or charged.",
        "Check the codes with `POST /cart/quote` (it shows the reason of every code that does not apply and the "
        "total with the ones that do), then check out without the refused codes."),
    "invalid-transition": (
        "The order's status does not allow this action (`current_status` says what it is): paying an order "
        "that is not awaiting payment, shipping one not confirmed, cancelling one shipped...",
        "Read the order (`GET /orders/{id}`) and act on what its status allows."),
    "payment-declined": (
        "The card was declined (`reason`: card-declined, insufficient-funds, or not a sandbox test card). "
        "Nothing was charged.",
        "Use another card; locally, the test cards are listed in docs/payments.md."),
    "idempotency-in-flight": (
        "A request with this `Idempotency-Key` is still being processed.",
        "Retry the same request, with the same key, after `Retry-After` seconds: it then answers as the first."),
    "idempotency-key-reused": (
        "This `Idempotency-Key` was used before with another request body.",
        "Send a new key for a new request; the same key with the same body replays the first answer."),
    "payload-too-large": (
        "The body is larger than the API accepts (256 KiB).",
        "Send a smaller body; feeds are uploaded to their presigned URL, not through the API."),
    "unsupported-media-type": (
        "The body's `Content-Type` is not one the route accepts.",
        "Send `application/json` (action-link forms: `application/x-www-form-urlencoded`)."),
    "gone": (
        "The link expired or can no longer be used.",
        "Ask for a new one, or act from the API or the order's page."),
    "verification-required": (
        "The account has not verified its email address yet: checking out and opening a shop need it. Browsing "
        "and filling the cart do not.",
        "Follow the link in the verification email (`POST /auth/verify`), or ask for a new one with "
        "`POST /auth/verification-email`."),
    "too-many-requests": (
        "Too many requests from this address or for this account in the current window, or too many failed "
        "logins of one email (the login is locked for a while). `RateLimit-*` headers say the budget.",
        "Wait `Retry-After` seconds, then retry."),
    "unavailable": (
        "A backing service is busy or down for a moment; nothing was half-done.",
        "Retry the same request after `Retry-After` seconds (writes: with the same `Idempotency-Key`)."),
    "internal": (
        "An unexpected error. It was logged with the request id (`instance`).",
        "Retry later; if it keeps happening, report the `instance`."),
}
GATEWAY = Kind("gateway", "4xx or 5xx", "Refused by the API gateway",
               "API Gateway refused the request before the API ran: too many requests (429), a request it could "
               "not pass on, or a timeout. `title` names the gateway's reason, `instance` is the request id.",
               "Retry later, more slowly; report the `instance` if it keeps happening.")


def _error_classes(root: type[DomainError] = DomainError) -> list[type[DomainError]]:
    found, pending = [], [root]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@cache
def kinds() -> dict[str, Kind]:
    """Every problem type the API answers with, by slug (the first class of a slug gives its
    status and title: ``BadRequest`` inherits ``DomainError``'s)."""
    out: dict[str, Kind] = {}
    for cls in _error_classes():
        if cls.slug not in out and cls.slug in HELP:
            when, todo = HELP[cls.slug]
            out[cls.slug] = Kind(cls.slug, cls.status, cls.title, when, todo)
    out[GATEWAY.slug] = GATEWAY
    return out


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:24px auto;padding:0 16px;color:#1d2330}}
code{{background:#f1f3f6;padding:1px 4px;border-radius:3px}}dt{{font-weight:600;margin-top:12px}}
td,th{{text-align:left;padding:4px 10px 4px 0;vertical-align:top}}</style></head>
<body>{body}</body></html>"""


def _code(text: str) -> str:
    """Escape ``text`` and show its `backquoted` words as code."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _kind_page(kind: Kind) -> str:
    body = (f"<p><a href=\"../problems\">All problem types</a></p><h1>{escape(kind.title)}</h1>"
            f"<p>Problem type <code>{escape(kind.slug)}</code> · HTTP status {escape(str(kind.status))} · "
            "<code>application/problem+json</code></p>"
            f"<dl><dt>When it happens</dt><dd>{_code(kind.when)}</dd>"
            f"<dt>What to do</dt><dd>{_code(kind.todo)}</dd></dl>"
            "<p>Every problem body has <code>type</code> (this page), <code>title</code>, <code>status</code>, "
            "<code>detail</code> and <code>instance</code> (the request id); money members are "
            "<code>{\"amount\", \"currency\"}</code> objects.</p>")
    return _PAGE.format(title=escape(kind.title), body=body)


def _index_page() -> str:
    rows = "".join(f"<tr><td><a href=\"problems/{escape(k.slug)}\">{escape(k.slug)}</a></td>"
                   f"<td>{escape(str(k.status))}</td><td>{escape(k.title)}</td></tr>" for k in kinds().values())
    body = ("<h1>Problem types</h1><p>Errors are <code>application/problem+json</code>; their <code>type</code> "
            "is the page of one of these.</p><table><tr><th>type</th><th>status</th><th>title</th></tr>"
            f"{rows}</table>")
    return _PAGE.format(title="Problem types", body=body)


@endpoint(bp, "/problems", summary="Every problem type the API answers with", content_type="text/html",
          cache=META_CACHE, tags=("meta",))
def list_problems(ctx: Ctx) -> Response:
    return Response(body=_index_page(), status_code=200, headers=HEADERS)


@endpoint(bp, "/problems/{slug}", summary="What one problem type means: when it happens, what to do",
          content_type="text/html", errors=(404,), cache=META_CACHE, tags=("meta",))
def get_problem(ctx: Ctx, slug: str) -> Response:
    kind = kinds().get(slug)
    if kind is None:
        raise NotFound(f"no problem type {slug!r}; GET /problems lists them")
    return Response(body=_kind_page(kind), status_code=200, headers=HEADERS)
