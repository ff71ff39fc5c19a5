"""Write-sharded search index: a term's postings spread over its write shards and read back
merged in exactly the rank order one partition had (pages, cursors and all), the vocabulary's
prefix expansion likewise; a catalog indexed before the sharding (the unsharded keys) is found
while legacy reads are on, and the rebuild moves it to the shards."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from chalicelib.config import settings
from chalicelib.search import indexer, text
from chalicelib.search import store as search_store
from chalicelib.store import catalog as catalog_store
from chalicelib.store import keys
from tests.functional.test_search_exact import LANGS, QUERIES, _shop, catalog, every_page, oracle
from tests.support.tables import module_tables


@pytest.fixture(scope="module")
def tables():
    with module_tables("sh"):
        yield


def _postings(pk: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(settings().search_table)
    out, kwargs = [], {"KeyConditionExpression": Key("PK").eq(pk)}
    while True:
        resp = table.query(**kwargs)
        out += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            return out
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


@pytest.fixture(scope="module")
def sharded(tables):
    seller = _shop(f"s-sh-{uuid.uuid4().hex[:6]}")
    products = catalog(seller, "en", 240, seed=21)
    indexer.apply_changes([(None, p) for p in products])
    return seller, products


def test_a_common_terms_postings_fill_every_shard_and_merge_in_one_partitions_order(sharded):
    seller, products = sharded
    term = "black"
    shards = [_postings(keys.search_term(term, n)) for n in range(settings().search_term_shards)]
    assert all(shards) and _postings(keys.search_term(term)) == []  # every shard, nothing unsharded
    expected = sorted(i["SK"] for part in shards for i in part)
    assert len(expected) > 100
    # Read back in pages of odd sizes, each page continuing where the last stopped
    got, start = [], None
    for size in [1, 7, 3, 50, 13] * 20:
        page, start = search_store.postings_page(term, limit=size, start=start)
        got += page
        if start is None:
            break
    assert [f"RANK#{999 - (int(p['w']) + (100 if p['x'] else 0)):04d}#PRODUCT#{p['product_id']}" for p in got] \
        == expected


def test_one_word_and_prefix_queries_page_in_rank_order_across_shards(sharded):
    seller, products = sharded
    for q in ["black", "leath", "bl", "winter", *QUERIES["en"][:4]]:
        assert every_page(q, seller, 7) == oracle(products, q), q


@pytest.fixture(scope="module")
def legacy(tables):
    """A catalog indexed (and listed) before the search keys were sharded: one shard each."""
    seller = _shop(f"s-old-{uuid.uuid4().hex[:6]}")
    now = datetime.now(UTC).isoformat()
    products = [{**p, "created_at": now} for p in catalog(seller, "ru", 200, seed=31)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEARCH_TERM_SHARDS", "1")
        mp.setenv("SEARCH_VOCAB_SHARDS", "1")
        settings.cache_clear()
        indexer._KNOWN_WORDS.clear()
        indexer.apply_changes([(None, p) for p in products])
        catalog_store.batch_write([i for p in products for i in catalog_store.product_items(p)])
    settings.cache_clear()
    indexer._KNOWN_WORDS.clear()
    return seller, products


def test_an_index_written_before_the_sharding_is_found_and_the_rebuild_moves_it(legacy, monkeypatch):
    seller, products = legacy
    common = LANGS["ru"]["common"][0]
    assert len(_postings(keys.search_term(text.term(common)))) > 50  # the unsharded partition
    queries = [*QUERIES["ru"], common, common[:3], "ле"]
    expected = {q: oracle(products, q) for q in queries}
    assert all(expected[q] for q in (common, common[:3], "ле"))
    # Match lists stay off until the rebuild has written them (docs/runbook.md)
    monkeypatch.setenv("SEARCH_MATCH_LISTS", "false")
    settings.cache_clear()
    # Legacy reads on (the default): every page as before the sharding
    assert {q: every_page(q, seller, 9) for q in queries} == expected
    # Legacy reads off before the rebuild: the old index is not read (what the flag is for)
    monkeypatch.setenv("SEARCH_LEGACY_READS", "false")
    settings.cache_clear()
    assert every_page(common, seller, 9) == []
    # The rebuild moves every posting and word to the shards (twice: the second moves nothing)
    monkeypatch.setenv("SEARCH_LEGACY_READS", "true")
    settings.cache_clear()
    done = indexer.rebuild(page=37)
    assert done.products >= len(products) and done.postings_deleted > 0 and done.vocabulary_put > 0
    again = indexer.rebuild()
    assert again.postings_put == again.postings_deleted == again.match_entries == 0
    monkeypatch.setenv("SEARCH_LEGACY_READS", "false")
    settings.cache_clear()
    assert {q: every_page(q, seller, 9) for q in queries} == expected
    # the rebuild wrote the match lists in the shards' layout: multi-word queries read them
    monkeypatch.setenv("SEARCH_MATCH_LISTS", "true")
    settings.cache_clear()
    assert {q: every_page(q, seller, 9) for q in queries} == expected
    table = boto3.resource("dynamodb").Table(settings().search_table)
    assert table.query(KeyConditionExpression=Key("PK").eq(keys.search_term(text.term(common))))["Items"] == []
