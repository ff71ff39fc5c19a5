"""No hot partitions: with sellers importing 10,000 products per second in total, and with one
seller importing at full speed, no partition key of the catalog table, its listing indexes or
the search table receives more than DynamoDB's per-partition write limit — computed from the
items the import really writes (``bench/partition_bench.py``)."""

from __future__ import annotations

from bench import partition_bench as bench
from bench.search_bench import generate

RATE = 10_000


def test_many_sellers_importing_10k_products_per_second_stay_under_the_partition_limit_on_every_table():
    catalog = generate(4_000)
    after, _ = bench.load(catalog, RATE)
    before, _ = bench.load(catalog, RATE, before=True)
    key, top = bench.overall_max(after)
    assert top <= bench.PARTITION_WCU_LIMIT, (key, top)
    assert bench.catalog_max(before)[1] > 5 * bench.PARTITION_WCU_LIMIT  # what the sharding removed
    assert bench.search_max(before)[1] > 2 * bench.PARTITION_WCU_LIMIT  # the common terms' postings


def test_one_seller_importing_at_full_speed_stays_under_the_limit_on_every_table():
    one = [{**p, "seller_id": "seller001"} for p in generate(2_000)]
    after, _ = bench.load(one, bench.SINGLE_SELLER_RATE)
    before, _ = bench.load(one, bench.SINGLE_SELLER_RATE, before=True)
    key, top = bench.overall_max(after)
    assert top <= bench.PARTITION_WCU_LIMIT, (key, top)
    assert bench.listing_max(after)[1] <= bench.PARTITION_WCU_LIMIT
    assert before["catalog SELLER#seller001"] > 3 * bench.PARTITION_WCU_LIMIT  # the base-table listing items
