"""Search over a Russian catalog: word forms, ё, prefixes, every word, ranking, filters, pages.

Given products written to the catalog table and indexed by ``indexer.apply_changes`` (what the
import does), when a shopper calls GET /search, then they get what they would expect.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain.catalog import product_id
from chalicelib.search import document, indexer, query, text
from chalicelib.store import accounts, keys
from tests.support.tables import module_tables


def _product(seller: str, offer: str, name: str, **fields) -> dict:
    return {
        "product_id": product_id(seller, offer), "seller_id": seller, "offer_id": offer, "offer_type": "simple",
        "name": name, "description": "", "price": 100000, "currency": "RUB", "pictures": [f"https://img.example/{offer}.jpg"],
        "available": True, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z", **fields,
    }


CATALOG = [
    _product("s1", "1", "Ботинки", category_id="10", category_name="Обувь"),
    _product("s1", "2", "Ботинки зимние мужские", vendor="Ecco", category_id="10", category_name="Обувь",
             description="<p>Тёплые кожаные ботинки на меху</p>", price=1299000),
    _product("s1", "3", "Ботинок детский на липучке", category_id="10", category_name="Обувь", price=349000),
    _product("s1", "4", "Сапоги женские", category_id="10", category_name="Обувь",
             description="Удобнее, чем ботинки"),
    _product("s1", "5", "Кроссовки Nike Air Max 90", vendor="Nike", model="Air Max 90", category_id="10",
             category_name="Обувь", price=1499000),
    _product("s1", "6", "Кроссовки беговые Asics Gel", vendor="Asics", category_id="10", category_name="Обувь"),
    _product("s1", "7", "Крышка для кастрюли", category_id="20", category_name="Посуда"),
    _product("s1", "8", "Носки хлопковые", category_id="30", category_name="Одежда",
             description="Подходят к кроссовкам"),
    _product("s1", "9", "Ёлка искусственная 180 см", category_id="40", category_name="Новый год"),
    _product("s1", "10", "Чехол для iPhone 15", category_id="50", category_name="Аксессуары"),
    _product("s2", "1", "Ботинки треккинговые Salomon", vendor="Salomon", category_id="10", category_name="Обувь",
             price=2199000),
    _product("s2", "2", "Ботинки старые", available=False),
]


def put_products(products: list[dict]) -> None:
    """What the catalog import does: write the product items, then index the changes (a seller
    imports only once it has a shop)."""
    for seller in {p["seller_id"] for p in products}:
        accounts.put_shop(seller, {"seller_id": seller, "name": seller, "blocked": False})
    with clients.table(settings().catalog_table).batch_writer() as batch:
        for p in products:
            batch.put_item(Item={**keys.product(p["product_id"]), **p})
    indexer.apply_changes([(None, p) for p in products])


@pytest.fixture(scope="module")
def api():
    """One stack (tables only) and one indexed catalog for the module: these tests only read."""
    from chalice.test import Client

    from app import app
    with module_tables("s"):
        put_products(CATALOG)
        with Client(app) as client:
            yield client


@pytest.fixture
def catalog(api):
    return {p["name"]: p for p in CATALOG}


@pytest.fixture
def blocked():
    """Block sellers for one test, then unblock them."""
    sellers: list[str] = []

    def block(seller_id: str) -> None:
        accounts.put_shop(seller_id, {"seller_id": seller_id, "name": seller_id, "blocked": True})
        sellers.append(seller_id)

    yield block
    for seller_id in sellers:
        accounts.put_shop(seller_id, {"seller_id": seller_id, "name": seller_id, "blocked": False})


def names(api, **params) -> list[str]:
    resp = api.http.get("/search?" + urlencode(params))
    assert resp.status_code == 200, resp.body
    return [item["name"] for item in resp.json_body["items"]]


def test_can_find_every_form_of_a_word(api, catalog):
    expected = {"Ботинки", "Ботинки зимние мужские", "Ботинок детский на липучке", "Сапоги женские",
                "Ботинки треккинговые Salomon"}
    assert set(names(api, q="ботинок")) == expected
    assert set(names(api, q="БОТИНКАМИ")) == expected


def test_can_rank_exact_name_then_name_then_description(api, catalog):
    found = names(api, q="ботинки")
    assert found[0] == "Ботинки"
    assert found[-1] == "Сапоги женские"  # only its description says "ботинки"
    assert "Ботинки старые" not in found


def test_can_break_score_ties_by_product_id(api, catalog):
    resp = api.http.get("/search?q=обувь").json_body["items"]
    scores = [(-i["score"], i["product_id"]) for i in resp]
    assert scores == sorted(scores)


def test_can_match_yo_as_ye(api, catalog):
    assert names(api, q="елка") == ["Ёлка искусственная 180 см"]
    assert names(api, q="ЁЛКИ") == ["Ёлка искусственная 180 см"]


def test_can_match_last_word_as_prefix(api, catalog):
    assert set(names(api, q="крос")) == {"Кроссовки Nike Air Max 90", "Кроссовки беговые Asics Gel",
                                         "Носки хлопковые"}
    assert names(api, q="кроссовки ni") == ["Кроссовки Nike Air Max 90"]
    assert "Ботинок детский на липучке" in names(api, q="ботино")  # ботино… → ботинок


def test_can_rank_a_whole_word_above_a_prefix_completion(api, catalog):
    # "кроссовки" typed whole: name matches first, the description mention last
    assert names(api, q="кроссовки")[-1] == "Носки хлопковые"


def test_every_word_must_match(api, catalog):
    assert names(api, q="ботинки ecco") == ["Ботинки зимние мужские"]
    assert names(api, q="зимние ботинки кожаные") == ["Ботинки зимние мужские"]
    assert names(api, q="ботинки nike") == []
    assert names(api, q="чехол iphone 15") == ["Чехол для iPhone 15"]


def test_can_filter_like_the_product_list(api, catalog):
    assert names(api, q="ботинки", seller="s2") == ["Ботинки треккинговые Salomon"]
    assert set(names(api, q="ботинки", min_price=1000000)) == {"Ботинки зимние мужские", "Ботинки треккинговые Salomon"}
    assert names(api, q="ботинки", min_price=300000, max_price=349000) == ["Ботинок детский на липучке"]
    assert set(names(api, q="носки", category="30")) == {"Носки хлопковые"}
    assert names(api, q="носки", category="10") == []
    assert names(api, q="ботинки", available="false") == []
    assert "Ботинки" in names(api, q="ботинки", available="true")


def test_can_filter_by_the_listing_category_key(api, catalog):
    from chalicelib.store.catalog import category_key

    assert names(api, q="ботинки", category=category_key("s2", "10")) == ["Ботинки треккинговые Salomon"]


def test_can_page_through_ranked_results_without_repeats(api, catalog):
    whole = api.http.get("/search?q=обувь&limit=100").json_body["items"]
    seen, cursor = [], None
    while True:
        params = {"q": "обувь", "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.http.get("/search?" + urlencode(params)).json_body
        seen += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert [i["product_id"] for i in seen] == [i["product_id"] for i in whole]
    assert len(whole) == 7


def test_can_show_a_result_summary(api, catalog):
    item = api.http.get("/search?q=nike").json_body["items"][0]
    assert item["name"] == "Кроссовки Nike Air Max 90"
    assert item["price"] == {"amount": 1499000, "currency": "RUB"} and item["available"] is True
    assert item["picture"] == "https://img.example/5.jpg"
    assert item["seller_id"] == "s1" and item["category_id"] == "10" and item["vendor"] == "Nike"
    assert isinstance(item["score"], int)


def test_can_hide_products_of_a_blocked_seller(api, catalog, blocked):
    blocked("s2")
    found = names(api, q="ботинки")
    assert "Ботинки треккинговые Salomon" not in found
    assert "Ботинки" in found


def test_can_fill_a_page_past_blocked_sellers(api, catalog, blocked):
    blocked("s1")
    body = api.http.get("/search?q=ботинки&limit=1").json_body
    assert [i["name"] for i in body["items"]] == ["Ботинки треккинговые Salomon"]
    assert body["next_cursor"] is None


def test_can_hide_products_of_a_seller_without_a_shop(api, catalog):
    clients.table(settings().accounts_table).delete_item(Key=keys.shop("s2"))
    try:
        assert "Ботинки треккинговые Salomon" not in names(api, q="ботинки")
    finally:
        accounts.put_shop("s2", {"seller_id": "s2", "name": "s2", "blocked": False})


def test_search_never_scans(api, catalog):
    calls: list[str] = []

    def record(model, **_):
        calls.append(model.name)
        if model.name == "Scan":
            raise AssertionError("search must not Scan")

    watched = (clients.dynamodb(), clients.dynamodb_resource().meta.client)
    for client in watched:
        client.meta.events.register("before-call.dynamodb", record)
    try:
        for q in ("ботинки", "кроссовки ni", "зимние ботинки кожаные", "крос", "елка"):
            assert api.http.get("/search?" + urlencode({"q": q})).status_code == 200
    finally:
        for client in watched:
            client.meta.events.unregister("before-call.dynamodb", record)
    assert "Scan" not in calls
    assert set(calls) <= {"Query", "BatchGetItem"}


def oracle(q: str) -> list[tuple[int, str]]:
    """Brute force: every indexed product of the catalog scored against every word."""
    words = [query.expand(w) for w in text.query_words(q)]
    out = []
    for p in CATALOG:
        doc = document.build(p)
        total = doc and query.score(words, doc.terms, doc.name_key)
        if total is not None and doc:
            out.append((-total, p["product_id"]))
    return [(-neg, pid) for neg, pid in sorted(out)]


@pytest.mark.parametrize("q", ["ботинки", "крос", "обувь", "nike", "ботино", "елка", "кр"])
def test_one_word_fast_path_ranks_like_brute_force(api, catalog, q):
    (word,) = text.query_words(q)
    lazy = [(h.score, h.product_id) for h in query.one_word(word, query.Filters().accept, limit=2)]
    assert lazy == oracle(q) and lazy


@pytest.mark.parametrize("q", ["ботинки обувь", "зимние ботинки кожаные", "кроссовки ni", "обувь б",
                               "обувь ботинки", "ботинки ecco", "чехол iphone 15", "обувь кроссовки"])
def test_multi_word_ranks_like_brute_force(api, catalog, q):
    found = [(h.score, h.product_id) for h in query.multi_word(text.query_words(q), query.Filters().accept, need=100)]
    assert found == oracle(q) and found
