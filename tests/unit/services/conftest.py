"""Service tests: the real services against the in-memory fakes of ``tests/support/fakes.py``.

No AWS here, not even moto: every boto3 getter of ``chalicelib.clients`` is replaced by one
that fails the test, so a service that still reaches past its ports is caught. What a service
reads from DynamoDB is handed to it by the test (the stores are tested with moto, in
``tests/functional``).
"""

from __future__ import annotations

import pytest

from chalicelib import clients
from chalicelib.config import settings
from tests.support import fakes

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"


def _no_aws(*args, **kwargs):
    raise AssertionError("a service test reached AWS: give the service a fake instead")


@pytest.fixture(autouse=True)
def no_aws(monkeypatch):
    for getter in ("client", "table", "dynamodb_resource"):
        monkeypatch.setattr(clients, getter, _no_aws)
    monkeypatch.setenv("ORDER_STATE_MACHINE_ARN", STATE_MACHINE_ARN)
    settings.cache_clear()
    yield
    fakes.uninstall_all()
    settings.cache_clear()


def _installed(fake):
    fakes.install(fake)  # no_aws takes every fake out again after the test
    return fake


@pytest.fixture
def state_machine() -> fakes.FakeStateMachine:
    return _installed(fakes.FakeStateMachine())


@pytest.fixture
def mailer() -> fakes.FakeMailer:
    return _installed(fakes.FakeMailer())


@pytest.fixture
def feed_objects() -> fakes.FakeFeedObjects:
    return _installed(fakes.FakeFeedObjects())


@pytest.fixture
def identity_provider() -> fakes.FakeIdentityProvider:
    return _installed(fakes.FakeIdentityProvider())
