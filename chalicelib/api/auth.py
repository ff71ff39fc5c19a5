"""Account routes: register, login, refresh, logout, profile."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from chalice import Blueprint
from pydantic import Field, StringConstraints, field_validator

from chalicelib.api.http import ANY_USER, Reply, endpoint
from chalicelib.api.models import Body, Out
from chalicelib.services import accounts

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


class RegisterIn(Body):
    email: Email
    password: Annotated[str, Field(min_length=8, max_length=128)]
    name: Name
    role: Literal["customer", "seller"] = "customer"
    language: Language | None = None

    _check_email = field_validator("email")(_email)

    @field_validator("password")
    @classmethod
    def _policy(cls, value: str) -> str:
        if not re.search(r"[a-zа-яё]", value) or not re.search(r"\d", value):
            raise ValueError("needs at least one lowercase letter and one digit")
        return value


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


class ProfilePatch(Body):
    name: Name | None = None
    language: Language | None = None


@endpoint(bp, "/auth/register", method="POST", summary="Create an account", body=RegisterIn,
          response=Profile, status=201, errors=(409, 422), location=lambda body: "/me", tags=("accounts",))
def register(ctx) -> Profile:
    b: RegisterIn = ctx.body
    return Profile(**accounts.register(email=b.email, password=b.password, name=b.name, role=b.role,
                                          language=b.language))


@endpoint(bp, "/auth/login", method="POST", summary="Log in with email and password", body=LoginIn,
          response=Tokens, errors=(401, 422), tags=("accounts",))
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
