"""Sales: ``on_sale=true`` on GET /products and GET /search finds exactly the products whose old
price is above the price — through re-imports that put products on sale and take them off, on
every page, without a Scan; and the cards show the stock and a short plain-text description."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from feed_support import Feeds, offer, record_calls, yml

from chalicelib.domain.catalog import product_id
from chalicelib.store import keys

CATS = '<category id="1">Посуда</category><category id="2">Текстиль</category>'


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


@pytest.fixture
def no_scan():
    log = record_calls()
    yield log
    assert log.named("Scan") == [], "catalog and search reads must never Scan"


def _offer(oid: str, name: str, price: int, old: int | None = None, category: str = "1", stock: int = 5,
           description: str = "") -> str:
    extra = f"<count>{stock}</count>"
    if old is not None:
        extra += f"<oldprice>{old}</oldprice>"
    if description:
        extra += f"<description><![CDATA[{description}]]></description>"
    return offer(oid, name, str(price), category=category, extra=extra)


# (offer id, name, price, old price, category): the first feed
FIRST = [
    ("k1", "Кружка синяя", 300, 450, "1"),
    ("k2", "Кружка белая", 250, None, "1"),
    ("k3", "Кружка большая", 500, 700, "1"),
    ("k4", "Кружка малая", 150, None, "1"),
    ("k5", "Полотенце", 900, 1200, "2"),
    ("k6", "Кружка дорожная", 800, 1000, "1"),
]
# the second feed: k1 off sale, k2 on sale, k3's price rises above its old price (off), k5 drops
# its old price, k6 unchanged, k7 new on sale
SECOND = [
    ("k1", "Кружка синяя", 300, None, "1"),
    ("k2", "Кружка белая", 200, 250, "1"),
    ("k3", "Кружка большая", 800, 700, "1"),
    ("k4", "Кружка малая", 150, None, "1"),
    ("k5", "Полотенце", 900, None, "2"),
    ("k6", "Кружка дорожная", 800, 1000, "1"),
    ("k7", "Кружка новая", 350, 400, "1"),
]


def _feed(rows) -> bytes:
    return yml("".join(_offer(o, n, p, old, c) for o, n, p, old, c in rows), CATS)


def _ids(seller: str, rows, *, sale: bool) -> set[str]:
    return {product_id(seller, o) for o, _n, p, old, _c in rows if (old is not None and old > p) == sale}


def every_search_page(feeds: Feeds, q: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {"q": q, **params, **({"cursor": cursor} if cursor else {})}
        resp = feeds.api.http.get("/search?" + "&".join(f"{k}={quote_plus(str(v))}" for k, v in query.items()))
        assert resp.status_code == 200, resp.body
        items += resp.json_body["items"]
        cursor = resp.json_body.get("next_cursor")
        if not cursor:
            return items


def _check_sales(feeds: Feeds, seller: str, rows) -> None:
    on, off = _ids(seller, rows, sale=True), _ids(seller, rows, sale=False)
    category = feeds.api.http.get(f"/categories?seller={seller}").json_body["items"][0]["categories"]
    cups = next(c["id"] for c in category if c["feed_id"] == "1")
    for sort in ("price", "-price", "name", "newest"):
        for scope in ({}, {"seller": seller}, {"category": cups}):
            in_scope = {product_id(seller, o) for o, *_rest, c in rows if "category" not in scope or c == "1"}
            got = feeds.products(sort=sort, on_sale="true", limit=1, **scope)
            assert [i["product_id"] for i in got if i["product_id"] in in_scope] == [i["product_id"] for i in got]
            assert {i["product_id"] for i in got} == on & in_scope, (sort, scope)
            assert all(i["old_price"]["amount"] > i["price"]["amount"] for i in got)
            rest = feeds.products(sort=sort, on_sale="false", limit=2, **scope)
            assert {i["product_id"] for i in rest} == off & in_scope, (sort, scope)
            assert all(i.get("old_price") is None for i in rest)
        both = feeds.products(sort=sort, limit=2)  # sale and not merged in one order
        assert {i["product_id"] for i in both} == on | off
    by_price = [i["price"]["amount"] for i in feeds.products(sort="price", limit=2)]
    assert by_price == sorted(by_price)
    found = every_search_page(feeds, "кружка", on_sale="true", limit=1)
    assert {i["product_id"] for i in found} == on - {product_id(seller, "k5")}
    assert all(i["old_price"]["amount"] > i["price"]["amount"] for i in found)
    assert [i["score"] for i in found] == sorted((i["score"] for i in found), reverse=True)
    assert {i["product_id"] for i in every_search_page(feeds, "круж", on_sale="false", limit=2)} == (
        off - {product_id(seller, "k5")})
    assert {i["product_id"] for i in every_search_page(feeds, "полотенце", on_sale="true")} == (
        on & {product_id(seller, "k5")})


def test_on_sale_follows_re_imports_in_listings_and_search(feeds, no_scan):
    seller = feeds.shop_only()
    feeds.drop(seller, _feed(FIRST))
    _check_sales(feeds, seller, FIRST)
    feeds.drop(seller, _feed(SECOND))
    _check_sales(feeds, seller, SECOND)
    back = [*FIRST, ("k7", "Кружка новая", 400, None, "1")]  # and back; k7 off sale
    feeds.drop(seller, _feed(back))
    _check_sales(feeds, seller, back)


def test_on_sale_listing_reads_only_the_sale_partition(feeds):
    seller = feeds.shop_only()
    feeds.drop(seller, _feed(FIRST))
    log = record_calls()
    feeds.api.http.get("/products?on_sale=true&available=true&limit=10")
    # each of its write shards, some maybe twice: a shard holding more than its share of the
    # page (product ids hash at random) is read again, which is how the merge works
    read = sorted({q["ExpressionAttributeValues"][":v0"]["S"] for q in log.named("Query")})
    assert read == sorted(keys.listing_partitions(keys.listing_scope_all(), True, True))
    assert all("#A1#S" in pk for pk in read)


def test_a_product_that_sells_out_on_sale_moves_to_the_unavailable_sale_listing(feeds):
    from chalicelib.store import catalog

    seller = feeds.shop_only()
    feeds.drop(seller, _feed(FIRST))
    pid = product_id(seller, "k1")
    catalog._table().update_item(Key={"PK": f"PRODUCT#{pid}", "SK": "PRODUCT"}, UpdateExpression="SET stock = :z",
                                 ExpressionAttributeValues={":z": 0})
    catalog.sync_availability([pid])
    assert pid not in {i["product_id"] for i in feeds.products(on_sale="true", available="true")}
    gone = feeds.products(on_sale="true", available="false")
    assert [i["product_id"] for i in gone] == [pid] and gone[0]["stock"] == 0


def test_cards_carry_the_stock_and_a_short_plain_description(feeds):
    seller = feeds.shop_only()
    long = "<p>Кружка из <b>фарфора</b> &amp; глазури. " + "Очень хорошая кружка для чая. " * 20 + "</p>"
    feeds.drop(seller, yml(_offer("d1", "Кружка фарфоровая", 300, stock=7, description=long)
                           + _offer("d2", "Кружка простая", 200, stock=2, description="<p>Просто кружка</p>"), CATS))
    for items in (feeds.products(), feeds.products(seller=seller),
                  every_search_page(feeds, "кружка"), every_search_page(feeds, "кружка фарфоровая")):
        by_id = {i["product_id"]: i for i in items}
        first = by_id[product_id(seller, "d1")]
        assert first["stock"] == 7
        assert first["description"].startswith("Кружка из фарфора & глазури. Очень")
        assert "<" not in first["description"] and len(first["description"]) <= 200
        assert first["description"].endswith("…")
        if product_id(seller, "d2") in by_id:
            assert by_id[product_id(seller, "d2")]["description"] == "Просто кружка"
            assert by_id[product_id(seller, "d2")]["stock"] == 2


@pytest.mark.parametrize("path", ["/products?on_sale=maybe", "/search?q=x&on_sale=maybe"])
def test_error_on_a_bad_on_sale_value_names_the_field(feeds, path):
    resp = feeds.api.http.get(path)
    assert resp.status_code == 422 and resp.headers["Content-Type"] == "application/problem+json"
    assert "on_sale" in json.dumps(resp.json_body["errors"])
