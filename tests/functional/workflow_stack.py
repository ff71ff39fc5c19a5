"""The order workflow running in-process: moto executes the real ASL, its ``lambda:invoke``
tasks run ``chalicelib.events.workflow`` through ``local/patches.py``'s Lambda hook.

Fixtures (registered in ``tests/conftest.py``; a module using them is marked
``pytest.mark.module_stack``: one moto stack per module, ``ledger_stack.py``):
``workflow_machine`` (the workflow functions and the order and return state machines, built by
``local/bootstrap.py`` from the same definitions as the local stack and the template) and
``flow`` (a ``Market`` driving purchases through the real routes). Tests stay independent by
using fresh users and orders. Timeouts default to a minute; a test that waits for one sets it
first (``flow.timeouts(seller=2)``) — the "start" step reads them when the execution starts.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store import orders as order_store
from chalicelib.store import workflow as wf_store
from tests.support import factories as f
from tests.waiting import wait_until

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


class Market:
    def __init__(self, api, register, monkeypatch, machine_arn: str):
        self.api, self.register, self.mp, self.machine_arn = api, register, monkeypatch, machine_arn

    # --- configuration
    def timeouts(self, *, payment: int = 60, seller: int = 60, shipment: int = 60, delivery: int = 60) -> None:
        self.mp.setenv("PAYMENT_TIMEOUT_SECONDS", str(payment))
        self.mp.setenv("SELLER_TIMEOUT_SECONDS", str(seller))
        self.mp.setenv("SHIPMENT_TIMEOUT_SECONDS", str(shipment))
        self.mp.setenv("DELIVERY_AUTO_SECONDS", str(delivery))
        settings.cache_clear()
        # Prime the cache now: chalice.test.Client swaps os.environ for the "dev" stage's during
        # each request, so a cache filled inside a request would hold that stage's timeouts.
        assert settings().payment_timeout_seconds == payment

    # --- people and things
    def seller(self, *, lang: str = "en", stock: int | None = 5, price: int = 10000):
        user = self.register("seller")
        shop = f.shop(user.id, name="Boots & Co")
        shop.update(contact_email=f"shop-{user.id[:8]}@example.com", language=lang)
        f.put_shop(shop)
        user.shop_email = shop["contact_email"]
        user.product = f.put_product(f.product(user.id, price=price, stock=stock, name="Winter boots"))
        return user

    def customer(self, *, balance: int = 0):
        user = self.register("customer")
        if balance:
            self.topup(user, balance)
        return user

    def topup(self, user, amount: int):
        resp = self.api.http.post("/wallet/topups", headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex},
                                  body=json.dumps({"amount": amount, "card": CARD}))
        assert resp.status_code in (200, 201), resp.body
        return resp

    def buy(self, customer, seller, quantity: int = 1) -> dict[str, Any]:
        shopper = f.Shopper(self.api, customer)
        assert shopper.add(seller.product["product_id"], quantity).status_code in (200, 201)
        resp = shopper.checkout(f.checkout_body({seller.id: "courier"}))
        assert resp.status_code == 201, resp.body
        (order,) = resp.json_body["orders"]
        return order

    # --- HTTP
    def post(self, path: str, user, body: Any = None):
        kwargs: dict[str, Any] = {"headers": dict(user.headers)}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        return self.api.http.post(path, **kwargs)

    def wallet(self, user) -> dict[str, Any]:
        """The customer's balances as integers of minor units: the API's money objects (checked
        to be in the wallet's currency) read as their amounts."""
        resp = self.api.http.get("/wallet", headers=user.headers)
        assert resp.status_code == 200, resp.body
        body = resp.json_body
        assert body["available"]["currency"] == body["held"]["currency"] == body["currency"], body
        return {"available": body["available"]["amount"], "held": body["held"]["amount"], "currency": body["currency"]}

    def earnings(self, seller) -> int:
        """The seller's earnings in minor units (the amount of the API's money object)."""
        resp = self.api.http.get("/seller/balance", headers=seller.headers)
        assert resp.status_code == 200, resp.body
        return int(resp.json_body["earnings"]["amount"])

    # --- observing
    def order(self, order_id: str) -> dict[str, Any]:
        """The stored order item, as the table holds it."""
        item = boto3.resource("dynamodb").Table(settings().commerce_table).get_item(
            Key=keys.order(order_id), ConsistentRead=True).get("Item")
        return order_store.strip(item) or {}

    def wait_status(self, order_id: str, status: str, timeout: float = 15) -> dict[str, Any]:
        return wait_until(lambda: (o := self.order(order_id)).get("status") == status and o,
                          timeout, f"order {order_id} to be {status} (is {self.order(order_id).get('status')})")

    def wait_event(self, order_id: str, type_: str, timeout: float = 15) -> dict[str, Any]:
        return wait_until(lambda: next((e for e in self.order(order_id).get("timeline", [])
                                        if e["type"] == type_), None), timeout, f"{type_} on {order_id}")

    def wait_parked(self, order_id: str, kind: str, timeout: float = 15) -> None:
        wait = wf_store.order_wait(order_id, kind)
        wait_until(lambda: wf_store.has_token(wait), timeout, f"{kind} wait of {order_id}")

    def execution(self, order_id: str) -> dict[str, Any]:
        sfn = boto3.client("stepfunctions")
        arn = self.machine_arn.replace(":stateMachine:", ":execution:") + f":{order_id}"
        return sfn.describe_execution(executionArn=arn)

    def wait_execution_done(self, order_id: str, timeout: float = 20) -> dict[str, Any]:
        return wait_until(lambda: (d := self.execution(order_id))["status"] != "RUNNING" and d, timeout,
                          f"execution {order_id} to finish")

    def deliver(self, order_id: str, seller, customer) -> str:
        """A paid order through its happy path: the seller confirms and ships, the customer
        receives it, the execution ends."""
        self.wait_parked(order_id, "seller")
        assert self.post(f"/seller/orders/{order_id}/confirm", seller).status_code == 200
        self.wait_parked(order_id, "shipment")
        assert self.post(f"/seller/orders/{order_id}/ship", seller).status_code == 200
        self.wait_parked(order_id, "receipt")
        assert self.post(f"/orders/{order_id}/received", customer).status_code == 200
        self.wait_execution_done(order_id)
        return order_id

    def emails(self, to: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in wf_store.list_outbox(500, to=to) if kind is None or e["kind"] == kind]

    def wait_email(self, to: str, kind: str, timeout: float = 15) -> dict[str, Any]:
        return wait_until(lambda: next(iter(self.emails(to, kind)), None), timeout, f"{kind} email to {to}")

    def link(self, seller, order_id: str, action: str) -> str:
        mail = wait_until(lambda: next((e for e in self.emails(seller.shop_email, "new_order")
                                         if e["order_id"] == order_id), None), 15, f"new_order email of {order_id}")
        return next(u for u in mail["links"] if "/actions/" in u and self._action_of(u) == action)

    @staticmethod
    def _action_of(url: str) -> str:
        from chalicelib.notify.links import verify_link_token

        token = url.rsplit("/actions/", 1)[1]
        return verify_link_token(settings().link_secret, token, int(time.time())).action


@pytest.fixture(scope="module")
def workflow_machine(module_aws):
    """The workflow function and the state machine, once per module (building them costs ~3 s)."""
    from local import bootstrap, patches

    patches.run_lambdas_in_process()
    patches.serialize_dynamodb()
    patches.callbacks_skip_starting_executions()
    patches.parse_each_definition_once()
    prefix = module_aws["ACCOUNTS_TABLE"].split("-")[0]
    region = "us-east-1"
    arns = bootstrap.create_functions(None, region, prefix, dict(module_aws))
    machine = bootstrap.create_state_machine(None, region, prefix, arns)
    returns_machine = bootstrap.create_return_state_machine(None, region, prefix, arns)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORDER_STATE_MACHINE_ARN", machine)
        mp.setenv("RETURN_STATE_MACHINE_ARN", returns_machine)
        settings.cache_clear()
        yield machine
        # Stop what still waits (e.g. for a shipment), so no execution thread outlives the mock.
        sfn = boto3.client("stepfunctions")
        for arn in (machine, returns_machine):
            for ex in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                stop_execution(ex["executionArn"])
    settings.cache_clear()


def stop_execution(arn: str, *, within: float = 10.0) -> None:
    """Stop one execution as an operator would. moto's execution thread builds its environment
    after ``StartExecution`` returns; a stop that lands before that raises AttributeError inside
    moto, so wait for the thread rather than fail the test's teardown."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + within
    while True:
        try:
            sfn.stop_execution(executionArn=arn)
            return
        except AttributeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(name="flow")
def flow_fixture(workflow_machine, api, register, monkeypatch):
    market = Market(api, register, monkeypatch, workflow_machine)
    market.timeouts()
    yield market
    settings.cache_clear()
