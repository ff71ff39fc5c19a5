"""Search is exact: every product with all the query's words, across the pages, in rank order,
compared with a brute-force oracle over a generated catalog whose word frequencies are chosen
(common, rare, common-but-rarely-together), in Russian and English; and a query made only of
stopwords finds the titles it names."""

from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest

from chalicelib.config import settings
from chalicelib.domain.catalog import product_id
from chalicelib.search import document, indexer, matches, query, text
from chalicelib.store import accounts
from tests.support.tables import module_tables


@pytest.fixture(scope="module")
def tables():
    with module_tables("x"):
        yield


def _shop(seller_id: str) -> str:
    accounts.put_shop(seller_id, {"seller_id": seller_id, "name": seller_id})
    return seller_id


def _product(seller: str, offer: str, name: str, description: str = "", **fields) -> dict:
    return {"product_id": product_id(seller, offer), "seller_id": seller, "offer_id": offer, "name": name,
            "description": description, "price": 1000 + len(offer), "currency": "RUB", "pictures": [],
            "available": True, **fields}


def oracle(products: list[dict], q: str) -> list[tuple[int, str]]:
    """Brute force: every product scored against every word, best first, ties by id."""
    words = [query.expand(w) for w in text.query_words(q)]
    out = []
    for p in products:
        doc = document.build(p)
        total = query.score(words, doc.terms, doc.name_key) if doc else None
        if total is not None:
            out.append((-total, p["product_id"]))
    return [(-neg, pid) for neg, pid in sorted(out)]


def every_page(q: str, seller: str, limit: int, **filters) -> list[tuple[int, str]]:
    seen, cursor = [], None
    for _ in range(1000):
        items, cursor = query.search(q, seller=seller, limit=limit, cursor=cursor, **filters)
        seen += [(i["score"], i["product_id"]) for i in items]
        if not cursor:
            return seen
    raise AssertionError("the pages never ended")


# --- a catalog with controlled word frequencies -----------------------------------------------

LANGS = {
    "ru": {
        "common": ["черный", "кожаный"],  # each in about half of the products
        "rare": ["титановый", "бамбуковый"],  # in a handful
        "apart": ("зимний", "летний"),  # each in ~40%, together in 3 products only
        "nouns": ["кроссовки", "ботинки", "куртка", "сумка", "рюкзак"],
        "filler": ["удобный", "прочный", "стильный", "подарок", "гарантия", "доставка"],
    },
    "en": {
        "common": ["black", "leather"],
        "rare": ["titanium", "bamboo"],
        "apart": ("winter", "summer"),
        "nouns": ["sneakers", "boots", "jacket", "bag", "backpack"],
        "filler": ["comfortable", "durable", "stylish", "gift", "warranty", "delivery"],
    },
}


def catalog(seller: str, lang: str, n: int, seed: int) -> list[dict]:
    words = LANGS[lang]
    rnd = random.Random(seed)
    aux = random.Random(seed + 1000)  # sale and category: the words stay those of ``seed``
    x, y = words["apart"]
    together = set(rnd.sample(range(n), 3))
    out = []
    for i in range(n):
        name = [rnd.choice(words["nouns"])]
        desc = rnd.choices(words["filler"], k=rnd.randint(2, 6))
        for w in words["common"]:
            if rnd.random() < 0.5:
                (name if rnd.random() < 0.6 else desc).append(w)
        if rnd.random() < 0.02:
            name.append(rnd.choice(words["rare"]))
        if i in together:  # the rare pair: in the name, a description, or one in each
            name.append(x)
            (name if i % 2 else desc).append(y)
        elif rnd.random() < 0.8:
            (name if rnd.random() < 0.7 else desc).append(x if i % 2 else y)
        rnd.shuffle(name)
        sale = {"old_price": 5000} if aux.random() < 0.15 else {}  # on sale: old price above price
        out.append(_product(seller, f"{lang}{i}", " ".join(name).capitalize(), " ".join(desc),
                            vendor=rnd.choice(["Acme", "Борей", None]), category_id=aux.choice("123"), **sale))
    return out


QUERIES = {
    "ru": ["черный кожаный", "кожаный черный кроссовки", "зимний летний", "летний зимний черный",
           "титановый черный", "черный ботинки", "зимний летн", "черный кож", "кроссовки ботинки"],
    "en": ["black leather", "leather black sneakers", "winter summer", "summer winter black",
           "titanium black", "black boots", "winter summ", "black leath", "sneakers boots"],
}


@pytest.fixture(scope="module", params=["ru", "en"])
def generated(request, tables):
    seller = _shop(f"s-{request.param}-{uuid.uuid4().hex[:6]}")
    products = catalog(seller, request.param, 240, seed=11 if request.param == "ru" else 12)
    indexer.apply_changes([(None, p) for p in products])
    return request.param, seller, products


READINGS = ["match-lists", "match-lists-small-parts", "rank-order", "rank-order-tiny-bounds"]


@pytest.fixture(params=READINGS)
def reading(request, monkeypatch) -> bool:
    """How a multi-word query reads: its terms' match lists (as the indexer and earlier queries
    left them: fresh entries, packed parts or both; or with parts of 3 entries, every list
    compacted by the first read); or postings in rank order (match lists off), with the
    default bounds or bounds so tiny the exact drain takes over. True: small pages."""
    name = request.param
    if name == "match-lists-small-parts":
        monkeypatch.setattr(matches, "PART_ENTRIES", 3)
        monkeypatch.setattr(matches, "COMPACT_AT", 1)
        monkeypatch.setattr(matches, "COMPACT_INTERVAL_SECONDS", 0)
    if name.startswith("rank-order"):
        monkeypatch.setenv("SEARCH_MATCH_LISTS", "false")
    settings.cache_clear()
    if name == "rank-order-tiny-bounds":
        monkeypatch.setattr(query, "FIRST_PAGE", 7)
        monkeypatch.setattr(query, "MAX_DRIVER_READ", 15)
    yield name in ("rank-order-tiny-bounds", "match-lists-small-parts")
    settings.cache_clear()


def test_every_page_of_an_and_query_equals_the_oracle(generated, reading):
    lang, seller, products = generated
    small_pages = reading
    matched = 0
    for q in QUERIES[lang]:
        expected = oracle(products, q)
        matched += bool(expected)
        for limit in (9,) if small_pages else (25,):
            assert every_page(q, seller, limit) == expected, (q, limit)
    assert matched >= len(QUERIES[lang]) - 2  # the noun pair (one noun a product) and maybe a triple match none


def test_a_common_but_rarely_together_pair_finds_exactly_its_three_products(generated, reading):
    lang, seller, products = generated
    x, y = LANGS[lang]["apart"]
    with_x = {p["product_id"] for p in products if x in (p["name"] + " " + p["description"]).lower()}
    with_y = {p["product_id"] for p in products if y in (p["name"] + " " + p["description"]).lower()}
    assert len(with_x) > 70 and len(with_y) > 70 and len(with_x & with_y) == 3
    found = every_page(f"{x} {y}", seller, limit=2)
    assert {pid for _, pid in found} == with_x & with_y
    assert found == oracle(products, f"{x} {y}")


def test_on_sale_pages_equal_the_oracle_of_products_on_sale(generated, reading):
    lang, seller, products = generated
    small_pages = reading
    on_sale = [p for p in products if p.get("old_price")]
    assert 15 < len(on_sale) < 60
    for q in [*QUERIES[lang], LANGS[lang]["common"][0], LANGS[lang]["common"][0][:4]]:
        assert every_page(q, seller, 9 if small_pages else 25, on_sale=True) == oracle(on_sale, q), q


def test_facets_of_a_query_equal_counts_over_the_oracle(generated):
    lang, seller, products = generated
    by_id = {p["product_id"]: p for p in products}
    for q in QUERIES[lang][:4]:
        matches = [by_id[pid] for _, pid in oracle(products, q)]
        got = query.search_facets(q, seller=seller)
        assert got["complete"] and got["counted"] == len(matches), q
        assert got["seller"] == ([{"id": seller, "name": seller, "count": len(matches)}] if matches else [])
        assert sorted(c["count"] for c in got["category"]) == sorted(
            Counter(p["category_id"] for p in matches).values())
        assert got["on_sale"] == sum(1 for p in matches if p.get("old_price"))


# --- stopwords that are titles ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bookshop(tables):
    seller = _shop(f"s-books-{uuid.uuid4().hex[:6]}")
    books = {
        "road": "The Road", "it": "It", "we": "Мы", "prag": "The Pragmatic Programmer (20th Anniversary Edition)",
        "and": "И пришёл паук", "other": "Roadside Picnic", "cook": "Cooking for the family",
    }
    products = {k: _product(seller, k, v, description="a novel by the author, in the series") for k, v in books.items()}
    indexer.apply_changes([(None, p) for p in products.values()])
    return seller, {k: p["product_id"] for k, p in products.items()}


def _found(q: str, seller: str) -> list[str]:
    return [i["product_id"] for i in query.search(q, seller=seller, limit=50)[0]]


def test_a_query_of_stopwords_only_finds_the_titles_it_names(bookshop):
    seller, ids = bookshop
    titled = {ids["road"], ids["prag"], ids["cook"]}  # "the" in their names, not in a description
    assert set(_found("The", seller)) == titled
    assert set(_found("the", seller)) == titled
    assert _found("It", seller) == [ids["it"]]
    assert _found("Мы", seller) == [ids["we"]]
    assert _found("И", seller) == [ids["and"]]


def test_stopwords_beside_other_words_are_dropped_as_before(bookshop):
    seller, ids = bookshop
    assert _found("The Road", seller)[0] == ids["road"]
    assert set(_found("the road", seller)) == {ids["road"], ids["other"]}  # "road" as a prefix: roadside
    assert _found("cooking for the", seller) == [ids["cook"]]
    assert _found("the pragmatic programmer", seller) == [ids["prag"]]


def test_stopwords_of_a_description_are_still_not_indexed(bookshop):
    doc = document.build(_product("s", "o", "Plain", description="the and of in"))
    assert doc is not None and set(doc.terms) == {"plain"}
