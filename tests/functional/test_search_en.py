"""Search over an English catalog: stemming, prefixes, every word, field-weighted ranking."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain.catalog import product_id
from chalicelib.search import indexer, query
from chalicelib.store import accounts, keys
from tests.support.tables import module_tables


def _product(offer: str, name: str, **fields) -> dict:
    return {
        "product_id": product_id("shop-en", offer), "seller_id": "shop-en", "offer_id": offer, "offer_type": "csv",
        "name": name, "price": 4999, "currency": "USD", "pictures": [], "available": True, **fields,
    }


CATALOG = [
    _product("1", "Boots", category_id="shoes", category_name="Shoes"),
    _product("2", "Leather Boots", vendor="Timberland", category_id="shoes", category_name="Shoes",
             description="Waterproof leather boots for hiking"),
    _product("3", "Hiking Boot", vendor="Salomon", category_id="shoes", category_name="Shoes"),
    _product("4", "Running Sneakers", vendor="Nike", category_id="shoes", category_name="Shoes",
             description="Light sneakers; pair them with our boot socks"),
    _product("5", "Leather Bag", vendor="Fossil", category_id="bags", category_name="Bags"),
    _product("6", "Sports Socks", category_id="socks", category_name="Socks",
             description="Cotton socks, fit Nike shoes"),
    _product("7", "Case for iPhone15", vendor="Apple", model="MagSafe", category_id="phones",
             category_name="Accessories"),
    _product("8", "Sneaker cleaner", category_id="care", category_name="Shoe care"),
]


@pytest.fixture(scope="module")
def api():
    from chalice.test import Client

    from app import app
    with module_tables("e"):
        accounts.put_shop("shop-en", {"seller_id": "shop-en", "name": "Shoes & more"})
        with clients.table(settings().catalog_table).batch_writer() as batch:
            for p in CATALOG:
                batch.put_item(Item={**keys.product(p["product_id"]), **p})
        indexer.apply_changes([(None, p) for p in CATALOG])
        with Client(app) as client:
            yield client


def names(api, q: str, **params) -> list[str]:
    resp = api.http.get("/search?" + urlencode({"q": q, **params}))
    assert resp.status_code == 200, resp.body
    return [item["name"] for item in resp.json_body["items"]]


def test_can_find_boot_by_boots_and_boots_by_boot(api):
    expected = {"Boots", "Leather Boots", "Hiking Boot", "Running Sneakers"}
    assert set(names(api, "boots")) == expected
    assert set(names(api, "BOOT")) == expected


def test_can_rank_exact_name_then_name_then_description(api):
    found = names(api, "boots")
    assert found[0] == "Boots"
    assert found[-1] == "Running Sneakers"  # "boot" only in its description


def test_can_rank_vendor_above_description(api):
    assert names(api, "nike") == ["Running Sneakers", "Sports Socks"]


def test_can_match_last_word_as_prefix(api):
    assert set(names(api, "snea")) == {"Running Sneakers", "Sneaker cleaner"}
    assert names(api, "leather bo") == ["Leather Boots"]
    assert names(api, "leather b") == ["Leather Bag", "Leather Boots"]  # one letter, checked on documents
    assert names(api, "leather w") == ["Leather Boots"]  # "waterproof" in its description
    assert names(api, "hik") == ["Hiking Boot", "Leather Boots"]


def test_every_word_must_match(api):
    assert names(api, "leather boots") == ["Leather Boots"]
    assert names(api, "leather socks") == []
    assert names(api, "running shoes") == ["Running Sneakers"]


def test_can_find_compound_words_either_way(api):
    assert names(api, "iphone15") == ["Case for iPhone15"]
    assert names(api, "iphone 15") == ["Case for iPhone15"]
    assert names(api, "case iphone") == ["Case for iPhone15"]


def test_can_search_without_http(api):
    items, cursor = query.search("boots", limit=2)
    assert [i["name"] for i in items] == ["Boots", "Leather Boots"]
    more, last = query.search("boots", limit=2, cursor=cursor)
    assert len(more) == 2 and last is None
    assert not {i["product_id"] for i in items} & {i["product_id"] for i in more}
