"""One moto stack per test module for the wallet, ledger, workflow and idempotency tests.

A module marked ``pytest.mark.module_stack`` gets these module-scoped ``module_aws`` and
``module_api`` as its ``aws`` and ``api`` (``tests/conftest.py`` hands them out; this module is
registered there as a plugin): building the stack (user pool, tables, bucket...) costs about a
second, and these modules have dozens of tests.
Tests stay independent by using fresh users, order ids and idempotency keys; the ledger's
global invariants hold across all of them anyway.
"""

from __future__ import annotations

import uuid

import pytest
from moto import mock_aws

from tests.conftest import LOOSE_LIMITS, _reset_caches


@pytest.fixture(scope="module")
def module_aws(jwks_file):
    from local import bootstrap

    with pytest.MonkeyPatch.context() as mp, mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        env = bootstrap.create_all(prefix=f"t{uuid.uuid4().hex[:6]}")
        env["JWKS_URL"] = jwks_file
        for k, v in {**LOOSE_LIMITS, **env}.items():
            mp.setenv(k, v)
        _reset_caches()
        yield env
    _reset_caches()


@pytest.fixture(scope="module")
def module_api(module_aws):
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield client
