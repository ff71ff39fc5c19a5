"""Wallet and seller-balance routes over the real app: top-ups with the sandbox cards, bad
input, statements and their cursors, and who may see what."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.services import ledger, payments
from tests.support.factories import rub

pytestmark = pytest.mark.module_stack  # one moto stack per module (tests/functional/ledger_stack.py)

NEXT_YEAR = datetime.now(UTC).year + 1
CARD = {"number": "4242 4242 4242 4242", "exp_month": 1, "exp_year": NEXT_YEAR, "cvc": "123", "holder": "IVAN PETROV"}


@pytest.fixture
def customer(register):
    return register("customer")


@pytest.fixture
def seller(register):
    return register("seller")


def topup(api, user, amount=150_000, card=None, key=None, **extra):
    body = {"amount": amount, "currency": "RUB", "card": card or CARD, **extra}
    headers = {**user.headers, "Idempotency-Key": key or f"k-{uuid.uuid4().hex}"}
    return api.http.post("/wallet/topups", body=json.dumps(body), headers=headers)


def test_new_customer_has_an_empty_wallet(api, customer):
    resp = api.http.get("/wallet", headers=customer.headers)
    assert resp.status_code == 200
    assert resp.json_body == {"available": rub(0), "held": rub(0), "currency": "RUB"}


def test_can_top_up_and_see_the_balance(api, customer):
    resp = topup(api, customer, amount=150_000)
    assert resp.status_code == 201
    receipt = resp.json_body
    assert receipt["status"] == "succeeded"
    assert receipt["amount"] == {"amount": 150_000, "currency": "RUB"}
    assert receipt["card_last4"] == "4242"
    assert receipt["id"].startswith("topup:") and receipt["charge_id"].startswith("ch_sandbox_")
    assert api.http.get("/wallet", headers=customer.headers).json_body == {
        "available": rub(150_000), "held": rub(0), "currency": "RUB"}


def test_top_up_location_is_its_wallet_transaction(api, customer, register):
    resp = topup(api, customer, amount=2_500)
    location = resp.headers["Location"]
    assert location == f"{settings().public_base_url}/wallet/transactions/{resp.json_body['id']}"
    line = api.http.get(location.removeprefix(settings().public_base_url), headers=customer.headers)
    assert line.status_code == 200, line.body
    assert line.json_body == {"id": resp.json_body["id"], "kind": "topup", "amount": rub(2_500),
                              "available_change": rub(2_500), "held_change": rub(0), "order_id": None,
                              "card_last4": "4242", "created_at": resp.json_body["created_at"]}
    # another customer's transaction is not found, like one that does not exist
    other = register("customer")
    path = location.removeprefix(settings().public_base_url)
    assert api.http.get(path, headers=other.headers).status_code == 404
    assert api.http.get("/wallet/transactions/topup:nope", headers=customer.headers).status_code == 404


def test_currency_may_be_omitted(api, customer):
    body = {"amount": 500, "card": CARD}
    resp = api.http.post("/wallet/topups", body=json.dumps(body),
                         headers={**customer.headers, "Idempotency-Key": f"k-{uuid.uuid4().hex}"})
    assert resp.status_code == 201
    assert resp.json_body["amount"] == {"amount": 500, "currency": "RUB"}


@pytest.mark.parametrize("number", ["5555555555554444", "2200 0000 0000 0004", "4242-4242-4242-4242"])
def test_every_documented_success_card_works(api, customer, number):
    assert topup(api, customer, card={**CARD, "number": number}).status_code == 201


@pytest.mark.parametrize("number,status,reason", [
    (payments.DECLINED, 402, "card-declined"),
    (payments.INSUFFICIENT_FUNDS, 402, "insufficient-funds"),
    ("4111111111111111", 402, "not-a-test-card"),
    (payments.PROVIDER_ERROR, 503, None),
])
def test_failing_cards_change_nothing(api, customer, number, status, reason):
    resp = topup(api, customer, card={**CARD, "number": number})
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json_body.get("reason") == reason
    assert api.http.get("/wallet", headers=customer.headers).json_body["available"] == rub(0)
    lines = api.http.get("/wallet/transactions", headers=customer.headers).json_body["items"]
    assert lines == []


def test_card_numbers_are_never_stored(api, customer):
    assert topup(api, customer).status_code == 201
    for table in (settings().ledger_table, settings().idempotency_table):
        dump = json.dumps(clients.table(table).scan()["Items"], default=str)
        assert "4242424242424242" not in dump and "4242 4242 4242 4242" not in dump
        assert "IVAN PETROV" not in dump


@pytest.mark.parametrize("amount,reason", [
    (0, "greater than 0"), (-100, "greater than 0"), (10.5, "integer"), (100.0, "integer"), ("100", "integer"),
    ("abc", "integer"), (True, "integer"), (None, "integer"), ([100], "integer"), ({"amount": 1}, "integer"),
    (1_000_000_001, "less than or equal"), (10**30, "less than or equal"),
])
def test_error_on_bad_amount_names_the_field(api, customer, amount, reason):
    resp = topup(api, customer, amount=amount)
    assert resp.status_code == 422
    errors = resp.json_body["errors"]
    assert [e["field"] for e in errors] == ["amount"]
    assert reason in errors[0]["reason"]


def test_largest_topup_is_ten_million(api, customer):
    assert topup(api, customer, amount=1_000_000_000).status_code == 201


@pytest.mark.parametrize("currency", ["USD", "rub", "RU", "", 643])
def test_error_on_wrong_currency(api, customer, currency):
    resp = topup(api, customer, currency=currency)
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json_body["errors"]] == ["currency"]


@pytest.mark.parametrize("change,field", [
    ({"number": "4242424242424241"}, "card.number"),
    ({"number": "4242abcd42424242"}, "card.number"),
    ({"number": "4242"}, "card.number"),
    ({"number": 4242424242424242}, "card.number"),
    ({"exp_month": 13}, "card.exp_month"),
    ({"exp_month": 0}, "card.exp_month"),
    ({"exp_month": "12"}, "card.exp_month"),
    ({"exp_year": NEXT_YEAR - 2}, "card.exp_year"),
    ({"exp_year": 27}, "card.exp_year"),
    ({"exp_year": NEXT_YEAR + 40}, "card.exp_year"),
    ({"cvc": "12"}, "card.cvc"),
    ({"cvc": "12345"}, "card.cvc"),
    ({"cvc": 123}, "card.cvc"),
    ({"holder": "x" * 101}, "card.holder"),
    ({"pin": "0000"}, "card.pin"),
])
def test_error_on_invalid_card_field_names_it(api, customer, change, field):
    resp = topup(api, customer, card={**CARD, **change})
    assert resp.status_code == 422
    assert field in [e["field"] for e in resp.json_body["errors"]]
    assert "4242424242424242" not in resp.body.decode()  # input is never echoed


def test_error_on_a_card_that_expired_last_month(api, customer):
    now = datetime.now(UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    resp = topup(api, customer, card={**CARD, "exp_year": year, "exp_month": month})
    assert resp.status_code == 422
    assert resp.json_body["errors"][0] == {"field": "card.exp_year", "reason": "the card has expired"}


def test_card_valid_through_this_month_is_accepted(api, customer):
    now = datetime.now(UTC)
    assert topup(api, customer, card={**CARD, "exp_year": now.year, "exp_month": now.month}).status_code == 201


def test_error_on_server_owned_fields(api, customer):
    # no card is fine (the provider's page takes it: test_provider_topups.py); a server-owned field is not
    resp = api.http.post("/wallet/topups", body=json.dumps({"amount": 100, "customer_id": "someone"}),
                         headers={**customer.headers, "Idempotency-Key": "k-0000000001"})
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json_body["errors"]} == {"customer_id"}


def test_statement_lists_every_movement_newest_first_with_a_cursor(api, customer, seller):
    for amount in (100, 200, 300, 400):
        assert topup(api, customer, amount=amount).status_code == 201
    order = f"o-{uuid.uuid4().hex[:8]}"
    ledger.hold(order, customer.id, 250, "RUB")
    ledger.capture(order, seller.id)

    seen, cursor = [], None
    while True:
        url = "/wallet/transactions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.http.get(url, headers=customer.headers).json_body
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [line["kind"] for line in seen] == ["capture", "hold", "topup", "topup", "topup", "topup"]
    assert [line["amount"]["amount"] for line in seen[2:]] == [400, 300, 200, 100]
    capture, hold = seen[0], seen[1]
    assert (hold["available_change"], hold["held_change"]) == (rub(-250), rub(250))
    assert (capture["available_change"], capture["held_change"]) == (rub(0), rub(-250))
    assert capture["order_id"] == order
    assert sum(line["available_change"]["amount"] for line in seen) == 1000 - 250
    assert api.http.get("/wallet", headers=customer.headers).json_body == {
        "available": rub(750), "held": rub(0), "currency": "RUB"}


def test_seller_sees_earnings_and_their_movements(api, customer, seller):
    assert topup(api, customer, amount=10_000).status_code == 201
    orders = [f"o-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for o in orders:
        ledger.hold(o, customer.id, 1_000, "RUB")
    ledger.capture(orders[0], seller.id)
    ledger.capture(orders[1], seller.id, customer_id=customer.id, amount=1_000)
    ledger.release(orders[2])

    # captured outside the order workflow: no return window holds any of it back
    assert api.http.get("/seller/balance", headers=seller.headers).json_body == {
        "earnings": rub(2_000), "available": rub(2_000), "pending": rub(0), "in_flight": rub(0),
        "paid_out": rub(0), "currency": "RUB"}
    page = api.http.get("/seller/balance/transactions?limit=1", headers=seller.headers).json_body
    assert page["items"][0]["kind"] == "capture" and page["items"][0]["earnings_change"] == rub(1_000)
    assert page["items"][0]["order_id"] == orders[1]
    rest = api.http.get(f"/seller/balance/transactions?cursor={page['next_cursor']}",
                        headers=seller.headers).json_body
    assert [i["order_id"] for i in rest["items"]] == [orders[0]] and rest["next_cursor"] is None


def test_error_on_cursor_from_another_list_or_tampered(api, customer, register):
    other = register("customer")
    for user in (customer, other):
        for _ in range(2):
            topup(api, user, amount=100)
    cursor = api.http.get("/wallet/transactions?limit=1", headers=other.headers).json_body["next_cursor"]
    for bad in (cursor, cursor[:-2] + "xx", "not-a-cursor"):
        resp = api.http.get(f"/wallet/transactions?cursor={bad}", headers=customer.headers)
        assert resp.status_code == 422
        assert resp.json_body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "page=2"])
def test_error_on_bad_list_query(api, customer, query):
    resp = api.http.get(f"/wallet/transactions?{query}", headers=customer.headers)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"].startswith(("query.", "page"))


@pytest.mark.parametrize("path", ["/wallet", "/wallet/transactions", "/wallet/transactions/topup:x"])
def test_sellers_have_no_wallet(api, seller, path):
    assert api.http.get(path, headers=seller.headers).status_code == 403


@pytest.mark.parametrize("path", ["/seller/balance", "/seller/balance/transactions"])
def test_customers_cannot_see_seller_balances(api, customer, path):
    assert api.http.get(path, headers=customer.headers).status_code == 403


@pytest.mark.parametrize("method,path", [("GET", "/wallet"), ("POST", "/wallet/topups"),
                                         ("GET", "/wallet/transactions"), ("GET", "/seller/balance")])
def test_error_without_a_token(api, method, path):
    resp = getattr(api.http, method.lower())(path)
    assert resp.status_code == 401


def test_customers_see_only_their_own_wallet(api, customer, register):
    other = register("customer")
    assert topup(api, customer, amount=700).status_code == 201
    assert api.http.get("/wallet", headers=other.headers).json_body["available"] == rub(0)
    assert api.http.get("/wallet/transactions", headers=other.headers).json_body["items"] == []
