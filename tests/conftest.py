"""Shared fixtures.

- ``aws``: an in-process moto (``mock_aws``) with every resource of ``infra/resources.py``
  created and the environment pointing the app at it.
- ``api``: a ``chalice.test.Client`` over the real app on top of ``aws``.
- ``users``: registers and logs in customers and sellers through the real routes.
- A module marked ``pytest.mark.module_stack`` shares one moto stack (``ledger_stack.py``).
- The fixture modules below (``pytest_plugins``) add theirs: the workflow running in-process
  (``flow``), the return tests' settings, the sandbox provider's webhooks, the e2e stacks and
  browser.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from pathlib import Path

import moto
import pytest
from moto import mock_aws

SHARED = Path(__file__).resolve().parents[2] / "shared"

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_XRAY_SDK_ENABLED": "false",
    "AWS_EC2_METADATA_DISABLED": "true",
    "MARKETPLACE_LOCAL": "1",
    "TZ": "UTC",
}
for _k, _v in BASE_ENV.items():
    os.environ[_k] = _v
os.environ.pop("AWS_ENDPOINT_URL", None)


# Fixture modules, registered once: a test asks for their fixtures by name and imports none.
pytest_plugins = [
    "tests.functional.ledger_stack",
    "tests.functional.workflow_stack",
    "tests.functional.returns_support",
    "tests.support.sandbox",
    "tests.e2e.workflow_support",
    "tests.e2e.browser_support",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "module_stack: the module's tests share one moto stack (``aws`` and ``api`` "
                                       "are tests/functional/ledger_stack.py's module-scoped ones)")
    from local import patches

    patches.quiet_stepfunctions_interpreter()
    patches.moto_speedups()  # what the local stack runs on: moto's answers, less CPU
    _one_botocore_loader()


class _SearchPaths(list):
    """A loader's search paths; each ``boto3.Session`` appends boto3's own again."""

    def append(self, path) -> None:
        if path not in self:
            super().append(path)


def _one_botocore_loader() -> None:
    """Every test starts new boto3 sessions (``mock_aws`` drops the default one, the app's
    clients are reset), and each new session parsed the JSON of each service model it used
    again: ~0.3 s of every test. A Lambda container keeps one session for its life; here all
    sessions share one loader, which parses each file once (what a long-lived session does)."""
    import botocore.session

    original, loaders = botocore.session.create_loader, {}

    def create_loader(search_path_string=None):
        if search_path_string not in loaders:
            loader = original(search_path_string)
            loader._search_paths = _SearchPaths(loader.search_paths)
            loaders[search_path_string] = loader
        return loaders[search_path_string]

    botocore.session.create_loader = create_loader


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory) -> str:
    """moto signs every pool's tokens with one key; in-process there is no HTTP endpoint
    to fetch its JWKS from, so the tests hand the verifier moto's public key file."""
    src = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-public.json.gz"
    dst = tmp_path_factory.mktemp("jwks") / "jwks.json"
    dst.write_text(json.dumps(json.loads(gzip.decompress(src.read_bytes()))))
    return dst.as_uri()


def _reset_caches() -> None:
    from chalicelib import clients
    from chalicelib.api import security
    from chalicelib.config import settings

    settings.cache_clear()
    clients.reset()
    security.reset_keys()


# Every test client calls from one address, and a test's hundreds of registrations, logins and
# checkouts are no abuse: the rate limits are off unless a test sets one (test_account_security,
# and the e2e abuse tests on a stack of their own).
LOOSE_LIMITS = {f"RATE_LIMIT_{group}_PER_{who}": "off"
                for group in ("REGISTER", "LOGIN", "PASSWORD", "VERIFICATION", "CHECKOUT", "TOPUP", "FEED_UPLOAD",
                              "RETURN", "LINK") for who in ("IP", "ACCOUNT")}


def _module_stack(request) -> bool:
    return request.node.get_closest_marker("module_stack") is not None


@pytest.fixture
def aws(request, monkeypatch, jwks_file):
    """A fresh moto stack for the test, or the module's (``module_stack``)."""
    if _module_stack(request):
        yield request.getfixturevalue("module_aws")
        return
    from local import bootstrap

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        env = bootstrap.create_all(prefix=f"t{uuid.uuid4().hex[:6]}")
        env["JWKS_URL"] = jwks_file
        for k, v in {**LOOSE_LIMITS, **env}.items():
            monkeypatch.setenv(k, v)
        _reset_caches()
        yield env
    _reset_caches()


@pytest.fixture
def api(request, aws):
    if _module_stack(request):
        yield request.getfixturevalue("module_api")
        return
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield client


def verification_token(api, email: str) -> str:
    """The token of the newest verification email to ``email`` in the local outbox."""
    resp = api.http.get(f"/local/emails?to={email}")
    assert resp.status_code == 200, resp.body
    for mail in resp.json_body["items"]:
        if mail["kind"] == "account_verify":
            link = next(u for u in mail["links"] if "/auth/links/" in u)
            return link.rsplit("/auth/links/", 1)[1]
    raise AssertionError(f"no verification email to {email}")


def verify_email(api, email: str) -> None:
    """Follow the verification link emailed to ``email`` (what its owner does)."""
    resp = api.http.post("/auth/verify", body=json.dumps({"token": verification_token(api, email)}),
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 204, resp.body


@pytest.fixture
def register(api):
    """``register(role="customer", verified=True, **fields) -> User`` through the real routes;
    ``verified``: the emailed link is followed, as its owner would."""
    from types import SimpleNamespace

    def _register(role: str = "customer", verified: bool = True, **fields):
        email = fields.pop("email", f"{role}-{uuid.uuid4().hex[:10]}@example.com")
        password = fields.pop("password", "secret-pass-1")
        body = {"email": email, "password": password, "name": fields.pop("name", role.title()), "role": role}
        resp = api.http.post("/auth/register", body=json.dumps(body), headers={"Content-Type": "application/json"})
        assert resp.status_code == 201, resp.body
        if verified:
            verify_email(api, email)
        login = api.http.post("/auth/login", body=json.dumps({"email": email, "password": password}),
                              headers={"Content-Type": "application/json"})
        assert login.status_code == 200, login.body
        token = login.json_body["access_token"]
        return SimpleNamespace(
            id=resp.json_body["user_id"], email=email, password=password, token=token,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    return _register


@pytest.fixture
def admin(api, aws, register):
    """A user in the admin group (admins are made by operators, never by registration)."""
    import boto3

    user = register("customer")
    boto3.client("cognito-idp").admin_add_user_to_group(
        UserPoolId=aws["USER_POOL_ID"], Username=user.email, GroupName="admin")
    resp = api.http.post("/auth/login", body=json.dumps({"email": user.email, "password": user.password}),
                         headers={"Content-Type": "application/json"})
    user.token = resp.json_body["access_token"]
    user.headers = {"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"}
    return user
