"""Rate-limit benchmark: what the limiter costs a limited route.

Run: ``.venv/bin/python -m bench.limits_bench`` (also part of ``make bench``).

1. **DynamoDB calls the limiter adds**, per request of a limited route, counted in one
   in-process moto (``mock_aws``) with a botocore ``before-call.dynamodb.*`` hook: the same
   request with every limit ``off`` and with the limits on. Target: one conditional
   ``UpdateItem`` per counted dimension (per client address, and per account where the group
   has one) — ``store/limits.py``.
2. **Login latency with and without the limiter** on the local stack (``python -m local``):
   two stacks up at once, one with the limits off and one with them on (counts high enough
   that nothing is refused, so every login pays the counting), sequential logins sent to each
   in turn; the ratio of the medians is comparable across machines, the milliseconds are not.
   The emulator's UpdateItem is far slower than DynamoDB's (it parses both expressions in
   Python on every call), so the local ratio overstates what the two UpdateItems cost on AWS.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

LOGINS = int(os.environ.get("BENCH_LIMIT_LOGINS", "200"))
GROUPS = ("REGISTER", "LOGIN", "PASSWORD", "VERIFICATION", "CHECKOUT", "TOPUP", "FEED_UPLOAD", "RETURN", "LINK")
# counted but never refusing: the bench measures the counting, not the refusals
HIGH = {f"RATE_LIMIT_{g}_PER_{who}": "1000000/60" for g in GROUPS for who in ("IP", "ACCOUNT")}
OFF = {key: "off" for key in HIGH}


def _count_calls() -> list[tuple[str, Counter[str], Counter[str]]]:
    """(route, calls with the limits off, calls with them on) for login and a top-up."""
    import json

    from moto import mock_aws

    from bench.commerce_bench import _setup
    from bench.support import use_emulator_env

    use_emulator_env(in_process=True)
    out = []
    with mock_aws():
        counter = _setup()
        from chalice.test import Client

        from app import app
        from chalicelib.config import settings
        from chalicelib.store import accounts

        email, password = f"limits-{uuid.uuid4().hex[:8]}@example.com", "secret-pass-1"
        with Client(app) as client:
            http, headers = client.http, {"Content-Type": "application/json"}
            body = json.dumps({"email": email, "password": password, "name": "L", "role": "customer"})
            user_id = json.loads(http.post("/auth/register", body=body, headers=headers).body)["user_id"]
            accounts.mark_verified(user_id, "2026-01-01T00:00:00+00:00")
            login_body = json.dumps({"email": email, "password": password})

            def login() -> Any:
                resp = http.post("/auth/login", body=login_body, headers=headers)
                assert resp.status_code == 200, resp.body
                return json.loads(resp.body)["access_token"]

            def topup(token: str) -> None:
                resp = http.post("/wallet/topups", body=json.dumps({"amount": 1000, "card": {
                    "number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}}),
                    headers={**headers, "Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
                assert resp.status_code == 201, resp.body

            runs: dict[str, dict[str, Counter[str]]] = {"POST /auth/login": {}, "POST /wallet/topups": {}}
            for mode, env in (("off", OFF), ("on", HIGH)):
                os.environ.update(env)
                settings.cache_clear()
                token = login()  # warm: the first call of a mode pays nothing extra below
                with counter.measure() as calls:
                    token = login()
                    runs["POST /auth/login"][mode] = Counter(calls)
                topup(token)
                with counter.measure() as calls:
                    topup(token)
                    runs["POST /wallet/topups"][mode] = Counter(calls)
        for route, modes in runs.items():
            out.append((route, modes["off"], modes["on"]))
    return out


def _login_latencies() -> tuple[list[float], list[float]]:
    """Sorted login seconds on a stack with the limits off and on one with them on, both up at
    once and called alternately, so both see the same machine load."""
    import requests

    from bench import http_bench

    with tempfile.TemporaryDirectory() as tmp_off, tempfile.TemporaryDirectory() as tmp_on:
        stacks = [http_bench.Stack(Path(tmp_off), extra_env=OFF)]
        try:
            stacks.append(http_bench.Stack(Path(tmp_on), extra_env=HIGH))
            targets = []
            for stack in stacks:
                user = http_bench._user(stack.url, "customer")
                email = http_bench._call(user["session"], "GET", stack.url + "/me").json()["email"]
                targets.append((stack.url + "/auth/login", {"email": email, "password": http_bench.PASSWORD},
                                requests.Session()))
            times: list[list[float]] = [[], []]
            for n in range(LOGINS + 10):  # the first 10 of each warm caches and connections
                for i in ((0, 1) if n % 2 else (1, 0)):  # each goes first half of the time
                    url, body, session = targets[i]
                    t = time.perf_counter()
                    resp = http_bench._call(session, "POST", url, json=body)
                    if n >= 10:
                        times[i].append(time.perf_counter() - t)
                    assert resp.status_code == 200, resp.text
            return sorted(times[0]), sorted(times[1])
        finally:
            for stack in stacks:
                stack.stop()


def _fmt(calls: Counter[str]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(calls.items())) or "none"


def main() -> list[tuple[str, str, str]]:
    rows = []
    print("DynamoDB calls per request, limits off -> on")
    for route, off, on in _count_calls():
        added = on - off
        print(f"  {route}: {sum(off.values())} ({_fmt(off)}) -> {sum(on.values())} ({_fmt(on)}); "
              f"added: {_fmt(added)}")
        rows.append((f"{route}: DynamoDB calls the limiter adds", f"{sum(added.values())} ({_fmt(added)})",
                     "target: 1 conditional UpdateItem per counted dimension (address, account)"))
    off, on = _login_latencies()
    p50_off, p50_on = statistics.median(off), statistics.median(on)
    p99_off, p99_on = off[int(0.99 * (len(off) - 1))], on[int(0.99 * (len(on) - 1))]
    print(f"login latency on the local stack ({LOGINS} sequential logins): limits off p50 {p50_off * 1000:.1f} ms "
          f"p99 {p99_off * 1000:.1f} ms; on p50 {p50_on * 1000:.1f} ms p99 {p99_on * 1000:.1f} ms")
    rows.append(("login latency with / without the limiter (p50, local stack)", f"{p50_on / p50_off:.2f}x",
                 f"{p50_on * 1000:.1f} ms vs {p50_off * 1000:.1f} ms; p99 {p99_on * 1000:.1f} vs "
                 f"{p99_off * 1000:.1f} ms"))
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
