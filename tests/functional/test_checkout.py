"""Checkout over the real routes on moto: one order per seller, atomic reservation,
idempotency, workflow start, and bad input that reserves and charges nothing."""

import json
from datetime import UTC, datetime

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.domain import cart as cart_rules
from chalicelib.domain import ledger as ledger_rules
from chalicelib.store import carts as cart_store
from tests.support import factories as f

POST = [{"id": "post", "name": "Post", "price": 20000, "days": 7}]


@pytest.fixture
def machine(aws, monkeypatch):
    """A stand-in order state machine (one Pass state): checkout must start it per order."""
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="orders-test", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    monkeypatch.setenv("ORDER_STATE_MACHINE_ARN", arn)
    settings.cache_clear()
    yield arn
    settings.cache_clear()


@pytest.fixture
def sellers(register):
    one, two = register("seller"), register("seller")
    f.put_shop(f.shop(one.id, name="Boots"))
    f.put_shop(f.shop(two.id, name="Hats", methods=POST))
    return one, two


@pytest.fixture
def shopper(api, register):
    return f.Shopper(api, register("customer"))


def orders_of(shopper):
    return shopper.get("/orders").json_body["items"]


def test_two_seller_cart_makes_two_orders_with_their_own_delivery(shopper, sellers, machine):
    one, two = sellers
    a = f.put_product(f.product(one.id, price=1000, stock=5))
    b = f.put_product(f.product(one.id, price=300, stock=None))
    c = f.put_product(f.product(two.id, price=7000, stock=1))
    shopper.add(a["product_id"], 2)
    shopper.add(b["product_id"], 3)
    shopper.add(c["product_id"], 1)
    resp = shopper.checkout(f.checkout_body({one.id: "courier", two.id: "post"}))
    assert resp.status_code == 201, resp.body
    orders = {o["seller_id"]: o for o in resp.json_body["orders"]}
    assert set(orders) == {one.id, two.id}
    first, second = orders[one.id], orders[two.id]
    assert first["status"] == second["status"] == "AWAITING_PAYMENT"
    assert [(i["product_id"], i["price"], i["quantity"], i["line_total"]) for i in first["items"]] == [
        (a["product_id"], f.rub(1000), 2, f.rub(2000)), (b["product_id"], f.rub(300), 3, f.rub(900))]
    assert first["delivery"] == {"method_id": "courier", "name": "Courier", "price": f.rub(35000), "days": 2}
    assert (first["items_total"], first["delivery_price"], first["total"]) == (f.rub(2900), f.rub(35000),
                                                                                f.rub(37900))
    assert second["delivery"]["method_id"] == "post"
    assert second["total"] == f.rub(7000 + 20000)
    assert first["address"]["city"] == "Moscow"
    assert resp.json_body["totals"] == [{"amount": 37900 + 27000, "currency": "RUB"}]
    # Location names the first order; the body lists them all
    first_id = resp.json_body["orders"][0]["order_id"]
    assert resp.headers["Location"] == f"{settings().public_base_url}/orders/{first_id}"
    assert shopper.get(resp.headers["Location"].removeprefix(settings().public_base_url)).status_code == 200
    # stock reserved, unlimited products untouched, carts emptied
    assert (f.stock_of(a["product_id"]), f.stock_of(b["product_id"]), f.stock_of(c["product_id"])) == (3, None, 0)
    assert shopper.cart().json_body["line_count"] == 0
    # one workflow execution per order, named by the order id, with the documented input
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert sorted(e["name"] for e in executions) == sorted(orders_id["order_id"] for orders_id in orders.values())
    started = boto3.client("stepfunctions").describe_execution(executionArn=next(
        e["executionArn"] for e in executions if e["name"] == first["order_id"]))
    assert json.loads(started["input"]) == {"order_id": first["order_id"], "customer_id": shopper.id,
                                            "seller_id": one.id, "total": 37900, "currency": "RUB"}


def test_same_idempotency_key_places_one_set_of_orders(shopper, sellers, machine):
    one, _ = sellers
    p = f.put_product(f.product(one.id, stock=5))
    shopper.add(p["product_id"], 2)
    body = f.checkout_body({one.id: "pickup"})
    first = shopper.checkout(body, key="checkout-key-1")
    again = shopper.checkout(body, key="checkout-key-1")
    assert first.status_code == again.status_code == 201
    assert again.json_body == first.json_body
    assert again.headers["Location"] == first.headers["Location"]  # the replay names the same order
    assert len(orders_of(shopper)) == 1
    assert f.stock_of(p["product_id"]) == 3
    other_body = shopper.checkout(f.checkout_body({one.id: "courier"}), key="checkout-key-1")
    assert other_body.status_code == 422


def test_retry_after_a_lost_response_answers_with_the_placed_orders(shopper, sellers, machine, monkeypatch):
    """The idempotency record is gone (or was never completed) but the orders exist: the
    checkout record written in the same transaction makes the retry a replay."""
    from chalicelib.services import checkout as service

    one, _ = sellers
    p = f.put_product(f.product(one.id, stock=5))
    shopper.add(p["product_id"], 1)
    placed = service.checkout(customer_id=shopper.id, checkout_id="c-test-1", delivery={one.id: "pickup"},
                              address=f.ADDRESS, payment_method="wallet")
    again = service.checkout(customer_id=shopper.id, checkout_id="c-test-1", delivery={one.id: "pickup"},
                             address=f.ADDRESS, payment_method="wallet")
    assert [o["order_id"] for o in again["orders"]] == [o["order_id"] for o in placed["orders"]]
    shopper.add(p["product_id"], 1)  # a new cart line does not turn the retry into a second order
    third = service.checkout(customer_id=shopper.id, checkout_id="c-test-1", delivery={one.id: "pickup"},
                             address=f.ADDRESS, payment_method="wallet")
    assert [o["order_id"] for o in third["orders"]] == [o["order_id"] for o in placed["orders"]]
    assert f.stock_of(p["product_id"]) == 4
    assert shopper.cart().json_body["line_count"] == 1


def test_error_when_a_line_cannot_be_reserved_reserves_nothing(shopper, sellers):
    one, two = sellers
    plenty = f.put_product(f.product(one.id, stock=10))
    scarce = f.put_product(f.product(two.id, stock=5))
    shopper.add(plenty["product_id"], 2)
    shopper.add(scarce["product_id"], 4)
    f.put_product({**scarce, "stock": 3})  # someone else bought some meanwhile
    resp = shopper.checkout(f.checkout_body({one.id: "courier", two.id: "post"}))
    assert resp.status_code == 409
    assert resp.json_body["lines"] == [{"product_id": scarce["product_id"], "requested": 4, "available": 3,
                                        "reason": "not_enough_stock"}]
    assert (f.stock_of(plenty["product_id"]), f.stock_of(scarce["product_id"])) == (10, 3)
    assert orders_of(shopper) == []
    assert shopper.cart().json_body["line_count"] == 2


def test_error_when_stock_runs_out_between_read_and_write_reserves_nothing(shopper, sellers, monkeypatch):
    """The transaction's own conditions catch what the read could not see."""
    one, _ = sellers
    a = f.put_product(f.product(one.id, stock=10))
    b = f.put_product(f.product(one.id, stock=2))
    shopper.add(a["product_id"], 3)
    shopper.add(b["product_id"], 2)
    real = cart_store.snapshot

    def stale_then_sold_out(*args, **kwargs):
        result = real(*args, **kwargs)
        f.put_product({**b, "stock": 1})
        return result

    monkeypatch.setattr(cart_store, "snapshot", stale_then_sold_out)
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert resp.status_code == 409
    assert [(x["product_id"], x["requested"], x["available"]) for x in resp.json_body["lines"]] == [
        (b["product_id"], 2, 1)]
    assert (f.stock_of(a["product_id"]), f.stock_of(b["product_id"])) == (10, 1)
    assert orders_of(shopper) == []


def test_error_when_price_changes_during_checkout(shopper, sellers, monkeypatch):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000, stock=10))
    shopper.add(p["product_id"], 1)
    real = cart_store.snapshot

    def stale_then_dearer(*args, **kwargs):
        result = real(*args, **kwargs)
        f.put_product({**p, "price": 1300})
        return result

    monkeypatch.setattr(cart_store, "snapshot", stale_then_dearer)
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert resp.status_code == 409
    assert resp.json_body["lines"][0]["reason"] == "price_changed"
    assert "review your cart" in resp.json_body["detail"]
    assert f.stock_of(p["product_id"]) == 10


CARD = {"number": "4242 4242 4242 4242", "exp_month": 1, "exp_year": datetime.now(UTC).year + 1, "cvc": "123",
        "holder": "ANNA PETROVA"}


def top_up(shopper, amount):
    resp = shopper._call("post", "/wallet/topups", {"amount": amount, "currency": "RUB", "card": CARD},
                         {"Idempotency-Key": f"topup-{amount}-{shopper.id}"})
    assert resp.status_code == 201, resp.body


def wallet(shopper):
    return shopper.get("/wallet").json_body


def set_delivery(api, seller, methods):
    """The seller changes their shop through the real route."""
    body = {"name": "Boots", "contact_email": "shop@example.com", "language": "en", "currency": "RUB",
            "delivery_methods": methods}
    resp = api.http.put("/seller/shop", body=json.dumps(body), headers=seller.headers)
    assert resp.status_code == 200, resp.body


def test_error_when_a_price_rose_after_add_lists_it_and_changes_nothing(shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000, stock=5))
    shopper.add(p["product_id"], 2)
    top_up(shopper, 100_000)
    f.put_product({**p, "price": 1100})  # the seller re-imported a dearer feed
    resp = shopper.checkout(f.checkout_body({one.id: "pickup"}))
    assert resp.status_code == 409, resp.body
    assert resp.headers["Content-Type"] == "application/problem+json"
    problem = resp.json_body
    assert problem["type"].endswith("/cart-changed")
    assert problem["changes"] == [{"seller_id": one.id, "product_id": p["product_id"], "kind": "price",
                                   "old": f.rub(1000), "new": f.rub(1100), "currency": "RUB"}]
    assert (problem["total"], problem["currency"]) == (f.rub(2200), "RUB")
    assert "expected_total" not in problem
    assert "expected_total=2200" in problem["detail"]
    assert f.stock_of(p["product_id"]) == 5
    assert wallet(shopper) == {"available": f.rub(100_000), "held": f.rub(0), "currency": "RUB"}
    assert orders_of(shopper) == []
    assert shopper.cart().json_body["carts"][0]["lines"][0]["issues"] == ["price_increased"]


def test_checkout_at_the_new_price_once_the_customer_confirms_its_total(shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000, stock=5))
    shopper.add(p["product_id"], 2)
    f.put_product({**p, "price": 1100})
    key = "confirm-the-new-total-1"
    refused = shopper.checkout(f.checkout_body({one.id: "courier"}), key=key)
    assert refused.status_code == 409
    # the 409 freed the key: the same one may carry the confirmation (the total's amount, minor units)
    confirmed = shopper.checkout(
        f.checkout_body({one.id: "courier"}, expected_total=refused.json_body["total"]["amount"]), key=key)
    assert confirmed.status_code == 201, confirmed.body
    order = confirmed.json_body["orders"][0]
    assert (order["items"][0]["price"], order["total"]) == (f.rub(1100), f.rub(2200 + 35000))
    assert f.stock_of(p["product_id"]) == 3


def test_price_drop_passes_without_expected_total(shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000))
    shopper.add(p["product_id"], 2)
    f.put_product({**p, "price": 900})
    resp = shopper.checkout(f.checkout_body({one.id: "pickup"}))
    assert resp.status_code == 201, resp.body
    assert resp.json_body["orders"][0]["total"] == f.rub(1800)


def test_error_when_the_chosen_delivery_rose_until_the_customer_confirms(api, shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000, stock=5))
    shopper.add(p["product_id"])  # seen: courier 35000, pickup 0
    set_delivery(api, one, [{"id": "courier", "name": "Courier", "price": 40000, "days": 2},
                            {"id": "pickup", "name": "Pickup", "price": 0, "days": 1}])
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert resp.status_code == 409, resp.body
    assert resp.json_body["type"].endswith("/cart-changed")
    assert resp.json_body["changes"] == [{"seller_id": one.id, "kind": "delivery", "method_id": "courier",
                                          "old": f.rub(35000), "new": f.rub(40000), "currency": "RUB"}]
    assert resp.json_body["total"] == f.rub(1000 + 40000)
    assert f.stock_of(p["product_id"]) == 5
    assert orders_of(shopper) == []
    again = shopper.checkout(f.checkout_body({one.id: "courier"}, expected_total=41000))
    assert again.status_code == 201, again.body
    assert again.json_body["orders"][0]["delivery"]["price"] == f.rub(40000)
    assert f.stock_of(p["product_id"]) == 4


def test_delivery_method_never_shown_needs_confirmation_and_a_cheaper_one_passes(api, shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000))
    shopper.add(p["product_id"])  # seen: courier 35000, pickup 0
    set_delivery(api, one, [{"id": "courier", "name": "Courier", "price": 30000, "days": 2},
                            {"id": "drone", "name": "Drone", "price": 10, "days": 1}])
    unseen = shopper.checkout(f.checkout_body({one.id: "drone"}))
    assert unseen.status_code == 409, unseen.body
    assert unseen.json_body["changes"] == [{"seller_id": one.id, "kind": "delivery", "method_id": "drone",
                                            "old": None, "new": f.rub(10), "currency": "RUB"}]
    cheaper = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert cheaper.status_code == 201, cheaper.body
    assert cheaper.json_body["orders"][0]["total"] == f.rub(1000 + 30000)


def test_error_on_a_wrong_expected_total_when_nothing_changed(shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000, stock=5))
    shopper.add(p["product_id"], 3)
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}, expected_total=3000))
    assert resp.status_code == 409, resp.body
    problem = resp.json_body
    assert problem["type"].endswith("/cart-changed")
    assert (problem["changes"], problem["expected_total"], problem["total"], problem["currency"]) == (
        [], f.rub(3000), f.rub(3000 + 35000), "RUB")
    assert f.stock_of(p["product_id"]) == 5
    assert orders_of(shopper) == []
    right = shopper.checkout(f.checkout_body({one.id: "courier"}, expected_total=38000))
    assert right.status_code == 201, right.body


def test_error_on_expected_total_for_carts_in_several_currencies(register, shopper, sellers):
    one, _ = sellers
    abroad = register("seller")
    f.put_shop({**f.shop(abroad.id), "currency": "USD"})
    shopper.add(f.put_product(f.product(one.id, price=1000))["product_id"])
    shopper.add(f.put_product(f.product(abroad.id, price=500, currency="USD"))["product_id"])
    delivery = {one.id: "pickup", abroad.id: "pickup"}
    resp = shopper.checkout(f.checkout_body(delivery, expected_total=1500))
    assert resp.status_code == 422, resp.body
    assert [e["field"] for e in resp.json_body["errors"]] == ["expected_total"]
    assert orders_of(shopper) == []
    placed = shopper.checkout(f.checkout_body(delivery))  # nothing rose: no confirmation needed
    assert placed.status_code == 201, placed.body
    assert placed.json_body["totals"] == [{"amount": 1000, "currency": "RUB"}, {"amount": 500, "currency": "USD"}]


def test_error_on_an_order_total_above_what_the_ledger_holds_reserves_nothing(shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=ledger_rules.MAX_AMOUNT, stock=5))
    shopper.add(p["product_id"], 2)
    resp = shopper.checkout(f.checkout_body({one.id: "pickup"}))
    assert resp.status_code == 422, resp.body
    assert resp.json_body["errors"][0]["field"] == f"cart.{one.id}"
    assert str(ledger_rules.MAX_AMOUNT) in resp.json_body["errors"][0]["reason"]
    assert f.stock_of(p["product_id"]) == 5
    assert orders_of(shopper) == []
    shopper.set(p["product_id"], 1)  # exactly the cap is one order the ledger can hold
    resp = shopper.checkout(f.checkout_body({one.id: "pickup"}))
    assert resp.status_code == 201, resp.body
    assert resp.json_body["orders"][0]["total"] == f.rub(ledger_rules.MAX_AMOUNT)


def test_error_on_pay_with_a_stale_expected_total_holds_nothing(shopper, sellers):
    one, _ = sellers
    p = f.put_product(f.product(one.id, price=1000))
    shopper.add(p["product_id"], 2)
    order = shopper.checkout(f.checkout_body({one.id: "courier"})).json_body["orders"][0]
    oid, total = order["order_id"], order["total"]["amount"]
    top_up(shopper, 100_000)
    stale = shopper._call("post", f"/orders/{oid}/pay", {"expected_total": total - 1})
    assert stale.status_code == 409, stale.body
    assert stale.json_body["type"].endswith("/order-total-changed")
    assert (stale.json_body["expected_total"], stale.json_body["total"]) == (f.rub(total - 1), f.rub(total))
    assert wallet(shopper) == {"available": f.rub(100_000), "held": f.rub(0), "currency": "RUB"}
    assert shopper.get(f"/orders/{oid}").json_body["status"] == "AWAITING_PAYMENT"
    bad = shopper._call("post", f"/orders/{oid}/pay", {"expected_total": "37000"})
    assert (bad.status_code, bad.json_body["errors"][0]["field"]) == (422, "expected_total")
    paid = shopper._call("post", f"/orders/{oid}/pay", {"expected_total": total})
    assert paid.status_code == 200, paid.body
    assert paid.json_body["status"] == "PAID"
    assert wallet(shopper) == {"available": f.rub(100_000 - total), "held": f.rub(total), "currency": "RUB"}


def test_error_on_unavailable_product_or_blocked_seller(shopper, sellers):
    one, two = sellers
    a = f.put_product(f.product(one.id))
    b = f.put_product(f.product(two.id))
    shopper.add(a["product_id"])
    shopper.add(b["product_id"])
    f.put_product({**a, "available": False})
    f.put_shop(f.shop(two.id, blocked=True, methods=POST))
    resp = shopper.checkout(f.checkout_body({one.id: "courier", two.id: "post"}))
    assert resp.status_code == 409
    assert {x["product_id"]: x["reason"] for x in resp.json_body["lines"]} == {
        a["product_id"]: "unavailable", b["product_id"]: "unavailable"}
    assert orders_of(shopper) == []


def test_error_on_a_product_the_admin_blocked_before_or_during_checkout(shopper, sellers, admin, monkeypatch):
    one, _ = sellers
    early = f.put_product(f.product(one.id, stock=4))
    late = f.put_product(f.product(one.id, stock=4))
    shopper.add(early["product_id"], 1)
    shopper.add(late["product_id"], 1)

    def block(pid):
        resp = shopper.api.http.put(f"/admin/products/{pid}/blocked", body=json.dumps({"blocked": True}),
                                    headers=admin.headers)
        assert resp.status_code == 200, resp.body

    block(early["product_id"])
    lines = {x["product_id"]: x["issues"] for x in shopper.cart().json_body["carts"][0]["lines"]}
    assert lines == {early["product_id"]: ["unavailable"], late["product_id"]: []}
    assert shopper.remove(early["product_id"]).status_code in (200, 204)
    real = cart_store.snapshot

    def stale_then_blocked(*args, **kwargs):  # blocked after the cart was read
        result = real(*args, **kwargs)
        block(late["product_id"])
        return result

    monkeypatch.setattr(cart_store, "snapshot", stale_then_blocked)
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert resp.status_code == 409, resp.body
    assert resp.json_body["lines"] == [{"product_id": late["product_id"], "requested": 1, "available": 0,
                                        "reason": "unavailable"}]
    assert (f.stock_of(early["product_id"]), f.stock_of(late["product_id"])) == (4, 4)
    assert orders_of(shopper) == []


def test_error_on_bad_checkout_input_reserves_nothing(shopper, sellers):
    one, two = sellers
    a = f.put_product(f.product(one.id, stock=5))
    b = f.put_product(f.product(two.id, stock=5))
    shopper.add(a["product_id"], 1)
    shopper.add(b["product_id"], 1)
    good = {one.id: "courier", two.id: "post"}
    cases = [
        (f.checkout_body({one.id: "courier"}), f"delivery.{two.id}"),                       # seller not chosen
        (f.checkout_body({**good, two.id: "courier"}), f"delivery.{two.id}"),               # not that seller's
        (f.checkout_body({**good, "someone": "courier"}), "delivery.someone"),              # seller not in cart
        (f.checkout_body({}), "delivery"),
        (f.checkout_body(good, payment_method="cash"), "payment_method"),
        (f.checkout_body(good, total=1), "total"),
        (f.checkout_body(good, expected_total=-1), "expected_total"),
        (f.checkout_body(good, expected_total=12.5), "expected_total"),
        (f.checkout_body(good, expected_total="55000"), "expected_total"),
        (f.checkout_body(good, expected_total=True), "expected_total"),
        (f.checkout_body(good, status="PAID"), "status"),
        (f.checkout_body(good, prices={a["product_id"]: 1}), "prices"),
        (f.checkout_body(good, seller_id=one.id), "seller_id"),
        ({"delivery": good, "payment_method": "wallet"}, "address"),
        (f.checkout_body(good, address={**f.ADDRESS, "city": ""}), "address.city"),
        (f.checkout_body(good, address={**f.ADDRESS, "price": 1}), "address.price"),
    ]
    for body, field in cases:
        resp = shopper.checkout(body)
        assert resp.status_code == 422, (field, resp.body)
        assert field in [e["field"] for e in resp.json_body["errors"]], (field, resp.json_body)
    assert (f.stock_of(a["product_id"]), f.stock_of(b["product_id"])) == (5, 5)
    assert orders_of(shopper) == []
    assert shopper.cart().json_body["line_count"] == 2


def test_error_on_empty_cart_and_missing_idempotency_key(shopper, sellers):
    one, _ = sellers
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "cart"
    no_key = shopper._call("post", "/checkout", f.checkout_body({one.id: "courier"}))
    assert no_key.status_code == 422
    assert no_key.json_body["errors"][0]["field"] == "Idempotency-Key"


def test_error_on_checkout_too_large_for_one_transaction(shopper, sellers, monkeypatch):
    one, _ = sellers
    for _ in range(3):
        shopper.add(f.put_product(f.product(one.id))["product_id"])
    monkeypatch.setattr(cart_rules, "MAX_LINES", 2)
    resp = shopper.checkout(f.checkout_body({one.id: "courier"}))
    assert resp.status_code == 422
    assert "at most 2" in resp.json_body["detail"]


def test_a_workflow_that_fails_to_start_is_started_by_the_retry(shopper, sellers, machine, monkeypatch):
    from chalicelib import clients

    one, _ = sellers
    shopper.add(f.put_product(f.product(one.id))["product_id"])
    real_client = clients.client

    class Down:
        def start_execution(self, **kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "StartExecution")

    monkeypatch.setattr(clients, "client",
                        lambda service: Down() if service == "stepfunctions" else real_client(service))
    body = f.checkout_body({one.id: "pickup"})
    failed = shopper.checkout(body, key="retry-me-123")
    assert failed.status_code == 503
    monkeypatch.setattr(clients, "client", real_client)
    retried = shopper.checkout(body, key="retry-me-123")
    assert retried.status_code == 201, retried.body
    assert len(orders_of(shopper)) == 1
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert [e["name"] for e in executions] == [retried.json_body["orders"][0]["order_id"]]
