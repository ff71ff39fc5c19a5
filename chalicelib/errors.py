"""Domain errors: what services raise, each with its HTTP status — the one place the
mapping lives (``chalicelib/api/http.py`` renders them as ``application/problem+json``).

Services and stores never raise botocore errors past their adapter; they raise these
(``chalicelib/adapters`` turns a failed call to Step Functions, SES, S3 or Cognito into a
``DependencyError``).

A problem's ``type`` is ``<PUBLIC_BASE_URL>/problems/<slug>``: the API serves a page there
describing the problem (``api/problems.py``; ``docs/api.md``, "Problems"). The extras an
error carries are domain values (amounts are integers of minor units, so code that catches
the error can compute with them); ``money_fields`` names the extras the problem body shows as
money objects, in the error's ``currency`` extra (``domain/money.py``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.money import money

PROBLEMS_PATH = "/problems/"


class DomainError(Exception):
    """A refusal the API answers with a problem body: ``detail``, ``errors`` (field, reason) and
    the ``extra`` members. The members a caller branches on are typed attributes too
    (``fields``, declared with their types on the class; None when the raiser gave none), so
    control flow reads ``err.current_status``, never ``err.extra["current_status"]``."""

    status = 400
    slug = "bad-request"
    title = "Bad request"
    money_fields: tuple[str, ...] = ()  # extras in minor units of extra["currency"], shown as money objects
    fields: tuple[str, ...] = ("reason", "retry_after")  # the typed members (a subclass adds its own)
    reason: str | None  # why, as a short slug (a provider's refusal, a webhook's rejection...)
    retry_after: int | None  # seconds the client should wait before trying again (sent as Retry-After)

    def __init__(self, detail: str = "", *, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra
        for name in self.fields:
            setattr(self, name, extra.get(name))

    def problem(self, base_url: str = "") -> dict[str, Any]:
        """The ``application/problem+json`` body; ``base_url`` (``PUBLIC_BASE_URL``) makes
        ``type`` absolute, without it ``type`` is the path of the problem's page."""
        body: dict[str, Any] = {
            "type": f"{base_url}{PROBLEMS_PATH}{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        for name in self.money_fields:
            if name in body:
                body[name] = money(body[name], self.extra.get("currency"))
        return body


def field_error(field: str, reason: str) -> dict[str, str]:
    return {"field": field, "reason": reason}


class BadRequest(DomainError):
    pass


class ValidationFailed(DomainError):
    status, slug, title = 422, "validation-error", "Invalid request"

    @classmethod
    def one(cls, field: str, reason: str) -> ValidationFailed:
        return cls(f"{field}: {reason}", errors=[field_error(field, reason)])


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed"


class VerificationRequired(Forbidden):
    slug, title = "verification-required", "Email address not verified"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


def no_route_problem(base_url: str = "") -> dict[str, Any]:
    """The answer to a path no route has: locally (``local/patches.py``) and, through the
    deployed API's gateway responses (``infra/template.py``), on AWS."""
    return NotFound("there is no such route; GET /openapi.json lists them all").problem(base_url)


class MethodNotAllowed(DomainError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class AlreadyExists(Conflict):
    slug, title = "already-exists", "Already exists"


class OutOfStock(Conflict):
    fields = (*Conflict.fields, "lines")
    lines: list[dict[str, Any]] | None  # the lines that cannot be had: product_id, requested, available, reason

    slug, title = "out-of-stock", "Not enough stock"


class CartChanged(Conflict):
    """A price or delivery price rose since the customer saw it, or ``expected_total`` is not
    the total: nothing was reserved or charged. Carries ``changes``, ``total`` and ``currency``."""

    slug, title = "cart-changed", "Your cart changed since you saw it"
    money_fields = ("expected_total", "total")

    def problem(self, base_url: str = "") -> dict[str, Any]:
        body = super().problem(base_url)
        body["changes"] = [{**c, "old": money(c["old"], c["currency"]), "new": money(c["new"], c["currency"])}
                           for c in body.get("changes") or []]
        return body


class OrderTotalChanged(Conflict):
    """``POST /orders/{id}/pay`` with an ``expected_total`` that is not the order's total."""

    slug, title = "order-total-changed", "The order's total is not the one you expected"
    money_fields = ("expected_total", "total")


class InsufficientFunds(Conflict):
    slug, title = "insufficient-funds", "Insufficient funds"
    money_fields = ("available", "required")
    fields = (*Conflict.fields, "available", "required")
    available: int | None
    required: int | None


class InsufficientEarnings(Conflict):
    """A refund after capture needs more than the seller's earnings hold (they were paid out)."""

    slug, title = "insufficient-earnings", "The seller's earnings do not cover this refund"
    money_fields = ("earnings", "required")
    fields = (*Conflict.fields, "earnings", "required")
    earnings: int | None
    required: int | None


class PromoCodeRejected(Conflict):
    """A promo code sent to the checkout does not apply (unknown, expired, exhausted, below
    its minimum…): nothing was reserved, redeemed or charged. Carries ``codes``:
    ``[{code, reason, detail, seller_id?}]`` (``domain/promos.py`` lists the reasons)."""

    slug, title = "promo-code-rejected", "A promo code does not apply"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "The order is not in a state that allows this"
    fields = (*Conflict.fields, "current_status", "hold_state")
    current_status: str | None  # the order's status when the move was refused
    hold_state: str | None  # the state of the order's money, when that refused it


class PaymentDeclined(DomainError):
    status, slug, title = 402, "payment-declined", "Payment declined"


class IdempotencyInFlight(Conflict):
    slug, title = "idempotency-in-flight", "A request with this Idempotency-Key is still in progress"


class IdempotencyMismatch(DomainError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency-Key reused with a different request"


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class TooManyRequests(DomainError):
    """Over a rate limit, or a login locked after repeated failures: retry after ``retry_after``
    seconds (the edge sends it as ``Retry-After``)."""

    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str = "", *, retry_after: int, **kw: Any):
        super().__init__(detail, retry_after=max(1, int(retry_after)), **kw)


class Gone(DomainError):
    status, slug, title = 410, "gone", "No longer available"


class Unavailable(DomainError):
    """A dependency is throttling or down: the client may retry after ``retry_after`` seconds
    (the edge sends it as the ``Retry-After`` header too)."""

    status, slug, title = 503, "unavailable", "Temporarily unavailable"
    # Raised after the cheap retries already failed (botocore's backoff, ``clients._BOTO_CONFIG``,
    # or the service's own loop), so the contention has lasted a while: a second lets it ease
    # and is short enough that a person at a login form does not give up.
    RETRY_AFTER_SECONDS = 1

    def __init__(self, detail: str = "", *, retry_after: int = RETRY_AFTER_SECONDS, **kw: Any):
        super().__init__(detail, retry_after=retry_after, **kw)


class DependencyError(Exception):
    """A call to an outside system (Step Functions, SES, S3, Cognito) failed. Its adapter
    (``chalicelib/adapters``) raises one of the two kinds below in place of botocore's error,
    keeping the error's ``code`` for logs and dropping its message: AWS messages may quote what
    was sent (a task token, an address)."""

    system: str
    code: str


class DependencyUnavailable(Unavailable, DependencyError):
    """The system was busy (``clients.TRANSIENT_CODES``), failed on its side (5xx) or did not
    answer: the same call may succeed shortly (a 503 with ``Retry-After`` if it reaches a
    client)."""

    def __init__(self, system: str, code: str):
        super().__init__(f"{system} is busy, please retry shortly")
        self.system, self.code = system, code


class DependencyFailed(DependencyError):
    """The system refused the call for a reason retrying cannot fix (a missing permission, a
    wrong parameter, an unknown name). Not a ``DomainError``: a route that meets one answers 500
    and logs it, as for any other defect."""

    def __init__(self, system: str, code: str):
        super().__init__(f"{system} refused the call: {code}")
        self.system, self.code = system, code


class Internal(DomainError):
    """Never raised by services: the edge's answer to an unexpected exception."""

    status, slug, title = 500, "internal", "Internal error"
