"""Access-token verification: the custom JWT authorizer.

Tokens are Cognito access tokens, verified offline against the pool's JWKS (RS256, issuer,
``token_use``, client id, expiry). Cognito's ``GlobalSignOut`` does not invalidate an issued
access token, so logout writes a revocation record for the session (``origin_jti``) and every
verification checks it (DESIGN.md, decision 2).

Verification runs inside the Lambda (see ``api/http.py``) rather than as a separate API
Gateway authorizer, so a rejected token gets the same ``application/problem+json`` body
locally and on AWS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import jwt

from chalicelib.config import settings
from chalicelib.errors import Unauthorized
from chalicelib.store import accounts


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    roles: tuple[str, ...]
    session_id: str
    expires_at: int

    @property
    def role(self) -> str:
        for role in ("admin", "seller", "customer"):
            if role in self.roles:
                return role
        return "customer"


_jwks_lock = threading.Lock()


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


def _signing_key(token: str) -> jwt.PyJWK:
    with _jwks_lock:
        try:
            return _jwks_client(settings().jwks_url).get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError as exc:
            raise Unauthorized("token signing key is unknown") from exc


def verify(header: str | None) -> Principal:
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
        claims = jwt.decode(
            token,
            _signing_key(token).key,
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
    if accounts.is_revoked(session):
        raise Unauthorized("token was revoked by logout")
    groups = claims.get("cognito:groups") or []
    return Principal(
        user_id=str(claims["sub"]),
        email=str(claims.get("username", "")),
        roles=tuple(str(g) for g in groups),
        session_id=session,
        expires_at=int(claims["exp"]),
    )
