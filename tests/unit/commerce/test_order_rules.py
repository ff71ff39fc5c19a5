"""Order states and ids: pure rules."""

from chalicelib.domain import orders as o


def test_every_state_before_shipping_can_be_cancelled_and_final_states_cannot_move():
    assert {s for s in o.STATUSES if o.can_transition(s, o.CANCELLED)} == {o.AWAITING_PAYMENT, o.PAID, o.CONFIRMED}
    assert set(o.FINAL) == {o.DELIVERED, o.CANCELLED}
    assert not o.can_transition(o.SHIPPED, o.CANCELLED)
    assert o.sources_of(o.PAID) == {o.AWAITING_PAYMENT}


def test_happy_path_is_a_chain_of_allowed_moves():
    path = [o.AWAITING_PAYMENT, o.PAID, o.CONFIRMED, o.SHIPPED, o.DELIVERED]
    assert all(o.can_transition(a, b) for a, b in zip(path, path[1:], strict=False))
    assert not o.can_transition(o.AWAITING_PAYMENT, o.CONFIRMED)


def test_order_ids_are_valid_execution_names_sorted_by_time_and_stable():
    a = o.order_id("c1", "seller-1", 1_700_000_000_000)
    b = o.order_id("c1", "seller-1", 1_700_000_000_001)
    assert o.EXECUTION_NAME_RE.match(a) and len(a) <= 80
    assert a < b
    assert a == o.order_id("c1", "seller-1", 1_700_000_000_000)
    assert a != o.order_id("c1", "seller-2", 1_700_000_000_000)

