"""The identity provider: Cognito's user pool, which holds identities, passwords and groups.

Port: ``IdentityProvider``. ``sign_up`` creates an identity and returns its user id — as the
pool's administrator (``AdminCreateUser`` + a permanent password): the pool accepts no
self-service sign-up from outside, so every account goes through the API's checks and limits;
``confirm``, ``add_to_group`` and ``delete`` are the administrator's calls registration needs;
``set_password`` and ``sign_out_everywhere`` serve password resets;
``remove_from_group``, ``members_of`` and ``set_enabled`` serve staff tools (role changes,
blocks); ``password_login`` and ``refresh`` return ``Tokens``; ``sign_out`` revokes the refresh tokens
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
from chalicelib.errors import AlreadyExists, DomainError, NotFound, Unauthorized, ValidationFailed

SYSTEM = "the identity provider"
_BAD_LOGIN = frozenset({"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException"})
_WEAK_PASSWORD = ValidationFailed.one("password", "does not meet the password policy: at least 8 characters "
                                                 "with a lowercase letter and a digit")
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

    def remove_from_group(self, email: str, group: str) -> None:
        ...

    def members_of(self, group: str) -> list[str]:
        """The user ids in ``group``."""
        ...

    def set_enabled(self, email: str, enabled: bool) -> None:
        """A disabled identity cannot log in or refresh."""
        ...

    def set_password(self, email: str, password: str) -> None:
        ...

    def sign_out_everywhere(self, email: str) -> None:
        ...

    def user_id_of(self, email: str) -> str | None:
        """The user id of ``email``; None when there is no such identity."""
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
        user = self._call("admin_create_user", {
            "UsernameExistsException": AlreadyExists(
                "this email is already registered", errors=[{"field": "email", "reason": "already registered"}]),
            "InvalidPasswordException": _WEAK_PASSWORD,
            "InvalidParameterException": ValidationFailed.one("email", "rejected by the identity provider"),
        }, UserPoolId=self.user_pool_id, Username=email, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": name}])["User"]
        sub = next((a["Value"] for a in user.get("Attributes", []) if a["Name"] == "sub"), None)
        try:
            self.set_password(email, password)
        except DomainError:
            self.delete(email)
            raise
        return str(sub or user["Username"])

    def confirm(self, email: str) -> None:
        """Nothing to do: an administrator-created user with a permanent password is confirmed."""

    def set_password(self, email: str, password: str) -> None:
        self._call("admin_set_user_password", {"InvalidPasswordException": _WEAK_PASSWORD},
                   UserPoolId=self.user_pool_id, Username=email, Password=password, Permanent=True)

    def user_id_of(self, email: str) -> str | None:
        try:
            user = self._call("admin_get_user", {"UserNotFoundException": NotFound("no such user")},
                              UserPoolId=self.user_pool_id, Username=email)
        except NotFound:
            return None
        return next((a["Value"] for a in user.get("UserAttributes", []) if a["Name"] == "sub"), None)

    def sign_out_everywhere(self, email: str) -> None:
        """Revoke every refresh token of the user (access tokens: ``store.accounts``)."""
        self._call("admin_user_global_sign_out", {}, UserPoolId=self.user_pool_id, Username=email)

    def add_to_group(self, email: str, group: str) -> None:
        self._call("admin_add_user_to_group", {}, UserPoolId=self.user_pool_id, Username=email, GroupName=group)

    def delete(self, email: str) -> None:
        self._call("admin_delete_user", {}, UserPoolId=self.user_pool_id, Username=email)

    def remove_from_group(self, email: str, group: str) -> None:
        self._call("admin_remove_user_from_group", {}, UserPoolId=self.user_pool_id, Username=email, GroupName=group)

    def members_of(self, group: str) -> list[str]:
        ids: list[str] = []
        params: dict[str, Any] = {"UserPoolId": self.user_pool_id, "GroupName": group, "Limit": 60}
        while True:
            page = self._call("list_users_in_group", {}, **params)
            ids += [next((a["Value"] for a in u.get("Attributes", []) if a["Name"] == "sub"), u["Username"])
                    for u in page.get("Users", [])]
            if not page.get("NextToken"):
                return ids
            params["NextToken"] = page["NextToken"]

    def set_enabled(self, email: str, enabled: bool) -> None:
        self._call("admin_enable_user" if enabled else "admin_disable_user", {}, UserPoolId=self.user_pool_id,
                   Username=email)

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
