"""Accounts over the real routes on moto: register, login, logout, profile, roles."""

import json

import boto3
import jwt
import pytest

JSON = {"Content-Type": "application/json"}


def post(api, path, body, headers=None):
    return api.http.post(path, body=json.dumps(body), headers={**JSON, **(headers or {})})


def test_can_register_login_and_see_profile(api):
    resp = post(api, "/auth/register", {"email": "Ann@Example.com", "password": "pass-word-9", "name": "Ann"})
    assert resp.status_code == 201
    assert resp.json_body["email"] == "ann@example.com"
    assert resp.json_body["role"] == "customer"
    tokens = post(api, "/auth/login", {"email": "ann@example.com", "password": "pass-word-9"}).json_body
    me = api.http.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json_body["name"] == "Ann"
    assert me.json_body["user_id"] == resp.json_body["user_id"]


def test_can_change_profile_language(api, register):
    user = register()
    resp = api.http.patch("/me", body=json.dumps({"language": "en", "name": "New"}), headers=user.headers)
    assert resp.status_code == 200
    assert (resp.json_body["language"], resp.json_body["name"]) == ("en", "New")
    assert api.http.get("/me", headers=user.headers).json_body["language"] == "en"


def test_logout_makes_the_token_fail(api, register):
    user = register()
    assert api.http.post("/auth/logout", headers=user.headers).status_code == 204
    resp = api.http.get("/me", headers=user.headers)
    assert resp.status_code == 401
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert "revoked" in resp.json_body["detail"]


def test_logout_does_not_end_other_sessions(api, register):
    user = register()
    other = post(api, "/auth/login", {"email": user.email, "password": user.password}).json_body["access_token"]
    api.http.post("/auth/logout", headers={"Authorization": f"Bearer {other}"})
    assert api.http.get("/me", headers=user.headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.com", "password": "short1", "name": "X"}, "password"),
        ({"email": "x@example.com", "password": "nodigitshere", "name": "X"}, "password"),
        ({"email": "not-an-email", "password": "pass-word-9", "name": "X"}, "email"),
        ({"email": "x@example.com", "password": "pass-word-9", "name": "X", "role": "admin"}, "role"),
        ({"email": "x@example.com", "password": "pass-word-9", "name": "X", "user_id": "u1"}, "user_id"),
        ({"email": "x@example.com", "password": "pass-word-9", "name": "x" * 101}, "name"),
        ({"email": "x@example.com", "password": "pass-word-9"}, "name"),
        ({"email": 5, "password": "pass-word-9", "name": "X"}, "email"),
    ],
)
def test_error_on_bad_registration_names_the_field(api, body, field):
    resp = post(api, "/auth/register", body)
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in resp.json_body["errors"]]
    login = post(api, "/auth/login", {"email": "x@example.com", "password": "pass-word-9"})
    assert login.status_code == 401  # nothing was created


def test_registering_a_taken_email_answers_like_a_new_one_and_changes_nothing(api, register):
    user = register()
    fresh = post(api, "/auth/register", {"email": f"new-{user.email}", "password": "pass-word-9", "name": "Y"})
    taken = post(api, "/auth/register", {"email": user.email, "password": "pass-word-9", "name": "Y"})
    assert taken.status_code == fresh.status_code == 201
    assert set(taken.json_body) == set(fresh.json_body) and taken.json_body["verified"] is False
    assert taken.json_body["user_id"] != user.id
    # the owner's password is unchanged, and the owner is told by email
    assert post(api, "/auth/login", {"email": user.email, "password": user.password}).status_code == 200
    assert post(api, "/auth/login", {"email": user.email, "password": "pass-word-9"}).status_code == 401
    kinds = [m["kind"] for m in api.http.get(f"/local/emails?to={user.email}").json_body["items"]]
    assert "account_exists" in kinds


def test_error_on_malformed_json(api):
    resp = api.http.post("/auth/register", body=b'{"email": ', headers=JSON)
    assert resp.status_code == 400
    assert resp.json_body["errors"][0]["field"] == "body"


def test_error_on_wrong_password(api, register):
    user = register()
    resp = post(api, "/auth/login", {"email": user.email, "password": "wrong-pass-1"})
    assert resp.status_code == 401


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer not.a.jwt", "Bearer " + "a" * 50],
)
def test_error_on_missing_or_malformed_token(api, header):
    resp = api.http.get("/me", headers={"Authorization": header} if header else {})
    assert resp.status_code == 401
    assert resp.json_body["status"] == 401


def test_error_on_forged_token(api, register):
    user = register()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({**claims, "cognito:groups": ["admin"]}, key, algorithm="RS256", headers={"kid": "dummy"})
    assert api.http.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_error_on_expired_token(api, register):
    """A token signed with the pool's real key, but past its expiry."""
    import gzip
    import time
    from pathlib import Path

    import moto

    user = register()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    private = json.loads(gzip.decompress(
        (Path(moto.__file__).parent / "cognitoidp/resources/jwks-private.json.gz").read_bytes()))
    key = jwt.PyJWK.from_dict(private).key
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, algorithm="RS256",
                         headers={"kid": "dummy"})
    resp = api.http.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401
    assert "expired" in resp.json_body["detail"]


def test_error_on_customer_calling_seller_route(api, register):
    user = register("customer")
    resp = api.http.get("/seller/shop", headers=user.headers)
    assert resp.status_code == 403
    assert "seller" in resp.json_body["detail"]


def test_refresh_gives_a_working_token_until_logout(api, register):
    user = register()
    tokens = post(api, "/auth/login", {"email": user.email, "password": user.password}).json_body
    fresh = post(api, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert fresh.status_code == 200
    headers = {"Authorization": f"Bearer {fresh.json_body['access_token']}"}
    assert api.http.get("/me", headers=headers).status_code == 200


def test_role_is_a_pool_group(api, aws, register):
    user = register("seller")
    groups = boto3.client("cognito-idp").admin_list_groups_for_user(UserPoolId=aws["USER_POOL_ID"],
                                                                     Username=user.email)["Groups"]
    assert [g["GroupName"] for g in groups] == ["seller"]
