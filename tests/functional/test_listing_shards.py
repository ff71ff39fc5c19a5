"""Write-sharded listings: a catalog whose products fall in every write shard
lists exactly and in order, page after page, under every sort, scope and filter — compared with
a brute-force oracle over the product items — and products written before the sharding keep
listing until the one-off migration moves them."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from feed_support import Feeds, offer, record_calls, snapshot, yml

from chalicelib.config import settings
from chalicelib.domain import catalog as rules
from chalicelib.services import catalog as service
from chalicelib.store import catalog as store
from chalicelib.store import keys

CATS = '<category id="1">Книги</category><category id="2">Дом</category>'
NAMES = ("Лампа", "apple", "Apple", "кабель", "Zeta", "чайник", "Ёлка")


@pytest.fixture(autouse=True)
def sharded(monkeypatch):
    """The sharding of the defaults, set explicitly (store/keys.py, "Write sharding"); the
    unsharded partitions are read too until the one-off migration has run."""
    monkeypatch.setenv("LISTING_SHARDS_ALL", str(keys.AT_SCALE_ALL_SHARDS))
    monkeypatch.setenv("LISTING_SHARDS_SCOPE", str(keys.AT_SCALE_SCOPE_SHARDS))
    monkeypatch.setenv("LISTING_LEGACY_READS", "true")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


def _offers(prefix: str, count: int) -> str:
    out = []
    for n in range(count):
        price = 100 + (n % 5) * 50  # ties on price, broken by product id
        extra = f"<oldprice>{price + 100}</oldprice>" if n % 3 == 0 else ""
        out.append(offer(f"{prefix}{n}", NAMES[n % len(NAMES)], str(price), category=str(1 + n % 2),
                         available="false" if n % 4 == 0 else "true", extra=extra))
    return "".join(out)


@pytest.fixture
def catalog(feeds):
    """Two sellers, 70 products: every ALL shard and every seller and category shard holds some."""
    sellers = [feeds.shop_only("s-shard-0"), feeds.shop_only("s-shard-1")]  # ids chosen to cover every shard
    feeds.drop(sellers[0], yml(_offers("a", 50), CATS))
    feeds.drop(sellers[1], yml(_offers("b", 20), CATS))
    products = [store.strip_keys(i) for i in snapshot(feeds.aws) if i["SK"] == keys.PRODUCT_SK]
    assert len(products) == 70
    all_scope = keys.listing_scope_all()
    shards = set(range(settings().listing_shards_all))
    assert {keys.listing_shard(all_scope, p["product_id"]) for p in products} == shards
    for seller in sellers:
        scope = keys.listing_scope_seller(seller)
        mine = [p for p in products if p["seller_id"] == seller]
        assert {keys.listing_shard(scope, p["product_id"]) for p in mine} == set(range(settings().listing_shards_scope))
    return sellers, products


def _sort_key(product: dict[str, Any], sort: str) -> tuple[Any, ...]:
    pid = product["product_id"]
    if sort in ("price", "-price"):
        return (int(product["price"]), pid)
    if sort == "name":
        return (" ".join(product["name"].casefold().split()), pid)
    return (product["created_at"], pid)


def oracle(products: list[dict[str, Any]], *, sort: str, seller: str | None = None, category: str | None = None,
           available: bool | None = None, on_sale: bool | None = None, min_price: int | None = None,
           max_price: int | None = None) -> list[str]:
    rows = [p for p in products
            if (seller is None or p["seller_id"] == seller)
            and (category is None or store.category_key(p["seller_id"], p.get("category_id", "")) == category)
            and (available is None or rules.on_sale(p) is available)
            and (on_sale is None or rules.discounted(p) is on_sale)
            and (min_price is None or int(p["price"]) >= min_price)
            and (max_price is None or int(p["price"]) <= max_price)]
    rows.sort(key=lambda p: _sort_key(p, sort), reverse=sort in ("-price", "newest"))
    return [p["product_id"] for p in rows]


ALL_FILTERS: list[dict[str, Any]] = [
    {}, {"available": True}, {"on_sale": True}, {"min_price": 15000, "max_price": 25000},
    {"available": False, "on_sale": False, "min_price": 15000},
]
SCOPE_FILTERS: list[dict[str, Any]] = [{}, {"available": True, "on_sale": False}]


@pytest.mark.parametrize("sort", ["price", "-price", "name", "newest"])
def test_sharded_listing_pages_match_the_oracle_under_every_scope_and_filter(feeds, catalog, sort):
    sellers, products = catalog
    category = store.category_key(sellers[0], "2")
    queries = [*ALL_FILTERS, *({"seller": sellers[0], **f} for f in SCOPE_FILTERS),
               *({"category": category, **f} for f in SCOPE_FILTERS), {"category": category, "seller": sellers[0]}]
    log = record_calls()
    for query in queries:
        expected = oracle(products, sort=sort, **query)
        params = {**query, "sort": sort, "limit": 8}
        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        got = [i["product_id"] for i in feeds.products(**params)]
        assert got == expected, (query, sort)
    assert log.named("Scan") == []


def test_items_read_per_page_stay_bounded(feeds, catalog):
    """A page of 20 from the whole marketplace (68 streams: 4 partitions × 17) reads a bounded
    number of items: about two per stream and the page, not a page per stream."""
    streams = 4 * len(keys.listing_partitions(keys.listing_scope_all(), True, False))
    first = service.first_read(20, streams)
    stats: dict[str, int] = {}
    items, cursor = service.list_products(sort="price", limit=20, stats=stats)
    assert len(items) == 20 and cursor
    assert stats["read"] <= streams * first + 2 * 20, stats
    assert stats["queries"] <= service.MAX_FETCHES + 2 * streams


def test_products_written_before_sharding_keep_listing_and_the_migration_moves_them(feeds, catalog, aws):
    sellers, products = catalog
    table = boto3.resource("dynamodb").Table(aws["CATALOG_TABLE"])
    # Given a third of the products back under the unsharded keys (as written before sharding)
    old = products[::3]
    for p in old:
        for key in (keys.product(p["product_id"]), keys.seller_listing(p["seller_id"], p["product_id"]),
                    keys.category_listing(store.category_key(p["seller_id"], p["category_id"]), p["product_id"])):
            item = table.get_item(Key=key)["Item"]
            legacy = item["GSI1PK"].rsplit("#", 1)[0]
            table.update_item(Key=key, UpdateExpression="SET GSI1PK = :pk, GSI2PK = :pk, GSI3PK = :pk",
                              ExpressionAttributeValues={":pk": legacy})
    assert table.get_item(Key=keys.product(old[0]["product_id"]))["Item"]["GSI1PK"].endswith(("#A1", "#A0", "#S"))

    def every_listing() -> list[list[str]]:
        return [[i["product_id"] for i in feeds.products(sort=sort, limit=10, **scope)]
                for sort in ("-price", "newest")
                for scope in ({}, {"seller": sellers[0]}, {"category": store.category_key(sellers[1], "1")})]

    expected = [oracle(products, sort=sort, **scope)
                for sort in ("-price", "newest")
                for scope in ({}, {"seller": sellers[0]}, {"category": store.category_key(sellers[1], "1")})]
    # When they are listed: they are there, in order
    assert every_listing() == expected
    # When the migration runs (twice: the second finds nothing to move)
    assert store.reshard_listings(page=7) == len(old)
    assert store.reshard_listings() == 0
    # Then every listing item is in its shard and the listings are unchanged
    assert every_listing() == expected
    for p in old:
        item = table.get_item(Key=keys.product(p["product_id"]))["Item"]
        shard = keys.listing_shard(keys.listing_scope_all(), p["product_id"])
        assert item["GSI1PK"] == keys.listing_partition(keys.listing_scope_all(), rules.on_sale(p),
                                                        rules.discounted(p), shard)
        seller_item = table.get_item(Key=keys.seller_listing(p["seller_id"], p["product_id"]))["Item"]
        shard = keys.listing_shard(keys.listing_scope_seller(p["seller_id"]), p["product_id"])
        assert seller_item["GSI3PK"].endswith(f"#{shard:02d}")


def _to_legacy_base_keys(table: Any, product: dict[str, Any]) -> None:
    """Put a product's seller and category listing items back under the unsharded base-table
    keys (SELLER#<seller>, CAT#<key>) and forget the product item's record of its shards, as a
    product written before those keys were sharded is stored."""
    for key in store.listing_item_keys(product, settings().listing_shards_scope):
        item = table.get_item(Key=key)["Item"]
        table.put_item(Item={**item, "PK": key["PK"].rsplit("#", 1)[0]})
        table.delete_item(Key=key)
    table.update_item(Key=keys.product(product["product_id"]), UpdateExpression=f"REMOVE {store.LISTING_SHARDS}")


def _legacy_items(table: Any, partition: str) -> list[dict[str, Any]]:
    return table.query(KeyConditionExpression=Key("PK").eq(partition)
                       & Key("SK").begins_with(keys.LISTING_SK_PREFIX))["Items"]


def test_listing_items_under_the_unsharded_base_keys_list_once_and_move_to_their_shards(feeds, catalog, aws):
    sellers, products = catalog
    table = boto3.resource("dynamodb").Table(aws["CATALOG_TABLE"])
    assert all(table.get_item(Key=keys.product(p["product_id"]))["Item"][store.LISTING_SHARDS] == 4 for p in products)
    old = products[1::3]
    for p in old:
        _to_legacy_base_keys(table, p)
    legacy_seller = keys.seller_partition(sellers[0])
    assert len(_legacy_items(table, legacy_seller)) == sum(1 for p in old if p["seller_id"] == sellers[0])
    scopes = ({}, {"seller": sellers[0]}, {"seller": sellers[1]}, {"category": store.category_key(sellers[1], "1")})

    def every_listing() -> list[list[str]]:
        return [[i["product_id"] for i in feeds.products(sort=sort, limit=10, **scope)]
                for sort in ("-price", "newest") for scope in scopes]

    def expected(catalog: list[dict[str, Any]]) -> list[list[str]]:
        return [oracle(catalog, sort=sort, **scope) for sort in ("-price", "newest") for scope in scopes]

    # Listings show every product once; the import's own listing of a seller finds them all
    assert every_listing() == expected(products)
    for seller in sellers:
        mine = sorted(i["product_id"] for i in store.seller_products(seller, available_only=False))
        assert mine == sorted(p["product_id"] for p in products if p["seller_id"] == seller)
    # When the second seller re-imports with new prices, its legacy listing items are replaced, not doubled
    feeds.drop(sellers[1], yml(_offers("b", 20).replace("<price>", "<price>1"), CATS))
    now = [store.strip_keys(i) for i in snapshot(feeds.aws) if i["SK"] == keys.PRODUCT_SK]
    assert {p["product_id"] for p in now} == {p["product_id"] for p in products}
    assert every_listing() == expected(now)
    assert _legacy_items(table, keys.seller_partition(sellers[1])) == []
    # When the move runs (twice: the second finds nothing)
    moved = sum(1 for p in old if p["seller_id"] == sellers[0])
    assert store.move_listing_items(page=7) == moved
    assert store.move_listing_items() == 0
    # Then nothing is left under the unsharded keys and the listings are unchanged
    assert _legacy_items(table, legacy_seller) == []
    for p in old:
        if p.get("category_id"):
            assert _legacy_items(table, f"CAT#{store.category_key(p['seller_id'], p['category_id'])}") == []
    assert every_listing() == expected(now)
