"""Card orders end to end in-process: checkout with ``payment_method: "card"`` answers the
sandbox provider's page, the customer authorizes the total there, the signed webhook marks the
order paid (the money held from the provider, not the wallet), and the real workflow captures it
when the seller confirms, voids it on a cancel or a payment timeout, refunds it to the card on a
cancel after capture. A top-up the provider never reports on expires on the reconciler's
schedule. The sandbox's webhooks are collected as it sends them and delivered through the
in-process client (``tests/support/sandbox.py``, as ``test_provider_topups.py`` does)."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.adapters import payments as port
from chalicelib.adapters import payments_sandbox
from chalicelib.config import settings
from chalicelib.domain.orders import Order
from chalicelib.errors import InvalidTransition
from chalicelib.services import books, card_payments, ledger
from chalicelib.store import payments as payment_store
from infra import resources as res
from local import bootstrap
from local.poller import scheduled_event
from tests.support import factories as f
from tests.support.sandbox import Webhook, deliver, event, local_path, signed, submit
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]


def buy_by_card(flow, customer, seller, quantity: int = 1) -> dict:
    shopper = f.Shopper(flow.api, customer)
    assert shopper.add(seller.product["product_id"], quantity).status_code in (200, 201)
    resp = shopper.checkout(f.checkout_body({seller.id: "courier"}, payment_method="card"))
    assert resp.status_code == 201, resp.body
    (order,) = resp.json_body["orders"]
    return order


def page_path(order) -> str:
    return local_path(order["payment"]["confirmation_url"])


def pay_on_page(flow, order, number="4242 4242 4242 4242"):
    return submit(flow.api, page_path(order), action="pay", number=number, exp="12/30", cvc="123")


def card_event(payment_id: str, order_id: str, status: str, amount: int) -> Webhook:
    return signed(event(payment_id, status, amount, order_id=order_id))


def sandbox_status(order_id: str) -> str:
    record = payment_store.get_order_payment(order_id)
    return payment_store.get_sandbox(record["provider_payment_id"])["status"]


def paid_by_card(flow, sent, customer, seller) -> dict:
    order = buy_by_card(flow, customer, seller)
    oid = order["order_id"]
    page = pay_on_page(flow, order)
    assert "Payment authorized" in page.body.decode()
    answer = deliver(flow.api, sent[-1])
    assert answer.status_code == 200, answer.body
    assert answer.json_body["outcome"] == "authorized" and answer.json_body["order_id"] == oid
    flow.wait_status(oid, "PAID")
    return order


def test_card_order_is_authorized_then_captured_when_the_seller_confirms(flow, sent):
    seller, customer = flow.seller(), flow.customer()
    order = buy_by_card(flow, customer, seller)
    oid, total = order["order_id"], order["total"]["amount"]
    assert order["payment_method"] == "card" and order["status"] == "AWAITING_PAYMENT"
    assert order["payment"]["status"] == "pending"
    assert order["payment"]["confirmation_url"].startswith(f"{settings().public_base_url}/payments/sandbox/sbx_")
    assert "Pay by card" in flow.api.http.get(page_path(order)).body.decode()
    flow.wait_parked(oid, "payment")
    assert flow.order(oid)["status"] == "AWAITING_PAYMENT"  # nothing before the provider's word

    pay_on_page(flow, order)
    assert sandbox_status(oid) == "waiting_for_capture" and len(sent) == 1
    assert deliver(flow.api, sent[0]).json_body["outcome"] == "authorized"
    assert deliver(flow.api, sent[0]).json_body["outcome"] == "already-applied"  # a retried webhook: once
    flow.wait_parked(oid, "seller")
    assert flow.order(oid)["status"] == "PAID"
    # the money came from the card, not the wallet: it is held for the order, nothing was available
    assert flow.wallet(customer) == {"available": 0, "held": total, "currency": "RUB"}
    seen = flow.api.http.get(f"/orders/{oid}", headers=customer.headers).json_body
    assert seen["payment"] == {"provider": "sandbox", "status": "authorized", "confirmation_url": None}

    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_event(oid, "payment_captured")
    assert sandbox_status(oid) == "succeeded"
    assert flow.earnings(seller) == total
    assert flow.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}
    report = books.reconcile()
    assert report["balanced"], report["problems"]


def test_cancelled_card_order_is_voided_and_nothing_moves(flow, sent, counted):
    seller, customer = flow.seller(), flow.customer()
    order = paid_by_card(flow, sent, customer, seller)
    oid = order["order_id"]
    flow.wait_parked(oid, "seller")

    assert flow.post(f"/orders/{oid}/cancel", customer).status_code == 200
    flow.wait_event(oid, "refund_completed")
    assert sandbox_status(oid) == "canceled"
    assert ledger.hold_state(oid) == "released"
    assert flow.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}  # back to the card
    assert flow.earnings(seller) == 0

    # a capture after the void is refused by the provider: nothing moves, the refusal is counted
    with pytest.raises(InvalidTransition):
        card_payments.capture(Order.from_item(flow.order(oid)))
    assert ("CardPaymentsRefused", "capture-after-void") in counted
    assert ledger.hold_state(oid) == "released" and flow.earnings(seller) == 0
    assert books.reconcile()["balanced"]


def test_unpaid_card_order_times_out_and_its_payment_is_voided(flow, sent):
    flow.timeouts(payment=2)
    seller, customer = flow.seller(stock=3), flow.customer()
    order = buy_by_card(flow, customer, seller, quantity=2)
    oid = order["order_id"]
    flow.wait_status(oid, "CANCELLED", timeout=20)
    flow.wait_event(oid, "stock_released")
    assert f.stock_of(seller.product["product_id"]) == 3
    wait_until(lambda: sandbox_status(oid) == "canceled", 15, "the payment to be voided")
    assert ledger.hold_state(oid) is None  # nothing was ever held

    # too late: the page no longer takes the card, and a late authorization is voided, not held
    pay_on_page(flow, order)
    assert not sent
    late = deliver(flow.api, card_event(payment_store.get_order_payment(oid)["provider_payment_id"], oid,
                                "waiting_for_capture", order["total"]["amount"]))
    assert late.status_code == 200 and late.json_body["outcome"] == "voided"
    assert ledger.hold_state(oid) is None
    assert flow.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}


def test_declined_card_cancels_the_order(flow, sent):
    seller, customer = flow.seller(stock=2), flow.customer()
    order = buy_by_card(flow, customer, seller)
    oid = order["order_id"]
    page = pay_on_page(flow, order, number="4000 0000 0000 0002")
    assert "card-declined" in page.body.decode()
    assert deliver(flow.api, sent[0]).json_body["outcome"] == "canceled"
    flow.wait_status(oid, "CANCELLED")
    flow.wait_event(oid, "stock_released")
    assert f.stock_of(seller.product["product_id"]) == 2
    assert ledger.hold_state(oid) is None


def test_cancel_after_capture_refunds_the_card_once(flow, sent, counted):
    seller, customer = flow.seller(), flow.customer()
    order = paid_by_card(flow, sent, customer, seller)
    oid, total = order["order_id"], order["total"]["amount"]
    flow.wait_parked(oid, "seller")
    assert flow.post(f"/seller/orders/{oid}/confirm", seller).status_code == 200
    flow.wait_parked(oid, "shipment")
    assert flow.earnings(seller) == total

    assert flow.post(f"/seller/orders/{oid}/cancel", seller).status_code == 200
    flow.wait_event(oid, "refund_completed")
    assert ledger.hold_state(oid) == "refunded"
    assert sandbox_status(oid) == "refunded"
    assert flow.earnings(seller) == 0
    assert flow.wallet(customer) == {"available": 0, "held": 0, "currency": "RUB"}  # the card got it

    record = payment_store.get_order_payment(oid)
    with pytest.raises(port.PaymentRefused) as second:  # another refund of the same payment
        payments_sandbox.SandboxGateway().refund_payment(record["provider_payment_id"], total, "RUB",
                                                         idempotency_key="another-refund")
    assert second.value.reason == "double-refund"
    card_payments.refund(Order.from_item(flow.order(oid)))  # the step retried: the same refund, nothing more
    assert flow.earnings(seller) == 0 and books.reconcile()["balanced"]


def test_webhook_for_another_amount_is_refused_and_moves_nothing(flow, sent, counted):
    seller, customer = flow.seller(), flow.customer()
    order = buy_by_card(flow, customer, seller)
    oid = order["order_id"]
    payment_id = payment_store.get_order_payment(oid)["provider_payment_id"]
    wrong = deliver(flow.api, card_event(payment_id, oid, "waiting_for_capture", order["total"]["amount"] - 1))
    assert wrong.status_code == 422, wrong.body
    assert wrong.json_body["errors"][0]["field"] == "amount"
    assert ("PaymentWebhooksRefused", "amount-mismatch") in counted
    time.sleep(0.5)
    assert flow.order(oid)["status"] == "AWAITING_PAYMENT" and ledger.hold_state(oid) is None

    stranger = deliver(flow.api, card_event("sbx_not_ours", oid, "waiting_for_capture", order["total"]["amount"]))
    assert stranger.status_code == 404
    assert ledger.hold_state(oid) is None


def test_card_order_payment_link_is_answered_again_by_pay(flow, sent):
    seller, customer = flow.seller(), flow.customer()
    order = buy_by_card(flow, customer, seller)
    again = flow.post(f"/orders/{order['order_id']}/pay", customer)
    assert again.status_code == 200, again.body
    assert again.json_body["payment"]["confirmation_url"] == order["payment"]["confirmation_url"]
    assert flow.wallet(customer)["held"] == 0  # the wallet is never touched for a card order


# --- an unanswered top-up expires (the reconciler's schedule) ---------------------------------


def run_reconciler() -> dict[str, int]:
    """One scheduled run, through Lambda Invoke of the deployed-shape function."""
    prefix = settings().commerce_table.split("-")[0]
    resp = boto3.client("lambda").invoke(FunctionName=bootstrap.function_name(prefix, res.RECONCILE_FUNCTION),
                                         Payload=json.dumps(scheduled_event("us-east-1")))
    assert not resp.get("FunctionError"), resp["Payload"].read()
    return json.loads(resp["Payload"].read())


def start_topup(flow, customer, amount: int) -> dict:
    resp = flow.api.http.post("/wallet/topups", body=json.dumps({"amount": amount}),
                              headers={**customer.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.body
    return resp.json_body


def topup_status(flow, customer, topup) -> str:
    return flow.api.http.get(f"/wallet/topups/{topup['topup_id']}", headers=customer.headers).json_body["status"]


def test_unanswered_top_up_expires_and_is_canceled_at_the_provider(flow, sent, monkeypatch, counted):
    monkeypatch.setenv("TOPUP_EXPIRY_SECONDS", "3")
    settings.cache_clear()
    assert settings().topup_expiry_seconds == 3  # primed outside a request (see Market.timeouts)
    customer = flow.customer()
    old = start_topup(flow, customer, 30_000)
    time.sleep(3.5)
    fresh = start_topup(flow, customer, 20_000)

    counts = run_reconciler()
    assert counts["topups_expired"] == 1
    assert topup_status(flow, customer, old) == "expired"
    assert topup_status(flow, customer, fresh) == "pending"  # not old enough yet
    # the fresh one is still paid normally
    fresh_page = fresh["confirmation_url"].removeprefix(settings().public_base_url)
    flow.api.http.post(fresh_page, body=urlencode({"action": "pay", "number": "4242424242424242"}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert deliver(flow.api, sent[-1]).json_body["outcome"] == "credited"
    assert flow.wallet(customer)["available"] == 20_000
    sent.clear()

    # canceled at the provider: its page no longer takes a card, nothing is sent or credited
    page = flow.api.http.post(old["confirmation_url"].removeprefix(settings().public_base_url),
                              body=urlencode({"action": "pay", "number": "4242424242424242"}),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "Payment failed" in page.body.decode() and not sent
    assert flow.wallet(customer)["available"] == 20_000
    assert counted.count(("TopUpsExpired", None)) == 1
    assert run_reconciler()["topups_expired"] == 0  # expired once; the paid one is no longer pending
