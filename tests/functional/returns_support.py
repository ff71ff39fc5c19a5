"""What the return tests share (``test_returns.py``, ``test_card_returns.py``): the
``returns_env`` fixture (registered in ``tests/conftest.py``), asking for a return, waiting for
its workflow, and reading what the seller and the order show."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.config import settings
from chalicelib.store import workflow as wf_store
from tests.waiting import wait_until

# two boots at 10_000 + courier 35_000; a 10 % fee: 5_500, the seller nets 49_500
TOTAL, FEE = 55_000, 5_500


@pytest.fixture
def returns_env(flow, monkeypatch, api, admin):
    """``returns_env(window=, answer=)``: the return window and the seller's time to answer, in
    seconds (an hour each unless a test says otherwise); the commission is 10 %."""
    def configure(window: int = 3600, answer: int = 3600) -> None:
        monkeypatch.setenv("RETURN_WINDOW_SECONDS", str(window))
        monkeypatch.setenv("RETURN_ANSWER_SECONDS", str(answer))
        settings.cache_clear()
        assert settings().return_answer_seconds == answer  # prime the cache outside a request
    configure()
    assert api.http.put("/admin/commission", headers=admin.headers,
                        body=json.dumps({"default_percent": 10})).status_code == 200
    return configure


def ask(flow, customer, oid, product_id, quantity=1, reason="too small"):
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    body = {"items": [{"product_id": product_id, "quantity": quantity}], "reason": reason}
    return flow.api.http.post(f"/orders/{oid}/returns", headers=headers, body=json.dumps(body))


def waiting(rid: str) -> None:
    """The return's execution emailed the shop and waits for the decision (its token is parked)."""
    wait_until(lambda: wf_store.has_token(wf_store.return_wait(rid)), 15,
               f"the workflow of {rid} to wait for the seller")


def return_events(flow, oid: str, rid: str) -> list[str]:
    return [e["type"] for e in flow.order(oid)["timeline"] if (e.get("detail") or {}).get("return_id") == rid]


def seller_balance(flow, seller):
    body = flow.api.http.get("/seller/balance", headers=seller.headers).json_body
    return {k: body[k]["amount"] for k in ("earnings", "pending", "available")}
