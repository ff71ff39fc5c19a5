"""The order store's contract for the workflow: transitions, events, restock."""

import threading

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.domain import cart as cart_rules
from chalicelib.domain import orders as states
from chalicelib.domain.catalog import Product
from chalicelib.errors import InvalidTransition, NotFound
from chalicelib.store import keys
from chalicelib.store import orders as store
from tests.support import factories as f


@pytest.fixture
def placed(aws):
    """An AWAITING_PAYMENT order of 3 limited units and 1 unlimited unit, placed by checkout."""
    f.put_shop(f.shop("seller-1", name="Shoes"))
    limited = f.put_product(f.product("seller-1", offer="a", price=1000, stock=5))
    unlimited = f.put_product(f.product("seller-1", offer="b", price=250, stock=None))
    lines = [
        cart_rules.CartLine(customer_id="cust-1", product_id=limited["product_id"], seller_id="seller-1", quantity=3),
        cart_rules.CartLine(customer_id="cust-1", product_id=unlimited["product_id"], seller_id="seller-1",
                            quantity=1),
    ]
    orders, reservations = cart_rules.plan_checkout(
        checkout_id="c1", customer_id="cust-1", lines=lines,
        products={p["product_id"]: Product.from_item(p) for p in (limited, unlimited)},
        shops={"seller-1": f.shop("seller-1")},
        delivery={"seller-1": "courier"}, address={"city": "Moscow"}, payment_method="wallet",
        now_iso=store.now_iso(), now_ms=1_700_000_000_000,
    )
    store.place(checkout={"checkout_id": "c1", "customer_id": "cust-1", "order_ids": [orders[0]["order_id"]]},
                orders=orders, reservations=reservations, cart_lines=[])
    return {"order_id": orders[0]["order_id"], "limited": limited["product_id"], "unlimited": unlimited["product_id"]}


def _stored(order_id: str) -> dict:
    """The order item as the table holds it (the store's bookkeeping included)."""
    return boto3.resource("dynamodb").Table(settings().commerce_table).get_item(
        Key=keys.order(order_id), ConsistentRead=True)["Item"]


def test_can_read_a_placed_order_with_its_first_event(placed):
    order = store.load(placed["order_id"])
    assert order.status == states.AWAITING_PAYMENT
    assert order.total == 3 * 1000 + 250 + 35000
    assert [e["type"] for e in order.timeline] == ["created"]
    assert f.stock_of(placed["limited"]) == 2


def test_transition_moves_status_records_event_and_updates(placed):
    order = store.transition(placed["order_id"], from_statuses={states.AWAITING_PAYMENT}, to_status=states.PAID,
                             event={"type": "paid", "actor": "system", "detail": {"hold_id": "h1"}},
                             updates={"tracking_number": "h1"}, event_id="pay-1")
    assert order.status == states.PAID
    assert order.tracking_number == "h1"
    assert order.timeline[-1]["type"] == "paid"
    assert order.timeline[-1]["status"] == states.PAID


def test_retried_transition_with_same_event_id_is_a_no_op(placed):
    args = {"from_statuses": {states.AWAITING_PAYMENT}, "to_status": states.PAID, "event": {"type": "paid"},
            "event_id": "pay-1"}
    store.transition(placed["order_id"], **args)
    again = store.transition(placed["order_id"], **args)
    assert again.status == states.PAID
    assert [e["type"] for e in again.timeline] == ["created", "paid"]


def test_error_on_transition_from_another_state_names_current_status(placed):
    with pytest.raises(InvalidTransition) as err:
        store.transition(placed["order_id"], from_statuses={states.PAID}, to_status=states.CONFIRMED,
                         event={"type": "confirmed"})
    assert err.value.current_status == states.AWAITING_PAYMENT
    assert store.load(placed["order_id"]).status == states.AWAITING_PAYMENT


def test_transition_not_allowed_by_the_domain_is_a_programming_error(placed):
    with pytest.raises(ValueError):
        store.transition(placed["order_id"], from_statuses={states.AWAITING_PAYMENT}, to_status=states.SHIPPED,
                         event={"type": "shipped"})


def test_error_on_transition_of_unknown_order(aws):
    with pytest.raises(NotFound):
        store.transition("o000000000000nothing", from_statuses={states.AWAITING_PAYMENT}, to_status=states.PAID,
                         event={"type": "paid"})


def test_only_one_of_two_racing_transitions_wins(placed):
    from local import patches

    patches.serialize_dynamodb()  # the emulator is not atomic under concurrency without it (docs/architecture.md)
    results = []

    def move(to):
        try:
            store.transition(placed["order_id"], from_statuses={states.AWAITING_PAYMENT}, to_status=to,
                             event={"type": to.lower()})
            results.append(to)
        except InvalidTransition:
            results.append("refused")

    threads = [threading.Thread(target=move, args=(s,)) for s in (states.PAID, states.CANCELLED)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results).count("refused") == 1
    final = store.load(placed["order_id"])
    assert final.status in results
    assert len(final.timeline) == 2


def test_add_event_appends_and_dedupes_by_event_id(placed):
    assert store.add_event(placed["order_id"], {"type": "email_sent", "detail": {"to": "customer"}}, event_id="m1")
    assert not store.add_event(placed["order_id"], {"type": "email_sent"}, event_id="m1")
    timeline = store.load(placed["order_id"]).timeline
    assert [e["type"] for e in timeline] == ["created", "email_sent"]


def test_restock_returns_reserved_units_exactly_once(placed):
    assert store.restock(placed["order_id"]) is True
    assert store.restock(placed["order_id"]) is False
    assert f.stock_of(placed["limited"]) == 5
    assert f.stock_of(placed["unlimited"]) is None
    order = _stored(placed["order_id"])
    assert order["stock_released"] is True
    assert order["timeline"][-1]["type"] == "stock_released"


def test_restock_skips_a_product_that_lost_its_stock_count(placed):
    f.put_product(f.product("seller-1", offer="a", price=1000, stock=None))
    assert store.restock(placed["order_id"]) is True
    assert f.stock_of(placed["limited"]) is None


def test_seller_sees_orders_by_status_newest_first(placed):
    assert [o.order_id for o in store.list_orders(seller_id="seller-1", status=states.AWAITING_PAYMENT)[0]] == [
        placed["order_id"]]
    store.transition(placed["order_id"], from_statuses={states.AWAITING_PAYMENT}, to_status=states.PAID,
                     event={"type": "paid"})
    assert store.list_orders(seller_id="seller-1", status=states.AWAITING_PAYMENT)[0] == []
    assert len(store.list_orders(seller_id="seller-1", status=states.PAID)[0]) == 1
    assert len(store.list_orders(customer_id="cust-1", status=states.PAID)[0]) == 1
    assert store.list_orders(customer_id="cust-1", status=states.CANCELLED)[0] == []
