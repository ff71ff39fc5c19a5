"""Access-token verification: the custom JWT authorizer.

Tokens are Cognito access tokens, verified offline against the pool's JWKS (RS256, issuer,
``token_use``, client id, expiry). Cognito's ``GlobalSignOut`` does not invalidate an issued
access token, so logout writes a revocation record for the session (``origin_jti``) and every
verification checks it (docs/architecture.md, decision 2).

Roles and blocks take effect at once too: the same read returns the account's access record
(``store/accounts.session_state``), whose ``role`` (set by an admin) replaces the token's
``cognito:groups`` and whose ``blocked`` refuses every token of the account. That costs no
extra call: the revocation record and the access record are one consistent BatchGetItem
(two keys, 1 RCU each), which every authenticated request made already.

Verification runs inside the Lambda (see ``api/http.py``) rather than as a separate API
Gateway authorizer, so a rejected token gets the same ``application/problem+json`` body
locally and on AWS. PyJWT and the RS256 verifier (``api/rs256.py``) are imported by the first
verification, not with the app: public routes never need them (~20 ms of a cold start).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.config import settings
from chalicelib.errors import Unauthorized
from chalicelib.lazy import lazy

accounts = lazy("chalicelib.store.accounts")

if TYPE_CHECKING:
    from chalicelib.api import rs256


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    roles: tuple[str, ...]
    session_id: str
    expires_at: int
    # the profile's "email verified", read with the session state (None: not read)
    verified: bool | None = None

    @property
    def role(self) -> str:
        for role in ROLES_BY_POWER:
            if role in self.roles:
                return role
        return "customer"


# Every role; a token holding several (groups added by an operator) acts as the first listed.
ROLES_BY_POWER = ("admin", "support", "catalog_operator", "seller", "customer")


_jwks_lock = threading.Lock()
_JWKS_REFRESH_SECONDS = 300


class _Jwks:
    """The pool's public keys, fetched once and refetched (at most every 5 minutes) when a
    token names a key id we don't know — Cognito rotates keys rarely."""

    def __init__(self) -> None:
        self.url = ""
        self.keys: dict[str, rs256.PublicKey] = {}
        self.fetched_at = 0.0

    def _load(self, url: str) -> dict[str, rs256.PublicKey]:
        from chalicelib.api import rs256

        if url.startswith("file://"):  # local runs and tests only: moto's published key
            raw = Path(urllib.parse.urlparse(url).path).read_text()
        elif url.startswith(("https://", "http://")):
            from urllib.request import urlopen  # http.client, email, ssl: ~15 ms, for the first key fetch only

            with urlopen(url, timeout=5) as resp:  # noqa: S310 - scheme checked above
                raw = resp.read().decode()
        else:
            raise Unauthorized("token verification is misconfigured")
        return rs256.keys_from_jwks(json.loads(raw))  # RS256 without the cryptography package (rs256.py)

    def key(self, kid: str) -> rs256.PublicKey:
        import jwt

        url = settings().jwks_url
        with _jwks_lock:
            stale = time.monotonic() - self.fetched_at > _JWKS_REFRESH_SECONDS
            if url != self.url or (kid not in self.keys and stale):
                try:
                    self.keys = self._load(url)
                except (OSError, ValueError, jwt.PyJWTError) as exc:
                    raise Unauthorized("token signing keys are unavailable") from exc
                self.url, self.fetched_at = url, time.monotonic()
            found = self.keys.get(kid)
        if found is None:
            raise Unauthorized("token signing key is unknown")
        return found


_jwks = _Jwks()


def reset_keys() -> None:
    global _jwks
    _jwks = _Jwks()


def _signing_key(token: str) -> rs256.PublicKey:
    import jwt

    return _jwks.key(str(jwt.get_unverified_header(token).get("kid", "")))


def verify(header: str | None) -> Principal:
    import jwt

    from chalicelib.api import rs256

    if not header:
        raise Unauthorized("missing Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <access token>'")
    token = token.strip()
    try:
        jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("malformed token") from exc
    cfg = settings()
    try:
        claims = rs256.decoder().decode(
            token,
            _signing_key(token),
            algorithms=["RS256"],
            issuer=cfg.issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token") from exc
    if claims.get("token_use") != "access":
        raise Unauthorized("an access token is required")
    if cfg.user_pool_client_id and claims.get("client_id") != cfg.user_pool_client_id:
        raise Unauthorized("token was issued to another client")
    session = str(claims.get("origin_jti") or claims.get("jti") or "")
    if not session:
        raise Unauthorized("token has no session id")
    state = accounts.session_state(session, str(claims["sub"]))
    if state.revoked:
        raise Unauthorized("token was revoked by logout")
    if state.blocked:
        raise Unauthorized("this account is blocked")
    # whole seconds (``iat``): a token issued in the very second of the reset survives it
    if state.not_before and int(claims["iat"]) < state.not_before:
        raise Unauthorized("token was revoked: the password was reset")
    groups = (state.role,) if state.role else tuple(claims.get("cognito:groups") or [])
    return Principal(
        user_id=str(claims["sub"]),
        email=str(claims.get("username", "")),
        roles=tuple(str(g) for g in groups),
        session_id=session,
        expires_at=int(claims["exp"]),
        verified=state.verified,
    )
