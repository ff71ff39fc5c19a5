"""Verified accounts, password recovery and the limits against abuse, through the real routes
on moto (``tests/e2e/test_abuse_limits.py`` does the bursts over HTTP on the local stack)."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from tests.conftest import verification_token, verify_email
from tests.support import factories as f

JSON = {"Content-Type": "application/json"}
PASSWORD = "secret-pass-1"


def post(api, path: str, body: dict | None = None, headers: dict | None = None):
    return api.http.post(path, body=json.dumps(body or {}), headers={**JSON, **(headers or {})})


def login(api, email: str, password: str = PASSWORD):
    return post(api, "/auth/login", {"email": email, "password": password})


def limits(monkeypatch, **env: str) -> None:
    from chalicelib.config import settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()


def emails_to(api, email: str) -> list[dict]:
    return api.http.get(f"/local/emails?to={email}").json_body["items"]


def link_token(api, email: str, kind: str) -> str:
    mail = next(m for m in emails_to(api, email) if m["kind"] == kind)
    return next(u for u in mail["links"] if "/auth/links/" in u).rsplit("/auth/links/", 1)[1]


# --- verification ------------------------------------------------------------------------------


def test_unverified_customer_fills_the_cart_but_cannot_check_out_until_verified(api, register):
    seller = register("seller")
    f.put_shop(f.shop(seller.id))
    product = f.put_product(f.product(seller.id))
    customer = register("customer", verified=False)
    assert api.http.get("/me", headers=customer.headers).json_body["verified"] is False
    added = post(api, "/cart/items", {"product_id": product["product_id"], "quantity": 1}, customer.headers)
    assert added.status_code in (200, 201), added.body
    body = f.checkout_body({seller.id: "courier"})
    refused = post(api, "/checkout", body, {**customer.headers, "Idempotency-Key": "verify-gate-1"})
    assert refused.status_code == 403, refused.body
    assert refused.json_body["type"].endswith("/problems/verification-required")
    verify_email(api, customer.email)
    allowed = post(api, "/checkout", body, {**customer.headers, "Idempotency-Key": "verify-gate-2"})
    assert allowed.status_code == 201, allowed.body
    assert api.http.get("/me", headers=customer.headers).json_body["verified"] is True


def test_unverified_seller_cannot_open_a_shop(api, register):
    seller = register("seller", verified=False)
    shop = {"name": "S", "contact_email": "s@example.com", "language": "ru", "currency": "RUB",
            "delivery_methods": [{"id": "courier", "name": "C", "price": 100, "days": 1}]}
    resp = api.http.put("/seller/shop", body=json.dumps(shop), headers=seller.headers)
    assert resp.status_code == 403 and resp.json_body["type"].endswith("/problems/verification-required")
    verify_email(api, seller.email)
    assert api.http.put("/seller/shop", body=json.dumps(shop), headers=seller.headers).status_code == 200


def test_link_page_get_changes_nothing_and_post_verifies_once(api, register):
    user = register("customer", verified=False)
    token = verification_token(api, user.email)
    page = api.http.get(f"/auth/links/{token}")
    assert page.status_code == 200 and "<form method=\"post\"" in page.body.decode()
    assert api.http.get("/me", headers=user.headers).json_body["verified"] is False
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api.http.post(f"/auth/links/{token}", body="action=verify", headers=form).status_code == 200
    assert api.http.get("/me", headers=user.headers).json_body["verified"] is True
    reused = post(api, "/auth/verify", {"token": token})
    assert reused.status_code == 410


def test_error_on_tampered_or_expired_verification_tokens(api, register, monkeypatch):
    user = register("customer", verified=False)
    token = verification_token(api, user.email)
    assert post(api, "/auth/verify", {"token": token[:-2] + ("AA" if token[-2:] != "AA" else "BB")}).status_code == 422
    assert post(api, "/auth/verify", {"token": "not-a-token-at-all"}).status_code == 422
    limits(monkeypatch, VERIFY_LINK_TTL_SECONDS="0")
    assert post(api, "/auth/verification-email", headers=user.headers).status_code == 202
    expired = verification_token(api, user.email)
    assert post(api, "/auth/verify", {"token": expired}).status_code == 410
    assert api.http.get("/me", headers=user.headers).json_body["verified"] is False


def test_resend_replaces_the_old_link(api, register):
    user = register("customer", verified=False)
    old = verification_token(api, user.email)
    assert post(api, "/auth/verification-email", headers=user.headers).status_code == 202
    new = verification_token(api, user.email)
    assert new != old
    assert post(api, "/auth/verify", {"token": old}).status_code == 410
    assert post(api, "/auth/verify", {"token": new}).status_code == 204


def test_unverified_accounts_older_than_a_week_are_removed(api, aws, register):
    from chalicelib.services.accounts import purge_unverified

    stale = register("customer", verified=False)
    kept = register("customer")
    assert purge_unverified() == 0  # nobody is a week old yet
    assert purge_unverified(now=time.time() + 8 * 24 * 3600) == 1
    pool = boto3.client("cognito-idp")
    names = {u["Username"] for u in pool.list_users(UserPoolId=aws["USER_POOL_ID"])["Users"]}
    emails = {a["Value"] for u in pool.list_users(UserPoolId=aws["USER_POOL_ID"])["Users"]
              for a in u["Attributes"] if a["Name"] == "email"}
    assert stale.email not in emails and kept.email in emails and names
    assert login(api, kept.email, kept.password).status_code == 200
    # the address is free again
    assert post(api, "/auth/register", {"email": stale.email, "password": PASSWORD, "name": "Owner"}).status_code == 201
    assert login(api, stale.email).status_code == 200


def test_an_unverified_account_holding_money_is_kept_by_the_purge(api, register):
    """Unverified customers may top up (only checkout needs a verified email): the purge must not
    take the wallet's money away with the account, now or on any later run."""
    from chalicelib.services.accounts import purge_unverified

    holder = register("customer", verified=False)
    stale = register("customer", verified=False)
    body = {"amount": 10_000, "card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2035,
                                       "cvc": "123"}}
    topup = post(api, "/wallet/topups", body, {**holder.headers, "Idempotency-Key": f"purge-{uuid.uuid4().hex}"})
    assert topup.status_code == 201, topup.body
    later = time.time() + 8 * 24 * 3600
    purge_unverified(now=later)
    purge_unverified(now=later + 3600)  # a later run does not look at it again either
    assert login(api, stale.email).status_code == 401
    assert login(api, holder.email).status_code == 200
    assert api.http.get("/wallet", headers=holder.headers).json_body["available"]["amount"] == 10_000
    verify_email(api, holder.email)  # and it can still verify, then spend
    assert api.http.get("/me", headers=holder.headers).json_body["verified"] is True


# --- passwords ---------------------------------------------------------------------------------


def test_forgot_password_answers_the_same_for_known_and_unknown_emails(api, register):
    user = register("customer")
    known = post(api, "/auth/password/forgot", {"email": user.email})
    unknown = post(api, "/auth/password/forgot", {"email": f"nobody-{uuid.uuid4().hex[:6]}@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json_body == unknown.json_body
    assert {k for k in known.headers if not k.lower().startswith("ratelimit")} == \
        {k for k in unknown.headers if not k.lower().startswith("ratelimit")}
    assert any(m["kind"] == "account_reset" for m in emails_to(api, user.email))


def test_reset_by_the_emailed_link_revokes_every_session_and_works_once(api, register):
    user = register("customer")
    assert post(api, "/auth/password/forgot", {"email": user.email}).status_code == 202
    token = link_token(api, user.email, "account_reset")
    weak = post(api, "/auth/password/reset", {"token": token, "password": "short"})
    assert weak.status_code == 422 and "password" in [e["field"] for e in weak.json_body["errors"]]
    weak2 = post(api, "/auth/password/reset", {"token": token, "password": "nodigitshere"})
    assert weak2.status_code == 422 and "lowercase letter and one digit" in weak2.body.decode()
    time.sleep(1.05)  # the old token's iat is a whole second before the reset
    assert post(api, "/auth/password/reset", {"token": token, "password": "new-pass-word-2"}).status_code == 204
    assert api.http.get("/me", headers=user.headers).status_code == 401  # the old session is revoked
    assert login(api, user.email, user.password).status_code == 401
    assert login(api, user.email, "new-pass-word-2").status_code == 200
    assert post(api, "/auth/password/reset", {"token": token, "password": "other-pass-3"}).status_code == 410


def test_change_password_needs_the_old_one(api, register):
    user = register("customer")
    wrong = post(api, "/auth/password/change", {"old_password": "not-it-1", "password": "new-pass-word-2"},
                 user.headers)
    assert wrong.status_code == 422 and wrong.json_body["errors"][0]["field"] == "old_password"
    assert login(api, user.email, user.password).status_code == 200  # nothing changed
    ok = post(api, "/auth/password/change", {"old_password": user.password, "password": "new-pass-word-2"},
              user.headers)
    assert ok.status_code == 204
    assert login(api, user.email, "new-pass-word-2").status_code == 200


# --- rate limits -------------------------------------------------------------------------------


def test_register_over_the_limit_is_a_429_with_retry_after_and_creates_nothing(api, monkeypatch):
    limits(monkeypatch, RATE_LIMIT_REGISTER_PER_IP="3/3600")
    emails = [f"burst-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(5)]
    answers = [post(api, "/auth/register", {"email": e, "password": PASSWORD, "name": "B"}) for e in emails]
    assert [r.status_code for r in answers] == [201, 201, 201, 429, 429]
    assert [r.headers["RateLimit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
    over = answers[3]
    assert over.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(over.headers["Retry-After"]) <= 3600 and over.headers["RateLimit-Limit"] == "3"
    assert over.json_body["type"].endswith("/problems/too-many-requests")
    for refused in emails[3:]:
        assert login(api, refused).status_code == 401  # no half-created account


def test_failed_logins_back_off_then_lock_and_unknown_emails_answer_the_same(api, register, monkeypatch):
    limits(monkeypatch, LOGIN_BACKOFF_AFTER="100", LOGIN_LOCK_AFTER="5")
    user = register("customer")
    other = register("customer")
    unknown = f"ghost-{uuid.uuid4().hex[:6]}@example.com"

    def statuses(email: str) -> list[int]:
        return [login(api, email, "wrong-pass-9").status_code for _ in range(7)]

    assert statuses(user.email) == statuses(unknown) == [401] * 5 + [429, 429]
    locked = login(api, user.email, user.password)  # even the right password waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert login(api, other.email, other.password).status_code == 200


def test_backoff_makes_failed_logins_wait(api, register, monkeypatch):
    from chalicelib.services import accounts

    limits(monkeypatch, LOGIN_BACKOFF_AFTER="2", LOGIN_LOCK_AFTER="50")
    user = register("customer")
    # the third attempt must wait 1 s after the second: on a real clock the attempts can straddle
    # a second's boundary (a flaky 401), so the login's clock stands still
    frozen = float(int(time.time()))
    monkeypatch.setattr(accounts, "time", type("Clock", (), {"time": staticmethod(lambda: frozen)}))
    assert [login(api, user.email, "wrong-pass-9").status_code for _ in range(3)] == [401, 401, 429]


def test_limited_routes_send_ratelimit_headers(api, register, monkeypatch):
    limits(monkeypatch, RATE_LIMIT_LOGIN_PER_IP="100/60", RATE_LIMIT_LOGIN_PER_ACCOUNT="60/60")
    user = register("customer")
    resp = login(api, user.email, user.password)
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(resp.headers)
    assert "RateLimit-Limit" not in api.http.get("/me", headers=user.headers).headers


@pytest.mark.parametrize("route", ["/auth/verification-email"])
def test_verification_resend_is_limited_per_account(api, register, monkeypatch, route):
    limits(monkeypatch, RATE_LIMIT_VERIFICATION_PER_ACCOUNT="2/3600")
    user = register("customer", verified=False)
    codes = [post(api, route, headers=user.headers).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
