"""Faults: a step that always fails is compensated (no hold stays open, no stock stays
reserved); transient failures are retried; duplicate or late wake-ups capture nothing twice;
every step run twice does its work once; a shipment-timeout cancel that meets throttles and
lost replies (or is compensated) still gives back the stock, the promo code's use and the money."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse

import boto3
import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import InsufficientEarnings, Unavailable
from chalicelib.services import ledger
from chalicelib.services.workflow import StepInputError, run_step
from chalicelib.store import keys
from tests.functional.workflow_stack import stop_execution
from tests.support import factories as f

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def captures(flow, seller, kind: str = "capture") -> list[dict]:
    resp = flow.api.http.get("/seller/balance/transactions", headers=seller.headers)
    assert resp.status_code == 200, resp.body
    return [t for t in resp.json_body["items"] if t["kind"] == kind]


def confirmed(flow, customer, seller) -> dict:
    order = flow.buy(customer, seller)
    flow.wait_parked(order["order_id"], "seller")
    assert flow.post(f"/seller/orders/{order['order_id']}/confirm", seller).status_code == 200
    flow.wait_event(order["order_id"], "payment_captured")
    flow.wait_parked(order["order_id"], "shipment")
    return order


def stop(flow, order_id: str) -> None:
    """End the execution (as an operator would), leaving the order as it is."""
    stop_execution(flow.execution(order_id)["executionArn"])


def test_capture_that_always_fails_is_compensated_with_no_hold_left_open(flow, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("ledger capture is broken")

    monkeypatch.setattr(ledger, "capture", broken)
    seller, customer = flow.seller(stock=3), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller, quantity=2)["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200

    done = flow.wait_execution_done(oid)
    assert done["status"] == "FAILED"
    assert done["error"] == "OrderWorkflowFailed"
    order = flow.order(oid)
    assert order["status"] == "CANCELLED"
    assert order["cancelled_by"] == "system"
    assert "workflow_failed" in [e["type"] for e in order["timeline"]]
    assert ledger.hold_state(oid) == "released"
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert f.stock_of(seller.product["product_id"]) == 3
    assert flow.earnings(seller) == 0
    flow.wait_email(customer.email, "refund_completed")
    # honest wording: a failure on our side, not a seller who "did not confirm in time"
    started = flow.emails(customer.email, "order_cancelled_refund_started")[0]["text"]
    assert "не смогли обработать заказ" in started and "Ваши деньги возвращаются" in started
    assert "не подтвердил" not in started


def test_hold_that_always_fails_cancels_and_restocks_the_unpaid_order(flow, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("ledger hold is broken")

    monkeypatch.setattr(ledger, "hold", broken)
    seller, customer = flow.seller(stock=3), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    assert flow.wait_execution_done(oid)["status"] == "FAILED"
    assert flow.order(oid)["status"] == "CANCELLED"
    assert f.stock_of(seller.product["product_id"]) == 3
    assert ledger.hold_state(oid) is None
    assert flow.wallet(customer)["available"] == 100_000


def test_transient_failures_are_retried_with_backoff(flow, monkeypatch):
    real_hold, calls = ledger.hold, {"n": 0}

    def busy_twice(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise Unavailable("the ledger is busy")
        return real_hold(*args, **kwargs)

    monkeypatch.setattr(ledger, "hold", busy_twice)
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller", timeout=40)
    assert calls["n"] == 3
    order = flow.order(oid)
    assert order["status"] == "PAID"
    assert [e["type"] for e in order["timeline"]].count("payment_held") == 1
    assert flow.wallet(customer)["held"] == order["total"]


def test_duplicate_and_late_task_success_capture_nothing_twice(flow):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    order = flow.buy(customer, seller)
    oid = order["order_id"]
    flow.wait_parked(oid, "seller")
    token = clients.table(settings().commerce_table).get_item(
        Key=keys.workflow_wait(oid, "seller"), ConsistentRead=True)["Item"]["task_token"]
    sfn = boto3.client("stepfunctions")

    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    # AWS answers a used token with TaskTimedOut / InvalidToken, moto accepts it: either way
    # nothing may happen twice.
    for _ in range(2):  # duplicates racing the first wake-up
        with contextlib.suppress(sfn.exceptions.ClientError):
            sfn.send_task_success(taskToken=token, output=json.dumps({"decision": "confirm", "by": "replay"}))
    flow.wait_parked(oid, "shipment")
    with contextlib.suppress(sfn.exceptions.ClientError):  # a late one, after the execution moved on
        sfn.send_task_success(taskToken=token, output=json.dumps({"decision": "confirm", "by": "late"}))
    run_step({"step": "settle", "order_id": oid})  # the capture step itself, replayed
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200  # the API, replayed

    assert len(captures(flow, seller)) == 1
    assert flow.earnings(seller) == order["total"]["amount"]
    assert flow.wallet(customer) == {"available": 100_000 - order["total"]["amount"], "held": 0, "currency": "RUB"}
    assert flow.order(oid)["status"] == "CONFIRMED"


def test_refund_of_a_capture_failing_for_a_while_is_retried_and_pays_back_once(flow, monkeypatch):
    real, calls = ledger.refund_capture, {"n": 0}

    def busy_twice(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise Unavailable("the ledger is busy")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "refund_capture", busy_twice)
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = confirmed(flow, customer, seller)["order_id"]
    assert flow.post(f"/seller/orders/{oid}/cancel", seller).status_code == 200
    assert flow.wait_execution_done(oid, timeout=40)["status"] == "SUCCEEDED"
    assert calls["n"] == 3
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert len(captures(flow, seller, "refund")) == 1


def test_duplicate_cancels_after_confirmation_refund_once(flow):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    order = confirmed(flow, customer, seller)
    oid = order["order_id"]
    for _ in range(2):  # the API twice...
        assert flow.post(f"/seller/orders/{oid}/cancel", seller).json_body["status"] == "CANCELLED"
    flow.wait_email(customer.email, "refund_completed")
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    link = flow.link(seller, oid, "cancel")  # ...the email link too, and the steps replayed
    pressed = flow.api.http.post(urllib.parse.urlsplit(link).path, body="action=cancel",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert pressed.status_code == 200  # "already done"
    for step in ({"step": "shipment_timeout"}, {"step": "shipment_decided"}, {"step": "cancelled"},
                 {"step": "refund"}, {"step": "notify", "event": "refunded"},
                 {"step": "compensate", "error": {"Error": "Replay"}}):
        run_step({**step, "order_id": oid})

    assert len(captures(flow, seller, "refund")) == len(captures(flow, seller)) == 1
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert f.stock_of(seller.product["product_id"]) == 5
    assert len(flow.emails(customer.email, "refund_completed")) == 1


def test_a_wake_up_call_that_crashes_keeps_the_decision_and_the_wait(flow, monkeypatch):
    """The seller's cancel is recorded even when the call waking the workflow blows up; the
    wait keeps its token, so the repeated request finishes the job and the money comes back."""
    seller, customer = flow.seller(stock=4), flow.customer(balance=100_000)
    order = flow.buy(customer, seller, quantity=2)
    oid = order["order_id"]
    flow.wait_parked(oid, "seller")
    sfn = clients.client("stepfunctions")

    def crashing(**kwargs):
        raise AttributeError("'NoneType' object has no attribute 'callback_pool_manager'")

    monkeypatch.setattr(sfn, "send_task_success", crashing)
    resp = flow.post(f"/seller/orders/{oid}/cancel", seller)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CANCELLED"
    assert clients.table(settings().commerce_table).get_item(
        Key=keys.workflow_wait(oid, "seller"), ConsistentRead=True).get("Item"), "the parked token was lost"

    monkeypatch.undo()
    assert flow.post(f"/seller/orders/{oid}/cancel", seller).status_code == 200
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert f.stock_of(seller.product["product_id"]) == 4


def test_compensation_refunds_a_cancelled_order_whose_money_was_captured(flow):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    oid = confirmed(flow, customer, seller)["order_id"]
    stop(flow, oid)  # the execution is gone before the cancel branch could run
    assert flow.post(f"/seller/orders/{oid}/cancel", seller).status_code == 200
    assert ledger.hold_state(oid) == "captured"

    result = run_step({"step": "compensate", "order_id": oid, "error": {"Error": "States.Runtime"}})
    assert result == {"outcome": "cancelled", "refunded": True}
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert f.stock_of(seller.product["product_id"]) == 5
    assert {"order_cancelled_refund_started", "refund_completed"} <= {e["kind"] for e in flow.emails(customer.email)}


def test_compensation_that_cannot_return_the_money_says_so_and_loses_nothing(flow, monkeypatch):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    order = confirmed(flow, customer, seller)
    oid = order["order_id"]
    stop(flow, oid)
    assert flow.post(f"/seller/orders/{oid}/cancel", seller).status_code == 200

    def short(*args, **kwargs):
        raise InsufficientEarnings("paid out meanwhile")

    real = ledger.refund_capture
    monkeypatch.setattr(ledger, "refund_capture", short)
    with pytest.raises(InsufficientEarnings):  # the state machine retries, then OrderCompensationFailed
        run_step({"step": "compensate", "order_id": oid, "error": {"Error": "States.Runtime"}})
    assert "refund_failed" in [e["type"] for e in flow.order(oid)["timeline"]]
    assert flow.earnings(seller) == order["total"]["amount"]  # still where the ledger says: nothing lost
    assert ledger.hold_state(oid) == "captured"
    assert not flow.emails(customer.email, "refund_completed")

    monkeypatch.setattr(ledger, "refund_capture", real)  # an operator fixes the cause, re-runs the step
    assert run_step({"step": "refund", "order_id": oid}) == {"refunded": True}
    assert flow.wallet(customer)["available"] == 100_000
    assert flow.earnings(seller) == 0


def test_every_cancellation_step_run_twice_does_its_work_once(flow):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller, quantity=2)["order_id"]
    flow.wait_parked(oid, "seller")
    flow.post(f"/seller/orders/{oid}/cancel", seller)
    flow.wait_email(customer.email, "refund_completed")
    before = (flow.wallet(customer), f.stock_of(seller.product["product_id"]), len(flow.emails(customer.email)),
              len(flow.order(oid)["timeline"]))
    for step in ({"step": "seller_timeout"}, {"step": "settle"}, {"step": "cancelled"}, {"step": "refund"},
                 {"step": "notify", "event": "cancelled"}, {"step": "notify", "event": "refunded"},
                 {"step": "compensate", "error": {"Error": "Replay"}}):
        run_step({**step, "order_id": oid})
    after = (flow.wallet(customer), f.stock_of(seller.product["product_id"]), len(flow.emails(customer.email)),
             len(flow.order(oid)["timeline"]))
    assert before[:3] == after[:3] == ({"available": 100_000, "held": 0, "currency": "RUB"}, 5, before[2])
    assert after[3] == before[3] + 1  # the replayed compensation notes itself on the timeline, once


def test_a_step_payload_the_workflow_does_not_know_is_refused():
    with pytest.raises(StepInputError):
        run_step({"step": "launch_rockets", "order_id": "o1"})
    with pytest.raises(StepInputError):
        run_step({"step": "hold", "order_id": "../etc/passwd"})


def test_a_wake_up_whose_token_write_loses_its_reply_still_moves_the_order_on(flow):
    """The DynamoDB call that deletes the parked token does its work but its reply is lost (a
    dropped connection). The token must not be gone before the execution was answered:
    the order moves on at once (not after the days-long shipment timeout), and repeating the
    request cleans up."""
    from botocore.exceptions import ClientError

    from chalicelib.store import workflow as wf_store

    seller, customer = flow.seller(stock=4), flow.customer(balance=100_000)
    oid = confirmed(flow, customer, seller)["order_id"]
    client = clients.dynamodb_resource().meta.client
    lost = {"left": 1}

    def reply_lost(http_response, **_):
        if lost["left"] and http_response.status_code == 200:
            lost["left"] -= 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "reply lost"}}, "DeleteItem")

    client.meta.events.register("after-call.dynamodb.DeleteItem", reply_lost)
    try:
        assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 200
    finally:
        client.meta.events.unregister("after-call.dynamodb.DeleteItem", reply_lost)
    assert lost["left"] == 0  # the fault did fire
    flow.wait_parked(oid, "receipt", timeout=20)  # the execution was answered: the receipt wait
    assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 200  # the repeat
    assert not wf_store.has_token(wf_store.order_wait(oid, "shipment"))


class ShipmentTimeoutFaults:
    """Botocore hooks on the app's DynamoDB client that fail chosen ``TransactWriteItems`` calls
    of one order's cancellation (the calls naming its order or its customer): ``throttle`` the
    n-th before it is sent, or lose the reply of the n-th after it was written."""

    def __init__(self, oid: str, customer_id: str, *, throttle: set[int] = frozenset(), lose: set[int] = frozenset()):
        self.oid, self.customer_id, self.throttle, self.lose = oid, customer_id, throttle, lose
        self.seen, self.fired, self.call = 0, [], threading.local()
        self.client = clients.dynamodb_resource().meta.client  # the stores' client

    def _ours(self, params) -> bool:
        text = json.dumps(params, default=str)
        return self.oid in text or self.customer_id in text

    def before(self, params, **_):
        from botocore.exceptions import ClientError

        self.call.ours = self._ours(params)  # after-call is not given the params: remembered per thread
        if not self.call.ours:
            return
        self.seen += 1
        if self.seen in self.throttle:
            self.fired.append(f"throttled #{self.seen}")
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "TransactWriteItems")

    def after(self, http_response, **kwargs):
        from botocore.exceptions import ClientError

        if getattr(self.call, "ours", False) and self.seen in self.lose and http_response.status_code == 200:
            self.lose = self.lose - {self.seen}
            self.fired.append(f"reply lost #{self.seen}")
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, "TransactWriteItems")

    def __enter__(self):
        self.client.meta.events.register("before-call.dynamodb.TransactWriteItems", self.before)
        self.client.meta.events.register("after-call.dynamodb.TransactWriteItems", self.after)
        return self

    def __exit__(self, *exc):
        self.client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", self.before)
        self.client.meta.events.unregister("after-call.dynamodb.TransactWriteItems", self.after)


def _confirmed_with_a_code(flow, *, shipment: int):
    """A confirmed order of two units bought with the seller's 10 % code, its execution in the
    shipment wait of ``shipment`` seconds."""
    from chalicelib.services import promos

    flow.timeouts(shipment=shipment)
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    promos.create(seller.id, {"code": "SHIP10", "kind": "percent", "value": 10, "max_uses": 3})
    shopper = f.Shopper(flow.api, customer)
    assert shopper.add(seller.product["product_id"], 2).status_code in (200, 201)
    resp = shopper.checkout({**f.checkout_body({seller.id: "courier"}), "promo_codes": ["SHIP10"]})
    assert resp.status_code == 201, resp.body
    (order,) = resp.json_body["orders"]
    oid = order["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_event(oid, "payment_captured")
    return seller, customer, oid


def _everything_given_back(flow, seller, customer, oid) -> None:
    from chalicelib.store import promos as promo_store

    order = flow.order(oid)
    assert (order["status"], order["cancelled_by"], order["cancel_reason"]) == ("CANCELLED", "timeout",
                                                                                "shipment_timeout")
    assert order["stock_released"] is True
    assert f.stock_of(seller.product["product_id"]) == 5
    assert ledger.hold_state(oid) == "refunded"
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert int(promo_store.get(seller.id, "SHIP10")["uses"]) == 0
    used = clients.table(settings().commerce_table).get_item(
        Key=keys.promo_customer(seller.id, "SHIP10", customer.id), ConsistentRead=True).get("Item") or {}
    assert int(used.get("uses", 0)) == 0
    assert len(captures(flow, seller, "refund")) == 1


@pytest.mark.parametrize(("throttle", "lose"), [({1}, set()), ({2}, set()), (set(), {1}), (set(), {2}), ({1, 2}, {3})],
                         ids=["release throttled", "give-back throttled", "release reply lost",
                              "give-back reply lost", "both throttled, then a reply lost"])
def test_a_shipment_timeout_cancel_meeting_transient_faults_gives_stock_code_and_money_back(flow, throttle, lose):
    seller, customer, oid = _confirmed_with_a_code(flow, shipment=2)
    flow.wait_parked(oid, "shipment")
    with ShipmentTimeoutFaults(oid, customer.id, throttle=throttle, lose=lose) as faults:
        done = flow.wait_execution_done(oid, timeout=45)
    assert faults.fired, "no fault was injected"
    assert done["status"] == "SUCCEEDED", done
    _everything_given_back(flow, seller, customer, oid)


def test_a_shipment_timeout_cancel_whose_restock_fails_is_compensated_through_a_throttle(flow, monkeypatch):
    """The cancel branch's restock fails for good (``Compensate``); the compensation's own
    first release meets a throttle and is retried: the stock, the code's use and the money
    all come back."""
    from chalicelib.services.workflow import run_step as runner
    from chalicelib.services.workflow.contract import StepEvent

    def broken(ev: StepEvent):
        raise RuntimeError("restock is broken")

    seller, customer, oid = _confirmed_with_a_code(flow, shipment=2)
    flow.wait_parked(oid, "shipment")
    monkeypatch.setitem(runner.steps, "cancelled", broken)
    with ShipmentTimeoutFaults(oid, customer.id, throttle={1}) as faults:
        done = flow.wait_execution_done(oid, timeout=45)
    assert faults.fired == ["throttled #1"]
    assert (done["status"], done.get("error")) == ("FAILED", "OrderWorkflowFailed"), done
    _everything_given_back(flow, seller, customer, oid)


def test_a_shipment_timeout_whose_cancel_fails_for_good_still_cancels_and_gives_everything_back_once(
        flow, monkeypatch):
    """The shipment wait times out and its cancel step fails for good: the compensation does the
    timeout's cancel (the order is not left CONFIRMED with its stock reserved and the money with
    the seller, and no wait left to ship through): stock, the code's use and the money come back,
    once; the seller's ship after it is refused and replaying the compensation moves nothing."""
    from chalicelib.services.workflow import run_step as runner
    from chalicelib.services.workflow.contract import StepEvent

    def broken(ev: StepEvent):
        raise RuntimeError("the shipment timeout's cancel is broken")

    seller, customer, oid = _confirmed_with_a_code(flow, shipment=2)
    flow.wait_parked(oid, "shipment")
    monkeypatch.setitem(runner.steps, "shipment_timeout", broken)
    done = flow.wait_execution_done(oid, timeout=45)
    assert (done["status"], done.get("error")) == ("FAILED", "OrderWorkflowFailed"), done
    assert flow.order(oid)["status"] == "CANCELLED", "left CONFIRMED with nothing to cancel it"
    _everything_given_back(flow, seller, customer, oid)
    flow.wait_email(customer.email, "refund_completed")

    assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 409  # too late: cancelled
    replayed = run_step({"step": "compensate", "order_id": oid, "error": {"Error": "Replay"}, "timed_out": True})
    assert replayed == {"outcome": "cancelled", "refunded": True}  # the refund found done, not done again
    _everything_given_back(flow, seller, customer, oid)
    assert len(flow.emails(customer.email, "refund_completed")) == 1


def test_a_shipment_timeout_compensation_loses_to_a_ship_recorded_first(flow):
    """The seller shipped before the failed timeout's compensation ran: the ship stands, nothing
    is cancelled or refunded."""
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    order = confirmed(flow, customer, seller)
    oid = order["order_id"]
    stop(flow, oid)
    assert flow.post(f"/seller/orders/{oid}/ship", seller).status_code == 200

    result = run_step({"step": "compensate", "order_id": oid, "error": {"Error": "States.TaskFailed"},
                       "timed_out": True})
    assert result == {"outcome": "kept", "status": "SHIPPED"}
    assert ledger.hold_state(oid) == "captured"
    assert flow.earnings(seller) == order["total"]["amount"]
    assert f.stock_of(seller.product["product_id"]) == 4
    assert not captures(flow, seller, "refund")


def _marked(order_id: str, kind: str) -> bool:
    from chalicelib.store import workflow as wf_store

    return (order_id, kind) in wf_store.wakes_pending("9999", 1000)


def _reconcile_now() -> dict[str, int]:
    """One reconciler pass, as if its grace period had passed since now."""
    import time

    from chalicelib.services.reconcile import reconcile

    return reconcile(now=time.time() + settings().reconcile_grace_seconds + 1)


def test_a_decision_whose_wake_up_failed_is_delivered_by_the_reconciler(flow, monkeypatch):
    """The seller cancels a confirmed order and every attempt to wake the shipment wait fails:
    the cancel stands, the wait is marked, and the reconciler's next pass wakes it — the refund
    does not wait for the shipment timeout."""
    seller, customer = flow.seller(stock=4), flow.customer(balance=100_000)
    order = confirmed(flow, customer, seller)
    oid = order["order_id"]
    sfn = clients.client("stepfunctions")

    def unavailable(**kwargs):
        raise Unavailable("step functions is not answering")

    with monkeypatch.context() as mp:
        mp.setattr(sfn, "send_task_success", unavailable)
        resp = flow.post(f"/seller/orders/{oid}/cancel", seller)
    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CANCELLED"
    assert _marked(oid, "shipment")
    assert ledger.hold_state(oid) == "captured"  # nothing moved: the execution still waits

    assert _reconcile_now()["woken"] >= 1
    assert flow.wait_execution_done(oid)["status"] == "SUCCEEDED"  # long before the 60 s shipment timeout
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    assert f.stock_of(seller.product["product_id"]) == 4
    assert not _marked(oid, "shipment")


def test_a_marked_wait_with_nothing_decided_is_left_waiting(flow):
    from chalicelib.store import orders as orders_store
    from chalicelib.store import workflow as wf_store

    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = confirmed(flow, customer, seller)["order_id"]
    assert wf_store.mark_wake_pending(oid, "shipment", orders_store.now_iso())

    _reconcile_now()
    assert not _marked(oid, "shipment")
    assert wf_store.has_token(wf_store.order_wait(oid, "shipment"))  # still waiting for the seller
    assert flow.order(oid)["status"] == "CONFIRMED"
    assert flow.execution(oid)["status"] == "RUNNING"
    stop(flow, oid)
