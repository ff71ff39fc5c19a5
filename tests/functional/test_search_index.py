"""The index follows the catalog (deactivation, rename, price change), writes only what changed,
survives throttling, and bad queries get a clean 4xx or an empty page, never a 5xx."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlencode

import pytest

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain.catalog import product_id
from chalicelib.search import indexer, query
from chalicelib.store import accounts, keys, toolkit
from tests.support.tables import module_tables


@pytest.fixture(scope="module")
def api():
    from chalice.test import Client

    from app import app
    with module_tables("i"), Client(app) as client:
        yield client


@pytest.fixture
def seller(api) -> str:
    """A fresh seller (with a shop) per test: tests share the module's tables and filter by seller."""
    seller_id = f"s-{uuid.uuid4().hex[:8]}"
    accounts.put_shop(seller_id, {"seller_id": seller_id, "name": seller_id})
    return seller_id


def _product(seller: str, offer: str, name: str, **fields) -> dict:
    return {"product_id": product_id(seller, offer), "seller_id": seller, "offer_id": offer, "name": name,
            "price": 250000, "currency": "RUB", "pictures": [], "available": True, **fields}


def write(old: dict | None, new: dict) -> indexer.IndexStats:
    """What the catalog does: write the product item, then index the change."""
    clients.table(settings().catalog_table).put_item(Item={**keys.product(new["product_id"]), **new})
    return indexer.apply_changes([(old, new)])


def found(q: str, seller: str, **filters) -> list[dict]:
    return query.search(q, seller=seller, **filters)[0]


@pytest.fixture
def writes():
    """BatchWriteItem requests sent to the search table during the test."""
    sent: list[dict] = []

    def record(params, **_):
        sent.extend(params["RequestItems"].get(settings().search_table, []))

    client = clients.dynamodb_resource().meta.client
    client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", record)
    yield sent
    client.meta.events.unregister("provide-client-params.dynamodb.BatchWriteItem", record)


def test_deactivated_product_disappears_and_comes_back(seller):
    boots = _product(seller, "1", "Ботинки зимние")
    write(None, boots)
    assert [p["name"] for p in found("ботинки", seller)] == ["Ботинки зимние"]
    write(boots, {**boots, "available": False})
    assert found("ботинки", seller) == []
    assert found("зим", seller) == []
    write({**boots, "available": False}, boots)
    assert [p["name"] for p in found("ботинки", seller)] == ["Ботинки зимние"]


def test_renamed_product_is_found_by_its_new_name_only(seller):
    old = _product(seller, "1", "Ботинки зимние Ecco")
    write(None, old)
    write(old, {**old, "name": "Сапоги осенние Ecco"})
    assert [p["name"] for p in found("сапоги", seller)] == ["Сапоги осенние Ecco"]
    assert found("ботинки", seller) == []
    assert found("зимние", seller) == []
    assert [p["name"] for p in found("ecco", seller)] == ["Сапоги осенние Ecco"]


def test_price_change_moves_the_product_across_price_filters(seller):
    lamp = _product(seller, "1", "Lamp", price=5000)
    write(None, lamp)
    assert found("lamp", seller, max_price=6000)[0]["price"] == 5000
    write(lamp, {**lamp, "price": 7000})
    assert found("lamp", seller, max_price=6000) == []
    assert found("lamp", seller, min_price=6500)[0]["price"] == 7000


def test_can_search_a_change_as_soon_as_the_write_returns(seller):
    lamp = _product(seller, "1", "Лампа настольная")
    started = time.perf_counter()
    write(None, lamp)
    hits = found("лампа", seller)
    elapsed = time.perf_counter() - started
    assert [p["name"] for p in hits] == ["Лампа настольная"]
    assert elapsed < 2.0, f"write → searchable took {elapsed:.3f}s"


def test_unchanged_reimport_writes_nothing(seller, writes):
    lamp = _product(seller, "1", "Лампа настольная", description="Светодиодная")
    write(None, lamp)
    writes.clear()
    stats = write(lamp, dict(lamp))
    assert (stats.unchanged, stats.items_written, writes) == (1, 0, [])
    # a change the search does not show (stock) writes nothing either
    stats = write(lamp, {**lamp, "stock": 3})
    assert (stats.items_written, writes) == (0, [])


def test_price_change_rewrites_only_that_products_postings(seller, writes):
    lamp = _product(seller, "1", "Лампа настольная")
    stats = write(None, lamp)
    postings = stats.postings_put
    writes.clear()
    stats = write(lamp, {**lamp, "price": 1})
    assert (stats.postings_put, stats.postings_deleted, stats.documents_written) == (postings, 0, 1)
    assert len(writes) == postings + 1
    assert all("DeleteRequest" not in w for w in writes)


def test_stale_caller_view_is_healed_from_the_stored_document(seller):
    # the caller believes the old name was already indexed under other words: the index
    # diffs against what it really holds, so no posting of the real old name survives
    real_old = _product(seller, "1", "Чайник электрический")
    write(None, real_old)
    claimed_old = {**real_old, "name": "Кофеварка"}
    write(claimed_old, {**real_old, "name": "Термос"})
    assert found("чайник", seller) == []
    assert [p["name"] for p in found("термос", seller)] == ["Термос"]


def test_can_retry_unprocessed_items_until_written(seller, monkeypatch):
    real = toolkit._client()

    class Throttled:
        """DynamoDB under load: each BatchWriteItem leaves its last item unprocessed once."""

        def __init__(self):
            self.calls = 0

        def batch_write_item(self, RequestItems):
            self.calls += 1
            (name, reqs), = RequestItems.items()
            if len(reqs) > 1 and self.calls % 2 == 1:
                real.batch_write_item(RequestItems={name: reqs[:-1]})
                return {"UnprocessedItems": {name: reqs[-1:]}}
            return real.batch_write_item(RequestItems=RequestItems)

        def __getattr__(self, attr):
            return getattr(real, attr)

    fake = Throttled()
    monkeypatch.setattr(toolkit, "_client", lambda: fake)
    monkeypatch.setattr(toolkit.time, "sleep", lambda s: None)
    products = [_product(seller, str(i), f"Кружка керамическая {i}") for i in range(30)]
    indexer.apply_changes([(None, p) for p in products])
    assert fake.calls > 2
    assert len(found("кружка", seller, limit=100)) == 30


def test_many_products_of_one_import_are_indexed_in_batches(seller, writes):
    products = [_product(seller, str(i), f"Тарелка {i}", description="фарфор") for i in range(60)]
    stats = indexer.apply_changes([(None, p) for p in products])
    assert stats.products == 60
    assert len(writes) == stats.items_written  # (the query may compact match lists: more writes)
    assert len(found("тарелка фарфор", seller, limit=100)) == 60


@pytest.mark.parametrize(
    ("q", "field"),
    [("", "query.q"), ("   ", "query.q"), ("а" * 1000, "query.q"), ("x" * 201, "query.q")],
)
def test_error_on_empty_or_overlong_query(api, q, field):
    resp = api.http.get("/search?" + urlencode({"q": q}))
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json_body["errors"][0]["field"] == field


def test_error_on_missing_query(api):
    assert api.http.get("/search").status_code == 422


@pytest.mark.parametrize(
    "q",
    [
        "!!!", "...", "\"ботинки\"", "'", "\"", ".*", "(a|b)+$", "[^a-z]", "\\d+\\", "%", "_", "*",
        "'; DROP TABLE products; --", "1 OR 1=1", "ботинки' OR '1'='1", "😀", "👢 ботинки 👢", "ботинки boots",
        "iфон", "ﷺ", "\u200b", "a-", "-a", "#", "TERM#x", "RANK#", "VOCAB#кр", "\u0000ботинки",
        "б" * 40 + "ы", "ё", "Ё" * 200, "%00", "<script>alert(1)</script>",
    ],
)
def test_odd_queries_get_a_page_never_a_5xx(api, q):
    resp = api.http.get("/search?" + urlencode({"q": q}))
    assert resp.status_code == 200, resp.body
    assert isinstance(resp.json_body["items"], list)


def test_error_on_too_many_words(api):
    resp = api.http.get("/search?" + urlencode({"q": " ".join(f"слово{i}" for i in range(9))}))
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "q"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "101"}, "query.limit"),
        ({"min_price": "-1"}, "query.min_price"),
        ({"min_price": "abc"}, "query.min_price"),
        ({"min_price": "10", "max_price": "5"}, "query.max_price"),
        ({"available": "maybe"}, "query.available"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"sort": "price"}, "query.sort"),
    ],
)
def test_error_on_bad_parameters(api, params, field):
    resp = api.http.get("/search?" + urlencode({"q": "ботинки", **params}))
    assert resp.status_code == 422, resp.body
    assert resp.json_body["errors"][0]["field"] == field


def test_error_on_a_cursor_of_another_search(api, seller):
    products = [_product(seller, str(i), f"Ваза {i}") for i in range(3)]
    indexer.apply_changes([(None, p) for p in products])
    cursor = api.http.get("/search?" + urlencode({"q": "ваза", "seller": seller, "limit": 1})).json_body["next_cursor"]
    assert cursor
    other = api.http.get("/search?" + urlencode({"q": "чашка", "seller": seller, "cursor": cursor}))
    assert other.status_code == 422
    assert other.json_body["errors"][0]["field"] == "cursor"
