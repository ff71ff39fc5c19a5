"""The books (``GET /admin/ledger/reconciliation``): after real purchases, a fee, a return and
payouts (one failing) they balance, term by term; a balance that drifts from the journal, or
money the ledger cannot account for, is reported."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib import clients
from chalicelib.adapters.payouts import SANDBOX_FAILING_ACCOUNT
from chalicelib.config import settings
from chalicelib.store import keys
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def books(api, admin):
    resp = api.http.get("/admin/ledger/reconciliation", headers=admin.headers)
    assert resp.status_code == 200, resp.body
    return resp.json_body


def test_books_balance_after_sales_fees_returns_and_payouts_and_report_drift(flow, api, admin, monkeypatch):
    monkeypatch.setenv("RETURN_WINDOW_SECONDS", "8")  # long enough to ask for the return on a busy machine
    settings.cache_clear()
    assert settings().return_window_seconds == 8
    assert api.http.put("/admin/commission", headers=admin.headers,
                        body=json.dumps({"default_percent": 10})).status_code == 200
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    oid = flow.buy(customer, seller, quantity=2)["order_id"]  # 55_000, fee 5_500
    flow.deliver(oid, seller, customer)
    asked = api.http.post(f"/orders/{oid}/returns", headers={**customer.headers, "Idempotency-Key": uuid.uuid4().hex},
                          body=json.dumps({"items": [{"product_id": seller.product["product_id"], "quantity": 1}],
                                           "reason": "one is enough"}))
    assert asked.status_code == 201, asked.body
    assert flow.post(f"/seller/returns/{asked.json_body['id']}/accept", seller).status_code == 200  # −9_000
    wait_until(lambda: api.http.get("/seller/balance", headers=seller.headers).json_body["available"]["amount"]
               == 40_500, 30, "the return window to end")
    for account in ("40702810000000000001", SANDBOX_FAILING_ACCOUNT):
        resp = api.http.post("/seller/payouts", headers={**seller.headers, "Idempotency-Key": uuid.uuid4().hex},
                             body=json.dumps({"amount": 20_000, "account": account}))
        assert resp.status_code == 201, resp.body
    placed = flow.buy(customer, seller)["order_id"]  # 45_000 held, not decided
    flow.wait_parked(placed, "seller")

    report = books(api, admin)
    assert report["balanced"], report["problems"]
    amounts = {k: v["amount"] for k, v in report.items() if isinstance(v, dict)}
    assert amounts == {"wallets": 100_000 - 55_000 + 10_000 - 45_000, "holds": 45_000,
                       "seller_balances": 40_500 - 20_000, "payouts_in_flight": 0, "marketplace_revenue": 4_500,
                       "marketplace_expenses": 0, "topups": 100_000, "card_payments": 0,
                       "payouts_paid": 20_000}

    # a wallet credited behind the ledger's back: the projection no longer matches the journal
    clients.table(settings().ledger_table).update_item(
        Key=keys.wallet(customer.id), UpdateExpression="ADD available :x", ExpressionAttributeValues={":x": 1})
    drifted = books(api, admin)
    assert not drifted["balanced"]
    assert any(customer.id in p for p in drifted["problems"]) and any("do not balance" in p for p in
                                                                      drifted["problems"])
