"""Accounts: registration, login, logout and profiles on top of the Cognito user pool.

Cognito holds identities and passwords (``adapters/identity.py``, which turns its answers
into domain errors: a taken email, a weak password, wrong credentials; a throttled or failing
pool is ``DependencyUnavailable``, a 503 with ``Retry-After``); the accounts table holds the
profile the product needs (name, role, language). Roles are pool groups, so they travel inside
the access token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib import clients, logs
from chalicelib.adapters.aws import error_code
from chalicelib.adapters.identity import Tokens, identity_provider
from chalicelib.api.security import Principal
from chalicelib.config import settings
from chalicelib.errors import DependencyError, NotFound, Unavailable
from chalicelib.store import accounts


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def register(*, email: str, password: str, name: str, role: str, language: str | None) -> dict[str, Any]:
    idp = identity_provider()
    user_id = idp.sign_up(email, password, name)
    try:
        # The sign-up is confirmed here because the product has no e-mail verification step.
        idp.confirm(email)
        idp.add_to_group(email, role)
        profile = {
            "user_id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "language": language or settings().default_lang,
            "created_at": _now(),
        }
        accounts.put_profile(user_id, profile)
    except (DependencyError, *clients.AWS_ERRORS) as exc:
        # Compensate: a half-created account would block the email forever.
        logs.event("registration failed; removing the identity", error=error_code(exc))
        try:
            idp.delete(email)
        except DependencyError:
            logs.event("could not remove a half-created identity", email_domain=email.rsplit("@", 1)[-1])
        raise Unavailable("registration could not be completed, please retry") from exc
    return profile


def _session(tokens: Tokens, refresh_token: str | None) -> dict[str, Any]:
    return {"access_token": tokens.access_token, "refresh_token": refresh_token, "expires_in": tokens.expires_in,
            "token_type": "Bearer"}


def login(*, email: str, password: str) -> dict[str, Any]:
    tokens = identity_provider().password_login(email, password)
    return _session(tokens, tokens.refresh_token)


def refresh(*, refresh_token: str) -> dict[str, Any]:
    return _session(identity_provider().refresh(refresh_token), refresh_token)


def logout(principal: Principal, access_token: str) -> None:
    accounts.revoke(principal.session_id, principal.expires_at)
    try:
        identity_provider().sign_out(access_token)
    except DependencyError as exc:
        # The revocation record already makes the token fail; sign-out only stops refreshes.
        logs.event("global sign-out failed", error=exc.code)


def me(principal: Principal) -> dict[str, Any]:
    profile = accounts.get_profile(principal.user_id)
    if profile is None:
        raise NotFound("profile not found")
    return profile


def update_me(principal: Principal, changes: dict[str, Any]) -> dict[str, Any]:
    if not changes:
        return me(principal)
    profile = accounts.update_profile(principal.user_id, changes)
    if profile is None:
        raise NotFound("profile not found")
    return profile
