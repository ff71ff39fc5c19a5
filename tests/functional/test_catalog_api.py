"""The public catalog over HTTP: listing filters, sorts and cursors, the product page, the
category trees, blocked sellers — every read a Query (a Scan fails the test)."""

from __future__ import annotations

import json

import pytest
from feed_support import SHOP, Feeds, offer, record_calls, yml

from chalicelib.domain.catalog import product_id
from chalicelib.store import keys

CATS = ('<category id="1">Электроника</category><category id="10" parentId="1">Наушники</category>'
        '<category id="11" parentId="1">Телефоны</category><category id="2">Дом</category>')


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


@pytest.fixture
def no_scan():
    log = record_calls()
    yield log
    assert log.named("Scan") == [], "catalog reads must never Scan"


@pytest.fixture
def shop_a(feeds):
    seller = feeds.seller()
    offers = (
        offer("h1", "Наушники Sonica", "4990", category="10",
              extra="<vendor>Sonica</vendor><picture>https://x.example/1.jpg</picture>"
                    "<picture>https://x.example/2.jpg</picture><oldprice>5990</oldprice>"
                    '<param name="Цвет">белый</param><param name="Время работы" unit="ч">30</param>'
                    "<barcode>4601234567893</barcode><description><![CDATA[<p>Hi <b>there</b>"
                    "<img src=x onerror=alert(1)></p>]]></description>")
        + offer("h2", "apple AirPods", "15000", category="10")
        + offer("t1", "Телефон Zeta", "25000", category="11")
        + offer("d1", "Чайник", "1990", category="2", available="false")
        + offer("d2", "Лампа", "990", category="2")
    )
    feeds.drop(seller.id, yml(offers, CATS))
    return seller


@pytest.fixture
def shop_b(feeds):
    seller = feeds.seller({**SHOP, "name": "Вторая лавка"})
    feeds.drop(seller.id, yml(offer("x1", "Кабель", "300") + offer("x2", "Зарядка", "2500"),
                              '<category id="1">Аксессуары</category>'))
    return seller


def names(items):
    return [i["name"] for i in items]


def test_can_sort_by_price_both_ways_across_sellers(feeds, shop_a, shop_b, no_scan):
    by_price = feeds.products(sort="price", available="true")
    assert names(by_price) == ["Кабель", "Лампа", "Зарядка", "Наушники Sonica", "apple AirPods", "Телефон Zeta"]
    assert names(feeds.products(sort="-price", available="true")) == list(reversed(names(by_price)))


def test_can_sort_by_name_case_insensitively_and_by_newest(feeds, shop_a, shop_b, no_scan):
    assert names(feeds.products(sort="name", seller=shop_a.id, available="true")) == [
        "apple AirPods", "Лампа", "Наушники Sonica", "Телефон Zeta"]
    newest = feeds.products(sort="newest")
    assert {i["name"] for i in newest[:2]} == {"Кабель", "Зарядка"}  # shop_b imported last


def test_without_available_filter_both_partitions_merge_in_order(feeds, shop_a, no_scan):
    everything = feeds.products(sort="price", seller=shop_a.id, limit=2)
    assert names(everything) == ["Лампа", "Чайник", "Наушники Sonica", "apple AirPods", "Телефон Zeta"]
    assert [i["available"] for i in everything] == [True, False, True, True, True]


def test_price_range_under_every_sort(feeds, shop_a, shop_b, no_scan):
    for sort in ("price", "-price", "name", "newest"):
        got = feeds.products(sort=sort, min_price=99000, max_price=499000, limit=1)
        assert set(names(got)) == {"Лампа", "Чайник", "Зарядка", "Наушники Sonica"}, sort


def test_can_filter_by_category_and_seller(feeds, shop_a, shop_b, no_scan):
    tree = feeds.api.http.get(f"/categories?seller={shop_a.id}").json_body["items"][0]["categories"]
    by_feed_id = {c["feed_id"]: c for c in tree}
    headphones = next(c for c in by_feed_id["1"]["children"] if c["feed_id"] == "10")
    got = feeds.products(category=headphones["id"], sort="price")
    assert names(got) == ["Наушники Sonica", "apple AirPods"]
    assert feeds.products(category=headphones["id"], seller=shop_b.id) == []
    assert set(names(feeds.products(seller=shop_b.id))) == {"Кабель", "Зарядка"}


def test_pages_follow_cursors_without_repeats(feeds, shop_a, shop_b, no_scan):
    seen, cursor, pages = [], None, 0
    while True:
        resp = feeds.api.http.get("/products?sort=name&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status_code == 200
        seen += [i["product_id"] for i in resp.json_body["items"]]
        cursor, pages = resp.json_body["next_cursor"], pages + 1
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7 and pages >= 4


@pytest.mark.parametrize("query", [
    "cursor=garbage", "sort=cheapest", "limit=0", "limit=101", "min_price=-1", "min_price=10&max_price=5",
    "available=maybe", "color=red",
])
def test_error_on_bad_listing_query_is_a_clean_422(feeds, query):
    resp = feeds.api.http.get(f"/products?{query}")
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/products", "/search?q=x&"])
def test_error_on_inverted_price_range_names_max_price(feeds, path):
    sep = "" if path.endswith("&") else "?"
    resp = feeds.api.http.get(f"{path}{sep}min_price=500&max_price=100")
    assert resp.status_code == 422
    assert resp.json_body["errors"] == [{"field": "query.max_price", "reason": "must not be below min_price (500)"}]


def test_error_on_cursor_from_another_query(feeds, shop_a):
    cursor = feeds.api.http.get("/products?sort=price&limit=1").json_body["next_cursor"]
    resp = feeds.api.http.get(f"/products?sort=name&limit=1&cursor={cursor}")
    assert resp.status_code == 422 and resp.json_body["errors"][0]["field"] == "cursor"


def test_product_page_has_everything_the_feed_gave_and_the_seller(feeds, shop_a, no_scan):
    page = feeds.api.http.get(f"/products/{product_id(shop_a.id, 'h1')}")
    assert page.status_code == 200
    p = page.json_body
    assert p["name"] == "Наушники Sonica" and p["offer_id"] == "h1"
    assert p["price"] == {"amount": 499000, "currency": "RUB"} and p["old_price"]["amount"] == 599000
    assert p["pictures"] == ["https://x.example/1.jpg", "https://x.example/2.jpg"]
    assert p["vendor"] == "Sonica" and p["barcodes"] == ["4601234567893"]
    assert {"name": "Время работы", "unit": "ч", "value": "30"} in p["params"]
    assert p["category"]["name"] == "Наушники" and p["category"]["feed_id"] == "10"
    assert "onerror" not in p["description"] and "<b>there</b>" in p["description"]
    assert p["seller"] == {"id": shop_a.id, "name": SHOP["name"]}
    assert [(m["id"], m["price"]) for m in p["delivery_methods"]] == [
        ("courier", {"amount": 35000, "currency": "RUB"}), ("pickup", {"amount": 0, "currency": "RUB"})]


def test_error_on_unknown_product(feeds):
    assert feeds.api.http.get("/products/pnope").status_code == 404


def test_categories_are_per_seller_trees(feeds, shop_a, shop_b, no_scan):
    groups = feeds.api.http.get("/categories").json_body["items"]
    by_seller = {g["seller"]["id"]: g for g in groups}
    assert by_seller[shop_b.id]["categories"][0]["name"] == "Аксессуары"
    roots = {c["name"]: c for c in by_seller[shop_a.id]["categories"]}
    assert set(roots) == {"Электроника", "Дом"}
    assert {c["name"] for c in roots["Электроника"]["children"]} == {"Наушники", "Телефоны"}


def test_blocked_sellers_products_are_hidden(feeds, shop_a, shop_b, admin, no_scan):
    resp = feeds.api.http.put(f"/admin/sellers/{shop_a.id}/blocked", body=json.dumps({"blocked": True}),
                              headers=admin.headers)
    assert resp.status_code == 200, resp.body
    assert set(names(feeds.products())) == {"Кабель", "Зарядка"}
    assert set(names(feeds.products(sort="price", limit=1))) == {"Кабель", "Зарядка"}
    assert feeds.products(seller=shop_a.id) == []
    assert feeds.api.http.get(f"/products/{product_id(shop_a.id, 'h1')}").status_code == 404
    assert [g["seller"]["id"] for g in feeds.api.http.get("/categories").json_body["items"]] == [shop_b.id]
    feeds.api.http.put(f"/admin/sellers/{shop_a.id}/blocked", body=json.dumps({"blocked": False}),
                       headers=admin.headers)
    assert len(feeds.products()) == 7


def test_listing_page_costs_one_query_per_partition_shard_and_one_shop_lookup(feeds, shop_a, shop_b):
    shards = len(keys.listing_partitions(keys.listing_scope_all(), True, False))  # write shards (+ unsharded)
    log = record_calls()
    feeds.api.http.get("/products?sort=price&available=true&on_sale=false&limit=5")
    assert len(log.named("Query")) == shards and len(log.named("BatchGetItem")) == 1
    assert [c for c in log.calls if c[0] not in ("Query", "BatchGetItem")] == []
    log.calls.clear()
    feeds.api.http.get("/products?sort=price&available=true&limit=5")  # on sale or not: two partitions
    assert len(log.named("Query")) == 2 * shards and len(log.named("BatchGetItem")) == 1


def test_category_tree_keeps_orphans_and_breaks_cycles():
    from chalicelib.services.catalog import category_tree

    flat = [{"id": "1", "name": "Root"}, {"id": "2", "name": "Child", "parent_id": "1"},
            {"id": "3", "name": "Orphan", "parent_id": "404"}, {"id": "4", "name": "A", "parent_id": "5"},
            {"id": "5", "name": "B", "parent_id": "4"}]
    roots = category_tree("s1", flat)
    names_at_root = {n["name"] for n in roots}
    assert {"Root", "Orphan"} <= names_at_root
    assert [c["name"] for c in next(n for n in roots if n["name"] == "Root")["children"]] == ["Child"]

    def count(nodes):
        return sum(1 + count(n["children"]) for n in nodes)

    assert count(roots) == 5  # every category appears exactly once


def test_error_on_cursor_of_another_listing_is_a_clean_422(feeds, shop_a, shop_b):
    products = feeds.api.http.get("/products?limit=1").json_body["next_cursor"]
    categories = feeds.api.http.get("/categories?limit=1").json_body["next_cursor"]
    assert products and categories
    assert feeds.api.http.get(f"/categories?cursor={products}").status_code == 422
    assert feeds.api.http.get(f"/products?cursor={categories}").status_code == 422
    assert feeds.api.http.get(f"/seller/feeds?cursor={categories}", headers=shop_a.headers).status_code == 422


def test_admin_blocked_product_is_hidden_everywhere_until_unblocked(feeds, shop_a, shop_b, admin, register):
    http = feeds.api.http
    pid = product_id(shop_a.id, "h1")
    category = next(i for i in feeds.products(seller=shop_a.id) if i["product_id"] == pid)["category"]["id"]

    def shown() -> dict[str, bool]:
        def has(items):
            return pid in {i["product_id"] for i in items}

        return {
            "all": has(feeds.products()),
            "seller": has(feeds.products(seller=shop_a.id, sort="price")),
            "category": has(feeds.products(category=category, sort="name")),
            "page": http.get(f"/products/{pid}").status_code == 200,
            "search": has(http.get("/search?q=sonica").json_body["items"]),
        }

    everywhere = dict.fromkeys(("all", "seller", "category", "page", "search"), True)
    assert shown() == everywhere
    block = {"body": json.dumps({"blocked": True}), "headers": admin.headers}
    resp = http.put(f"/admin/products/{pid}/blocked", **block)
    assert resp.status_code == 200, resp.body
    assert resp.json_body == {"product_id": pid, "seller_id": shop_a.id, "name": "Наушники Sonica", "blocked": True}
    assert shown() == dict.fromkeys(everywhere, False)
    assert "Наушники Sonica" not in names(feeds.products(seller=shop_a.id)) and len(feeds.products()) == 6

    # the seller's next feed (the product changed) does not lift the admin's block
    feeds.drop(shop_a.id, yml(offer("h1", "Наушники Sonica", "4500", category="10") + offer("d2", "Лампа", "990",
                                                                                            category="2"), CATS))
    assert shown() == dict.fromkeys(everywhere, False)

    resp = http.put(f"/admin/products/{pid}/blocked", body=json.dumps({"blocked": False}), headers=admin.headers)
    assert resp.status_code == 200 and resp.json_body["blocked"] is False
    assert shown() == everywhere
    assert http.get(f"/products/{pid}").json_body["price"]["amount"] == 450000


def test_error_on_blocking_an_unknown_product_or_without_the_admin_role(feeds, shop_a, admin, register):
    http, body = feeds.api.http, json.dumps({"blocked": True})
    assert http.put("/admin/products/p-missing/blocked", body=body, headers=admin.headers).status_code == 404
    pid = product_id(shop_a.id, "h1")
    assert http.put(f"/admin/products/{pid}/blocked", body=body, headers=shop_a.headers).status_code == 403
    assert http.put(f"/admin/products/{pid}/blocked", body=body).status_code == 401
    resp = http.put(f"/admin/products/{pid}/blocked", body=json.dumps({"blocked": "maybe"}), headers=admin.headers)
    assert resp.status_code == 422 and resp.json_body["errors"][0]["field"] == "blocked"
    assert http.get(f"/products/{pid}").status_code == 200
