"""Metrics a deployment publishes: a purchase through the real routes and the real workflow
writes embedded-metric documents that count what happened (orders placed, paid, confirmed,
cancelled and by whom, emails) and the DynamoDB calls of each route."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def emitted(text: str) -> list[dict]:
    return [d for d in (json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"'))]


def total(docs: list[dict], metric: str, by: str | None = None) -> float:
    out = 0
    for doc in docs:
        names = {m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        if metric in names and (by is None or doc.get("by") == by):
            assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Marketplace"
            out += doc[metric]
    return out


def test_a_purchase_and_a_cancellation_are_counted(flow, monkeypatch, capsys):
    monkeypatch.setenv("METRICS_ENABLED", "true")
    seller, customer = flow.seller(stock=5), flow.customer(balance=1_000_000)
    capsys.readouterr()

    kept = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(kept, "seller")
    assert flow.post(f"/seller/orders/{kept}/confirm", seller).status_code == 200
    flow.wait_event(kept, "payment_captured")
    dropped = flow.buy(customer, seller)["order_id"]
    flow.wait_parked(dropped, "seller")
    assert flow.post(f"/orders/{dropped}/cancel", customer).status_code == 200
    flow.wait_event(dropped, "refund_completed")
    flow.wait_status(dropped, "CANCELLED")
    from tests.waiting import wait_until

    docs: list[dict] = []

    def counted() -> bool:
        docs.extend(emitted(capsys.readouterr().out))
        return total(docs, "OrdersCancelled", by="customer") >= 1 and total(docs, "OrdersConfirmed") >= 1

    wait_until(counted, 20, "the cancellation and the confirmation to be counted")
    assert total(docs, "OrdersPlaced") == 2
    assert total(docs, "OrdersPaid") == 2
    assert total(docs, "OrdersConfirmed") == 1
    assert total(docs, "OrdersCancelled", by="customer") == 1
    assert total(docs, "EmailsSent") >= 4  # placed + new order, twice; confirmed; cancelled ...
    assert total(docs, "DynamoDBCalls", by="POST /checkout") >= 3 * 2
    checkout_doc = next(d for d in docs if d.get("route") == "POST /checkout")
    assert checkout_doc["request_id"] and checkout_doc["service"] == "marketplace"
