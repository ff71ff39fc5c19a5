"""When Cognito throttles (or a data store does), the API says "retry later" — 503
problem+json with ``Retry-After`` — instead of a 500, and no half-made account is left."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib import clients

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)

JSON = {"Content-Type": "application/json"}
PROBLEM = "application/problem+json"
THROTTLES = ["TooManyRequestsException", "LimitExceededException", "ThrottlingException"]


def throttle(code: str, operation: str):
    """A Cognito method that answers as a throttled pool does (a botocore ClientError)."""

    def raise_(*_, **__):
        raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)

    return raise_


def post(api, path: str, body: dict):
    return api.http.post(path, body=json.dumps(body), headers=JSON)


def assert_retry_later(resp) -> None:
    assert resp.status_code == 503, resp.body
    assert resp.headers["Content-Type"] == PROBLEM
    assert int(resp.headers["Retry-After"]) >= 1
    problem = resp.json_body
    assert problem["status"] == 503 and problem["retry_after"] == int(resp.headers["Retry-After"])
    assert "Traceback" not in resp.body.decode() and "Rate exceeded" not in problem["detail"]


@pytest.fixture
def idp(api):
    """The app's own Cognito client (the one the routes call)."""
    return clients.client("cognito-idp")


@pytest.mark.parametrize("code", THROTTLES)
def test_login_on_a_throttled_pool_is_a_503_with_retry_after(api, register, idp, monkeypatch, code):
    user = register("customer")
    monkeypatch.setattr(idp, "initiate_auth", throttle(code, "InitiateAuth"))
    assert_retry_later(post(api, "/auth/login", {"email": user.email, "password": user.password}))
    monkeypatch.undo()
    assert post(api, "/auth/login", {"email": user.email, "password": user.password}).status_code == 200


@pytest.mark.parametrize("code", THROTTLES)
def test_register_on_a_throttled_pool_is_a_503_and_the_email_stays_free(api, idp, monkeypatch, code):
    body = {"email": f"t-{uuid.uuid4().hex[:8]}@example.com", "password": "pass-word-9", "name": "T"}
    monkeypatch.setattr(idp, "admin_create_user", throttle(code, "AdminCreateUser"))
    assert_retry_later(post(api, "/auth/register", body))
    monkeypatch.undo()
    assert post(api, "/auth/register", body).status_code == 201


def test_register_throttled_after_sign_up_is_a_503_and_removes_the_identity(api, aws, idp, monkeypatch):
    body = {"email": f"t-{uuid.uuid4().hex[:8]}@example.com", "password": "pass-word-9", "name": "T"}
    monkeypatch.setattr(idp, "admin_add_user_to_group", throttle("TooManyRequestsException", "AdminAddUserToGroup"))
    assert_retry_later(post(api, "/auth/register", body))
    users = boto3.client("cognito-idp").list_users(UserPoolId=aws["USER_POOL_ID"])["Users"]
    assert body["email"] not in {a["Value"] for u in users for a in u["Attributes"] if a["Name"] == "email"}


def test_refresh_on_a_throttled_pool_is_a_503(api, register, idp, monkeypatch):
    user = register("customer")
    tokens = post(api, "/auth/login", {"email": user.email, "password": user.password}).json_body
    monkeypatch.setattr(idp, "initiate_auth", throttle("TooManyRequestsException", "InitiateAuth"))
    assert_retry_later(post(api, "/auth/refresh", {"refresh_token": tokens["refresh_token"]}))


def test_a_throttled_data_store_behind_any_route_is_a_503_with_retry_after(api, register, monkeypatch):
    from chalicelib.store import accounts

    user = register("customer")
    monkeypatch.setattr(accounts, "get_profile",
                        throttle("ProvisionedThroughputExceededException", "GetItem"))
    resp = api.http.get("/me", headers=user.headers)
    assert_retry_later(resp)
