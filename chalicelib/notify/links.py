"""Signed, expiring action-link tokens for the seller's emailed links (confirm / cancel / ship).

Why this exists (docs/architecture.md, decision 3): a Step Functions task token is a bearer credential
for ``SendTaskSuccess``; it must never reach a URL, an email or a log. The emailed link carries
this token instead. It names an opaque ``link_id``; the server keeps the task token in its own
link record under that id and looks it up only after the token verifies.

Token grammar (URL-safe, no padding; under 200 characters for ULID-sized ids)::

    token     = "v1" "." payload "." signature
    payload   = base64url(JSON [link_id, order_id, seller_id, action, expires_at])
    signature = base64url(HMAC-SHA256(secret, "v1." payload))      ; 43 characters

The payload is signed, not encrypted: anyone holding the link can read the ids in it, which
is fine because they are opaque ids, never secrets. The signature covers the *encoded* text
and is compared as encoded text, so changing any character of a token — even base64 padding
bits that would decode to the same bytes — makes it invalid. The JSON is parsed only after the
signature checks out, and expiry is reported only for genuine tokens.

"Works once" is not this module's job: the caller consumes the link with one conditional
write on the link record (e.g. ``attribute_not_exists(used_at)``), so a second POST — or a
POST racing the other link of the same email — sees ``already_done``. The action is in the
claims so the caller can refuse a token replayed against another action's route.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

ACTIONS = frozenset({"confirm", "cancel", "ship", "return_accept", "return_reject"})  # return_*: on a return id
VERSION = "v1"
MIN_SECRET_BYTES = 16
# Far above any real token; bounds the work an attacker can make us do per request.
MAX_TOKEN_CHARS = 1024
MAX_ID_CHARS = 128

_TOKEN = re.compile(r"v1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})")


class LinkError(Exception):
    """Base of every link verification failure."""


class InvalidLink(LinkError):
    """The token is not one we issued: ``reason`` is ``"malformed"`` or ``"bad signature"``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ExpiredLink(LinkError):
    """A genuine token past its ``expires_at``; ``claims`` lets the page name the order."""

    def __init__(self, claims: LinkClaims):
        super().__init__("expired")
        self.reason = "expired"
        self.claims = claims


@dataclass(frozen=True)
class LinkClaims:
    link_id: str
    order_id: str
    seller_id: str
    action: str
    expires_at: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signing_input: str) -> str:
    return _b64encode(hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"link secret must be at least {MIN_SECRET_BYTES} bytes")


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise ValueError(f"{name} must be a non-empty string of at most {MAX_ID_CHARS} characters")


def make_link_token(secret: bytes, *, link_id: str, order_id: str, seller_id: str, action: str, expires_at: int) -> str:
    """Issue a token for one action on one order; ``expires_at`` is epoch seconds (UTC)."""
    _check_secret(secret)
    for name, value in (("link_id", link_id), ("order_id", order_id), ("seller_id", seller_id)):
        _check_id(name, value)
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, got {action!r}")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        raise ValueError("expires_at must be a positive int of epoch seconds")

    # A positional array rather than an object: keys would only lengthen the URL.
    body = [link_id, order_id, seller_id, action, expires_at]
    payload = _b64encode(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    signing_input = f"{VERSION}.{payload}"
    return f"{signing_input}.{_sign(secret, signing_input)}"


def verify_link_token(secret: bytes, token: str, now: int) -> LinkClaims:
    """Return the claims of a genuine, unexpired token.

    Raises ``InvalidLink("malformed")`` for anything not shaped like our tokens,
    ``InvalidLink("bad signature")`` for a wrong or tampered signature (or another secret),
    and ``ExpiredLink`` when ``now >= expires_at``.
    """
    _check_secret(secret)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidLink("malformed")
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidLink("malformed")
    payload, signature = match.groups()

    expected = _sign(secret, f"{VERSION}.{payload}")
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise InvalidLink("bad signature")

    claims = _parse_claims(payload)
    if now >= claims.expires_at:
        raise ExpiredLink(claims)
    return claims


def _parse_claims(payload: str) -> LinkClaims:
    # Only reachable with our own signature, so a failure here means a bug or a leaked secret;
    # either way the answer to the visitor is the same "malformed".
    try:
        body = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise InvalidLink("malformed") from exc
    if not isinstance(body, list) or len(body) != 5:
        raise InvalidLink("malformed")
    link_id, order_id, seller_id, action, expires_at = body
    if (
        not all(isinstance(v, str) and v for v in (link_id, order_id, seller_id))
        or action not in ACTIONS
        or isinstance(expires_at, bool)
        or not isinstance(expires_at, int)
    ):
        raise InvalidLink("malformed")
    return LinkClaims(link_id, order_id, seller_id, action, expires_at)
