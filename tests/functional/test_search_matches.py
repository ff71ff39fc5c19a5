"""Multi-word queries on match lists: every product of a term, fresh entries over packed parts.
Changes after a compaction override what it packed, a change written while a compaction runs
is not lost, parts of two compactions are never mixed, and a pair of common
words read from packed lists costs a few items however many products have them."""

from __future__ import annotations

import uuid

import boto3
import pytest

from chalicelib.config import settings
from chalicelib.search import indexer, matches, query, text
from chalicelib.store import accounts, keys
from tests.functional.test_search_bound import _product, oracle, word
from tests.support.tables import module_tables


@pytest.fixture(scope="module")
def tables():
    with module_tables("m"):
        yield


@pytest.fixture
def seller(tables) -> str:
    seller_id = f"s-{uuid.uuid4().hex[:8]}"
    accounts.put_shop(seller_id, {"seller_id": seller_id, "name": seller_id})
    return seller_id


def ranked(q: str, seller: str) -> list[tuple[int, str]]:
    return [(i["score"], i["product_id"]) for i in query.search(q, seller=seller, limit=100)[0]]


def partitions(*words: str) -> list[str]:
    return [pk for w in words for pk in keys.search_match_partitions(text.query_words(w)[0].term)]


def compact_all(*words: str) -> None:
    for pk in partitions(*words):
        matches.compact(matches.read_partition(pk))


def stored(*words: str) -> tuple[int, int]:
    """(fresh entries, packed parts) in the words' match lists."""
    fresh = packed = 0
    for pk in partitions(*words):
        part = matches.read_partition(pk)
        fresh += len(part.fresh)
        packed += len(part.parts)
    return fresh, packed


def test_changes_after_a_compaction_override_what_it_packed(seller, monkeypatch):
    monkeypatch.setattr(matches, "PART_ENTRIES", 4)  # several parts a shard
    a, b = word(), word()
    products = {i: _product(seller, f"p{i}", f"{a.capitalize()} {b} {i}") for i in range(40)}
    indexer.apply_changes([(None, p) for p in products.values()])
    compact_all(a, b)
    assert stored(a, b)[0] == 0 and ranked(f"{a} {b}", seller) == oracle(list(products.values()), f"{a} {b}")

    # after the compaction: one loses a word, one leaves the catalog, one gets a weaker word,
    # one is new
    changes = [
        (products[0], {**products[0], "name": f"{a.capitalize()} 0"}),
        (products[1], {**products[1], "available": False}),
        (products[2], {**products[2], "name": f"{a.capitalize()} 2", "description": b}),
    ]
    new = _product(seller, "p40", f"{b.capitalize()} {a} new")
    indexer.apply_changes([*changes, (None, new)])
    current = [p for i, p in products.items() if i > 2] + [changes[0][1], changes[2][1], new]
    fresh, _ = stored(a, b)
    assert fresh > 0  # the changes are fresh entries over the packed parts
    found = ranked(f"{a} {b}", seller)
    assert found == oracle(current, f"{a} {b}") and len(found) == 39
    assert products[0]["product_id"] not in {pid for _, pid in found}
    assert products[1]["product_id"] not in {pid for _, pid in found}

    compact_all(a, b)  # packed again, shrinking: the same answer
    assert stored(a, b)[0] == 0
    assert ranked(f"{a} {b}", seller) == found


def test_a_change_written_while_a_compaction_runs_stays_fresh_and_wins(seller):
    a, b = word(), word()
    products = [_product(seller, f"q{i}", f"{a.capitalize()} {b} {i}") for i in range(3)]
    indexer.apply_changes([(None, p) for p in products])
    pk = keys.search_match_fresh(text.term(b), products[0]["product_id"], "")["PK"]
    before = matches.read_partition(pk)  # the compaction's read ...
    assert products[0]["product_id"] in before.fresh
    gone = {**products[0], "name": f"{a.capitalize()} 0"}  # ... then the product loses ``b``
    indexer.apply_changes([(products[0], gone)])

    assert matches.compact(before) is True  # packs what it read: the old entry ...
    after = matches.read_partition(pk)
    assert list(after.fresh) == [products[0]["product_id"]]  # ... the newer one stays
    assert after.get(products[0]["product_id"]) is None  # and overrides it
    assert ranked(f"{a} {b}", seller) == oracle([gone, *products[1:]], f"{a} {b}")
    assert matches.compact(before) is False  # a second compaction of the same read: refused
    assert matches.compact(after) is True
    assert not matches.read_partition(pk).fresh
    assert ranked(f"{a} {b}", seller) == oracle([gone, *products[1:]], f"{a} {b}")


def test_parts_of_two_compactions_are_read_again_then_the_query_reads_postings(seller):
    a, b = word(), word()
    products = [_product(seller, f"t{i}", f"{a.capitalize()} {b} {i}") for i in range(6)]
    indexer.apply_changes([(None, p) for p in products])
    compact_all(a, b)
    pk = keys.search_match_fresh(text.term(a), products[0]["product_id"], "")["PK"]
    part = boto3.resource("dynamodb").Table(settings().search_table).get_item(
        Key=keys.search_match_packed(pk, 0))["Item"]
    # a second part of another version, as a Query crossing a compaction would see it
    boto3.resource("dynamodb").Table(settings().search_table).put_item(
        Item={**part, **keys.search_match_packed(pk, 1), "v": int(part["v"]) + 1})
    with pytest.raises(matches.TornRead):
        matches.read_partition(pk)
    assert ranked(f"{a} {b}", seller) == oracle(products, f"{a} {b}")  # exact all the same


def test_a_pair_of_common_words_never_together_reads_one_packed_item_a_shard(seller, monkeypatch):
    a, b = word(), word()
    products = [_product(seller, f"n{i}", f"{(a if i % 2 else b).capitalize()} {i}") for i in range(600)]
    indexer.apply_changes([(None, p) for p in products])
    compact_all(a, b)
    read = []
    original = matches.read_partition

    def counted(pk: str) -> matches.Partition:
        got = original(pk)
        read.append(got.read)
        return got

    monkeypatch.setattr(matches, "read_partition", counted)
    assert ranked(f"{a} {b}", seller) == []
    shards = settings().search_term_shards
    assert len(read) == 2 * shards and sum(read) <= 2 * shards  # 300 products a word: one part a shard
    # the same query reading postings in rank order reads a whole list
    monkeypatch.setenv("SEARCH_MATCH_LISTS", "false")
    settings.cache_clear()
    try:
        log = []
        orig_page = query.store.postings_page

        def logged(term: str, *, limit: int, start=None):
            page, last = orig_page(term, limit=limit, start=start)
            log.append(len(page))
            return page, last

        monkeypatch.setattr(query.store, "postings_page", logged)
        assert ranked(f"{a} {b}", seller) == []
        assert sum(log) >= 300
    finally:
        settings.cache_clear()


def test_a_compaction_the_store_refuses_leaves_the_answer_whole(seller, monkeypatch):
    from chalicelib.errors import Unavailable

    a, b = word(), word()
    products = [_product(seller, f"u{i}", f"{a.capitalize()} {b} {i}") for i in range(90)]
    indexer.apply_changes([(None, p) for p in products])
    monkeypatch.setattr(matches, "COMPACT_AT", 1)

    def throttled(*args, **kwargs):
        raise Unavailable("the store kept throttling; retry shortly")

    monkeypatch.setattr(matches.toolkit, "batch_write", throttled)  # the deletes after the packed write
    assert ranked(f"{a} {b}", seller) == oracle(products, f"{a} {b}")  # it compacted, and failed half-way
    fresh, packed = stored(a, b)
    assert fresh == 180 and packed > 0  # packed, and the entries still there: both say the same
    assert ranked(f"{a} {b}", seller) == oracle(products, f"{a} {b}")
    monkeypatch.undo()
    monkeypatch.setattr(matches, "COMPACT_AT", 1)
    monkeypatch.setattr(matches, "COMPACT_INTERVAL_SECONDS", 0)
    assert ranked(f"{a} {b}", seller) == oracle(products, f"{a} {b}")
    assert stored(a, b)[0] == 0
