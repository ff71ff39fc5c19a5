"""The reconciler: an order whose workflow never started is started; one whose execution is
still running is left alone; one whose execution ended without taking it is wound up."""

from __future__ import annotations

import pytest

from chalicelib.adapters.stepfunctions import SYSTEM
from chalicelib.domain.orders import Order, order_id
from chalicelib.errors import DependencyUnavailable
from chalicelib.services import reconcile
from chalicelib.services import workflow as workflow_service


def a_pending_order(seller: str) -> Order:
    return Order(order_id=order_id("checkout-1", seller, 1_700_000_000_000), customer_id="customer-1",
                 seller_id=seller, status="AWAITING_PAYMENT", total=1500, currency="RUB")


@pytest.fixture
def pending(monkeypatch) -> list[Order]:
    """The orders the store lists as "workflow pending" for longer than the grace period."""
    orders: list[Order] = []
    monkeypatch.setattr(reconcile.store, "workflow_pending", lambda before_iso, limit: list(orders[:limit]))
    monkeypatch.setattr(reconcile.wf_store, "wakes_pending", lambda before_iso, limit: [])  # no failed wake-ups
    return orders


@pytest.fixture
def compensated(monkeypatch) -> list[dict]:
    """The compensation steps the reconciler runs (the workflow's own, tested on its own)."""
    runs: list[dict] = []
    monkeypatch.setattr(workflow_service, "run_step", lambda event: runs.append(event) or {"outcome": "cancelled"})
    return runs


def test_an_order_whose_start_was_lost_is_started_by_its_id(state_machine, pending, compensated):
    order = a_pending_order("seller-a")
    pending.append(order)

    assert reconcile.reconcile() == {"started": 1, "running": 0, "wound_up": 0, "woken": 0, "failed": 0}

    assert state_machine.executions[order.order_id].input["total"] == 1500
    assert compensated == []


def test_a_running_execution_is_left_to_clear_the_mark_itself(state_machine, pending, compensated):
    order = a_pending_order("seller-a")
    state_machine.start(order.order_id, {})
    pending.append(order)

    assert reconcile.reconcile() == {"started": 0, "running": 1, "wound_up": 0, "woken": 0, "failed": 0}
    assert compensated == []


@pytest.mark.parametrize("ended", ["FAILED", "ABORTED", "TIMED_OUT"])
def test_an_execution_that_ended_without_starting_is_wound_up(state_machine, pending, compensated, ended):
    order = a_pending_order("seller-a")
    state_machine.start(order.order_id, {})
    state_machine.ends(order.order_id, ended)
    pending.append(order)

    assert reconcile.reconcile() == {"started": 0, "running": 0, "wound_up": 1, "woken": 0, "failed": 0}

    assert compensated == [{"step": "compensate", "order_id": order.order_id,
                            "error": {"Error": "WorkflowNotRunning"}}]


def test_a_busy_state_machine_leaves_the_order_to_the_next_pass(state_machine, pending, compensated):
    order = a_pending_order("seller-a")
    pending.append(order)
    state_machine.fail_next("start", DependencyUnavailable(SYSTEM, "ThrottlingException"))

    assert reconcile.reconcile()["failed"] == 1
    assert state_machine.executions == {}

    assert reconcile.reconcile()["started"] == 1  # the next scheduled pass
    assert order.order_id in state_machine.executions
