"""With match lists off (or a word whose terms cannot be listed), a multi-word query reads one
word's list where it can (the rarer word drives), checks the other words in the postings' term
maps, and returns every product with all the words, ranked, however common its words are (past
the rank-order bound, the shorter list is read to its end)."""

from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest

from chalicelib.config import settings
from chalicelib.domain.catalog import product_id
from chalicelib.search import document, indexer, query, text
from chalicelib.search import store as search_store
from chalicelib.store import accounts, keys
from tests.support.tables import module_tables


@pytest.fixture(scope="module")
def tables():
    with module_tables("b"):
        yield


@pytest.fixture(autouse=True)
def rank_order(monkeypatch):
    """These tests are about reading postings in rank order: what a multi-word query does when
    a word's terms cannot be listed (a one-letter last word), or with match lists off."""
    monkeypatch.setenv("SEARCH_MATCH_LISTS", "false")
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
def seller(tables) -> str:
    seller_id = f"s-{uuid.uuid4().hex[:8]}"
    accounts.put_shop(seller_id, {"seller_id": seller_id, "name": seller_id})
    return seller_id


def word() -> str:
    """A made-up word no other test uses (letters only: no compound parts, stems to itself)."""
    rnd = random.Random(uuid.uuid4().int)
    while True:  # the stemmer cuts some endings ("busuciti" → "busuc"): the logs name terms
        made = "".join(rnd.choice("bcdfgklmnprstvz") + rnd.choice("aiou") for _ in range(4))
        if [w.term for w in text.query_words(made)] == [made]:
            return made


def _product(seller: str, offer: str, name: str, **fields) -> dict:
    return {"product_id": product_id(seller, offer), "seller_id": seller, "offer_id": offer, "name": name,
            "price": 1000, "currency": "RUB", "pictures": [], "available": True, **fields}


class QueryLog:
    """Every read of a term's postings the search makes: (term key, Limit, postings DynamoDB
    returned: a postings Query has no filter, so that is what it read). Logged at the search
    store's own function, not on a botocore client: the first pages are read from a thread
    pool, and the log must not depend on which client object a thread happens to hold."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def read(self, term: str) -> int:
        return sum(n for pk, _, n in self.calls if pk == f"TERM#{term}")

    def postings(self) -> int:
        return sum(n for pk, _, n in self.calls if pk.startswith("TERM#"))


@pytest.fixture
def queries(tables, monkeypatch):
    log = QueryLog()
    original = search_store.postings_page

    def logged(term: str, *, limit: int, start=None):
        page, last = original(term, limit=limit, start=start)
        log.calls.append((keys.search_term(term), limit, len(page)))
        return page, last

    monkeypatch.setattr(search_store, "postings_page", logged)
    return log


def oracle(products: list[dict], q: str) -> list[tuple[int, str]]:
    """Brute force: every product scored against every word."""
    words = [query.expand(w) for w in text.query_words(q)]
    out = []
    for p in products:
        doc = document.build(p)
        total = query.score(words, doc.terms, doc.name_key) if doc else None
        if total is not None:
            out.append((-total, p["product_id"]))
    return [(-neg, pid) for neg, pid in sorted(out)]


def having_every_word(products: list[dict], q: str) -> set[str]:
    return {pid for _, pid in oracle(products, q)}


def ranked(q: str, seller: str, limit: int = 100) -> list[tuple[int, str]]:
    return [(i["score"], i["product_id"]) for i in query.search(q, seller=seller, limit=limit)[0]]


def test_rarer_word_drives_and_the_common_one_is_read_one_page(seller, queries):
    common, rare = word(), word()
    products = [_product(seller, f"c{i}", f"{common.capitalize()} {i}") for i in range(3 * query.FIRST_PAGE)]
    products += [_product(seller, f"r{i}", f"{rare.capitalize()} {common} {i}") for i in range(3)]
    products += [_product(seller, "r-only", rare.capitalize())]
    indexer.apply_changes([(None, p) for p in products])
    queries.calls.clear()

    found = ranked(f"{common} {rare}", seller)

    assert found == oracle(products, f"{common} {rare}") and len(found) == 3
    assert queries.read(rare) == 4  # its whole list, which ended: the results are complete
    common_calls = [c for c in queries.calls if c[0] == f"TERM#{common}"]
    assert common_calls == [(f"TERM#{common}", query.FIRST_PAGE, query.FIRST_PAGE)]  # one first page, no more
    assert Counter(c[0] for c in queries.calls if c[0].startswith("TERM#")) == {f"TERM#{common}": 1,
                                                                              f"TERM#{rare}": 1}


def test_rarer_word_drives_whichever_position_it_has(seller, queries):
    common, rare = word(), word()
    products = [_product(seller, f"c{i}", f"{common.capitalize()} {i}") for i in range(2 * query.FIRST_PAGE)]
    products += [_product(seller, "r", f"{rare.capitalize()} {common}")]
    indexer.apply_changes([(None, p) for p in products])
    queries.calls.clear()
    assert ranked(f"{rare} {common}", seller) == oracle(products, f"{rare} {common}")
    assert queries.read(common) == query.FIRST_PAGE


def test_query_past_the_bound_reads_the_shorter_list_to_its_end_and_is_exact(seller, queries, monkeypatch):
    monkeypatch.setattr(query, "FIRST_PAGE", 5)
    monkeypatch.setattr(query, "MAX_DRIVER_READ", 20)
    a, b = word(), word()
    # both words are common: neither list ends within the bound
    products = [_product(seller, f"a{i}", f"{a.capitalize()} {i}") for i in range(40)]
    products += [_product(seller, f"b{i}", f"{b.capitalize()} {i}") for i in range(60)]
    # matches in the names (strongest postings: within reach) ...
    products += [_product(seller, f"ab{i}", f"{a.capitalize()} {b} {i}", vendor=a if i % 2 else None)
                 for i in range(4)]
    # ... and matches by description only (weakest postings: past the bound)
    deep = [_product(seller, f"d{i}", f"Товар {i}", description=f"{a} {b}") for i in range(3)]
    products += deep
    indexer.apply_changes([(None, p) for p in products])
    queries.calls.clear()

    found = ranked(f"{a} {b}", seller)

    assert found == oracle(products, f"{a} {b}")  # every match, the deep ones too, in rank order
    assert {p["product_id"] for p in deep} <= {pid for _, pid in found}
    # the shorter list (a: 47 postings) was read to its end, the longer one (b: 67) was not
    assert queries.read(a) == 47 and queries.read(b) < 67


def test_query_past_the_bound_pages_exactly_without_repeats(seller, monkeypatch):
    monkeypatch.setattr(query, "FIRST_PAGE", 5)
    monkeypatch.setattr(query, "MAX_DRIVER_READ", 20)
    a, b = word(), word()
    products = [_product(seller, f"a{i}", f"{a.capitalize()} {i}", description=b if i % 3 == 0 else "")
                for i in range(25)]
    products += [_product(seller, f"b{i}", f"{b.capitalize()} {i}", description=a if i % 4 == 0 else "")
                 for i in range(25)]
    indexer.apply_changes([(None, p) for p in products])
    seen, cursor = [], None
    while True:
        items, cursor = query.search(f"{a} {b}", seller=seller, limit=3, cursor=cursor)
        seen += [(i["score"], i["product_id"]) for i in items]
        if not cursor:
            break
    assert seen == oracle(products, f"{a} {b}")


def test_a_word_beyond_the_index_cap_of_a_long_description_is_not_searchable(seller):
    """The documented bound: a product is indexed by at most INDEX_MAX_TERMS terms, name first."""
    a, b = word(), word()
    filler = " ".join(f"{word()}" for _ in range(document.INDEX_MAX_TERMS + 10))
    long_one = _product(seller, "long", f"{a.capitalize()} {filler.split()[0]}", description=f"{filler} {b}")
    others = [_product(seller, f"b{i}", f"{b.capitalize()} {i}") for i in range(3)]
    indexer.apply_changes([(None, p) for p in [long_one, *others]])
    assert [pid for _, pid in ranked(a, seller)] == [long_one["product_id"]]  # the name is indexed
    assert long_one["product_id"] not in [pid for _, pid in ranked(b, seller)]
    assert ranked(f"{a} {b}", seller) == []
