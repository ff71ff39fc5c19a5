"""The reconciler on the local stack: an order whose checkout died before starting its
workflow is started by the stack's scheduled ``reconcile_orders`` (a timer standing in for
EventBridge), driven to a final state, and its stock returns.

The checkout runs in this test process against the stack's own DynamoDB, with the start
taken away — exactly what a Lambda killed between the order write and ``StartExecution``
leaves behind; the client never retries.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from chalicelib.store import keys
from tests.conftest import _reset_caches
from tests.e2e.test_checkout_concurrency import _catalog, _customer_with, _put_product, _seller, _stock
from tests.support import factories as f
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def on_the_stack(stack, monkeypatch):
    """This process's app code pointed at the stack's AWS endpoint and tables."""
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _reset_caches()
    yield stack
    monkeypatch.undo()
    _reset_caches()


def test_an_order_whose_workflow_never_started_is_finished_by_the_reconciler(on_the_stack, monkeypatch):
    from chalicelib.services import checkout

    stack = on_the_stack
    seller = _seller(stack)
    product = _put_product(stack, f.product(seller["id"], price=4000, stock=4))
    customer = _customer_with(stack, product["product_id"], quantity=3)  # no money: the payment wait expires

    monkeypatch.setattr(checkout, "start_workflows", lambda orders: None)  # the process dies here
    placed = checkout.checkout(customer_id=customer["id"], checkout_id=uuid.uuid4().hex,
                               delivery={seller["id"]: "courier"}, address=dict(f.ADDRESS), payment_method="wallet")
    (order,) = placed["orders"]
    oid = order["order_id"]
    assert _stock(stack, product["product_id"]) == 1
    sfn = stack.client("stepfunctions")
    arn = stack.env["ORDER_STATE_MACHINE_ARN"].replace(":stateMachine:", ":execution:") + f":{oid}"
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=arn)

    stack.wait_for_log(lambda e: e.get("msg") == "reconciler started a lost order workflow"
                       and e.get("order_id") == oid, timeout=60)
    assert sfn.describe_execution(executionArn=arn)["name"] == oid

    def final() -> dict | None:
        resp = requests.get(f"{stack.url}/orders/{oid}", headers=customer["headers"], timeout=10)
        return resp.json() if resp.json().get("status") == "CANCELLED" else None

    cancelled = wait_until(final, 60, f"order {oid} to be cancelled by the payment timeout")
    assert any(e["type"] == "workflow_started" for e in cancelled["timeline"])
    wait_until(lambda: _stock(stack, product["product_id"]) == 4, 30, "the reserved units to return")
    item = _catalog(stack).get_item(Key=keys.product(product["product_id"]), ConsistentRead=True)["Item"]
    assert int(item.get("reserved", 0)) == 0
