"""What a bookshop's customers look for: the author (words of it, in any form), an exact
barcode, ISBN or vendor code, and ``author=`` as a filter — from YML ``book`` offers (the shared
sample feed, read in place) and from CSV columns."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from feed_support import Feeds, offer, shared_feed, yml

from chalicelib.domain.catalog import product_id


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


def search(feeds: Feeds, q: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {"q": q, **params, **({"cursor": cursor} if cursor else {})}
        resp = feeds.api.http.get("/search?" + "&".join(f"{k}={quote_plus(str(v))}" for k, v in query.items()))
        assert resp.status_code == 200, resp.body
        items += resp.json_body["items"]
        cursor = resp.json_body.get("next_cursor")
        if not cursor:
            return items


@pytest.fixture
def yml_books(feeds):
    seller = feeds.shop_only()
    feeds.drop(seller, shared_feed("yml/go-yml-example-alltypes.xml").read_bytes(), "alltypes.yml")
    return seller


def test_yml_book_offers_give_author_publisher_year_and_isbn(feeds, yml_books):
    page = feeds.api.http.get(f"/products/{product_id(yml_books, '12342')}").json_body
    assert page["author"] == "Александра Маринина" and page["publisher"] == "ЭКСМО - Пресс"
    assert page["year"] == 2009 and page["isbn"] == "978-5-699-23647-3"
    audio = feeds.api.http.get(f"/products/{product_id(yml_books, '12343')}").json_body
    assert audio["author"] == "Владимир Кунин" and audio["year"] == 2009


@pytest.mark.parametrize("code", ["978-5-699-23647-3", "9785699236473"])
def test_an_isbn_finds_its_book_exactly_however_it_is_written(feeds, yml_books, code):
    found = search(feeds, code)
    assert [i["product_id"] for i in found] == [product_id(yml_books, "12342")]
    assert found[0]["author"] == "Александра Маринина"


def test_author_filter_requires_every_word_of_the_author_in_any_form(feeds, yml_books):
    book, audio = product_id(yml_books, "12342"), product_id(yml_books, "12343")
    assert {i["product_id"] for i in search(feeds, "2", author="Маринина")} <= {book}
    assert [i["product_id"] for i in search(feeds, "все", author="маринину")] == [book]
    assert [i["product_id"] for i in search(feeds, "владимир", author="Кунин Владимир")] == [audio]
    assert search(feeds, "все", author="Кунин") == []


def test_csv_book_columns_are_searchable_and_filterable(feeds):
    seller = feeds.shop_only()
    csv = ("id;name;price;author;publisher;year;isbn;vendor code\n"
           "b1;Пикник на обочине;500;Аркадий и Борис Стругацкие;АСТ;1972;978-5-17-118366-7;STR-001\n"
           "b2;Трудно быть богом;450;Аркадий и Борис Стругацкие;АСТ;1964;978-5-17-090334-4;STR-002\n"
           "b3;Солярис;400;Станислав Лем;АСТ;1961;978-5-17-098765-1;LEM-001\n").encode()
    feeds.drop(seller, csv, "books.csv")
    page = feeds.api.http.get(f"/products/{product_id(seller, 'b1')}").json_body
    assert page["author"] == "Аркадий и Борис Стругацкие" and page["year"] == 1972 and page["publisher"] == "АСТ"
    strugatsky = {product_id(seller, "b1"), product_id(seller, "b2")}
    assert {i["product_id"] for i in search(feeds, "стругацких")} == strugatsky  # author words are searchable
    assert {i["product_id"] for i in search(feeds, "бог", author="стругацкие")} == {product_id(seller, "b2")}
    assert [i["product_id"] for i in search(feeds, "LEM-001")] == [product_id(seller, "b3")]
    assert [i["product_id"] for i in search(feeds, "9785171183667")] == [product_id(seller, "b1")]
    listing = {i["product_id"]: i for i in feeds.products(seller=seller)}
    assert listing[product_id(seller, "b3")]["author"] == "Станислав Лем"
    assert listing[product_id(seller, "b3")]["year"] == 1961


def test_a_barcode_finds_its_product_among_similar_ones(feeds):
    seller = feeds.shop_only()
    feeds.drop(seller, yml(offer("a", "Наушники", extra="<barcode>4601234567893</barcode>")
                           + offer("b", "Наушники 4601234567893 совместимые")  # the number in the name too
                           + offer("c", "Наушники", extra="<barcode>4601234567894</barcode>")))
    found = search(feeds, "4601234567893")
    assert [i["product_id"] for i in found] == [product_id(seller, "b"), product_id(seller, "a")] or (
        {i["product_id"] for i in found} == {product_id(seller, "a"), product_id(seller, "b")})
    assert product_id(seller, "c") not in {i["product_id"] for i in found}


@pytest.mark.parametrize("query", ["q=x&author=", "q=x&author=%20и%20", "q=x&author=" + "a" * 201])
def test_error_on_an_author_with_nothing_to_find(feeds, query):
    resp = feeds.api.http.get(f"/search?{query}")
    assert resp.status_code == 422 and resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json_body["errors"][0]["field"].endswith("author")
