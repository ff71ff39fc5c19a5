"""The second half of the operations of ``test_schemathesis.py`` (a file of its own, so that a
second test worker checks it while the first checks the first half)."""

from __future__ import annotations

import pytest

from tests.e2e.test_schemathesis import check_operations

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


def test_every_operation_answers_generated_requests_within_its_contract_second_half(stack):
    check_operations(stack, 1)
