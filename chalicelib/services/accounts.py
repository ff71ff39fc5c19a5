"""Accounts: registration, email verification, login, password recovery, logout and profiles
on top of the Cognito user pool.

- **Registration never tells who is registered.** A new address gets an account (not verified)
  and a verification email; an address that has an account already gets the same 201 with a
  profile that does not exist, and its owner an email saying someone tried. Only the owner of
  the mailbox learns anything.
- **Verification.** The emailed link (``notify/account_links.py``; GET page, POST acts at
  ``/auth/links/{token}``, or ``POST /auth/verify``) works once: its nonce is on the profile
  and one conditional write consumes it. Unverified accounts cannot check out or open a shop
  (``VerificationRequired``); ``purge_unverified`` deletes them a week after registration.
- **Failed logins** of one email — known or not, so the answer never tells — are counted:
  after ``login_backoff_after`` failures each attempt must wait 2^(n - that) seconds, after
  ``login_lock_after`` the email is locked until its window ends (429 with ``Retry-After``).
- **Password recovery**: forgot (always the same 202), reset by the emailed link (every session
  of the account is revoked), change with the old password.

Cognito holds identities and passwords (``adapters/identity.py``, which turns its answers
into domain errors: a taken email, a weak password, wrong credentials; a throttled or failing
pool is ``DependencyUnavailable``, a 503 with ``Retry-After``); the accounts table holds the
profile the product needs (name, role, language). Roles are pool groups, so they travel inside
the access token.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import clients, logs
from chalicelib.adapters.aws import error_code
from chalicelib.adapters.identity import Tokens, identity_provider
from chalicelib.api.security import Principal
from chalicelib.config import settings
from chalicelib.errors import (
    AlreadyExists,
    DependencyError,
    Gone,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    ValidationFailed,
    VerificationRequired,
)
from chalicelib.notify import account_links
from chalicelib.notify.links import ExpiredLink, LinkError
from chalicelib.services import notifications
from chalicelib.store import accounts, limits


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def register(*, email: str, password: str, name: str, role: str, language: str | None) -> dict[str, Any]:
    idp = identity_provider()
    profile = {
        "email": email,
        "name": name,
        "role": role,
        "language": language or settings().default_lang,
        "created_at": _now(),
        "verified": False,
    }
    try:
        user_id = idp.sign_up(email, password, name)
    except AlreadyExists:
        # The same answer as for a new address (no enumeration); the owner hears of it.
        _email_existing_owner(email)
        return {"user_id": str(uuid.uuid4()), **profile}
    profile["user_id"] = user_id
    nonce = secrets.token_urlsafe(16)
    try:
        idp.add_to_group(email, role)
        accounts.put_unverified_profile(user_id, profile, verify_nonce=nonce)
    except (DependencyError, *clients.AWS_ERRORS) as exc:
        # Compensate: a half-created account would block the email forever.
        logs.event("registration failed; removing the identity", error=error_code(exc))
        try:
            idp.delete(email)
        except DependencyError:
            logs.event("could not remove a half-created identity", email_domain=email.rsplit("@", 1)[-1])
        raise Unavailable("registration could not be completed, please retry") from exc
    _send_link(profile, "verify", nonce)
    return profile


def _email_existing_owner(email: str) -> None:
    owner = _profile_by_email(email)
    nonce = secrets.token_urlsafe(16)
    if owner is not None and accounts.set_nonce(owner["user_id"], "reset", nonce):
        # the email offers a reset link: the likeliest reason to register again is a lost password
        _send_link(owner, "reset", nonce, kind="account_exists")


def _profile_by_email(email: str) -> dict[str, Any] | None:
    user_id = identity_provider().user_id_of(email)
    return accounts.get_profile(user_id) if user_id else None


def _page_url(path: str) -> str:
    return settings().public_base_url + path


def _send_link(profile: dict[str, Any], purpose: str, nonce: str, *, kind: str | None = None) -> None:
    cfg = settings()
    ttl = cfg.verify_link_ttl_seconds if purpose == "verify" else cfg.reset_link_ttl_seconds
    token = account_links.make_token(cfg.link_secret, purpose=purpose, user_id=profile["user_id"], nonce=nonce,
                                     expires_at=int(time.time()) + ttl)
    notifications.send_account_email(kind or f"account_{purpose}", profile, link_url(token),
                                     hours=max(1, ttl // 3600))


def link_url(token: str) -> str:
    return _page_url(f"/auth/links/{token}")


def require_verified(principal: Principal) -> None:
    """``VerificationRequired`` (403) unless the caller's email is verified (admins are made by
    operators and pass)."""
    if "admin" in principal.roles:
        return
    verified = principal.verified if principal.verified is not None else accounts.is_verified(principal.user_id)
    if not verified:
        raise VerificationRequired("verify your email address first: follow the link we emailed you, or ask for "
                                   "a new one with POST /auth/verification-email")


def resend_verification(principal: Principal) -> None:
    profile = me(principal)
    if profile.get("verified", True) is not False:
        return  # nothing to verify: the same 202
    nonce = secrets.token_urlsafe(16)
    if accounts.set_nonce(principal.user_id, "verify", nonce):
        _send_link(profile, "verify", nonce)


def _claims(token: str, purpose: str) -> account_links.AccountClaims:
    try:
        return account_links.verify_token(settings().link_secret, token, int(time.time()), purpose=purpose)
    except ExpiredLink as exc:
        raise Gone("this link has expired; ask for a new one", errors=[
            {"field": "token", "reason": "expired"}]) from exc
    except LinkError as exc:
        raise ValidationFailed.one("token", "not a valid link token") from exc


def verify_email(token: str) -> None:
    """Use a verification link once. A wrong, expired or used token changes nothing."""
    claims = _claims(token, "verify")
    if not accounts.use_nonce(claims.user_id, "verify", claims.nonce, verified_at=_now()):
        raise Gone("this link was used already or replaced by a newer one",
                   errors=[{"field": "token", "reason": "already used or replaced"}])


def forgot_password(email: str) -> None:
    """Email a reset link when ``email`` has an account; the caller answers 202 either way."""
    profile = _profile_by_email(email)
    if profile is None:
        return
    nonce = secrets.token_urlsafe(16)
    if accounts.set_nonce(profile["user_id"], "reset", nonce):
        _send_link(profile, "reset", nonce)


def reset_password(token: str, password: str) -> None:
    """Set a new password with a reset link (once) and revoke every session of the account."""
    claims = _claims(token, "reset")
    profile = accounts.get_profile(claims.user_id)
    if profile is None:
        raise ValidationFailed.one("token", "not a valid link token")
    if not accounts.use_nonce(claims.user_id, "reset", claims.nonce):
        raise Gone("this link was used already or replaced by a newer one",
                   errors=[{"field": "token", "reason": "already used or replaced"}])
    _set_password_and_revoke(profile, password)
    # The mailbox is proven: a reset also verifies the address.
    accounts.mark_verified(claims.user_id, _now())


def change_password(principal: Principal, old_password: str, password: str) -> None:
    profile = me(principal)
    try:
        identity_provider().password_login(profile["email"], old_password)
    except Unauthorized as exc:
        raise ValidationFailed.one("old_password", "is not the current password") from exc
    _set_password_and_revoke(profile, password, keep_session=principal.session_id)


def _set_password_and_revoke(profile: dict[str, Any], password: str, *, keep_session: str | None = None) -> None:
    idp = identity_provider()
    idp.set_password(profile["email"], password)
    if keep_session is None:
        accounts.revoke_sessions_before(profile["user_id"], int(time.time()))
        try:
            idp.sign_out_everywhere(profile["email"])
        except DependencyError as exc:  # the revocation record already refuses the old tokens
            logs.event("global sign-out failed", error=exc.code)
    limits.clear_login_failures(profile["email"])


def purge_unverified(now: float | None = None) -> int:
    """Delete accounts still unverified a week (``unverified_max_age_seconds``) after they
    registered, identity and profile, so nobody can squat an address they do not own; an
    account whose wallet holds money is kept (and no longer looked at). Run by
    the scheduled reconciler (``events/reconcile.py``): one Query of a sparse index when there
    is nothing to do."""
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    cutoff = (at - timedelta(seconds=settings().unverified_max_age_seconds)).isoformat(timespec="seconds")
    removed = 0
    for profile in accounts.unverified_before(cutoff):
        if _holds_money(profile["user_id"]):
            accounts.stop_purging(profile["user_id"])
            logs.event("unverified account kept: its wallet holds money", user_id=profile["user_id"])
            continue
        if accounts.delete_unverified(profile["user_id"]):
            try:
                identity_provider().delete(profile["email"])
            except DependencyError as exc:
                logs.event("unverified identity not removed", 30, error=exc.code)
                continue
            removed += 1
    if removed:
        logs.event("unverified accounts removed", count=removed)
    return removed


def _holds_money(user_id: str) -> bool:
    """Unverified customers may top up (only checkout and opening a shop need a verified
    email); removing such an account would take its wallet's money with it."""
    from chalicelib.services import ledger  # the ledger's store, only for the purge

    wallet = ledger.wallet(user_id)
    return wallet["available"] > 0 or wallet["held"] > 0


def _session(tokens: Tokens, refresh_token: str | None) -> dict[str, Any]:
    return {"access_token": tokens.access_token, "refresh_token": refresh_token, "expires_in": tokens.expires_in,
            "token_type": "Bearer"}


def login(*, email: str, password: str) -> dict[str, Any]:
    cfg = settings()
    now = int(time.time())
    failures = limits.login_failures(email, now)
    if failures is not None:
        _refuse_if_backing_off(email, failures, now)
    try:
        tokens = identity_provider().password_login(email, password)
    except Unauthorized:
        limits.add_login_failure(email, window_seconds=cfg.login_failure_window_seconds, now=now)
        raise
    if failures is not None:
        limits.clear_login_failures(email)
    return _session(tokens, tokens.refresh_token)


def _refuse_if_backing_off(email: str, failures: limits.Failures, now: int) -> None:
    """429 while ``email`` is locked or must still wait: the same for a known or unknown email,
    and whether or not the password would have been right."""
    cfg = settings()
    if failures.count >= cfg.login_lock_after:
        raise TooManyRequests("too many failed logins for this account; it is locked for a while",
                              retry_after=failures.window_ends - now)
    if failures.count >= cfg.login_backoff_after:
        wait_until = failures.last_at + 2 ** (failures.count - cfg.login_backoff_after)
        if now < wait_until:
            # an attempt that did not wait counts as a failure: hammering leads to the lock
            limits.add_login_failure(email, window_seconds=cfg.login_failure_window_seconds, now=now)
            raise TooManyRequests("too many failed logins for this account; wait before trying again",
                                  retry_after=wait_until - now)


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
