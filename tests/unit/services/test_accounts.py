"""Accounts on top of the identity provider: a busy provider is "retry later" (503 with
``Retry-After``), wrong credentials are 401, and a registration that fails half-way leaves
no identity behind."""

from __future__ import annotations

import pytest

from chalicelib.adapters.identity import SYSTEM
from chalicelib.errors import DependencyUnavailable, Unauthorized, Unavailable
from chalicelib.services import accounts

BUSY = DependencyUnavailable(SYSTEM, "TooManyRequestsException")


@pytest.fixture
def profiles(monkeypatch) -> dict[str, dict]:
    """The accounts table's profiles (the store, tested with moto elsewhere)."""
    saved: dict[str, dict] = {}
    monkeypatch.setattr(accounts.accounts, "put_unverified_profile",
                        lambda user_id, profile, verify_nonce: saved.__setitem__(user_id, profile))
    monkeypatch.setattr(accounts.accounts, "get_profile", lambda user_id: saved.get(user_id))
    monkeypatch.setattr(accounts.accounts, "set_nonce", lambda *args: True)
    monkeypatch.setattr(accounts.notifications, "send_account_email", lambda *args, **kw: None)
    # failed-login records (store/limits.py, tested with moto): none here
    monkeypatch.setattr(accounts.limits, "login_failures", lambda *args, **kw: None)
    monkeypatch.setattr(accounts.limits, "add_login_failure", lambda *args, **kw: None)
    monkeypatch.setattr(accounts.limits, "clear_login_failures", lambda *args, **kw: None)
    return saved


def register(email: str = "anna@example.com") -> dict:
    return accounts.register(email=email, password="pass-word-9", name="Anna", role="customer", language=None)


def test_a_registered_customer_can_log_in_and_refresh(identity_provider, profiles):
    profile = register()
    assert profiles[profile["user_id"]]["role"] == "customer"
    assert identity_provider.identities["anna@example.com"].groups == {"customer"}

    session = accounts.login(email="anna@example.com", password="pass-word-9")
    assert session["token_type"] == "Bearer" and session["access_token"]

    refreshed = accounts.refresh(refresh_token=session["refresh_token"])
    assert refreshed["refresh_token"] == session["refresh_token"] and refreshed["access_token"]


def test_registering_a_taken_email_answers_alike_and_creates_nothing(identity_provider, profiles):
    first = register()
    again = register()
    assert set(again) == set(first) and again["user_id"] != first["user_id"]
    assert again["user_id"] not in profiles and len(identity_provider.identities) == 1


def test_error_on_a_wrong_password_is_unauthorized(identity_provider, profiles):
    register()
    with pytest.raises(Unauthorized):
        accounts.login(email="anna@example.com", password="not-her-password")


@pytest.mark.parametrize("call", [
    lambda: accounts.login(email="anna@example.com", password="pass-word-9"),
    lambda: accounts.refresh(refresh_token="any"),
    register,
])
def test_a_throttled_identity_provider_is_unavailable_with_retry_after(identity_provider, profiles, call):
    for operation in ("password_login", "refresh", "sign_up"):
        identity_provider.fail_next(operation, BUSY)

    with pytest.raises(Unavailable) as caught:
        call()

    problem = caught.value.problem()
    assert problem["status"] == 503 and problem["retry_after"] >= 1
    assert "TooManyRequestsException" not in problem["detail"]


def test_a_registration_that_fails_half_way_removes_the_identity(identity_provider, profiles):
    identity_provider.fail_next("add_to_group", BUSY)

    with pytest.raises(Unavailable, match="registration could not be completed"):
        register()

    assert identity_provider.identities == {}  # the email is free for the retry
    assert profiles == {}
    register()  # the retry goes through
