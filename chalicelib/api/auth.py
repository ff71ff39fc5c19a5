"""Account routes: register, verify the email, login, refresh, logout, passwords, profile.

    POST /auth/register              201 (the same for a taken address: no enumeration)
    POST /auth/verify                {token} from the emailed link → 204
    POST /auth/verification-email    send the link again → 202
    GET, POST /auth/links/{token}    the emailed links' pages: GET shows a button (no effect),
                                     POST acts (verify; reset with a new ``password``)
    POST /auth/password/forgot       {email} → 202 always
    POST /auth/password/reset        {token, password} → 204, every session revoked
    POST /auth/password/change       {old_password, password} → 204

Rate-limited at the edge (``limit=``): register, login, verification, passwords.
"""

import re
import urllib.parse
from typing import Annotated, Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chalicelib.api.http import ANY_USER, Ctx, Reply, endpoint
from chalicelib.api.models import Body, Out
from chalicelib.domain.accounts import PASSWORD_RULE, password_policy
from chalicelib.lazy import lazy

account_pages = lazy("chalicelib.services.account_pages")
accounts = lazy("chalicelib.services.accounts")

bp = Blueprint(__name__)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")

Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Language = Literal["ru", "en"]


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value.lower()


Password = Annotated[str, Field(min_length=8, max_length=128, description=PASSWORD_RULE)]
Token = Annotated[str, StringConstraints(min_length=10, max_length=1024)]


class RegisterIn(Body):
    email: Email
    password: Password
    name: Name
    role: Literal["customer", "seller"] = "customer"
    language: Language | None = None

    _check_email = field_validator("email")(_email)
    _policy = field_validator("password")(password_policy)


class VerifyIn(Body):
    token: Token


class ForgotIn(Body):
    email: Email

    _check_email = field_validator("email")(_email)


class ResetIn(Body):
    token: Token
    password: Password

    _policy = field_validator("password")(password_policy)


class ChangeIn(Body):
    old_password: Annotated[str, Field(min_length=1, max_length=128)]
    password: Password

    _policy = field_validator("password")(password_policy)


class LinkForm(BaseModel):
    """The account link page's form (read by ``_form``)."""

    model_config = ConfigDict(defer_build=True)  # only /openapi.json builds it

    action: Literal["verify", "reset"] | None = None
    password: Annotated[str, StringConstraints(max_length=128)] | None = None


class Accepted(Out):
    status: str = "accepted"


class LoginIn(Body):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=128)]

    _check_email = field_validator("email")(_email)


class RefreshIn(Body):
    refresh_token: Annotated[str, Field(min_length=10, max_length=8192)]


class Tokens(Out):
    access_token: str
    refresh_token: str | None = None
    expires_in: int
    token_type: str = "Bearer"


class Profile(Out):
    user_id: str
    email: str
    name: str
    role: str
    language: str
    created_at: str
    verified: bool = True  # False until the emailed link is followed


class ProfilePatch(Body):
    name: Name | None = None
    language: Language | None = None


@endpoint(bp, "/auth/register", method="POST",
          summary="Create an account (not verified until the emailed link is followed; a registered email gets "
                  "the same answer)", body=RegisterIn,
          response=Profile, status=201, errors=(422, 429), location=lambda body: "/me", tags=("accounts",),
          limit="register")
def register(ctx) -> Profile:
    b: RegisterIn = ctx.body
    return Profile(**accounts.register(email=b.email, password=b.password, name=b.name, role=b.role,
                                          language=b.language))


@endpoint(bp, "/auth/login", method="POST", summary="Log in with email and password", body=LoginIn,
          response=Tokens, errors=(401, 422, 429), tags=("accounts",), limit="login")
def login(ctx) -> Tokens:
    return Tokens(**accounts.login(email=ctx.body.email, password=ctx.body.password))


@endpoint(bp, "/auth/refresh", method="POST", summary="Exchange a refresh token for a new access token",
          body=RefreshIn, response=Tokens, errors=(401, 422), tags=("accounts",))
def refresh(ctx) -> Tokens:
    return Tokens(**accounts.refresh(refresh_token=ctx.body.refresh_token))


@endpoint(bp, "/auth/logout", method="POST", summary="Log out: the access token stops working", auth=ANY_USER,
          status=204, errors=(401,), tags=("accounts",))
def logout(ctx) -> Reply:
    accounts.logout(ctx.user, ctx.token)
    return Reply(status=204)


@endpoint(bp, "/me", summary="My profile", auth=ANY_USER, response=Profile, errors=(401,), tags=("accounts",))
def get_me(ctx) -> Profile:
    return Profile(**accounts.me(ctx.user))


@endpoint(bp, "/me", method="PATCH", summary="Change my name or language", auth=ANY_USER, body=ProfilePatch,
          response=Profile, errors=(401, 422), tags=("accounts",))
def patch_me(ctx) -> Profile:
    return Profile(**accounts.update_me(ctx.user, ctx.body.model_dump(exclude_none=True)))


@endpoint(bp, "/auth/verify", method="POST", summary="Verify my email address with the emailed link's token",
          body=VerifyIn, status=204, errors=(410, 422, 429), tags=("accounts",), limit="verification")
def verify(ctx) -> Reply:
    accounts.verify_email(ctx.body.token)
    return Reply(status=204)


@endpoint(bp, "/auth/verification-email", method="POST", summary="Send the verification email again",
          auth=ANY_USER, response=Accepted, status=202, errors=(401, 429), tags=("accounts",), limit="verification")
def resend_verification(ctx) -> Reply:
    accounts.resend_verification(ctx.user)
    return Reply(Accepted(), status=202)


@endpoint(bp, "/auth/password/forgot", method="POST",
          summary="Email a password reset link (202 whether or not the email is registered)",
          body=ForgotIn, response=Accepted, status=202, errors=(422, 429), tags=("accounts",), limit="password")
def forgot_password(ctx) -> Reply:
    accounts.forgot_password(ctx.body.email)
    return Reply(Accepted(), status=202)


@endpoint(bp, "/auth/password/reset", method="POST",
          summary="Set a new password with the emailed link's token; every session is revoked",
          body=ResetIn, status=204, errors=(410, 422, 429), tags=("accounts",), limit="password")
def reset_password(ctx) -> Reply:
    accounts.reset_password(ctx.body.token, ctx.body.password)
    return Reply(status=204)


@endpoint(bp, "/auth/password/change", method="POST", summary="Change my password (the old one is required)",
          auth=ANY_USER, body=ChangeIn, status=204, errors=(401, 422, 429), tags=("accounts",), limit="password")
def change_password(ctx) -> Reply:
    accounts.change_password(ctx.user, ctx.body.old_password, ctx.body.password)
    return Reply(status=204)


HTML = "text/html; charset=utf-8"
FORM = "application/x-www-form-urlencoded"


def _html(page: "account_pages.Page") -> Response:
    return Response(body=page.html, status_code=page.status, headers={**account_pages.SECURITY_HEADERS,
                                                                       "Content-Type": HTML})


def _form(ctx: Ctx) -> dict[str, str]:
    raw = ctx.request.raw_body or b""
    if len(raw) > 4096:
        return {"action": "\x00too-large"}
    try:
        return dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        return {"action": "\x00malformed"}


@endpoint(bp, "/auth/links/{token}", summary="An emailed account link's page: a button (changes nothing)",
          content_type="text/html", errors=(404, 410), tags=("accounts",))
def open_account_link(ctx: Ctx, token: str) -> Response:
    return _html(account_pages.open_link(token))


@endpoint(bp, "/auth/links/{token}", method="POST",
          summary="Use an emailed account link once (HTML form post: verify, or reset with a new password)",
          content_type="text/html", content_types=(FORM,), form=LinkForm, errors=(404, 410, 422, 429),
          tags=("accounts",), limit="link")
def use_account_link(ctx: Ctx, token: str) -> Response:
    return _html(account_pages.use_link(token, _form(ctx)))
