"""Returns after delivery, through the real routes, the real order workflow and the real return
workflow (moto runs ``statemachines/return.asl.json``): the customer returns part or all of an
order, the seller accepts (restocking or not) by the API or the emailed link or rejects, silence
past the deadline accepts, a decision racing the deadline applies once, and the money, the stock,
the fee, the emails and the timeline follow."""

from __future__ import annotations

import time
import urllib.parse
from datetime import datetime

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.errors import DependencyUnavailable
from chalicelib.services import ledger, return_workflow
from chalicelib.services import returns as return_service
from chalicelib.store import returns as return_store
from chalicelib.store.pagination import encode_cursor
from tests.functional.returns_support import FEE, TOTAL, ask, return_events, seller_balance, waiting
from tests.support import factories as f
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]

def delivered(flow, seller, customer, quantity: int = 2) -> str:
    oid = flow.buy(customer, seller, quantity=quantity)["order_id"]
    flow.deliver(oid, seller, customer)
    return oid


def execution(rid: str, *, done: bool = True) -> dict:
    sfn = boto3.client("stepfunctions")
    arn = settings().return_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{rid}"
    if not done:
        return sfn.describe_execution(executionArn=arn)
    return wait_until(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, 20,
                      f"the workflow of {rid} to end")


def test_accepting_a_partial_return_refunds_its_share_restocks_and_reverses_the_fee(flow, returns_env):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer)
    assert f.stock_of(pid) == 3
    revenue = ledger.marketplace_revenue()
    assert seller_balance(flow, seller) == {"earnings": TOTAL - FEE, "pending": TOTAL - FEE, "available": 0}

    asked = ask(flow, customer, oid, pid)
    assert asked.status_code == 201, asked.body
    assert asked.json_body["state"] == "requested"
    rid = asked.json_body["id"]
    assert [r["id"] for r in flow.api.http.get("/seller/returns", headers=seller.headers).json_body["items"]] == [rid]
    waiting(rid)

    accepted = flow.post(f"/seller/returns/{rid}/accept", seller, {"restock": True})
    assert accepted.status_code == 200, accepted.body
    # one boot of two: its share of the items paid (10_000), 1_000 of the fee back, the seller gives 9_000
    assert accepted.json_body["refund"] == {"amount": 10_000, "currency": "RUB"}
    assert flow.wallet(customer)["available"] == 100_000 - TOTAL + 10_000
    assert seller_balance(flow, seller) == {"earnings": TOTAL - FEE - 9_000, "pending": TOTAL - FEE - 9_000,
                                            "available": 0}
    assert ledger.marketplace_revenue() - revenue == -1_000
    assert f.stock_of(pid) == 4
    lines = flow.api.http.get("/wallet/transactions", headers=customer.headers)
    assert lines.status_code == 200, lines.body  # the customer sees the return as a refund
    assert (lines.json_body["items"][0]["kind"], lines.json_body["items"][0]["available_change"]["amount"]) == (
        "refund", 10_000)
    assert execution(rid)["status"] == "SUCCEEDED"
    assert return_events(flow, oid, rid) == ["return_requested", "return_seller_emailed", "return_accepted",
                                             "return_customer_emailed"]
    assert len(flow.emails(customer.email, "return_accepted")) == 1
    again = flow.post(f"/seller/returns/{rid}/accept", seller, {"restock": True})  # a repeat moves nothing
    assert again.status_code == 200 and flow.wallet(customer)["available"] == 100_000 - TOTAL + 10_000
    assert f.stock_of(pid) == 4
    assert flow.post(f"/seller/returns/{rid}/reject", seller).status_code == 409

    # the second boot completes the return: the rest, delivery included, and the rest of the fee
    second = ask(flow, customer, oid, pid)
    assert second.status_code == 201
    done = flow.post(f"/seller/returns/{second.json_body['id']}/accept", seller)
    assert done.json_body["refund"]["amount"] == TOTAL - 10_000
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert seller_balance(flow, seller)["earnings"] == 0
    assert ledger.marketplace_revenue() == revenue - FEE
    assert f.stock_of(pid) == 4  # not restocked this time

    third = ask(flow, customer, oid, pid)
    assert third.status_code == 422 and third.json_body["errors"][0]["field"] == "items.0.quantity"

    statement = flow.api.http.get("/seller/statement", headers=seller.headers).json_body
    assert [(x["kind"], x["amount"]["amount"]) for x in statement["lines"]] == [
        ("order", TOTAL), ("fee", -FEE), ("refund", -10_000), ("fee", 1_000), ("refund", -45_000), ("fee", 4_500)]
    assert statement["total"]["amount"] == 0


def test_a_rejected_return_moves_nothing_and_frees_the_items(flow, returns_env):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer)
    rid = ask(flow, customer, oid, pid, quantity=2).json_body["id"]
    assert ask(flow, customer, oid, pid).status_code == 422  # both already claimed
    waiting(rid)
    assert flow.wait_email(seller.shop_email, "return_requested")
    rejected = flow.post(f"/seller/returns/{rid}/reject", seller, {"comment": "worn"})
    assert rejected.status_code == 200 and rejected.json_body["state"] == "rejected"
    assert execution(rid)["status"] == "SUCCEEDED"  # woken by the decision, long before its deadline
    mail = flow.wait_email(customer.email, "return_rejected")
    assert "worn" in mail["text"]
    assert return_events(flow, oid, rid) == ["return_requested", "return_seller_emailed", "return_rejected",
                                             "return_customer_emailed"]
    assert flow.wallet(customer)["available"] == 100_000 - TOTAL
    assert seller_balance(flow, seller)["earnings"] == TOTAL - FEE
    assert ask(flow, customer, oid, pid, quantity=2).status_code == 201  # may ask again


def test_a_seller_silent_past_the_deadline_accepts(flow, returns_env):
    returns_env(answer=2)
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer)
    rid = ask(flow, customer, oid, pid, quantity=2).json_body["id"]
    flow.wait_email(seller.shop_email, "return_requested")  # the shop was asked first
    assert execution(rid)["status"] == "SUCCEEDED"  # the wait's timeout (the deadline) accepted
    listed = flow.api.http.get(f"/orders/{oid}/returns", headers=customer.headers).json_body["items"]
    assert [(r["id"], r["state"], r["decided_by"]) for r in listed] == [(rid, "accepted", "timeout")]
    assert flow.wallet(customer)["available"] == 100_000  # everything back, delivery included
    assert seller_balance(flow, seller)["earnings"] == 0
    assert f.stock_of(pid) == 3  # silence does not restock
    assert len(flow.emails(customer.email, "return_accepted")) == 1
    assert return_events(flow, oid, rid) == ["return_requested", "return_seller_emailed", "return_accepted",
                                             "return_customer_emailed"]
    assert flow.post(f"/seller/returns/{rid}/reject", seller).status_code == 409  # too late


def test_a_decision_racing_the_deadline_applies_once(flow, returns_env):
    returns_env(answer=2)
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer)
    outcomes = []
    # the seller answers just before the deadline, at it, as the wait times out (the deadline rounded
    # up to a second, plus the emulator's latency) and well after it
    for lead in (0.2, 0.0, -0.8, -1.4, -3.0):
        asked = ask(flow, customer, oid, pid, quantity=1).json_body
        waiting(asked["id"])
        wallet = flow.wallet(customer)["available"]
        deadline = datetime.fromisoformat(asked["answer_by"].replace("Z", "+00:00")).timestamp()
        time.sleep(max(0.0, deadline - lead - time.time()))
        answer = flow.post(f"/seller/returns/{asked['id']}/reject", seller, {"comment": "late"})
        assert answer.status_code in (200, 409), answer.body
        assert execution(asked["id"])["status"] == "SUCCEEDED"
        ret = return_store.get(asked["id"])
        if answer.status_code == 200:  # the seller's rejection came first: nothing moves
            assert ret["state"] == "rejected" and flow.wallet(customer)["available"] == wallet
        else:  # the deadline accepted first: refunded once
            assert (ret["state"], ret["decided_by"]) == ("accepted", "timeout")
            assert flow.wallet(customer)["available"] > wallet
        events = return_events(flow, oid, asked["id"])
        assert events.count("return_accepted") + events.count("return_rejected") == 1, events
        assert events.count("return_customer_emailed") == 1, events
        outcomes.append(ret["state"])
        if ret["state"] == "accepted":
            break  # that unit is back; the order has one left at most
    refunds = [x for x in flow.api.http.get("/wallet/transactions", headers=customer.headers).json_body["items"]
               if x["kind"] == "refund"]
    assert len(refunds) == outcomes.count("accepted") == 1
    assert return_service.sweep_overdue() == 0  # nothing left for the backstop


def test_a_return_whose_workflow_never_started_is_settled_by_the_reconciler(flow, returns_env, monkeypatch):
    returns_env(answer=1)
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")
    settings.cache_clear()
    assert settings().reconcile_grace_seconds == 0
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer)

    def lost(return_id: str) -> bool:
        raise DependencyUnavailable("stepfunctions", "ServiceUnavailable")

    with monkeypatch.context() as m:
        m.setattr(return_workflow, "start", lost)
        asked = ask(flow, customer, oid, pid, quantity=2)
    assert asked.status_code == 201, asked.body  # the request is kept; its workflow is not running
    rid = asked.json_body["id"]
    with pytest.raises(Exception, match="ExecutionDoesNotExist"):
        execution(rid, done=False)
    time.sleep(1.1)  # past the deadline
    assert return_service.sweep_overdue() >= 1  # starts the execution, which accepts at once
    assert execution(rid)["status"] == "SUCCEEDED"
    assert (return_store.get(rid)["state"], return_store.get(rid)["decided_by"]) == ("accepted", "timeout")
    assert flow.wallet(customer)["available"] == 100_000
    flow.wait_email(customer.email, "return_accepted")
    assert not flow.emails(seller.shop_email, "return_requested")  # too late to ask the shop


class _ClockAhead:
    """The ``time`` module as the return service sees it, ``seconds`` ahead: the window ends
    without the test waiting it out."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_error_on_returns_that_are_not_allowed_and_nothing_moves(flow, returns_env, register, monkeypatch):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    undelivered = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(undelivered, "seller")
    assert ask(flow, customer, undelivered, pid).status_code == 409  # not delivered

    returns_env(window=10)  # long enough for the refusals below on a busy machine, then skipped past
    oid = delivered(flow, seller, customer)
    delivered_at = time.monotonic()
    stranger = register("customer")
    assert ask(flow, stranger, oid, pid).status_code == 404  # someone else's order
    too_many = ask(flow, customer, oid, pid, quantity=3)
    assert too_many.status_code == 422 and too_many.json_body["errors"][0]["field"] == "items.0.quantity"
    unknown = ask(flow, customer, oid, "no-such-product")
    assert unknown.status_code == 422 and unknown.json_body["errors"][0]["field"] == "items.0.product_id"
    monkeypatch.setattr(return_service, "time", _ClockAhead(max(0.0, 10.2 - (time.monotonic() - delivered_at))))
    late = ask(flow, customer, oid, pid)
    assert late.status_code == 409, late.body  # the return window ended
    assert flow.api.http.get(f"/orders/{oid}/returns", headers=customer.headers).json_body["items"] == []
    wallet = flow.wallet(customer)
    assert wallet["available"] + wallet["held"] == 100_000 - TOTAL  # both orders' money where it was


def press(flow, url: str, action: str, **fields):
    body = urllib.parse.urlencode({"action": action, **fields})
    return flow.api.http.post(urllib.parse.urlsplit(url).path, body=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_seller_accepts_by_the_emailed_link_the_page_first_changing_nothing(flow, returns_env):
    seller, customer = flow.seller(stock=5, lang="ru"), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer)
    rid = ask(flow, customer, oid, pid, reason="Маловаты https://evil.example").json_body["id"]
    mail = flow.wait_email(seller.shop_email, "return_requested")
    assert "Маловаты" in mail["text"] and "https://evil.example" not in mail["text"]  # defanged
    accept = next(u for u in mail["links"] if "/actions/" in u)

    page = flow.api.http.get(urllib.parse.urlsplit(accept).path)
    assert page.status_code == 200 and "Принять возврат" in page.body.decode()
    assert flow.wallet(customer)["available"] == 100_000 - TOTAL  # a page changes nothing

    done = press(flow, accept, "return_accept", restock="yes")
    assert done.status_code == 200, done.body
    assert flow.wallet(customer)["available"] == 100_000 - TOTAL + 10_000
    assert f.stock_of(pid) == 4
    assert press(flow, accept, "return_accept", restock="yes").status_code == 200  # "already done"
    assert flow.wallet(customer)["available"] == 100_000 - TOTAL + 10_000
    listed = flow.api.http.get(f"/orders/{oid}/returns", headers=customer.headers).json_body["items"]
    assert [(r["id"], r["state"]) for r in listed] == [(rid, "accepted")]
    assert execution(rid)["status"] == "SUCCEEDED"  # the link's decision woke the workflow
    flow.wait_email(customer.email, "return_accepted")
    assert len(flow.emails(customer.email, "return_accepted")) == 1


def test_returns_are_listed_page_by_page_with_a_cursor(flow, returns_env):
    seller, customer = flow.seller(stock=5), flow.customer(balance=100_000)
    pid = seller.product["product_id"]
    oid = delivered(flow, seller, customer, quantity=3)
    asked = []
    for _ in range(3):
        resp = ask(flow, customer, oid, pid)
        assert resp.status_code == 201, resp.body
        asked.append(resp.json_body["id"])

    for path, user in ((f"/orders/{oid}/returns", customer), ("/seller/returns", seller)):
        seen, cursor, pages = [], None, 0
        while True:
            resp = flow.api.http.get(f"{path}?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=user.headers)
            assert resp.status_code == 200, resp.body
            seen += [r["id"] for r in resp.json_body["items"]]
            pages += 1
            cursor = resp.json_body["next_cursor"]
            if not cursor:
                break
        assert pages == 2 and seen == asked[::-1], path  # every return once, newest first
    of_the_seller = flow.api.http.get("/seller/returns?limit=1", headers=seller.headers).json_body["next_cursor"]
    wrong = flow.api.http.get(f"/orders/{oid}/returns?cursor={of_the_seller}", headers=customer.headers)
    assert wrong.status_code == 422 and wrong.json_body["errors"][0]["field"] == "cursor"

    first = flow.api.http.get("/seller/returns?limit=1", headers=seller.headers).json_body["next_cursor"]
    other = flow.seller()
    foreign = flow.api.http.get(f"/seller/returns?cursor={first}", headers=other.headers)
    assert foreign.status_code == 422 and foreign.json_body["errors"][0]["field"] == "cursor"
    of_the_order = encode_cursor({"PK": f"RETURN#{asked[0]}", "SK": "RETURN", "GSI1PK": f"ORDER_RETURNS#{oid}",
                                  "GSI1SK": "2026-01-01T00:00:00Z"})  # another listing's (an order's returns)
    wrong = flow.api.http.get(f"/seller/returns?cursor={of_the_order}", headers=seller.headers)
    assert wrong.status_code == 422 and wrong.json_body["errors"][0]["field"] == "cursor"
