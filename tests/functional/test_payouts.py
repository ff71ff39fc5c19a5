"""A seller's balance, payouts and statement, through the real routes and the real order
workflow: earnings stay pending until the return window after delivery ends, a payout takes at
most what is available and at least the minimum, a failed payout gives the money back, and the
statement (JSON and CSV) adds up to the balance."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid

import pytest

from chalicelib.adapters.payouts import SANDBOX_FAILING_ACCOUNT
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.pagination import encode_cursor
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]

GOOD_ACCOUNT = "40702810000000000001"
TOTAL = 45_000  # one product at 10_000 + courier delivery at 35_000 (the factories)


@pytest.fixture
def window(flow, monkeypatch):
    """A return window of ``seconds`` (default one second), so the test can see it end."""
    def set_window(seconds: int = 1) -> None:
        monkeypatch.setenv("RETURN_WINDOW_SECONDS", str(seconds))
        settings.cache_clear()
        assert settings().return_window_seconds == seconds  # prime the cache outside a request
    set_window()
    return set_window


def balance(flow, seller) -> dict[str, int]:
    resp = flow.api.http.get("/seller/balance", headers=seller.headers)
    assert resp.status_code == 200, resp.body
    return {k: v["amount"] for k, v in resp.json_body.items() if isinstance(v, dict)}


def payout(flow, seller, amount: int, account: str = GOOD_ACCOUNT, key: str | None = None):
    return flow.api.http.post("/seller/payouts", body=json.dumps({"amount": amount, "account": account}),
                              headers={**seller.headers, "Idempotency-Key": key or uuid.uuid4().hex})


def delivered(flow, seller, customer) -> str:
    oid = flow.buy(customer, seller)["order_id"]
    flow.deliver(oid, seller, customer)
    return oid


def test_earnings_are_pending_until_the_return_window_after_delivery_ends(flow, window):
    window(3600)
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_event(oid, "payment_captured")
    # captured, not delivered: all of it pending, nothing to pay out
    assert balance(flow, seller) == {"earnings": TOTAL, "available": 0, "pending": TOTAL, "in_flight": 0,
                                     "paid_out": 0}
    resp = payout(flow, seller, 10_000)
    assert resp.status_code == 409, resp.body
    assert resp.json_body["available"]["amount"] == 0
    assert balance(flow, seller)["earnings"] == TOTAL  # nothing moved


def test_payout_of_available_money_is_paid_and_a_failed_one_returns_the_money(flow, window):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    delivered(flow, seller, customer)
    wait_until(lambda: balance(flow, seller)["available"] == TOTAL, 10, "the return window to end")

    below = payout(flow, seller, settings().payout_minimum - 1)
    assert below.status_code == 422 and below.json_body["errors"][0]["field"] == "amount"
    above = payout(flow, seller, TOTAL + 1)
    assert above.status_code == 409
    assert balance(flow, seller)["available"] == TOTAL  # refused payouts move nothing

    key = uuid.uuid4().hex
    paid = payout(flow, seller, 20_000, key=key)
    assert paid.status_code == 201, paid.body
    assert paid.json_body["state"] == "paid" and paid.json_body["account_last4"] == GOOD_ACCOUNT[-4:]
    assert paid.headers["Location"].endswith(f"/seller/payouts/{paid.json_body['id']}")
    again = payout(flow, seller, 20_000, key=key)  # the same request again: the same payout, paid once
    assert again.json_body["id"] == paid.json_body["id"]
    assert balance(flow, seller) == {"earnings": 25_000, "available": 25_000, "pending": 0, "in_flight": 0,
                                     "paid_out": 20_000}

    failed = payout(flow, seller, 15_000, account=SANDBOX_FAILING_ACCOUNT)
    assert failed.status_code == 201, failed.body
    assert failed.json_body["state"] == "failed" and failed.json_body["failure_reason"]
    assert balance(flow, seller) == {"earnings": 25_000, "available": 25_000, "pending": 0, "in_flight": 0,
                                     "paid_out": 20_000}

    listed = flow.api.http.get("/seller/payouts", headers=seller.headers).json_body["items"]
    assert [(p["state"], p["amount"]["amount"]) for p in listed] == [("failed", 15_000), ("paid", 20_000)]
    other = flow.register("seller")
    assert flow.api.http.get(f"/seller/payouts/{paid.json_body['id']}", headers=other.headers).status_code == 404


def test_statement_lists_every_movement_and_adds_up_to_the_balance(flow, window, admin):
    assert flow.api.http.put("/admin/commission", headers=admin.headers,
                             body=json.dumps({"default_percent": 10})).status_code == 200
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = delivered(flow, seller, customer)
    wait_until(lambda: balance(flow, seller)["available"] == TOTAL - 4_500, 10, "the return window to end")
    assert payout(flow, seller, 20_000).json_body["state"] == "paid"
    assert payout(flow, seller, 10_000, account=SANDBOX_FAILING_ACCOUNT).json_body["state"] == "failed"
    assert flow.api.http.put("/admin/commission", headers=admin.headers,
                             body=json.dumps({"default_percent": 0})).status_code == 200

    body = flow.api.http.get("/seller/statement", headers=seller.headers).json_body
    got = [(line["kind"], line["amount"]["amount"]) for line in body["lines"]]
    assert got == [("order", TOTAL), ("fee", -4_500), ("payout", -20_000), ("payout_paid", 0),
                   ("payout", -10_000), ("payout_returned", 10_000)]
    assert body["lines"][0]["order_id"] == oid
    assert body["total"]["amount"] == balance(flow, seller)["earnings"] == TOTAL - 4_500 - 20_000

    as_csv = flow.api.http.get("/seller/statement?format=csv", headers=seller.headers)
    assert as_csv.status_code == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.body.decode())))
    assert [(r["kind"], int(r["amount_minor"])) for r in rows] == got
    by_accept = flow.api.http.get("/seller/statement", headers={**seller.headers, "Accept": "text/csv"})
    assert by_accept.body == as_csv.body

    movements = flow.api.http.get("/seller/balance/transactions", headers=seller.headers)
    assert movements.status_code == 200, movements.body
    assert sum(x["earnings_change"]["amount"] for x in movements.json_body["items"]) == body["total"]["amount"]

    bad = flow.api.http.get("/seller/statement?from=yesterday", headers=seller.headers)
    assert bad.status_code == 422 and bad.json_body["errors"][0]["field"] == "from"
    empty = flow.api.http.get("/seller/statement?from=2020-01-01&to=2020-01-31", headers=seller.headers)
    assert empty.json_body["lines"] == []


def test_error_on_a_cursor_of_another_listing_or_seller(flow):
    seller, other = flow.seller(), flow.seller()
    for code in ("ONE1", "TWO2"):
        flow.api.http.post("/seller/promo-codes", headers=seller.headers,
                           body=json.dumps({"code": code, "kind": "percent", "value": 5}))
    promos = flow.api.http.get("/seller/promo-codes?limit=1", headers=seller.headers).json_body["next_cursor"]
    others = encode_cursor({"PK": "PAYOUT#po1", "SK": "PAYOUT", "GSI1PK": keys.payouts_partition(other.id),
                            "GSI1SK": "2026-12-05T09:00:00.000000Z#po1"})  # the shape of its own page's cursor
    for cursor in (promos, others):
        resp = flow.api.http.get(f"/seller/payouts?cursor={cursor}", headers=seller.headers)
        assert resp.status_code == 422, resp.body
        assert resp.json_body["errors"][0]["field"] == "cursor"
    own = flow.api.http.get(f"/seller/payouts?cursor={others}", headers=other.headers)
    assert own.status_code == 200 and own.json_body["items"] == []


def test_an_open_return_keeps_its_money_pending_after_the_window_until_it_is_decided(flow, window):
    """A return asked for inside the window may be decided days after the window ends (the
    seller's answer, the deadline): the order's money must not be paid out meanwhile, or the
    refund could no longer be taken from the seller's earnings. Once it is decided, what is left
    is available as the window said."""
    window(4)
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller, quantity=2)["order_id"]
    flow.deliver(oid, seller, customer)
    total, price = 2 * 10_000 + 35_000, 10_000
    product_id = flow.order(oid)["items"][0]["product_id"]
    asked = flow.api.http.post(f"/orders/{oid}/returns",
                               headers={**customer.headers, "Idempotency-Key": uuid.uuid4().hex},
                               body=json.dumps({"items": [{"product_id": product_id, "quantity": 1}],
                                                "reason": "broken"}))
    assert asked.status_code == 201, asked.body
    time.sleep(4.5)  # the return window of the delivery is over; the return is still undecided

    assert balance(flow, seller) == {"earnings": total, "available": 0, "pending": total, "in_flight": 0,
                                     "paid_out": 0}
    assert payout(flow, seller, total).status_code == 409
    accepted = flow.post(f"/seller/returns/{asked.json_body['id']}/accept", seller)
    assert accepted.status_code == 200, accepted.body
    assert accepted.json_body["state"] == "accepted" and accepted.json_body["refund"]["amount"] == price
    assert balance(flow, seller) == {"earnings": total - price, "available": total - price, "pending": 0,
                                     "in_flight": 0, "paid_out": 0}
