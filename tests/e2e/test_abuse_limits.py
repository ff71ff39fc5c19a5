"""Bursts over real HTTP on a local stack with the app's default limits (the shared e2e stack
runs with them out of the way, ``conftest.LOOSE_LIMITS``): password guessing, mass
registration, forgot-password probing, and the verification gate at checkout."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e.conftest import running_stack, verification_token
from tests.e2e.workflow_support import Market
from tests.support import factories as f

pytestmark = pytest.mark.e2e
PASSWORD = "secret-pass-1"


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("strict"), limits={}) as stack:
        yield stack


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def test_fifty_wrong_passwords_lock_the_account_while_another_logs_in(strict_stack):
    victim, bystander = _email("victim"), _email("bystander")
    for email in (victim, bystander):
        assert strict_stack.post("/auth/register", json={"email": email, "password": PASSWORD,
                                                          "name": "V"}).status_code == 201
    answers = [strict_stack.post("/auth/login", json={"email": victim, "password": "wrong-pass-9"})
               for _ in range(50)]
    codes = [r.status_code for r in answers]
    assert set(codes) == {401, 429} and codes.count(401) <= 10, codes
    limited = [r for r in answers if r.status_code == 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert all(r.headers["Content-Type"].startswith("application/problem+json") for r in limited)
    # locked for the window: the right password is refused too...
    locked = strict_stack.post("/auth/login", json={"email": victim, "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60
    # ...while another account of the same client logs in normally
    ok = strict_stack.post("/auth/login", json={"email": bystander, "password": PASSWORD})
    assert ok.status_code == 200, ok.text
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(ok.headers)


def test_forgot_password_answers_identically_for_known_and_unknown(strict_stack):
    known = _email("known")
    assert strict_stack.post("/auth/register", json={"email": known, "password": PASSWORD,
                                                      "name": "K"}).status_code == 201
    a = strict_stack.post("/auth/password/forgot", json={"email": known})
    b = strict_stack.post("/auth/password/forgot", json={"email": _email("unknown")})
    assert a.status_code == b.status_code == 202
    assert a.content == b.content
    volatile = {"date", "ratelimit-remaining", "ratelimit-reset", "content-length", "server"}
    assert {k.lower() for k in a.headers} - volatile == {k.lower() for k in b.headers} - volatile


def test_unverified_checkout_is_403_then_succeeds_after_following_the_emailed_link(strict_stack):
    m = Market(strict_stack)
    seller = m.seller(stock=5)
    email = _email("buyer")
    reg = strict_stack.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "B"})
    assert reg.status_code == 201 and reg.json()["verified"] is False
    token = strict_stack.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
    product = seller.products[0]["product_id"]
    added = strict_stack.post("/cart/items", token, json={"product_id": product, "quantity": 1})
    assert added.status_code in (200, 201), added.text
    body = f.checkout_body({seller.id: "courier"})
    refused = strict_stack.post("/checkout", token, json=body, headers={"Idempotency-Key": "gate-" + uuid.uuid4().hex})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/problems/verification-required")
    link = f"/auth/links/{verification_token(strict_stack, email)}"
    page = strict_stack.get(link)
    assert page.status_code == 200 and "<form" in page.text  # GET shows the button, changes nothing
    assert strict_stack.post(link, data={"action": "verify"}).status_code == 200
    placed = strict_stack.post("/checkout", token, json=body, headers={"Idempotency-Key": "gate-" + uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text


# last: it spends this client's registration budget for the hour
def _away_from_a_window_edge(window_seconds: int, margin_seconds: int = 90) -> None:
    """Rate windows are fixed (they start on the clock: the hour for registrations); a burst
    that straddles the start of the next one is counted afresh there. Start the burst after
    the edge when it is close."""
    left = window_seconds - time.time() % window_seconds
    if left < margin_seconds:
        time.sleep(left + 1)


def test_a_hundred_registrations_from_one_client_are_cut_at_the_limit(strict_stack):
    _away_from_a_window_edge(3600)  # the register limit's window (chalicelib/config.py)
    emails = [_email("mass") for _ in range(100)]
    answers = [strict_stack.post("/auth/register", json={"email": e, "password": PASSWORD, "name": "M"})
               for e in emails]
    codes = [r.status_code for r in answers]
    created = codes.count(201)
    assert 0 < created < 100 and set(codes) == {201, 429}, codes
    assert codes == [201] * created + [429] * (100 - created)  # nothing gets through once over
    assert all(int(r.headers["Retry-After"]) >= 1 for r in answers[created:])
    # no half-created account: a refused address has no identity (it can log in nowhere) and
    # got no email
    pool = strict_stack.client("cognito-idp")
    users = pool.list_users(UserPoolId=strict_stack.env["USER_POOL_ID"])["Users"]
    known = {a["Value"] for u in users for a in u["Attributes"] if a["Name"] == "email"}
    assert not known & set(emails[created:])
    assert set(emails[:created]) <= known
    refused = emails[created]
    assert strict_stack.get("/local/emails", params={"to": refused}).json()["items"] == []
