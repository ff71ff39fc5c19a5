"""Support cancels a customer's paid order through the real order workflow: the customer gets
the money back, the seller earns nothing, and the cancel is in the audit."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


@pytest.fixture
def support(api, admin, register):
    user = register("customer")
    resp = api.http.put(f"/admin/users/{user.id}/role", body=json.dumps({"role": "support"}), headers=admin.headers)
    assert resp.status_code == 200, resp.body
    return user


def test_support_cancels_a_paid_order_and_the_customer_is_refunded(flow, api, admin, support):
    seller, customer = flow.seller(), flow.customer(balance=100_000)
    order = flow.buy(customer, seller)
    oid = order["order_id"]
    flow.wait_parked(oid, "seller")
    assert flow.wallet(customer)["held"] == order["total"]["amount"]

    resp = api.http.post(f"/admin/orders/{oid}/cancel", body=json.dumps({"reason": "customer called support"}),
                         headers=support.headers)

    assert resp.status_code == 200, resp.body
    assert resp.json_body["status"] == "CANCELLED"
    flow.wait_execution_done(oid)
    assert flow.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert flow.earnings(seller) == 0
    entries = api.http.get(f"/admin/audit?target=order:{oid}", headers=admin.headers).json_body["items"]
    assert [(e["action"], e["actor_id"], e["actor_role"], e["detail"]["reason"]) for e in entries] == [
        ("order.cancel", support.id, "support", "customer called support")]
    # cancelling it again changes nothing, so it audits nothing either
    again = api.http.post(f"/admin/orders/{oid}/cancel", headers=support.headers)
    assert again.status_code == 200 and again.json_body["status"] == "CANCELLED"
    assert len(api.http.get(f"/admin/audit?target=order:{oid}", headers=admin.headers).json_body["items"]) == 1
    assert flow.wallet(customer)["available"] == 100_000


def test_support_cannot_cancel_an_unknown_order_and_a_customer_cannot_use_the_route(flow, api, support):
    assert api.http.post("/admin/orders/o-nope/cancel", headers=support.headers).status_code == 404
    customer = flow.customer()
    assert api.http.post("/admin/orders/o-nope/cancel", headers=customer.headers).status_code == 403
