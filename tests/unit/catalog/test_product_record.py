"""The product item as a typed record: what it reads off the stored item."""

from decimal import Decimal

import pytest

from chalicelib.domain import catalog as rules
from chalicelib.domain.catalog import Param, Product
from chalicelib.store.values import plain
from tests.support.factories import product


def test_a_stored_item_becomes_a_record_with_its_numbers_and_lists():
    item = {**product("s1", price=12990, stock=3), "old_price": Decimal("15990"), "year": Decimal("2001"),
            "params": [{"name": "Weight", "unit": "kg", "value": "2"}, {"name": "Colour", "value": "red"}],
            "attributes": {"material": "nylon"}, "reserved": Decimal("2"), "category_id": "7"}
    record = Product.from_item(plain(item))
    assert (record.price, record.old_price, record.stock, record.reserved, record.year) == (12990, 15990, 3, 2, 2001)
    assert record.params == (Param("Weight", "2", "kg"), Param("Colour", "red"))
    assert record.pictures == tuple(item["pictures"]) and record.attributes == {"material": "nylon"}
    assert (record.category_id, record.category_name, record.vendor, record.blocked) == ("7", None, None, False)
    with pytest.raises(AttributeError):
        record.price = 1  # type: ignore[misc]


@pytest.mark.parametrize("extra", [
    {}, {"stock": 0}, {"stock": -1}, {"stock": 0, "sold_out": True}, {"sold_out": True},
    {"available": False}, {"old_price": 20000}, {"old_price": 10000}, {"old_price": 5000, "stock": 0},
])
def test_on_sale_and_discounted_read_as_the_item_rules_read_them(extra):
    item = {k: v for k, v in product("s1", price=10000, stock=None).items()} | extra
    record = Product.from_item(item)
    assert record.on_sale is rules.on_sale(item)
    assert record.out_of_stock is rules.sold_out(item)
    assert record.discounted is rules.discounted(item)


def test_the_live_state_of_a_card_is_read_off_the_item():
    item = {"product_id": "p1", "available": True, "stock": 0, "description": "<p>Warm &amp; dry</p>"}
    assert rules.LiveState.from_item(item).card() == {"available": False, "stock": 0, "description": "Warm & dry"}
    assert rules.LiveState.from_item({"product_id": "p1", "available": True}).card() == {
        "available": True, "stock": None, "description": ""}
