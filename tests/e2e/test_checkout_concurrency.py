"""Checkout on the local stack over real HTTP, under concurrency.

- 200 customers check out a product with stock 20 at once: exactly 20 orders, the stock
  never below zero and ending at zero (plus whatever the workflow already gave back from
  cancelled orders). These tests run on the patient stack (a minute for payment and for the seller): with
  the shared stacks' 5 seconds, an order placed early in a burst that outlasts them (a busy
  machine) was cancelled during it, its unit went back on sale and a 21st checkout got it;
- 50 concurrent checkouts with one Idempotency-Key: one set of orders;
- a two-seller cart: two orders with their own delivery, each with its workflow execution.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests

from chalicelib.store import keys
from tests.e2e.conftest import Stack, verify_email
from tests.support import factories as f

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(patient_stack) -> Stack:
    """No order times out while a burst of checkouts runs (tests/e2e/workflow_support.py)."""
    return patient_stack

PASSWORD = "secret-pass-1"
SHOP = {"name": "E2E Shop", "contact_email": "shop@example.com", "language": "en", "currency": "RUB",
        "delivery_methods": [{"id": "courier", "name": "Courier", "price": 30000, "days": 2},
                             {"id": "pickup", "name": "Pickup", "price": 0, "days": 1}]}


def _send(method: str, url: str, **kw) -> requests.Response:
    """One HTTP call; a connection refused or reset (Chalice's dev server has a small listen
    backlog, and 200 clients connect at once) is retried — checkouts carry an
    Idempotency-Key, so a retry can never place a second set of orders."""
    for attempt in range(8):
        try:
            return requests.request(method, url, timeout=120, **kw)
        except requests.ConnectionError:
            if attempt == 7:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def _register(stack, role: str) -> dict:
    email = f"{role}-{uuid.uuid4().hex[:12]}@example.com"
    resp = _send("POST", stack.url + "/auth/register",
                 json={"email": email, "password": PASSWORD, "name": role.title(), "role": role})
    assert resp.status_code == 201, resp.text
    verify_email(stack, email)
    login = _send("POST", stack.url + "/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"id": resp.json()["user_id"], "headers": {"Authorization": f"Bearer {login.json()['access_token']}"}}


def _seller(stack, methods=None) -> dict:
    seller = _register(stack, "seller")
    body = {**SHOP, "delivery_methods": methods or SHOP["delivery_methods"]}
    resp = _send("PUT", stack.url + "/seller/shop", json=body, headers=seller["headers"])
    assert resp.status_code == 200, resp.text
    return seller


def _catalog(stack):
    return boto3.resource("dynamodb", endpoint_url=stack.moto_url, region_name=stack.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing"
                          ).Table(stack.env["CATALOG_TABLE"])


def _put_product(stack, item: dict) -> dict:
    _catalog(stack).put_item(Item={**keys.product(item["product_id"]), **item})
    return item


def _stock(stack, product_id: str) -> int:
    return int(_catalog(stack).get_item(Key=keys.product(product_id), ConsistentRead=True)["Item"]["stock"])


def _customer_with(stack, product_id: str, quantity: int = 1) -> dict:
    customer = _register(stack, "customer")
    resp = _send("POST", stack.url + "/cart/items", json={"product_id": product_id, "quantity": quantity},
                 headers=customer["headers"])
    assert resp.status_code == 200, resp.text
    return customer


def _checkout(stack, customer: dict, seller_id: str, key: str | None = None) -> requests.Response:
    headers = {**customer["headers"], "Idempotency-Key": key or uuid.uuid4().hex}
    return _send("POST", stack.url + "/checkout", json=f.checkout_body({seller_id: "courier"}), headers=headers)


def _all_seller_orders(stack, seller: dict) -> list[dict]:
    out, cursor = [], None
    while True:
        url = stack.url + "/seller/orders?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = _send("GET", url, headers=seller["headers"]).json()
        out += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def _released_units(stack, order_ids: list[str]) -> int:
    """Units the workflow already returned (orders cancelled by the short payment timeout)."""
    table = boto3.resource("dynamodb", endpoint_url=stack.moto_url, region_name=stack.region,
                           aws_access_key_id="testing", aws_secret_access_key="testing"
                           ).Table(stack.env["COMMERCE_TABLE"])
    units = 0
    for oid in order_ids:
        item = table.get_item(Key=keys.order(oid), ConsistentRead=True)["Item"]
        if item.get("stock_released"):
            units += sum(int(i["quantity"]) for i in item["items"] if i.get("reserved"))
    return units


def test_200_concurrent_checkouts_of_stock_20_make_exactly_20_orders(stack):
    seller = _seller(stack)
    product = _put_product(stack, f.product(seller["id"], price=5000, stock=20))
    with ThreadPoolExecutor(max_workers=16) as pool:
        customers = list(pool.map(lambda _: _customer_with(stack, product["product_id"]), range(200)))

    lowest, stop = [20], threading.Event()

    def watch_stock():
        while not stop.is_set():
            lowest[0] = min(lowest[0], _stock(stack, product["product_id"]))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_stock, daemon=True)
    watcher.start()
    barrier = threading.Barrier(200)

    def go(customer):
        barrier.wait()
        return customer, _checkout(stack, customer, seller["id"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(go, customers))
    elapsed = time.monotonic() - started
    stop.set()
    watcher.join()

    statuses = [r.status_code for _, r in results]
    assert statuses.count(201) == 20, sorted(set(statuses))
    assert statuses.count(409) == 180, {s: statuses.count(s) for s in set(statuses)}
    for customer, resp in results:
        if resp.status_code == 201:
            (order,) = resp.json()["orders"]
            assert order["customer_id"] == customer["id"]  # each request ran as its own caller
            assert order["items"][0]["quantity"] == 1
        else:
            assert resp.json()["lines"][0]["available"] == 0
    orders = _all_seller_orders(stack, seller)
    assert len(orders) == 20
    assert len({o["customer_id"] for o in orders}) == 20
    assert lowest[0] >= 0
    assert _stock(stack, product["product_id"]) == _released_units(stack, [o["order_id"] for o in orders])
    print(f"200 concurrent checkouts: {elapsed:.1f} s")


def test_50_concurrent_checkouts_with_one_key_place_one_set_of_orders(stack):
    seller = _seller(stack)
    product = _put_product(stack, f.product(seller["id"], price=1000, stock=100))
    customer = _customer_with(stack, product["product_id"], quantity=2)
    key = "same-key-" + uuid.uuid4().hex
    barrier = threading.Barrier(50)

    def go(_):
        barrier.wait()
        return _checkout(stack, customer, seller["id"], key=key)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(go, range(50)))
    created = [r for r in results if r.status_code == 201]
    assert created, [r.status_code for r in results]
    assert all(r.status_code in (201, 409) for r in results), {r.status_code for r in results}
    assert len({tuple(o["order_id"] for o in r.json()["orders"]) for r in created}) == 1
    in_flight = [r for r in results if r.status_code == 409]
    assert all(r.json()["type"].endswith("idempotency-in-flight") for r in in_flight)
    mine = _send("GET", stack.url + "/orders", headers=customer["headers"]).json()["items"]
    assert len(mine) == 1
    assert _stock(stack, product["product_id"]) in (98, 100)  # 100 only if the workflow already restocked
    replay = _checkout(stack, customer, seller["id"], key=key)
    assert replay.status_code == 201
    assert replay.json()["orders"][0]["order_id"] == mine[0]["order_id"]


def test_two_seller_cart_makes_two_orders_each_with_its_workflow(stack):
    one = _seller(stack)
    two = _seller(stack, methods=[{"id": "post", "name": "Post", "price": 15000, "days": 7}])
    a = _put_product(stack, f.product(one["id"], price=1000, stock=5))
    b = _put_product(stack, f.product(two["id"], price=2500, stock=None))
    customer = _customer_with(stack, a["product_id"], quantity=2)
    resp = _send("POST", stack.url + "/cart/items", json={"product_id": b["product_id"], "quantity": 1},
                 headers=customer["headers"])
    assert resp.status_code == 200
    cart = _send("GET", stack.url + "/cart", headers=customer["headers"]).json()
    assert len(cart["carts"]) == 2
    headers = {**customer["headers"], "Idempotency-Key": uuid.uuid4().hex}
    body = f.checkout_body({one["id"]: "pickup", two["id"]: "post"})
    resp = _send("POST", stack.url + "/checkout", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    orders = {o["seller_id"]: o for o in resp.json()["orders"]}
    assert orders[one["id"]]["delivery"]["method_id"] == "pickup"
    assert orders[one["id"]]["total"] == {"amount": 2000, "currency": "RUB"}
    assert orders[two["id"]]["delivery"]["method_id"] == "post"
    assert orders[two["id"]]["total"] == {"amount": 2500 + 15000, "currency": "RUB"}
    sfn = stack.client("stepfunctions")
    names = set()
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.env["ORDER_STATE_MACHINE_ARN"]):
        names |= {e["name"] for e in page["executions"]}
    assert {o["order_id"] for o in orders.values()} <= names
