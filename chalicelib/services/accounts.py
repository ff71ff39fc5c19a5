"""Accounts: registration, login, logout and profiles on top of the Cognito user pool.

Cognito holds identities and passwords; the accounts table holds the profile the product
needs (name, role, language). Roles are pool groups, so they travel inside the access token.

Cognito's errors stop here: a wrong password or a taken email becomes its domain error, and a
throttled or failing pool (``clients.is_transient``: TooManyRequestsException,
LimitExceededException, InternalErrorException …) becomes ``Unavailable`` — a 503 with
``Retry-After``, never a 500 — so a login storm tells clients to back off.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import clients, logs
from chalicelib.api.security import Principal
from chalicelib.config import settings
from chalicelib.errors import AlreadyExists, NotFound, Unauthorized, Unavailable, ValidationFailed
from chalicelib.store import accounts


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _busy() -> Unavailable:
    return Unavailable("the identity provider is busy, please retry shortly")


def register(*, email: str, password: str, name: str, role: str, language: str | None) -> dict[str, Any]:
    cfg = settings()
    idp = clients.client("cognito-idp")
    try:
        user_id = idp.sign_up(
            ClientId=cfg.user_pool_client_id,
            Username=email,
            Password=password,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": name}],
        )["UserSub"]
    except ClientError as exc:
        code = _code(exc)
        if clients.is_transient(exc):
            raise _busy() from exc
        if code == "UsernameExistsException":
            raise AlreadyExists("this email is already registered",
                                errors=[{"field": "email", "reason": "already registered"}]) from exc
        if code == "InvalidPasswordException":
            raise ValidationFailed.one("password", "does not meet the password policy") from exc
        if code == "InvalidParameterException":
            raise ValidationFailed.one("email", "rejected by the identity provider") from exc
        raise
    try:
        # The sign-up is confirmed here because the product has no e-mail verification step.
        idp.admin_confirm_sign_up(UserPoolId=cfg.user_pool_id, Username=email)
        idp.admin_add_user_to_group(UserPoolId=cfg.user_pool_id, Username=email, GroupName=role)
        profile = {
            "user_id": user_id,
            "email": email,
            "name": name,
            "role": role,
            "language": language or cfg.default_lang,
            "created_at": _now(),
        }
        accounts.put_profile(user_id, profile)
    except ClientError as exc:
        # Compensate: a half-created account would block the email forever.
        logs.event("registration failed; removing the identity", error=_code(exc))
        try:
            idp.admin_delete_user(UserPoolId=cfg.user_pool_id, Username=email)
        except ClientError:
            logs.event("could not remove a half-created identity", email_domain=email.rsplit("@", 1)[-1])
        raise Unavailable("registration could not be completed, please retry") from exc
    return profile


def login(*, email: str, password: str) -> dict[str, Any]:
    try:
        result = clients.client("cognito-idp").initiate_auth(
            ClientId=settings().user_pool_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )["AuthenticationResult"]
    except ClientError as exc:
        if clients.is_transient(exc):
            raise _busy() from exc
        if _code(exc) in {"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException"}:
            raise Unauthorized("invalid email or password") from exc
        raise
    return {
        "access_token": result["AccessToken"],
        "refresh_token": result.get("RefreshToken"),
        "expires_in": result["ExpiresIn"],
        "token_type": "Bearer",
    }


def refresh(*, refresh_token: str) -> dict[str, Any]:
    try:
        result = clients.client("cognito-idp").initiate_auth(
            ClientId=settings().user_pool_client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )["AuthenticationResult"]
    except ClientError as exc:
        if clients.is_transient(exc):
            raise _busy() from exc
        if _code(exc) in {"NotAuthorizedException", "UserNotFoundException"}:
            raise Unauthorized("invalid or revoked refresh token") from exc
        raise
    return {"access_token": result["AccessToken"], "refresh_token": refresh_token,
            "expires_in": result["ExpiresIn"], "token_type": "Bearer"}


def logout(principal: Principal, access_token: str) -> None:
    accounts.revoke(principal.session_id, principal.expires_at)
    try:
        clients.client("cognito-idp").global_sign_out(AccessToken=access_token)
    except ClientError as exc:
        # The revocation record already makes the token fail; sign-out only stops refreshes.
        logs.event("global sign-out failed", error=_code(exc))


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
