"""Facets: ``facets=true`` on GET /products and GET /search counts the matching products by
category, seller, price range, sale and stock — compared with counts made by hand over the
catalog the test imported — and never counts more than its bound (then it says so)."""

from __future__ import annotations

import random
from collections import Counter
from urllib.parse import quote_plus

import pytest
from feed_support import SHOP, Feeds, offer, record_calls, yml

from chalicelib.search import facets

CATS = '<category id="1">Кружки</category><category id="2">Чайники</category><category id="3">Ложки</category>'


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


def _catalog(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for i in range(40):
        price = rnd.choice([500, 900, 1500, 4000, 7000, 30000, 150000])  # in roubles
        rows.append({"id": f"o{i}", "name": rnd.choice(["Кружка", "Чайник", "Ложка"]) + " " + rnd.choice(
            ["синяя", "красная", "большая"]), "price": price, "category": rnd.choice("123"),
            "old": price + 100 if rnd.random() < 0.3 else None, "stock": rnd.choice([0, 3, 3, 3])})
    return rows


def _feed(rows: list[dict]) -> bytes:
    return yml("".join(offer(r["id"], r["name"], str(r["price"]), category=r["category"],
                             extra=f"<count>{r['stock']}</count>"
                             + (f"<oldprice>{r['old']}</oldprice>" if r["old"] else "")) for r in rows), CATS)


@pytest.fixture
def shops(feeds):
    a, b = feeds.shop_only(), feeds.shop_only()
    rows_a, rows_b = _catalog(1), _catalog(2)
    feeds.drop(a, _feed(rows_a))
    feeds.drop(b, _feed(rows_b))
    return {a: rows_a, b: rows_b}


def expected(shops: dict[str, list[dict]], keep) -> dict:
    """The facet counts over every (seller, row) that ``keep`` accepts, made by hand."""
    rows = [(s, r) for s, rs in shops.items() for r in rs if keep(s, r)]
    buckets = Counter(max(b for b in facets.PRICE_BOUNDS if b <= r["price"] * 100) for _, r in rows)
    return {
        "seller": {s: n for s, n in Counter(s for s, _ in rows).items()},
        "category": sorted(Counter((s, r["category"]) for s, r in rows).values()),
        "price": {lo: n for lo, n in buckets.items()},
        "on_sale": sum(1 for _, r in rows if r["old"]),
        "in_stock": sum(1 for _, r in rows if r["stock"] > 0),
        "counted": len(rows),
    }


def got(body: dict) -> dict:
    f = body["facets"]
    assert f["complete"] is True
    assert all(v["name"] == SHOP["name"] for v in f["seller"])  # a seller is named by its shop
    return {
        "seller": {v["id"]: v["count"] for v in f["seller"]},
        "category": sorted(v["count"] for v in f["category"]),
        "price": {p["min"]["amount"]: p["count"] for p in f["price_ranges"]},
        "on_sale": f["on_sale"],
        "in_stock": f["in_stock"],
        "counted": f["counted"],
    }


def get(feeds: Feeds, path: str, **params) -> dict:
    resp = feeds.api.http.get(path + "?" + "&".join(f"{k}={quote_plus(str(v))}" for k, v in params.items()))
    assert resp.status_code == 200, resp.body
    return resp.json_body


def test_listing_facets_count_every_product_the_listing_shows(feeds, shops):
    log = record_calls()
    a = next(iter(shops))
    assert got(get(feeds, "/products", facets="true", limit=3)) == expected(shops, lambda s, r: True)
    assert got(get(feeds, "/products", facets="true", seller=a)) == expected(shops, lambda s, r: s == a)
    assert got(get(feeds, "/products", facets="true", on_sale="true")) == expected(shops, lambda s, r: bool(r["old"]))
    assert got(get(feeds, "/products", facets="true", available="true", min_price=100000, max_price=700000)) == (
        expected(shops, lambda s, r: r["stock"] > 0 and 1000 <= r["price"] <= 7000))
    tree = get(feeds, "/categories", seller=a)["items"][0]["categories"]
    mugs = next(c["id"] for c in tree if c["feed_id"] == "1")
    body = get(feeds, "/products", facets="true", category=mugs)
    assert got(body) == expected(shops, lambda s, r: s == a and r["category"] == "1")
    assert body["facets"]["category"] == [{"id": mugs, "name": "Кружки", "count": body["facets"]["counted"]}]
    assert log.named("Scan") == []


def test_search_facets_count_every_match_of_the_query(feeds, shops):
    log = record_calls()
    names = {"1": "кружки", "2": "чайники", "3": "ложки"}
    for q, stems in (("кружка", ["кружк"]), ("круж", ["круж"]), ("кружка синяя", ["кружк", "син"])):
        def keep(s, r, stems=stems):  # the index holds what is on sale: sold out (count 0) is not
            text = f"{r['name']} {names[r['category']]}".lower()
            return r["stock"] > 0 and all(w in text for w in stems)
        assert got(get(feeds, "/search", q=q, facets="true", limit=2)) == expected(shops, keep), q
        assert got(get(feeds, "/search", q=q, facets="true", on_sale="true")) == expected(
            shops, lambda s, r, keep=keep: keep(s, r) and bool(r["old"])), q
    assert log.named("Scan") == []


def test_facets_count_at_most_their_bound_and_say_so(feeds, shops, monkeypatch):
    monkeypatch.setattr(facets, "MAX_ROWS", 7)
    for body in (get(feeds, "/products", facets="true"), get(feeds, "/search", q="кружка", facets="true"),
                 get(feeds, "/search", q="кружка синяя", facets="true")):
        assert body["facets"]["counted"] <= 7 and body["facets"]["complete"] is False
        assert sum(v["count"] for v in body["facets"]["seller"]) == body["facets"]["counted"]


def test_without_facets_the_answer_has_none(feeds, shops):
    assert get(feeds, "/products")["facets"] is None
    assert get(feeds, "/search", q="кружка")["facets"] is None


@pytest.mark.parametrize("path", ["/products?facets=maybe", "/search?q=x&facets=2"])
def test_error_on_a_bad_facets_value_names_the_field(feeds, path):
    resp = feeds.api.http.get(path)
    assert resp.status_code == 422 and "facets" in str(resp.json_body["errors"])
