"""The local stack as a subprocess, shared by every e2e test of the session (of each xdist worker).

``stack`` starts ``python -m local --no-demo`` on free ports with short workflow timeouts
(``PAYMENT_TIMEOUT_SECONDS`` / ``SELLER_TIMEOUT_SECONDS`` / ``DELIVERY_AUTO_SECONDS``: 5 s
unless the environment sets them), waits for the state file it writes once it serves and
for ``/health``, and stops it at the end (``start_stack`` / ``running_stack`` start others).
If the stack dies or hangs, the test fails with its output. The object it yields:

- ``url`` (the API), ``moto_url`` (the AWS endpoint), ``env`` (what the app runs with:
  table names, ``FEEDS_BUCKET``, ``USER_POOL_ID``, ``ORDER_STATE_MACHINE_ARN``,
  ``IMPORT_QUEUE_URL``, ``IMPORT_DLQ_URL``, ``IMPORT_FUNCTION_NAME``,
  ``WORKFLOW_FUNCTION_NAME``, the timeouts ...),
- ``client(service)``: a boto3 client on the stack's moto,
- ``http``: a ``requests.Session``; ``get/post/put/delete(path, token=None, **kw)``,
- ``logs()`` / ``wait_for_log(predicate, timeout)``: the stack's JSON log lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.conftest import LOOSE_LIMITS

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("E2E_START_TIMEOUT", "90"))
# The shared stack serves every e2e test from one address (127.0.0.1): their hundreds of
# registrations and logins are not an abuse, so its limits are out of the way (``LOOSE_LIMITS``);
# the abuse tests (``test_abuse_limits.py``) start a stack with the default limits.
SHORT_TIMEOUTS = {
    "PAYMENT_TIMEOUT_SECONDS": "5",
    "SELLER_TIMEOUT_SECONDS": "5",
    "DELIVERY_AUTO_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    url: str
    moto_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def region(self) -> str:
        return self.env.get("AWS_REGION", "us-east-1")

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def request(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url + path, headers=headers, timeout=kw.pop("timeout", 30), **kw)

    def get(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        return self.request("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, token, **kw)

    def put(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, token, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, token, **kw)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        """The stack's JSON log lines (the banner and other plain lines are skipped)."""
        entries = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
        return entries

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.logs():
                if predicate(entry):
                    return entry
            if self.process.poll() is not None:
                raise AssertionError(f"the local stack exited ({self.process.returncode}):\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching log line in {timeout} s; last lines:\n{self.output()[-3000:]}")
            time.sleep(0.1)


def _wait_ready(proc: subprocess.Popen, log_path: Path, state_path: Path) -> dict[str, Any]:
    """The stack's state, from the file it writes atomically once it serves (its log is shared
    by several threads, so a line there may be interleaved with another)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if state_path.exists():
            return json.loads(state_path.read_text(encoding="utf-8"))
        text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
        if proc.poll() is not None:
            pytest.fail(f"the local stack exited with {proc.returncode} before it was ready:\n{text[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the local stack was not ready in {START_TIMEOUT:.0f} s:\n{text[-6000:]}")
        time.sleep(0.1)


def start_stack(workdir: Path, *, timeouts: dict[str, str] | None = None, demo: bool = False,
                limits: dict[str, str] | None = None, settings: dict[str, str] | None = None) -> Stack:
    """``python -m local`` on a free port (with the demo data when ``demo``), answering /health.
    ``timeouts``: the workflow's (default ``SHORT_TIMEOUTS``, unless the environment sets them);
    ``limits``: rate-limit settings (default ``LOOSE_LIMITS``; ``{}``: the app's defaults);
    ``settings``: any other environment of the stack (e.g. ``IMPORT_CHUNK_OFFERS``)."""
    log_path, state_path = workdir / "stack.log", workdir / "state.json"
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)
    if timeouts is None:
        timeouts = {key: os.environ.get(key, default) for key, default in SHORT_TIMEOUTS.items()}
    env.update(timeouts, PYTHONUNBUFFERED="1")
    env.update(LOOSE_LIMITS if limits is None else limits)
    env.update(settings or {})
    cmd = [sys.executable, "-m", "local", "--port", str(free_port()), "--state-file", str(state_path)]
    if not demo:
        cmd.append("--no-demo")
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        state = _wait_ready(proc, log_path, state_path)
        stack = Stack(url=state["url"], moto_url=state["moto_url"], env=state["env"], log_path=log_path, process=proc)
        resp = stack.get("/health")
        assert resp.status_code == 200, resp.text
    except BaseException:
        _stop(proc)
        raise
    return stack


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def verification_token(stack: Stack, email: str) -> str:
    """The token of the newest verification email to ``email`` in the stack's outbox."""
    resp = stack.get("/local/emails", params={"to": email})
    assert resp.status_code == 200, resp.text
    for mail in resp.json()["items"]:
        if mail["kind"] == "account_verify":
            return next(u for u in mail["links"] if "/auth/links/" in u).rsplit("/auth/links/", 1)[1]
    raise AssertionError(f"no verification email to {email}")


def verify_email(stack: Stack, email: str) -> None:
    """Follow the verification link emailed to ``email``, as its owner would (the link's page
    form posts to it)."""
    resp = stack.post(f"/auth/links/{verification_token(stack, email)}", data={"action": "verify"})
    assert resp.status_code == 200, resp.text


@contextlib.contextmanager
def running_stack(workdir: Path, *, demo: bool = False, limits: dict[str, str] | None = None,
                  settings: dict[str, str] | None = None) -> Iterator[Stack]:
    """``start_stack`` until the block ends."""
    stack = start_stack(workdir, demo=demo, limits=limits, settings=settings)
    try:
        yield stack
    finally:
        _stop(stack.process)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
