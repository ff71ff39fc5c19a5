"""Returns of card orders, through the real routes, the real order workflow and the real return
workflow: an accepted return refunds its share to the card at the sandbox provider (a partial
refund; the return that completes the order refunds the rest), never to the wallet; the seller
gives back their net and the marketplace its fee share, the money goes back to the provider's
clearing account and the books balance. A retried acceptance refunds once (the key is the
return's), and a refusal by the provider keeps the return undecided, visibly."""

from __future__ import annotations

import pytest

from chalicelib.adapters import payments_sandbox
from chalicelib.services import books, ledger
from chalicelib.services import returns as return_service
from chalicelib.store import ledger as ledger_store
from chalicelib.store import payments as payment_store
from chalicelib.store import returns as return_store
from tests.functional.returns_support import FEE, TOTAL, ask, return_events, seller_balance, waiting
from tests.functional.test_card_orders import buy_by_card, pay_on_page
from tests.support.sandbox import deliver

pytestmark = [pytest.mark.timeout(180), pytest.mark.module_stack]

EMPTY = {"available": 0, "held": 0, "currency": "RUB"}


def card_delivered(flow, sent, seller, customer) -> str:
    """Two boots bought by card, authorized on the sandbox page, confirmed, shipped, received."""
    order = buy_by_card(flow, customer, seller, quantity=2)
    oid = order["order_id"]
    pay_on_page(flow, order)
    assert deliver(flow.api, sent[-1]).json_body["outcome"] == "authorized"
    flow.deliver(oid, seller, customer)
    assert flow.order(oid)["total"] == TOTAL
    return oid


def sandbox_payment(oid: str) -> dict:
    return payment_store.get_sandbox(payment_store.get_order_payment(oid)["provider_payment_id"])


def balanced() -> dict:
    report = books.reconcile()
    assert report["balanced"], report["problems"]
    return report


def test_a_card_return_refunds_its_share_to_the_card_then_the_rest(flow, returns_env, sent):
    seller, customer = flow.seller(stock=5), flow.customer()
    pid = seller.product["product_id"]
    oid = card_delivered(flow, sent, seller, customer)
    assert sandbox_payment(oid)["status"] == "succeeded"
    revenue, cards = ledger.marketplace_revenue(), balanced()["card_payments"]
    assert seller_balance(flow, seller)["earnings"] == TOTAL - FEE

    rid = ask(flow, customer, oid, pid).json_body["id"]
    waiting(rid)
    accepted = flow.post(f"/seller/returns/{rid}/accept", seller, {"restock": True})
    assert accepted.status_code == 200, accepted.body
    assert accepted.json_body["refund"] == {"amount": 10_000, "currency": "RUB"}
    # the card got one boot's share back at the provider; the wallet never saw it
    payment = sandbox_payment(oid)
    assert (payment["status"], payment["refunded"]) == ("succeeded", 10_000)
    assert payment_store.sandbox_refunds(payment) == {f"return-{rid}": 10_000}
    assert flow.wallet(customer) == EMPTY
    # the seller gives back their net (10_000 less the 1_000 fee share), the marketplace its fee share
    assert seller_balance(flow, seller)["earnings"] == TOTAL - FEE - 9_000
    assert ledger.marketplace_revenue() - revenue == -1_000
    report = balanced()
    assert report["card_payments"] == cards - 10_000  # back to the provider's clearing account
    assert return_store.get(rid)["decision"]["refunded_to"] == "card"
    assert "return_accepted" in return_events(flow, oid, rid)
    mail = flow.wait_email(customer.email, "return_accepted")
    assert "возвращены на карту" in mail["text"] and "счёте" not in mail["text"]  # the customer's language: ru

    # the second boot completes the return: the rest (delivery included) goes to the card
    second = ask(flow, customer, oid, pid).json_body["id"]
    waiting(second)
    done = flow.post(f"/seller/returns/{second}/accept", seller)
    assert done.status_code == 200 and done.json_body["refund"]["amount"] == TOTAL - 10_000
    payment = sandbox_payment(oid)
    assert (payment["status"], payment["refunded"]) == ("refunded", TOTAL)
    assert payment_store.sandbox_refunds(payment) == {f"return-{rid}": 10_000, f"return-{second}": TOTAL - 10_000}
    assert flow.wallet(customer) == EMPTY
    assert seller_balance(flow, seller)["earnings"] == 0
    assert ledger.marketplace_revenue() == revenue - FEE
    assert balanced()["card_payments"] == cards - TOTAL
    assert ledger_store.get_hold(oid).get(ledger_store.REFUNDING) is None  # no refund left in progress


def test_a_retried_acceptance_refunds_the_card_once(flow, returns_env, sent, monkeypatch):
    seller, customer = flow.seller(stock=5), flow.customer()
    pid = seller.product["product_id"]
    oid = card_delivered(flow, sent, seller, customer)
    rid = ask(flow, customer, oid, pid).json_body["id"]
    waiting(rid)

    # the provider refunds, then the ledger write is lost (a crash between the two)
    real_post = ledger_store.post

    def lost(*args, **kwargs):
        raise ConnectionError("the acceptance stopped after the provider answered")

    monkeypatch.setattr(ledger_store, "post", lost)
    with pytest.raises(ConnectionError):
        return_service.decide(rid, "accept", seller_id=seller.id, actor=f"seller:{seller.id}", wake=False)
    monkeypatch.setattr(ledger_store, "post", real_post)
    assert sandbox_payment(oid)["refunded"] == 10_000
    assert return_store.get(rid)["state"] == "requested"
    assert seller_balance(flow, seller)["earnings"] == TOTAL - FEE  # not booked yet
    # the card has its money: the return can no longer be rejected, only accepted
    assert flow.post(f"/seller/returns/{rid}/reject", seller).status_code == 409
    assert return_store.get(rid)["state"] == "requested"

    # the acceptance retried (by the seller, then again): the same refund, booked once
    for _ in range(2):
        again = flow.post(f"/seller/returns/{rid}/accept", seller)
        assert again.status_code == 200, again.body
        assert again.json_body["refund"]["amount"] == 10_000
    payment = sandbox_payment(oid)
    assert payment["refunded"] == 10_000 and payment_store.sandbox_refunds(payment) == {f"return-{rid}": 10_000}
    assert seller_balance(flow, seller)["earnings"] == TOTAL - FEE - 9_000
    assert flow.wallet(customer) == EMPTY
    assert return_events(flow, oid, rid).count("return_accepted") == 1
    balanced()


def test_a_refund_the_provider_refuses_keeps_the_return_undecided_visibly(flow, returns_env, sent, counted):
    seller, customer = flow.seller(stock=5), flow.customer()
    pid = seller.product["product_id"]
    oid = card_delivered(flow, sent, seller, customer)
    rid = ask(flow, customer, oid, pid).json_body["id"]
    waiting(rid)
    # the whole payment was refunded at the provider already (by the shop's own back office)
    gateway = payments_sandbox.SandboxGateway()
    gateway.refund_payment(sandbox_payment(oid)["id"], TOTAL, "RUB", idempotency_key="back-office")

    refused = flow.post(f"/seller/returns/{rid}/accept", seller)
    assert refused.status_code == 409, refused.body
    assert return_store.get(rid)["state"] == "requested"  # undecided: the deadline and the sweep retry
    assert ("CardPaymentsRefused", "double-refund") in counted
    assert "return_refund_refused" in return_events(flow, oid, rid)
    assert "return_accepted" not in return_events(flow, oid, rid)
    # nothing moved in the ledger, and the order's other returns are not blocked
    assert seller_balance(flow, seller)["earnings"] == TOTAL - FEE
    assert flow.wallet(customer) == EMPTY
    assert ledger_store.get_hold(oid).get(ledger_store.REFUNDING) is None
    assert sandbox_payment(oid)["refunded"] == TOTAL
    balanced()
    # the seller may still reject it (nothing was refunded for it)
    assert flow.post(f"/seller/returns/{rid}/reject", seller).status_code == 200
