"""The identity provider: Cognito's user pool, which holds identities, passwords and groups.

Port: ``IdentityProvider``. ``sign_up`` creates an identity and returns its user id;
``confirm``, ``add_to_group`` and ``delete`` are the administrator's calls registration needs;
``password_login`` and ``refresh`` return ``Tokens``; ``sign_out`` revokes the refresh tokens
of an access token's session. The real adapter is ``Cognito`` (the pool and app client of
``settings()``); ``identity_provider()`` returns it, or the replacement installed with
``set_identity_provider``.

Cognito's answers become the domain errors the API speaks: a taken email ``AlreadyExists``, a
weak password or a refused email ``ValidationFailed``, wrong credentials or a revoked refresh
token ``Unauthorized``. A throttled or failing pool is ``errors.DependencyUnavailable`` — a 503
with ``Retry-After``, never a 500 — so a login storm tells clients to back off; anything else
``DependencyFailed`` (``aws.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import clients
from chalicelib.adapters import aws
from chalicelib.config import settings
from chalicelib.errors import AlreadyExists, DomainError, Unauthorized, ValidationFailed

SYSTEM = "the identity provider"
_BAD_LOGIN = frozenset({"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException"})
_BAD_REFRESH = frozenset({"NotAuthorizedException", "UserNotFoundException"})


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None  # None after a refresh: the refresh token stays the same
    expires_in: int


class IdentityProvider(Protocol):
    def sign_up(self, email: str, password: str, name: str) -> str:
        """A new identity; its user id. ``AlreadyExists`` / ``ValidationFailed`` when refused."""
        ...

    def confirm(self, email: str) -> None:
        ...

    def add_to_group(self, email: str, group: str) -> None:
        ...

    def delete(self, email: str) -> None:
        ...

    def password_login(self, email: str, password: str) -> Tokens:
        """``Unauthorized`` for a wrong email or password (one answer for both)."""
        ...

    def refresh(self, refresh_token: str) -> Tokens:
        """``Unauthorized`` for a revoked or unknown refresh token."""
        ...

    def sign_out(self, access_token: str) -> None:
        ...


class Cognito:
    def __init__(self, user_pool_id: str, client_id: str) -> None:
        self.user_pool_id, self.client_id = user_pool_id, client_id

    def sign_up(self, email: str, password: str, name: str) -> str:
        return str(self._call("sign_up", {
            "UsernameExistsException": AlreadyExists(
                "this email is already registered", errors=[{"field": "email", "reason": "already registered"}]),
            "InvalidPasswordException": ValidationFailed.one("password", "does not meet the password policy"),
            "InvalidParameterException": ValidationFailed.one("email", "rejected by the identity provider"),
        }, ClientId=self.client_id, Username=email, Password=password,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": name}])["UserSub"])

    def confirm(self, email: str) -> None:
        self._call("admin_confirm_sign_up", {}, UserPoolId=self.user_pool_id, Username=email)

    def add_to_group(self, email: str, group: str) -> None:
        self._call("admin_add_user_to_group", {}, UserPoolId=self.user_pool_id, Username=email, GroupName=group)

    def delete(self, email: str) -> None:
        self._call("admin_delete_user", {}, UserPoolId=self.user_pool_id, Username=email)

    def password_login(self, email: str, password: str) -> Tokens:
        refused = Unauthorized("invalid email or password")
        return self._auth("USER_PASSWORD_AUTH", {"USERNAME": email, "PASSWORD": password},
                          dict.fromkeys(_BAD_LOGIN, refused))

    def refresh(self, refresh_token: str) -> Tokens:
        refused = Unauthorized("invalid or revoked refresh token")
        return self._auth("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token}, dict.fromkeys(_BAD_REFRESH, refused))

    def sign_out(self, access_token: str) -> None:
        self._call("global_sign_out", {}, AccessToken=access_token)

    def _auth(self, flow: str, parameters: dict[str, str], refusals: dict[str, DomainError]) -> Tokens:
        result = self._call("initiate_auth", refusals, ClientId=self.client_id, AuthFlow=flow,
                            AuthParameters=parameters)["AuthenticationResult"]
        return Tokens(result["AccessToken"], result.get("RefreshToken"), int(result["ExpiresIn"]))

    @staticmethod
    def _call(operation: str, refusals: dict[str, DomainError], **params: Any) -> Any:
        """One Cognito call; a refusal listed in ``refusals`` raises that domain error."""
        try:
            return getattr(clients.client("cognito-idp"), operation)(**params)
        except clients.AWS_ERRORS as exc:
            refusal = refusals.get(aws.error_code(exc))
            if refusal is not None and not aws.may_pass(exc):
                raise refusal from None
            raise aws.translated(exc, SYSTEM) from None


_override: IdentityProvider | None = None


def identity_provider() -> IdentityProvider:
    """The identity provider: an override (tests, fakes), else the configured Cognito pool."""
    if _override is not None:
        return _override
    cfg = settings()
    return Cognito(cfg.user_pool_id, cfg.user_pool_client_id)


def set_identity_provider(replacement: IdentityProvider | None) -> None:
    """Swap the adapter (tests); None restores Cognito."""
    global _override
    _override = replacement
