"""Orders whose workflow never started: the reconciler (the scheduled ``reconcile_orders``
function, invoked through Lambda as EventBridge would) starts them by the order id, so the
order is driven to a final state and its stock returns; nothing is left reserved or held."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.services import checkout, ledger
from chalicelib.store import orders as order_store
from infra import resources as res
from local import bootstrap
from local.poller import scheduled_event
from tests.support import factories as f
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def run_reconciler(flow) -> dict[str, int]:
    """One scheduled run, through Lambda Invoke of the deployed-shape function."""
    prefix = settings().commerce_table.split("-")[0]
    resp = boto3.client("lambda").invoke(FunctionName=bootstrap.function_name(prefix, res.RECONCILE_FUNCTION),
                                         Payload=json.dumps(scheduled_event("us-east-1")))
    assert not resp.get("FunctionError"), resp["Payload"].read()
    return json.loads(resp["Payload"].read())


def no_execution(flow, order_id: str) -> bool:
    try:
        flow.execution(order_id)
    except boto3.client("stepfunctions").exceptions.ExecutionDoesNotExist:
        return True
    return False


@pytest.fixture
def lost_starts(flow, monkeypatch):
    """The checkout process dies after writing the orders, before StartExecution, and the
    client never retries: the response never tells anyone the start is missing."""
    monkeypatch.setattr(checkout, "start_workflows", lambda orders: None)
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")
    settings.cache_clear()
    return flow


def test_an_order_whose_start_was_lost_is_started_and_its_stock_returns(lost_starts, monkeypatch):
    flow = lost_starts
    flow.timeouts(payment=2)  # the customer has no money: the payment wait expires
    seller, customer = flow.seller(stock=3), flow.customer()
    oid = flow.buy(customer, seller, quantity=2)["order_id"]
    assert no_execution(flow, oid)
    assert f.stock_of(seller.product["product_id"]) == 1  # reserved, and nothing will ever release it

    monkeypatch.undo()  # the scheduled function runs in a healthy process
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")
    flow.timeouts(payment=2)
    assert run_reconciler(flow)["started"] >= 1

    assert flow.execution(oid)["name"] == oid
    order = flow.wait_status(oid, "CANCELLED", timeout=30)
    assert order["cancelled_by"] in ("timeout", "system")
    wait_until(lambda: f.stock_of(seller.product["product_id"]) == 3, 15, "the reserved units to return")
    assert ledger.hold_state(oid) is None
    # the workflow took the order off the pending list: the next run has nothing to do for it
    assert oid not in {o.order_id for o in order_store.workflow_pending("9999", 100)}


def test_a_recent_order_is_left_to_its_checkout(flow, monkeypatch):
    monkeypatch.setattr(checkout, "start_workflows", lambda orders: None)
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "3600")
    settings.cache_clear()
    seller, customer = flow.seller(stock=3), flow.customer()
    oid = flow.buy(customer, seller)["order_id"]
    run_reconciler(flow)
    assert no_execution(flow, oid)  # within the grace period a client retry starts it
    # the client retries (same Idempotency-Key): the checkout starts it, nothing is left pending
    assert checkout.start_workflow(order_store.load(oid))
    flow.wait_parked(oid, "payment")
    assert oid not in {o.order_id for o in order_store.workflow_pending("9999", 100)}


def test_a_start_that_already_happened_is_not_repeated(flow, monkeypatch):
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")
    settings.cache_clear()
    seller, customer = flow.seller(stock=3), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    first = flow.execution(oid)["executionArn"]
    run_reconciler(flow)
    assert flow.execution(oid)["executionArn"] == first
    assert flow.order(oid)["status"] == "PAID"
    assert flow.wallet(customer)["held"] == seller.product["price"] + 35000  # one courier delivery
