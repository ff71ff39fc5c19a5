"""The first request of a cold process: import the app, then answer ``GET /products``.

What a Lambda cold start costs before its first answer, against the same for a minimal Chalice
app: ``app.py`` with one ``/products`` route that reads 20 items of the same catalog table with
boto3 (one Scan: the smallest app that answers from DynamoDB). Both run in fresh interpreters
(byte code compiled once, like a deployed package) against one emulator — moto's server, started
here, with the tables of ``local/bootstrap.py`` and a few products written the way the import
writes them. Each child times, in process, the import and then the first request through the
app's Lambda handler (``app(event, context)`` with an API Gateway proxy event, as Lambda calls
it): boto3's import, the first client and every DynamoDB call of the route land in the request.
A second, warm ``GET /products`` in the same process gives what the route costs every time (its
DynamoDB calls: the app's listing reads several partitions, the minimal app makes one call), so
``import + first - warm`` is what being cold adds. The runs alternate (app, minimal, app, …)
so both see the same machine load; medians, and the ratios app / minimal are the comparable
figures. X-Ray is off, as on the local stack; with active tracing the app's first client also
imports the X-Ray SDK (``clients.py``).

Run alone: ``.venv/bin/python -m bench.first_request``.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))

MINIMAL_APP = '''
import os

import boto3
from chalice import Chalice

app = Chalice(app_name="minimal")
_table = None


@app.route("/products")
def products():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL")).Table(
            os.environ["CATALOG_TABLE"])
    items = _table.scan(Limit=20)["Items"]
    return {"items": [{k: str(v) for k, v in item.items()} for item in items]}
'''

# Runs in the child: cwd holds the app.py to measure.
CHILD = '''
import json, time
from types import SimpleNamespace
t0 = time.perf_counter()
from app import app
t1 = time.perf_counter()
event = {
    "resource": "/products", "path": "/products", "httpMethod": "GET",
    "headers": {"accept": "application/json", "host": "bench.local"},
    "multiValueHeaders": {"accept": ["application/json"], "host": ["bench.local"]},
    "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
    "stageVariables": None, "body": None, "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/products", "httpMethod": "GET", "requestId": "bench-first-request",
                       "stage": "api", "path": "/api/products", "apiId": "bench",
                       "identity": {"sourceIp": "127.0.0.1"}},
}
context = SimpleNamespace(aws_request_id="bench-first-request", function_name="api", memory_limit_in_mb=512,
                          get_remaining_time_in_millis=lambda: 30000)
response = app(event, context)
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
assert app(event, context)["statusCode"] == 200
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "request_s": t2 - t1, "warm_s": t3 - t2,
                  "items": len(json.loads(response["body"])["items"])}))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(env: dict[str, str], products: int = 5) -> None:
    """A shop and ``products`` products, written by the catalog store (as a feed import would)."""
    os.environ.update(env)
    from chalicelib.domain.catalog import product_id
    from chalicelib.store import accounts, catalog

    _forget_clients()
    seller = "bench-seller"
    accounts.put_shop(seller, {"seller_id": seller, "name": "Bench shop", "blocked": False, "currency": "RUB",
                               "delivery_methods": [], "created_at": "2026-01-01T00:00:00Z"})
    items = []
    for n in range(products):
        items += catalog.product_items({
            "product_id": product_id(seller, f"o{n}"), "seller_id": seller, "offer_id": f"o{n}",
            "name": f"Bench product {n}", "description": "", "price": 10000 + n, "currency": "RUB",
            "available": True, "stock": 10, "pictures": [f"https://img.example/{n}.jpg"],
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
    catalog.batch_write(puts=items)


def _forget_clients() -> None:
    from chalicelib import clients
    from chalicelib.config import settings

    settings.cache_clear()
    clients.reset()


def _run(cwd: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=cwd, env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def first_request() -> dict[str, float]:
    """Medians (seconds) of import, first request and their sum, for the app and the minimal app."""
    import logging

    from moto.server import ThreadedMotoServer

    from bench.support import EMULATOR_ENV
    from local import bootstrap

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's access log
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved_env = dict(os.environ)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
        env.update(EMULATOR_ENV)
        env.update(AWS_ENDPOINT_URL=endpoint, PYTHONDONTWRITEBYTECODE="0")
        os.environ.update(env)
        env.update(bootstrap.create_all(endpoint, "us-east-1", f"fr{uuid.uuid4().hex[:6]}"))
        _seed(env)
        with tempfile.TemporaryDirectory() as tmp:
            minimal = Path(tmp)
            (minimal / "app.py").write_text(MINIMAL_APP, encoding="utf-8")
            runs: dict[str, list[dict[str, float]]] = {"app": [], "minimal": []}
            for warm_up in (ROOT, minimal):  # byte code compiled once, as in a deployed package
                _run(warm_up, env)
            for _ in range(REPEATS):
                runs["app"].append(_run(ROOT, env))
                runs["minimal"].append(_run(minimal, env))
    finally:
        server.stop()
        os.environ.clear()  # the benchmarks that follow must not find the stopped emulator
        os.environ.update(saved_env)
        _forget_clients()
    result = {}
    for name, measured in runs.items():
        for key in ("import_s", "request_s", "warm_s"):
            result[f"{name}_{key}"] = statistics.median(m[key] for m in measured)
        result[f"{name}_total_s"] = statistics.median(m["import_s"] + m["request_s"] for m in measured)
        result[f"{name}_cold_s"] = statistics.median(m["import_s"] + m["request_s"] - m["warm_s"] for m in measured)
    result["ratio"] = result["app_total_s"] / result["minimal_total_s"]
    result["cold_ratio"] = result["app_cold_s"] / result["minimal_cold_s"]
    return result


def describe(r: dict[str, float]) -> str:
    ms = {k: v * 1000 for k, v in r.items() if k.endswith("_s")}
    return (f"first request of a cold process (import + first GET /products, moto): app {ms['app_total_s']:.0f} ms "
            f"(import {ms['app_import_s']:.0f} + request {ms['app_request_s']:.0f}; warm request "
            f"{ms['app_warm_s']:.0f}), minimal Chalice app {ms['minimal_total_s']:.0f} ms (import "
            f"{ms['minimal_import_s']:.0f} + request {ms['minimal_request_s']:.0f}; warm request "
            f"{ms['minimal_warm_s']:.0f}); ratio {r['ratio']:.2f}; what being cold adds (import + first - warm): "
            f"app {ms['app_cold_s']:.0f} ms, minimal {ms['minimal_cold_s']:.0f} ms, ratio {r['cold_ratio']:.2f} "
            f"(medians of {REPEATS} fresh interpreters)")


if __name__ == "__main__":
    print(describe(first_request()))
