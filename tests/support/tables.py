"""Tables only, no HTTP stack: one set of freshly created tables in moto for a test module.

The search tests build their catalog once per module and only read it afterwards, so they
share one set of tables (``module_tables``) instead of the per-test stack of ``tests/conftest``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto import mock_aws

from chalicelib import clients
from chalicelib.config import settings


def _reset() -> None:
    settings.cache_clear()
    clients.reset()


@contextmanager
def module_tables(prefix: str) -> Iterator[None]:
    """Every table of the system created in moto under a fresh name (``<prefix><hex>``), the
    settings pointing at them, and the settings and clients reset on the way out."""
    from local import bootstrap

    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for k, v in bootstrap.create_tables(None, "us-east-1", f"{prefix}{uuid.uuid4().hex[:6]}").items():
            mp.setenv(k, v)
        _reset()
        try:
            yield
        finally:
            _reset()
