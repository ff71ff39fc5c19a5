"""Signed, expiring tokens of the account emails: verify an address, reset a password.

The same construction as the order links (``notify/links.py``: HMAC-SHA256 over the encoded
payload, compared as text, parsed only once the signature holds, expiry reported only for
genuine tokens), under another version tag so neither kind of token passes for the other::

    token   = "a1" "." payload "." signature
    payload = base64url(JSON [purpose, user_id, nonce, expires_at])

"Works once" is the caller's: the nonce is also kept on the profile and removed by the one
conditional write that uses the link (``store.accounts.use_nonce``).
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass

from chalicelib.notify.links import (
    MAX_TOKEN_CHARS,
    ExpiredLink,
    InvalidLink,
    _b64decode,
    _b64encode,
    _check_secret,
    _sign,
)

PURPOSES = frozenset({"verify", "reset"})
VERSION = "a1"
_TOKEN = re.compile(r"a1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class AccountClaims:
    purpose: str
    user_id: str
    nonce: str
    expires_at: int


def make_token(secret: bytes, *, purpose: str, user_id: str, nonce: str, expires_at: int) -> str:
    _check_secret(secret)
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {sorted(PURPOSES)}")
    payload = _b64encode(json.dumps([purpose, user_id, nonce, int(expires_at)], separators=(",", ":")).encode())
    signing_input = f"{VERSION}.{payload}"
    return f"{signing_input}.{_sign(secret, signing_input)}"


def verify_token(secret: bytes, token: str, now: int, *, purpose: str | None = None) -> AccountClaims:
    """The claims of a genuine, unexpired token (of ``purpose`` when given). ``InvalidLink``
    or ``ExpiredLink`` (whose ``claims`` are these claims) otherwise."""
    _check_secret(secret)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidLink("malformed")
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidLink("malformed")
    payload, signature = match.groups()
    if not hmac.compare_digest(_sign(secret, f"{VERSION}.{payload}").encode(), signature.encode()):
        raise InvalidLink("bad signature")
    try:
        body = json.loads(_b64decode(payload))
        kind, user_id, nonce, expires_at = body
    except (ValueError, TypeError) as exc:
        raise InvalidLink("malformed") from exc
    if kind not in PURPOSES or not all(isinstance(v, str) and v for v in (user_id, nonce)) or \
            isinstance(expires_at, bool) or not isinstance(expires_at, int):
        raise InvalidLink("malformed")
    if purpose is not None and kind != purpose:
        raise InvalidLink("malformed")
    claims = AccountClaims(kind, user_id, nonce, expires_at)
    if now >= expires_at:
        raise ExpiredLink(claims)  # type: ignore[arg-type] - the page only reads what it needs
    return claims
