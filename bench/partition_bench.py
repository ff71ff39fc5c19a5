"""Hot partitions: the writes per second each partition key receives when many sellers import
at once (issue 20 item 5), computed from the items the import writes — no emulator involved.

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
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from typing import Any

from bench.search_bench import generate, item_bytes

PARTITION_WCU_LIMIT = 1000


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
    seconds = len(catalog) / args.rate
    units: Counter[str] = Counter()
    items: Counter[str] = Counter()
    vocabulary: set[str] = set()
    for product in catalog:
        for key, wcu in writes(product, vocabulary):
            units[key] += wcu
            items[key] += 1
    top = units.most_common(8)
    print(f"{len(catalog):,} products from {len({p['seller_id'] for p in catalog})} sellers imported at "
          f"{args.rate:,} products/s: write units per second on the busiest partition keys "
          f"(DynamoDB's limit: {PARTITION_WCU_LIMIT:,} per partition)")
    print(f"{'partition key':48} {'WCU/s':>10} {'writes/s':>10} {'x limit':>8}")
    for key, wcu in top:
        rate = wcu / seconds
        print(f"{key[:48]:48} {rate:10,.0f} {items[key] / seconds:10,.0f} {rate / PARTITION_WCU_LIMIT:8.1f}")
    over = sum(1 for w in units.values() if w / seconds > PARTITION_WCU_LIMIT)
    print(f"{over} partition keys above the limit, of {len(units):,}")
    key, wcu = top[0]
    return [(f"hot partition, {args.rate:,} products/s imported by many sellers",
             f"max {wcu / seconds:,.0f} WCU/s ({items[key] / seconds:,.0f} writes/s) on one key",
             f"{key}; {over} keys over the 1,000 WCU/s partition limit (not write-sharded yet)")]


if __name__ == "__main__":
    main(sys.argv[1:])
