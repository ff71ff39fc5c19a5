"""What a result card shows, and how facets count (pure)."""

from __future__ import annotations

from chalicelib.domain.catalog import book_fields, discounted, short_description
from chalicelib.search import document, facets


def test_short_description_is_plain_text_cut_at_a_word():
    text = "<p>Кружка &amp; блюдце</p>" + "<p>слово " * 60 + "</p>"
    out = short_description(text)
    assert out.startswith("Кружка & блюдце слово") and out.endswith("слово…")
    assert len(out) <= 200 and "<" not in out
    assert short_description("<b>коротко</b>") == "коротко" and short_description(None) == ""


def test_on_sale_means_an_old_price_above_the_price():
    assert discounted({"price": 100, "old_price": 150})
    assert not discounted({"price": 100, "old_price": 100}) and not discounted({"price": 100})


def test_book_fields_take_the_first_value_of_any_spelling():
    got = book_fields([("Автор", "Лем"), ("author", "другой"), ("Год издания", "изд. 1961 г."), ("ISBN", "978-5")])
    assert got == {"author": "Лем", "year": 1961, "isbn": "978-5"}


def test_flag_terms_survive_the_term_map_cap_and_codes_are_whole_terms(monkeypatch):
    monkeypatch.setattr(document, "MAP_MAX_TERMS", 5)
    product = {"product_id": "p", "seller_id": "s", "name": "Кружка", "price": 1, "old_price": 2,
               "description": " ".join(f"слово{i}" for i in range(100)), "barcodes": ["4601234567893"],
               "isbn": "978-5-17-118366-7", "author": "Станислав Лем"}
    doc = document.build(product)
    tmap, trimmed = document.term_map(doc.terms)
    assert trimmed and {document.SALE_TERM, "~a:лем"} <= set(tmap)
    assert {"4601234567893", "9785171183667"} <= set(doc.terms) and "978" not in doc.terms


def test_facets_count_ranges_and_top_values():
    rows = [facets.Row("s1", "c1", "Кружки", 50_000, "RUB", True, True),
            facets.Row("s1", "c1", "Кружки", 150_000, "RUB", False, False),
            facets.Row("s2", None, None, 20_000_000, "RUB", False, True)]
    got = facets.count(rows, complete=True, shop_names={"s1": "Чайная лавка"})
    assert got["category"] == [{"id": "c1", "name": "Кружки", "count": 2}]
    assert got["seller"] == [{"id": "s1", "name": "Чайная лавка", "count": 2}, {"id": "s2", "name": None, "count": 1}]
    assert [(r["min"], r["max"], r["count"]) for r in got["price_ranges"]] == [
        (0, 99_999, 1), (100_000, 499_999, 1), (10_000_000, None, 1)]
    assert (got["on_sale"], got["in_stock"], got["counted"], got["complete"]) == (1, 2, 3, True)
