"""HTTP benchmark: checkout on the local stack under 20 concurrent clients, against GET /health.

Run: ``.venv/bin/python -m bench.http_bench`` (also part of ``make bench``).

Starts ``python -m local --no-demo`` on free ports (the whole system in one process: moto, the
Chalice dev server, the workflow running every order in the background), creates a seller
whose catalog comes in through the S3 feed drop, and customers with funded wallets — all
through the API. Then, in the same run and with the same 20 client threads:

1. ``GET /health``: each client sends requests back to back for ``BENCH_HTTP_SECONDS``;
2. checkout: each client repeatedly puts one product in its cart (``POST /cart/items``) and
   checks out (``POST /checkout`` with a fresh ``Idempotency-Key``) for the same time.

Figures: requests/s and p50/p99 latency of each, and their ratios — the ratios are comparable
across machines, the absolute numbers (a local emulator, ~5 ms per DynamoDB call, one Python
process serving everything) are not. Checkout throughput counts successful checkouts (201) per
second of the phase, the cart write included in its time; latency is the checkout request's.
The stack's CPU per request (user + system time of its process over the phase, divided by the
requests served) is the figure a busy, shared machine disturbs least.
The stack's workflow timeouts are long, so orders stay PAID while the bench runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = int(os.environ.get("BENCH_HTTP_CLIENTS", "20"))
SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "20"))
# the local stack's goal at 20 clients: 4x the 4 checkouts/s first measured, a p50 under a second
GOAL_RATE, GOAL_P50_MS = 16.0, 1000.0
READY = "LOCAL_STACK_READY "
PASSWORD = "secret-pass-1"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
ADDRESS = {"recipient": "Bench", "phone": "+79990000000", "country": "RU", "city": "Moscow", "street": "1 Bench st"}
FEED = ("offer_id;name;price;currency;stock\n"
        + "".join(f"b{i};Bench item {i};10,00;RUB;1000000\n" for i in range(5))).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """``python -m local`` in a child process, stopped on exit."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
        env.update(PAYMENT_TIMEOUT_SECONDS="3600", SELLER_TIMEOUT_SECONDS="3600", DELIVERY_AUTO_SECONDS="3600",
                   PYTHONUNBUFFERED="1")
        # one load generator on one address is not an abuse: the per-client limits are off
        # (the failed-login backoff stays; the bench logs in with right passwords only)
        env.update({f"RATE_LIMIT_{group}_PER_{who}": "off" for who in ("IP", "ACCOUNT") for group in (
            "REGISTER", "LOGIN", "PASSWORD", "VERIFICATION", "CHECKOUT", "TOPUP", "FEED_UPLOAD", "RETURN", "LINK")})
        env.update(extra_env or {})  # bench/limits_bench.py: the limits on
        self.log = workdir / "stack.log"
        cmd = [sys.executable, "-m", "local", "--port", str(_free_port()), "--no-demo",
               "--state-file", str(workdir / "state.json")]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            lines = self.log.read_text(errors="replace").splitlines()
            ready = next((line for line in lines if line.startswith(READY)), None)
            if ready:
                state = json.loads(ready[len(READY):])
                self.url, self.moto_url, self.env = state["url"], state["moto_url"], state["env"]
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local stack did not start:\n" + "\n".join(lines[-30:]))
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _call(session: requests.Session, method: str, url: str, **kw: Any) -> requests.Response:
    for attempt in range(5):  # the dev server's listen backlog is small: retry a refused connection
        try:
            return session.request(method, url, timeout=120, **kw)
        except requests.ConnectionError:
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _user(url: str, role: str) -> dict[str, Any]:
    s = requests.Session()
    email = f"bench-{role}-{uuid.uuid4().hex[:10]}@example.com"
    reg = _call(s, "POST", url + "/auth/register", json={"email": email, "password": PASSWORD, "name": role,
                                                         "role": role})
    assert reg.status_code == 201, reg.text
    mails = _call(s, "GET", url + "/local/emails", params={"to": email}).json()["items"]
    link = next(u for m in mails if m["kind"] == "account_verify" for u in m["links"] if "/auth/links/" in u)
    verified = _call(s, "POST", url + "/auth/verify", json={"token": link.rsplit("/auth/links/", 1)[1]})
    assert verified.status_code == 204, verified.text
    login = _call(s, "POST", url + "/auth/login", json={"email": email, "password": PASSWORD})
    s.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return {"id": reg.json()["user_id"], "session": s}


def _setup(stack: Stack) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    import boto3

    url = stack.url
    seller = _user(url, "seller")
    shop = {"name": "Bench shop", "contact_email": "bench-shop@example.com", "language": "en", "currency": "RUB",
            "delivery_methods": [{"id": "courier", "name": "Courier", "price": 0, "days": 1}]}
    assert _call(seller["session"], "PUT", url + "/seller/shop", json=shop).status_code == 200
    s3 = boto3.client("s3", endpoint_url=stack.moto_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.put_object(Bucket=stack.env["FEEDS_BUCKET"], Key=f"feeds/{seller['id']}/bench.csv", Body=FEED)
    deadline = time.monotonic() + 60
    while True:
        items = _call(seller["session"], "GET", url + f"/products?seller={seller['id']}").json()["items"]
        if len(items) == 5:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the bench feed was not imported")
        time.sleep(0.2)
    customers = [_user(url, "customer") for _ in range(CLIENTS)]
    for c in customers:
        resp = _call(c["session"], "POST", url + "/wallet/topups", json={"amount": 1_000_000_000, "card": CARD},
                     headers={"Idempotency-Key": uuid.uuid4().hex})
        assert resp.status_code == 201, resp.text
    return seller, [i["product_id"] for i in items], customers


def _phase(customers: list[dict[str, Any]], work) -> tuple[int, float, list[float], int]:
    """Run ``work(client_index, session) -> (ok, seconds)`` in every client for SECONDS."""
    latencies: list[list[float]] = [[] for _ in customers]
    done, errors = [0] * len(customers), [0] * len(customers)
    barrier = threading.Barrier(len(customers) + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        barrier.wait()
        while time.monotonic() < stop_at[0]:
            ok, seconds = work(n, customers[n]["session"])
            if ok:
                done[n] += 1
                latencies[n].append(seconds)
            else:
                errors[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(customers))]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + SECONDS
    started = time.monotonic()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(done), elapsed, sorted(x for lane in latencies for x in lane), sum(errors)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def run() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp))
        try:
            seller, products, customers = _setup(stack)
            url = stack.url

            def health(n: int, session: requests.Session) -> tuple[bool, float]:
                t = time.perf_counter()
                resp = _call(session, "GET", url + "/health")
                return resp.status_code == 200, time.perf_counter() - t

            def checkout(n: int, session: requests.Session) -> tuple[bool, float]:
                product = products[n % len(products)]
                added = _call(session, "POST", url + "/cart/items", json={"product_id": product, "quantity": 1})
                if added.status_code not in (200, 201):
                    return False, 0.0
                body = {"delivery": {seller["id"]: "courier"}, "payment_method": "wallet", "address": ADDRESS}
                t = time.perf_counter()
                resp = _call(session, "POST", url + "/checkout", json=body,
                             headers={"Idempotency-Key": uuid.uuid4().hex})
                return resp.status_code == 201, time.perf_counter() - t

            out = {}
            for name, work in (("health", health), ("checkout", checkout)):
                cpu = _cpu_seconds(stack.proc.pid)
                n, elapsed, lat, errors = _phase(customers, work)
                cpu = _cpu_seconds(stack.proc.pid) - cpu
                out[name] = {"n": n, "rate": n / elapsed, "p50": _pct(lat, 50) * 1000, "p99": _pct(lat, 99) * 1000,
                             "errors": errors, "cpu_ms": cpu / max(n, 1) * 1000}
            return out
        finally:
            stack.stop()


def main() -> list[tuple[str, str, str]]:
    print(f"HTTP bench: local stack, {CLIENTS} concurrent clients, {SECONDS:.0f} s per phase")
    r = run()
    h, c = r["health"], r["checkout"]
    for name, x in (("GET /health", h), ("POST /checkout", c)):
        print(f"  {name:<15} {x['n']:6d} ok in the phase = {x['rate']:7.1f}/s   p50 {x['p50']:7.1f} ms   "
              f"p99 {x['p99']:7.1f} ms   errors {x['errors']}   stack CPU {x['cpu_ms']:6.1f} ms each")
    ratio_rate, ratio_p50, ratio_p99 = c["rate"] / h["rate"], c["p50"] / h["p50"], c["p99"] / h["p99"]
    print(f"  checkout vs health: throughput x{ratio_rate:.3f}, p50 x{ratio_p50:.1f}, p99 x{ratio_p99:.1f}")
    met = c["rate"] >= GOAL_RATE and c["p50"] <= GOAL_P50_MS
    goal = f"goal >= {GOAL_RATE:.0f}/s with p50 <= {GOAL_P50_MS / 1000:.0f} s: {'met' if met else 'NOT met'}"
    print(f"  checkout {goal}")
    clients = f"{CLIENTS} clients"
    return [
        (f"GET /health, {clients}", f"{h['rate']:.0f} req/s, p50 {h['p50']:.0f} ms, p99 {h['p99']:.0f} ms", "baseline"),
        (f"POST /checkout, {clients} (cart add + checkout)",
         f"{c['rate']:.1f} checkouts/s, p50 {c['p50']:.0f} ms, p99 {c['p99']:.0f} ms, errors {c['errors']}, "
         f"stack CPU {c['cpu_ms']:.0f} ms per checkout",
         f"{goal}; x{ratio_rate:.3f} of health's rate, p50 x{ratio_p50:.1f}, p99 x{ratio_p99:.1f} of health's"),
    ]


if __name__ == "__main__":
    main()
