"""The order workflow's money primitives on moto: hold, capture, release, refund of a capture.

Each test states the wallet a customer would see; the journal checks at the end of each test
prove the ledger still balances.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.errors import InsufficientEarnings, InsufficientFunds, InvalidTransition, ValidationFailed
from chalicelib.services import ledger, statements
from chalicelib.services.payments import Charge
from chalicelib.store import ledger as ledger_store

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)


@pytest.fixture
def customer(aws) -> str:
    """A customer whose wallet holds 1000.00 RUB."""
    cid = f"c-{uuid.uuid4().hex[:8]}"
    ledger.record_topup(f"topup:{cid}", cid, 100_000, "RUB", Charge("ch_test", "4242", "sandbox"))
    return cid


@pytest.fixture
def calls(aws):
    """DynamoDB operations made through the app's client, by name."""
    seen: Counter[str] = Counter()

    def count(model, **_):
        seen[model.name] += 1

    client = clients.dynamodb_resource().meta.client
    client.meta.events.register("before-call.dynamodb", count)
    yield seen
    client.meta.events.unregister("before-call.dynamodb", count)


@pytest.fixture
def seller() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


other_seller = seller


def order() -> str:
    return f"o-{uuid.uuid4().hex[:8]}"


def journal_balances() -> None:
    """Every transaction balances, and the balance items equal their journal's sums."""
    items = clients.table(settings().ledger_table).scan(ConsistentRead=True)["Items"]
    sums: Counter[str] = Counter()
    for txn in (i for i in items if i["SK"] == "TXN"):
        assert sum(int(e["amount"]) for e in txn["entries"]) == 0
        for e in txn["entries"]:
            sums[e["account"]] += int(e["amount"])
    for item in items:
        if item["PK"].startswith("WALLET#"):
            owner = item["PK"].split("#", 1)[1]
            assert int(item["available"]) == sums[f"customer:{owner}:available"] >= 0
            assert int(item.get("held", 0)) == sums[f"customer:{owner}:held"] >= 0
        if item["PK"].startswith("EARNINGS#"):
            assert int(item["earnings"]) == sums[f"seller:{item['PK'].split('#', 1)[1]}:earnings"] >= 0
    assert sum(sums.values()) == 0


def test_can_hold_then_capture_to_the_seller(customer, seller):
    o = order()
    ledger.hold(o, customer, 30_000, "RUB")
    assert ledger.wallet(customer) == {"available": 70_000, "held": 30_000, "currency": "RUB"}
    assert ledger.hold_state(o) == "held"

    ledger.capture(o, seller)
    assert ledger.wallet(customer) == {"available": 70_000, "held": 0, "currency": "RUB"}
    assert ledger.seller_balance(seller)["earnings"] == 30_000
    assert ledger.hold_state(o) == "captured"
    journal_balances()


def test_can_release_a_hold_back_to_available(customer):
    o = order()
    ledger.hold(o, customer, 30_000, "RUB")
    assert ledger.release(o) is True
    assert ledger.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert ledger.hold_state(o) == "released"
    journal_balances()


def test_retried_primitives_do_nothing_twice(customer, seller):
    o = order()
    for _ in range(3):
        ledger.hold(o, customer, 30_000, "RUB")
    assert ledger.wallet(customer)["available"] == 70_000
    for _ in range(2):
        ledger.capture(o, seller)
        ledger.capture(o, seller, customer_id=customer, amount=30_000)
    assert ledger.seller_balance(seller)["earnings"] == 30_000
    assert ledger.wallet(customer) == {"available": 70_000, "held": 0, "currency": "RUB"}

    o2 = order()
    ledger.hold(o2, customer, 10_000, "RUB")
    assert [ledger.release(o2), ledger.release(o2), ledger.release(o2, customer_id=customer, amount=10_000)] == [
        True, True, True]
    assert ledger.wallet(customer)["available"] == 70_000
    journal_balances()


def test_error_on_hold_beyond_available_leaves_wallet_untouched(customer):
    o = order()
    with pytest.raises(InsufficientFunds) as err:
        ledger.hold(o, customer, 100_001, "RUB")
    assert err.value.problem()["available"] == {"amount": 100_000, "currency": "RUB"}
    assert ledger.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert ledger.hold_state(o) is None
    ledger.hold(o, customer, 100_000, "RUB")  # the whole balance is fine
    assert ledger.wallet(customer)["available"] == 0


def test_error_on_hold_from_a_wallet_never_topped_up(aws):
    with pytest.raises(InsufficientFunds):
        ledger.hold(order(), "nobody", 1, "RUB")


def test_a_hold_resolves_at_most_once(customer, seller, other_seller):
    captured, released = order(), order()
    ledger.hold(captured, customer, 1_000, "RUB")
    ledger.hold(released, customer, 1_000, "RUB")
    ledger.capture(captured, seller)
    ledger.release(released)

    with pytest.raises(InvalidTransition):
        ledger.release(captured)
    with pytest.raises(InvalidTransition):
        ledger.release(captured, customer_id=customer, amount=1_000)
    with pytest.raises(InvalidTransition):
        ledger.capture(released, seller)
    with pytest.raises(InvalidTransition):
        ledger.capture(released, seller, customer_id=customer, amount=1_000)
    with pytest.raises(InvalidTransition):
        ledger.capture(captured, other_seller)  # already paid to someone else
    assert ledger.seller_balance(seller)["earnings"] == 1_000
    assert ledger.seller_balance(other_seller)["earnings"] == 0
    journal_balances()


def test_release_of_an_order_never_held_is_a_no_op(aws):
    assert ledger.release(order()) is False
    assert ledger.release(order(), customer_id="c", amount=5) is False


def test_error_on_capture_of_an_order_never_held(aws, seller):
    with pytest.raises(InvalidTransition):
        ledger.capture(order(), seller)
    with pytest.raises(InvalidTransition):
        ledger.capture(order(), seller, customer_id="c", amount=5)


def test_error_on_a_second_different_hold_for_one_order(customer):
    o = order()
    ledger.hold(o, customer, 1_000, "RUB")
    with pytest.raises(InvalidTransition):
        ledger.hold(o, customer, 2_000, "RUB")
    assert ledger.wallet(customer)["held"] == 1_000


def test_wrong_hints_are_refused_not_trusted(customer, seller):
    o = order()
    ledger.hold(o, customer, 1_000, "RUB")
    with pytest.raises(InvalidTransition):
        ledger.capture(o, seller, customer_id=customer, amount=999_999)
    with pytest.raises(InvalidTransition):
        ledger.release(o, customer_id="someone-else", amount=1_000)
    assert ledger.hold_state(o) == "held"
    assert ledger.wallet(customer)["held"] == 1_000
    journal_balances()


def test_error_on_hold_in_another_currency(customer):
    with pytest.raises(ValidationFailed):
        ledger.hold(order(), customer, 1_000, "USD")


def test_each_primitive_is_exactly_one_write_call(customer, calls, seller):
    o = order()
    ledger.hold(o, customer, 1_000, "RUB")
    assert calls == {"TransactWriteItems": 1}

    calls.clear()
    ledger.capture(o, seller, customer_id=customer, amount=1_000)
    assert calls == {"TransactWriteItems": 1}

    o2 = order()
    ledger.hold(o2, customer, 1_000, "RUB")
    calls.clear()
    ledger.release(o2, customer_id=customer, amount=1_000)
    assert calls == {"TransactWriteItems": 1}


def test_without_hints_a_primitive_reads_the_hold_once(customer, calls, seller):
    o = order()
    ledger.hold(o, customer, 1_000, "RUB")
    calls.clear()
    ledger.capture(o, seller)
    assert calls == {"GetItem": 1, "TransactWriteItems": 1}


def test_insufficient_funds_is_told_apart_without_a_read(customer, calls):
    with pytest.raises(InsufficientFunds):
        ledger.hold(order(), customer, 10**9, "RUB")
    assert calls == {"TransactWriteItems": 1}


def test_a_free_order_has_a_hold_that_moves_no_money(customer, seller, calls):
    o = order()
    ledger.hold(o, customer, 0, "RUB")
    assert ledger.hold_state(o) == "held"
    ledger.capture(o, seller, customer_id=customer, amount=0)
    ledger.capture(o, seller)
    assert ledger.hold_state(o) == "captured"
    assert ledger.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert ledger.seller_balance(seller)["earnings"] == 0
    o2 = order()
    ledger.hold(o2, customer, 0, "RUB")
    calls.clear()
    assert ledger.release(o2, customer_id=customer, amount=0) is True
    assert calls == {"TransactWriteItems": 1}
    journal_balances()


def test_a_hold_may_exceed_the_largest_single_topup(aws, seller):
    rich = f"c-{uuid.uuid4().hex[:8]}"
    for i in range(3):
        ledger.record_topup(f"topup:{rich}:{i}", rich, 1_000_000_000, "RUB", Charge("ch", "4242", "sandbox"))
    o = order()
    ledger.hold(o, rich, 2_500_000_000, "RUB")
    ledger.capture(o, seller)
    assert ledger.seller_balance(seller)["earnings"] == 2_500_000_000


@pytest.mark.parametrize("amount", [-1, 1.5, "100", True])
def test_error_on_a_hold_of_a_malformed_amount(customer, amount):
    with pytest.raises(ValueError):
        ledger.hold(order(), customer, amount, "RUB")
    assert ledger.wallet(customer)["available"] == 100_000


# -- refund of a capture (a cancel after the seller confirmed) ---------------------------------


def captured(customer: str, seller: str, amount: int = 30_000) -> str:
    o = order()
    ledger.hold(o, customer, amount, "RUB")
    ledger.capture(o, seller, customer_id=customer, amount=amount)
    return o


def refunds_of(o: str) -> list[dict]:
    items = clients.table(settings().ledger_table).scan(ConsistentRead=True)["Items"]
    return [i for i in items if i["SK"] == "TXN" and i.get("order_id") == o and i["kind"] == "refund"]


def test_can_refund_a_capture_from_the_seller_back_to_the_customer(customer, seller):
    o = captured(customer, seller)
    assert ledger.seller_balance(seller)["earnings"] == 30_000

    ledger.refund_capture(o, customer_id=customer, seller_id=seller, amount=30_000, currency="RUB")
    assert ledger.wallet(customer) == {"available": 100_000, "held": 0, "currency": "RUB"}
    assert ledger.seller_balance(seller)["earnings"] == 0
    assert ledger.hold_state(o) == "refunded"
    (refund,) = refunds_of(o)
    assert {e["account"]: int(e["amount"]) for e in refund["entries"]} == {
        f"seller:{seller}:earnings": -30_000, f"customer:{customer}:available": 30_000}
    journal_balances()


def test_the_refund_shows_on_both_statements(customer, seller):
    o = captured(customer, seller, 2_000)
    ledger.refund_capture(o)
    mine, _ = ledger.customer_transactions(customer, limit=10, start=None)
    theirs, _ = ledger.seller_transactions(seller, limit=10, start=None)
    assert [t["kind"] for t in mine if t.get("order_id") == o] == ["refund", "capture", "hold"]
    assert [t["kind"] for t in theirs if t.get("order_id") == o] == ["refund", "capture"]


def test_error_on_a_statement_period_with_more_movements_than_it_shows(customer, seller, monkeypatch):
    first, second = captured(customer, seller, 1_000), captured(customer, seller, 2_000)
    period = ("2000-01-01T00:00:00.000000Z", "2100-01-01T00:00:00.000000Z")
    monkeypatch.setattr(statements, "MAX_LINES", 2)
    assert [line["order_id"] for line in statements.lines(seller, *period)] == [first, second]
    monkeypatch.setattr(statements, "MAX_LINES", 1)
    with pytest.raises(ValidationFailed) as err:  # never a statement cut short that no longer adds up
        statements.lines(seller, *period)
    assert err.value.errors[0]["field"] == "from"


def test_retried_refund_does_nothing_twice(customer, seller):
    o = captured(customer, seller)
    for _ in range(2):
        ledger.refund_capture(o)
        ledger.refund_capture(o, customer_id=customer, seller_id=seller, amount=30_000)
    assert len(refunds_of(o)) == 1
    assert ledger.wallet(customer)["available"] == 100_000
    assert ledger.seller_balance(seller)["earnings"] == 0
    journal_balances()


def test_error_on_refund_of_money_that_was_never_captured(customer, seller):
    held, released = order(), order()
    ledger.hold(held, customer, 1_000, "RUB")
    ledger.hold(released, customer, 1_000, "RUB")
    ledger.release(released)
    for o in (held, released, order()):
        with pytest.raises(InvalidTransition):
            ledger.refund_capture(o)
        with pytest.raises(InvalidTransition):
            ledger.refund_capture(o, customer_id=customer, seller_id=seller, amount=1_000)
        assert refunds_of(o) == []
    assert ledger.hold_state(held) == "held"
    assert ledger.wallet(customer) == {"available": 99_000, "held": 1_000, "currency": "RUB"}
    journal_balances()


def test_a_refunded_capture_is_final(customer, seller):
    o = captured(customer, seller, 1_000)
    ledger.refund_capture(o)
    with pytest.raises(InvalidTransition) as err:
        ledger.release(o, customer_id=customer, amount=1_000)
    assert err.value.hold_state == "refunded"
    with pytest.raises(InvalidTransition):
        ledger.capture(o, seller, customer_id=customer, amount=1_000)
    assert ledger.seller_balance(seller)["earnings"] == 0
    assert ledger.wallet(customer)["available"] == 100_000


def test_release_of_a_capture_says_the_money_was_captured(customer, seller):
    o = captured(customer, seller, 1_000)
    with pytest.raises(InvalidTransition) as err:
        ledger.release(o, customer_id=customer, amount=1_000)
    assert err.value.hold_state == "captured"  # the workflow refunds the capture instead


def test_wrong_refund_hints_are_refused_not_trusted(customer, seller, other_seller):
    o = captured(customer, seller, 1_000)
    for hints in ({"customer_id": customer, "seller_id": other_seller, "amount": 1_000},
                  {"customer_id": customer, "seller_id": seller, "amount": 999},
                  {"customer_id": "someone-else", "seller_id": seller, "amount": 1_000}):
        with pytest.raises(InvalidTransition):
            ledger.refund_capture(o, **hints)
    with pytest.raises(InvalidTransition):
        ledger.refund_capture(o, seller_id=other_seller)  # no full hints: read, then checked
    assert ledger.hold_state(o) == "captured"
    assert ledger.seller_balance(seller)["earnings"] == 1_000
    journal_balances()


def test_refund_never_takes_the_sellers_earnings_below_zero(customer, seller):
    o = captured(customer, seller, 5_000)
    # no payouts exist yet: a balanced movement out of the earnings stands in for one
    ledger_store.post(dl.Transaction(
        id=f"payout:{o}", kind="payout", currency="RUB", amount=4_000, created_at=dl.now_iso(),
        customer_id=customer, seller_id=seller,
        entries=(dl.Entry(dl.seller_earnings(seller), -4_000), dl.Entry(dl.provider_clearing("payouts", 0), 4_000)),
    ))
    with pytest.raises(InsufficientEarnings) as err:
        ledger.refund_capture(o, customer_id=customer, seller_id=seller, amount=5_000)
    assert err.value.status == 409
    assert (err.value.earnings, err.value.required) == (1_000, 5_000)
    assert ledger.seller_balance(seller)["earnings"] == 1_000
    assert ledger.wallet(customer)["available"] == 95_000
    assert ledger.hold_state(o) == "captured"  # nothing moved: an operator can settle it
    assert refunds_of(o) == []
    journal_balances()


def test_refund_is_exactly_one_write_call(customer, seller, calls):
    o = captured(customer, seller, 1_000)
    calls.clear()
    ledger.refund_capture(o, customer_id=customer, seller_id=seller, amount=1_000)
    assert calls == {"TransactWriteItems": 1}
    o2 = captured(customer, seller, 1_000)
    calls.clear()
    ledger.refund_capture(o2)
    assert calls == {"GetItem": 1, "TransactWriteItems": 1}


def test_a_free_order_refund_moves_no_money(customer, seller):
    o = captured(customer, seller, 0)
    ledger.refund_capture(o, customer_id=customer, seller_id=seller, amount=0)
    ledger.refund_capture(o)
    assert ledger.hold_state(o) == "refunded"
    assert refunds_of(o) == []
    assert ledger.wallet(customer)["available"] == 100_000
