"""Checkout starts one workflow execution per order, named by the order id; a start that
failed answers 503 with the orders to retry, and a retry starts only what is missing."""

from __future__ import annotations

import pytest

from chalicelib.adapters.stepfunctions import SYSTEM
from chalicelib.config import settings
from chalicelib.domain.orders import Order, order_id
from chalicelib.errors import DependencyFailed, DependencyUnavailable, Unavailable
from chalicelib.services import checkout


def an_order(seller: str, total: int = 1500) -> Order:
    return Order(order_id=order_id("checkout-1", seller, 1_700_000_000_000), customer_id="customer-1",
                 seller_id=seller, status="AWAITING_PAYMENT", total=total, currency="RUB")


def test_each_order_gets_an_execution_named_by_its_id(state_machine):
    orders = [an_order("seller-a"), an_order("seller-b", 900)]

    checkout.start_workflows(orders)

    assert set(state_machine.executions) == {o.order_id for o in orders}
    assert state_machine.executions[orders[1].order_id].input == {
        "order_id": orders[1].order_id, "customer_id": "customer-1", "seller_id": "seller-b", "total": 900,
        "currency": "RUB"}


def test_an_execution_that_already_exists_counts_as_started(state_machine):
    order = an_order("seller-a")
    assert checkout.start_workflow(order) is True

    assert checkout.start_workflow(order) is False  # the retry, or the reconciler, came first
    checkout.start_workflows([order])  # no error: nothing is missing
    assert len(state_machine.executions) == 1


@pytest.mark.parametrize("failure", [DependencyUnavailable(SYSTEM, "ThrottlingException"),
                                     DependencyFailed(SYSTEM, "AccessDeniedException")])
def test_error_on_a_start_that_fails_names_the_orders_to_retry(state_machine, failure):
    first, second = an_order("seller-a"), an_order("seller-b")
    state_machine.fail_next("start", failure)  # the first start fails, the second goes through

    with pytest.raises(Unavailable) as caught:
        checkout.start_workflows([first, second])

    assert caught.value.status == 503
    assert caught.value.extra["order_ids"] == [first.order_id]
    assert set(state_machine.executions) == {second.order_id}

    checkout.start_workflows([first, second])  # the client's retry (same Idempotency-Key)
    assert set(state_machine.executions) == {first.order_id, second.order_id}


def test_no_execution_starts_when_the_workflow_is_not_configured(state_machine, monkeypatch):
    monkeypatch.setenv("ORDER_STATE_MACHINE_ARN", "")
    settings.cache_clear()

    checkout.start_workflows([an_order("seller-a")])

    assert state_machine.executions == {}
