"""Commerce benchmark: DynamoDB calls per cart and checkout operation vs the floor.

Run: ``.venv/bin/python -m bench.commerce_bench`` (also part of ``make bench``).

Everything runs in one in-process moto (``mock_aws``) with the tables of
``infra/resources.py``. Calls are counted with a botocore ``before-call.dynamodb.*`` hook on
the session ``chalicelib.clients`` builds every client from, so every call the code makes is
seen — retries by botocore excepted (they are not API calls the code asked for).

Two columns per operation:

- **service**: the use case alone (``services/cart.py``, ``services/checkout.py``) — what
  the access pattern costs; compared with the floor written below;
- **route**: the same operation through the HTTP route, which adds the caller's revocation
  check (one GetItem: logout must take effect, docs/architecture.md decision 2) and, for checkout, the
  idempotency record (claim + complete).

Floors (the fewest calls the access patterns allow; the reasoning is in the docstrings of
``services/cart.py`` and ``services/checkout.py``):

- add to cart (a product new to the cart) = 3: read the product (price, availability, stock,
  seller), then its seller's shop (the delivery prices the line records as seen: product ids
  do not name the seller, so the shop waits for the product), write the line. We spend 4: a
  Query of the cart makes the line cap exact and lets the 409 say how many units are already
  in the cart. (A product already in the cart costs 3: its line names the seller, so product
  and shop come in one BatchGetItem.)
- get cart = 2: Query the lines; then products and shops together in ONE BatchGetItem across
  two tables (the seller id is on each line, so the shops need not wait for the products).
- checkout (any number of sellers, up to 29 lines) = 3: the lines; products + shops; ONE
  TransactWriteItems (reservations, orders, cart deletes, checkout record). Each step needs
  the previous one's answer, and the write must be one call to be atomic.
- checkout with one promo code = the same checkout without one (the target): the code
  and the customer's use counter join the products + shops BatchGetItem, the code's counters
  and its redemption record join the one TransactWriteItems. Measured on the same cart (2
  sellers x 3 items) with one seller's percent code, limited in uses and per customer.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.support import CallCounter, use_emulator_env

use_emulator_env(in_process=True)

FLOOR = {"add to cart": 3, "get cart": 2, "checkout 2 sellers x 3 items": 3,
         "checkout 2 sellers x 3 items + 1 promo code": 3}
WITHOUT_CODE, WITH_CODE = "checkout 2 sellers x 3 items", "checkout 2 sellers x 3 items + 1 promo code"


def _jwks_uri() -> str:
    import moto

    src = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-public.json.gz"
    dst = Path(tempfile.mkdtemp()) / "jwks.json"
    dst.write_text(json.dumps(json.loads(gzip.decompress(src.read_bytes()))))
    return dst.as_uri()


def _setup() -> CallCounter:
    from local import bootstrap

    env = bootstrap.create_all(prefix=f"b{uuid.uuid4().hex[:6]}")
    env["JWKS_URL"] = _jwks_uri()
    os.environ.update(env)
    from chalicelib import clients
    from chalicelib.api import security
    from chalicelib.config import settings

    settings.cache_clear()
    clients.reset()
    security.reset_keys()
    counter = CallCounter()
    # register before any client exists: clients copy the session's event hooks when made
    clients._session().events.register("before-call.dynamodb.*", counter)
    return counter


def _user(http: Any, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "secret-pass-1", "name": role, "role": role}
    user_id = json.loads(http.post("/auth/register", body=json.dumps(body),
                                   headers={"Content-Type": "application/json"}).body)["user_id"]
    from chalicelib.store import accounts

    accounts.mark_verified(user_id, "2026-01-01T00:00:00+00:00")  # the emailed link, as a store call
    login = http.post("/auth/login", body=json.dumps({"email": email, "password": "secret-pass-1"}),
                      headers={"Content-Type": "application/json"})
    token = json.loads(login.body)["access_token"]
    return {"id": user_id, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _headers(user: dict[str, str], **extra: str) -> dict[str, str]:
    return {"Authorization": user["Authorization"], "Content-Type": "application/json", **extra}


def run() -> list[dict[str, Any]]:
    from chalice.test import Client

    from app import app
    from chalicelib.services import cart, checkout
    from tests.support import factories as f

    counter = _setup()
    rows = []
    with Client(app) as client:
        http = client.http
        sellers = [_user(http, "seller") for _ in range(2)]
        products = []
        for s in sellers:
            f.put_shop(f.shop(s["id"]))
            products.append([f.put_product(f.product(s["id"], stock=1000))["product_id"] for _ in range(3)])
        customer = _user(http, "customer")
        route_customer = _user(http, "customer")
        delivery = {s["id"]: "courier" for s in sellers}

        def measure(name: str, service_call: Any, route_call: Any) -> Any:
            with counter.measure() as calls:
                result = service_call()
                service = dict(calls)
            with counter.measure() as calls:
                status = route_call()
                route = dict(calls)
            assert status in (200, 201), (name, status)
            rows.append({"operation": name, "service": sum(service.values()), "floor": FLOOR[name],
                         "route": sum(route.values()), "service_calls": service, "route_calls": route})
            return result

        # fill both carts with 6 lines (2 sellers x 3 products) but the last one, then measure the last add
        flat = [p for group in products for p in group]
        for pid in flat[:-1]:
            cart.add(customer["id"], pid, 1)
            http.post("/cart/items", body=json.dumps({"product_id": pid, "quantity": 1}),
                      headers=_headers(route_customer))
        measure("add to cart",
                lambda: cart.add(customer["id"], flat[-1], 1),
                lambda: http.post("/cart/items", body=json.dumps({"product_id": flat[-1], "quantity": 1}),
                                  headers=_headers(route_customer)).status_code)
        measure("get cart",
                lambda: cart.view(customer["id"]),
                lambda: http.get("/cart", headers=_headers(route_customer)).status_code)
        body = f.checkout_body(delivery)
        placed = measure("checkout 2 sellers x 3 items",
                lambda: checkout.checkout(customer_id=customer["id"], checkout_id="c-bench-1", delivery=delivery,
                                          address=f.ADDRESS, payment_method="wallet"),
                lambda: http.post("/checkout", body=json.dumps(body),
                                  headers=_headers(route_customer, **{"Idempotency-Key": "bench-key-1"})).status_code)
        assert [len(o["items"]) for o in placed["orders"]] == [3, 3]

        # the same checkout again, with one seller's code: two fresh customers, the same six lines
        from chalicelib.services import promos

        promos.create(sellers[0]["id"], {"code": "BENCH10", "kind": "percent", "value": 10, "max_uses": 1000,
                                         "max_uses_per_customer": 1})
        coded, route_coded = _user(http, "customer"), _user(http, "customer")
        for pid in flat:
            cart.add(coded["id"], pid, 1)
            http.post("/cart/items", body=json.dumps({"product_id": pid, "quantity": 1}), headers=_headers(route_coded))
        coded_body = f.checkout_body(delivery, promo_codes=["bench10"])
        placed = measure(WITH_CODE,
                lambda: checkout.checkout(customer_id=coded["id"], checkout_id="c-bench-2", delivery=delivery,
                                          address=f.ADDRESS, payment_method="wallet", promo_codes=["bench10"]),
                lambda: http.post("/checkout", body=json.dumps(coded_body),
                                  headers=_headers(route_coded, **{"Idempotency-Key": "bench-key-2"})).status_code)
        discounted = [o for o in placed["orders"] if o.get("discount")]
        assert len(discounted) == 1 and discounted[0]["seller_id"] == sellers[0]["id"], placed["orders"]
    return rows


def main() -> list[tuple[str, str, str]]:
    import logging

    from moto import mock_aws

    from chalicelib import logs

    logs.log.setLevel(logging.WARNING)  # one JSON line per request would bury the table
    with mock_aws():
        rows = run()
    print("DynamoDB calls per operation (in-process moto; floor = fewest the access patterns allow)")
    print(f"{'operation':<44} {'service':>7} {'floor':>5} {'route':>5}  service calls | route extras")
    for r in rows:
        extras = Counter(r["route_calls"]) - Counter(r["service_calls"])
        svc = ", ".join(f"{k}×{v}" for k, v in sorted(r["service_calls"].items()))
        print(f"{r['operation']:<44} {r['service']:>7} {r['floor']:>5} {r['route']:>5}  {svc} | "
              + (", ".join(f"{k}×{v}" for k, v in sorted(extras.items())) or "-"))
    print("add to cart: 4 vs floor 3 (product, its shop's delivery prices, the line) — one Query of the cart keeps "
          "the 29-line cap exact and tells the 409 how many units are in the cart already.")
    print("route extras: GetItem = the token revocation check (logout); PutItem/UpdateItem on checkout = the "
          "idempotency record's claim and completion (UpdateItem×2).")
    by_name = {r["operation"]: r for r in rows}
    plain, coded = by_name[WITHOUT_CODE], by_name[WITH_CODE]
    print(f"promo code: checkout with one code {coded['service']} calls (route {coded['route']}) vs without "
          f"{plain['service']} (route {plain['route']}); target: the same")
    out = [(f"DynamoDB calls: {r['operation']}", f"service {r['service']}, route {r['route']}",
            f"floor {r['floor']}") for r in rows]
    out.append(("DynamoDB calls: checkout with 1 promo code vs without",
                f"{coded['service']} vs {plain['service']} (route {coded['route']} vs {plain['route']})",
                "target: the same"))
    return out


if __name__ == "__main__":
    main()
