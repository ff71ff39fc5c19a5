"""Hot partitions: the writes per second each partition key receives when many sellers import
at once, computed from the items the import writes — no emulator involved.

Run: ``.venv/bin/python -m bench.partition_bench`` (``--products 20000 --rate 10000``).

A synthetic multi-seller catalog (``search_bench.generate``: 200 sellers, Zipf-distributed
words) is "imported" at ``--rate`` products per second in total, sellers interleaved. For every
product the bench takes the items the real code writes — ``store/catalog.product_items`` (the
product item and its listing items, with their GSI1..3 keys) and ``search/document`` (postings,
the search document, new vocabulary words) — and charges each write to the partition key it
lands on: the table's ``PK`` and, for an item with GSI keys, each GSI's partition key (a GSI
with ``ProjectionType: ALL`` is written with the whole item). Write units are DynamoDB's: one
per started KB. The figure to compare is DynamoDB's per-partition limit, 1,000 WCU/s (and
3,000 RCU/s): a key above it throttles the import whatever the table's on-demand capacity.

"before" charges the listing writes to the unsharded keys they had before the write sharding
(``store/keys.py``, "Write sharding": the ``#<nn>`` shard suffix taken off); "after" is what
the code writes now. A second run imports the catalog as one seller at the fastest one import
runs (``SINGLE_SELLER_RATE``), the case the seller and category scopes are sharded for.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.search_bench import generate, item_bytes

PARTITION_WCU_LIMIT = 1000
SINGLE_SELLER_RATE = 3_300  # products/s one import reaches (store/keys.py, "Write sharding")
_SHARD = re.compile(r"^(catalog GSI\d L#.*)#\d\d$")


def unsharded(key: str) -> str:
    """The listing key a write had before the write sharding (other keys as they are)."""
    m = _SHARD.match(key)
    return m.group(1) if m else key


def load(catalog: list[dict[str, Any]], rate: int, *, before: bool = False
         ) -> tuple[dict[str, float], dict[str, float]]:
    """(WCU/s, writes/s) per partition key when ``catalog`` is imported at ``rate`` products/s,
    with the listing write sharding of the defaults (16 / 4 shards: store/keys.py)."""
    from chalicelib.store import keys

    seconds = len(catalog) / rate
    units: Counter[str] = Counter()
    items: Counter[str] = Counter()
    vocabulary: set[str] = set()
    with at_scale_shards(keys.AT_SCALE_ALL_SHARDS, keys.AT_SCALE_SCOPE_SHARDS):
        for product in catalog:
            for key, wcu in writes(product, vocabulary):
                key = unsharded(key) if before else key
                units[key] += wcu
                items[key] += 1
    return {k: v / seconds for k, v in units.items()}, {k: v / seconds for k, v in items.items()}


@contextmanager
def at_scale_shards(all_shards: int, scope_shards: int) -> Iterator[None]:
    """The settings with these shard counts (``config.Settings.listing_shards_*``), then as before."""
    from chalicelib.config import settings

    names = {"LISTING_SHARDS_ALL": str(all_shards), "LISTING_SHARDS_SCOPE": str(scope_shards)}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    settings.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        settings.cache_clear()


def catalog_max(wcu: dict[str, float]) -> tuple[str, float]:
    """The busiest key of the catalog table and its indexes (search keys: see chalicelib/search)."""
    return max(((k, v) for k, v in wcu.items() if k.startswith("catalog ")), key=lambda kv: kv[1])


def writes(product: dict[str, Any], vocabulary: set[str]) -> list[tuple[str, int]]:
    """(partition key, write units) of every write importing ``product`` makes."""
    from chalicelib.search import document
    from chalicelib.store import catalog

    out: list[tuple[str, int]] = []
    for item in catalog.product_items(product):
        wcu = max(1, math.ceil(item_bytes(item) / 1024))
        out.append((f"catalog {item['PK']}", wcu))
        for n in (1, 2, 3):
            if item.get(f"GSI{n}PK"):
                out.append((f"catalog GSI{n} {item[f'GSI{n}PK']}", wcu))
    doc = document.build(product)
    if doc is not None:
        for term in doc.terms:
            posting = doc.posting(term)
            out.append((f"search {posting['PK']}", max(1, math.ceil(item_bytes(posting) / 1024))))
        out.append((f"search {doc.item()['PK']}", 1))
        for surface in doc.words.values():
            for word in surface:
                if len(word) >= 2 and word not in vocabulary:
                    vocabulary.add(word)
                    out.append((f"search VOCAB#{word[:2]}", 1))
    return out


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=10_000, help="products imported per second, all sellers")
    args = parser.parse_args(argv or [])
    catalog = generate(args.products)
    rows = []
    for label, before in (("before (unsharded listing keys)", True), ("after (write-sharded)", False)):
        wcu, wps = load(catalog, args.rate, before=before)
        _table(f"{len(catalog):,} products from {len({p['seller_id'] for p in catalog})} sellers at "
               f"{args.rate:,} products/s, {label}", wcu, wps)
        key, top = catalog_max(wcu)
        rows.append((f"hot partition {label}, {args.rate:,} products/s by many sellers",
                     f"catalog max {top:,.0f} WCU/s ({wps[key]:,.0f} writes/s) on one key",
                     f"{key}; {sum(1 for w in wcu.values() if w > PARTITION_WCU_LIMIT)} keys over "
                     f"{PARTITION_WCU_LIMIT:,} WCU/s (search TERM keys included)"))
    one = [{**p, "seller_id": "seller001"} for p in catalog[: max(1, len(catalog) // 4)]]
    wcu, wps = load(one, SINGLE_SELLER_RATE)
    _table(f"{len(one):,} products of one seller at {SINGLE_SELLER_RATE:,} products/s, after", wcu, wps)
    key, top = catalog_max(wcu)
    lkey, ltop = listing_max(wcu)
    print(f"listing index keys: max {ltop:,.0f} WCU/s on {lkey}\n")
    rows.append((f"hot partition, one seller at {SINGLE_SELLER_RATE:,} products/s",
                 f"listing indexes max {ltop:,.0f} WCU/s; catalog max {top:,.0f} WCU/s",
                 f"{lkey}; {key} (base-table listing items of one seller: not sharded yet)"))
    return rows


def listing_max(wcu: dict[str, float]) -> tuple[str, float]:
    """The busiest listing index key (GSI1..3 ``L#…``)."""
    return max(((k, v) for k, v in wcu.items() if re.match(r"catalog GSI\d L#", k)), key=lambda kv: kv[1])


def _table(title: str, wcu: dict[str, float], wps: dict[str, float]) -> None:
    print(f"{title}: write units per second on the busiest partition keys "
          f"(DynamoDB's limit: {PARTITION_WCU_LIMIT:,} per partition)")
    print(f"{'partition key':48} {'WCU/s':>10} {'writes/s':>10} {'x limit':>8}")
    for key, rate in sorted(wcu.items(), key=lambda kv: -kv[1])[:8]:
        print(f"{key[:48]:48} {rate:10,.0f} {wps[key]:10,.0f} {rate / PARTITION_WCU_LIMIT:8.1f}")
    key, top = catalog_max(wcu)
    over = sum(1 for w in wcu.values() if w > PARTITION_WCU_LIMIT)
    print(f"catalog table and indexes: max {top:,.0f} WCU/s on {key}; {over} keys above the limit, "
          f"of {len(wcu):,}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
