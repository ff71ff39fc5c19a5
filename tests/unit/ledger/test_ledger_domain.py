"""The ledger's pure rules and the sandbox provider: no IO."""

from __future__ import annotations

import pytest

from chalicelib.domain import ledger as dl
from chalicelib.errors import PaymentDeclined, Unavailable
from chalicelib.services import payments


def test_every_movement_balances_to_zero():
    at = dl.now_iso()
    txns = [
        dl.topup_txn("topup:x", "c1", 500, "RUB", provider="sandbox", charge_id="ch", card_last4="4242",
                     created_at=at),
        dl.hold_txn("o1", "c1", 300, "RUB", at),
        dl.capture_txn("o1", "c1", "s1", 300, "RUB", at),
        dl.release_txn("o2", "c1", 200, "RUB", at),
        dl.refund_txn("o1", "c1", "s1", 300, "RUB", at),
    ]
    for txn in txns:
        assert sum(e.amount for e in txn.entries) == 0
        assert all(e.amount != 0 for e in txn.entries)


def test_hold_moves_available_to_held_and_capture_pays_the_seller():
    hold = dl.hold_txn("o1", "c1", 300, "RUB", dl.now_iso())
    assert {e.account: e.amount for e in hold.entries} == {"customer:c1:available": -300, "customer:c1:held": 300}
    capture = dl.capture_txn("o1", "c1", "s9", 300, "RUB", dl.now_iso())
    assert {e.account: e.amount for e in capture.entries} == {"customer:c1:held": -300, "seller:s9:earnings": 300}


def test_refund_takes_the_capture_back_from_the_seller_to_the_customers_available():
    refund = dl.refund_txn("o1", "c1", "s9", 300, "RUB", dl.now_iso())
    assert {e.account: e.amount for e in refund.entries} == {"seller:s9:earnings": -300, "customer:c1:available": 300}
    assert (refund.id, refund.kind, refund.seller_id, refund.order_id) == ("refund:o1", "refund", "s9", "o1")


def test_step_ids_are_deterministic_per_order():
    assert dl.hold_txn("o1", "c1", 1, "RUB", "t1").id == dl.hold_txn("o1", "c1", 1, "RUB", "t2").id == "hold:o1"
    assert len({dl.capture_txn_id("o1"), dl.release_txn_id("o1"), dl.refund_txn_id("o1")}) == 3


def test_error_on_unbalanced_or_fractional_transaction():
    with pytest.raises(dl.Unbalanced):
        dl.Transaction(id="t", kind="hold", currency="RUB", amount=1, created_at="t", customer_id="c",
                       entries=(dl.Entry("customer:c:available", -1), dl.Entry("customer:c:held", 2)))
    with pytest.raises(dl.Unbalanced):
        dl.Transaction(id="t", kind="hold", currency="RUB", amount=1, created_at="t", customer_id="c",
                       entries=(dl.Entry("customer:c:available", -1.5), dl.Entry("customer:c:held", 1.5)))
    with pytest.raises(dl.Unbalanced):
        dl.Transaction(id="t", kind="hold", currency="RUB", amount=1, created_at="t", customer_id="c",
                       entries=(dl.Entry("customer:c:held", -1), dl.Entry("customer:c:held", 1)))


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "100", dl.MAX_AMOUNT + 1])
def test_error_on_amount_that_is_not_positive_minor_units(amount):
    with pytest.raises(ValueError):
        dl.hold_txn("o1", "c1", amount, "RUB", dl.now_iso())


def test_only_the_clearing_account_may_go_negative():
    assert dl.parse_account(dl.provider_clearing("sandbox", 3)).may_go_negative
    for account in (dl.customer_available("c"), dl.customer_held("c"), dl.seller_earnings("s")):
        assert not dl.parse_account(account).may_go_negative
    with pytest.raises(ValueError):
        dl.parse_account("customer:c:savings")


def test_top_ups_spread_over_clearing_shards_deterministically():
    shards = {dl.clearing_shard(f"topup:{i}") for i in range(200)}
    assert shards == set(range(dl.CLEARING_SHARDS))
    assert dl.clearing_shard("topup:a") == dl.clearing_shard("topup:a")


@pytest.mark.parametrize("number,valid", [
    ("4242424242424242", True), ("5555555555554444", True), ("2200000000000004", True),
    ("4242424242424241", False), ("42424242424242a2", False), ("４２４２４２４２４２４２４２４２", False),
])
def test_luhn_checksum(number, valid):
    assert payments.luhn_ok(number) is valid


def _card(number: str) -> payments.Card:
    return payments.Card(number, 12, 2099, "123")


@pytest.mark.parametrize("number", payments.SUCCEEDS)
def test_sandbox_accepts_its_test_cards_with_one_charge_per_key(number):
    sandbox = payments.SandboxProvider()
    first = sandbox.charge(100, "RUB", _card(number), idempotency_key="k1")
    assert first == sandbox.charge(100, "RUB", _card(number), idempotency_key="k1")
    assert first.id != sandbox.charge(100, "RUB", _card(number), idempotency_key="k2").id
    assert first.last4 == number[-4:]


@pytest.mark.parametrize("number,reason", [
    (payments.DECLINED, "card-declined"),
    (payments.INSUFFICIENT_FUNDS, "insufficient-funds"),
    ("4111111111111111", "not-a-test-card"),
])
def test_sandbox_declines_with_a_distinct_reason(number, reason):
    with pytest.raises(PaymentDeclined) as err:
        payments.SandboxProvider().charge(100, "RUB", _card(number), idempotency_key="k")
    assert err.value.status == 402
    assert err.value.problem()["reason"] == reason


def test_sandbox_provider_outage_is_retryable():
    with pytest.raises(Unavailable):
        payments.SandboxProvider().charge(100, "RUB", _card(payments.PROVIDER_ERROR), idempotency_key="k")


def test_card_never_shows_its_number_or_cvc():
    card = payments.Card("4242424242424242", 1, 2030, "987")
    assert "424242424242" not in repr(card) and "987" not in repr(card) and "4242" in repr(card)
