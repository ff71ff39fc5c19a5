"""A cold process builds each boto3 session, client and table once, however many threads ask.

The first listing of a cold process reads its partitions from many threads at once; each used
to build its own session and resource (~50 ms of CPU apiece: the first ``GET /products`` took
~1.2 s instead of ~0.25 s, ``make bench``'s "cold process" row). Nothing here calls AWS: boto3
builds clients and resources without a request.
"""

import threading

import boto3
import pytest

from chalicelib import clients


@pytest.fixture
def fresh_clients(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients.reset()
    yield
    clients.reset()


def count_calls(monkeypatch, owner: type, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def race(n: int, fn) -> list[object]:
    start = threading.Barrier(n)
    got: list[object] = []

    def run() -> None:
        start.wait()
        got.append(fn())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_threads_racing_to_a_cold_table_share_one_session_and_resource(fresh_clients, monkeypatch):
    sessions = count_calls(monkeypatch, boto3.session.Session, "__init__")
    resources = count_calls(monkeypatch, boto3.session.Session, "resource")
    tables = race(16, lambda: clients.table("CatalogTable"))
    assert len(sessions) == 1
    assert len(resources) == 1
    assert all(t is tables[0] for t in tables)


def test_threads_racing_to_a_cold_client_build_it_once(fresh_clients, monkeypatch):
    built = count_calls(monkeypatch, boto3.session.Session, "client")
    got = race(16, lambda: clients.client("dynamodb"))
    assert len(built) == 1
    assert all(c is got[0] for c in got)


def test_reset_forgets_what_was_built(fresh_clients):
    first = clients.client("dynamodb")
    clients.reset()
    assert clients.client("dynamodb") is not first
