"""Hot partitions: the writes per second each partition key receives when many sellers import
at once, computed from the items the import writes — no emulator involved.

Run: ``.venv/bin/python -m bench.partition_bench`` (``--products 20000 --rate 10000``).

A synthetic multi-seller catalog (``search_bench.generate``: 200 sellers, Zipf-distributed
words) is "imported" at ``--rate`` products per second in total, sellers interleaved. For every
product the bench takes the items the real code writes — ``store/catalog.product_items`` (the
product item and its listing items, with their GSI1..3 keys) and ``search/document`` (postings,
the search document, new vocabulary words, match-list entries: a fresh entry, its delete when
compacted, and each partition's packed parts rewritten once every compaction interval at the size
they reach) — and charges each write to the partition key it
lands on: the table's ``PK`` and, for an item with GSI keys, each GSI's partition key (a GSI
with ``ProjectionType: ALL`` is written with the whole item). Write units are DynamoDB's: one
per started KB. The figure to compare is DynamoDB's per-partition limit, 1,000 WCU/s (and
3,000 RCU/s): a key above it throttles the import whatever the table's on-demand capacity.

"before" is what the code writes with every write shard count at 1 — the unsharded keys of
before the write sharding (``store/keys.py``, "Write sharding" and the SEARCH section):
L#ALL…, SELLER#<seller>, CAT#<key>, TERM#<term>, VOCAB#<2 chars>; "after" is what it writes
with the defaults (listings 16 / 4, base-table listing items 4, search terms 16, vocabulary 4).
A second run imports a quarter of the catalog as one seller at the fastest one import runs
(``SINGLE_SELLER_RATE``), the case the seller and category scopes are sharded for. Every table
counts: the catalog table and its indexes, and the search table.
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
def load(catalog: list[dict[str, Any]], rate: int, *, before: bool = False
         ) -> tuple[dict[str, float], dict[str, float]]:
    """(WCU/s, writes/s) per partition key when ``catalog`` is imported at ``rate`` products/s,
    with the write sharding of the defaults (store/keys.py), or none (``before``)."""
    from chalicelib.store import keys

    seconds = len(catalog) / rate
    units: Counter[str] = Counter()
    items: Counter[str] = Counter()
    vocabulary: set[str] = set()
    counts = (1, 1, 1, 1) if before else (keys.AT_SCALE_ALL_SHARDS, keys.AT_SCALE_SCOPE_SHARDS,
                                          AT_SCALE_TERM_SHARDS, AT_SCALE_VOCAB_SHARDS)
    lists: dict[str, dict[str, tuple[int, bytes]]] = {}
    with at_scale_shards(*counts):
        for product in catalog:
            for key, wcu in writes(product, vocabulary, lists):
                units[key] += wcu
                items[key] += 1
    # match lists: each partition's packed parts rewritten once every compaction interval at
    # most (chalicelib/search/matches.py), at the size they reach by the end of the import
    from chalicelib.search import matches

    for pk, entries in lists.items():
        size = sum(item_bytes({k: v for k, v in part.items() if k != "b"}) + len(part["b"])
                   for part in matches.packed_items(pk, entries))
        units[f"search {pk}"] += math.ceil(size / 1024) * seconds / matches.COMPACT_INTERVAL_SECONDS
    return {k: v / seconds for k, v in units.items()}, {k: v / seconds for k, v in items.items()}


AT_SCALE_TERM_SHARDS = 16  # config.Settings.search_term_shards (chalicelib/search, "Hot terms")
AT_SCALE_VOCAB_SHARDS = 4  # config.Settings.search_vocab_shards


@contextmanager
def at_scale_shards(all_shards: int, scope_shards: int, term_shards: int = AT_SCALE_TERM_SHARDS,
                    vocab_shards: int = AT_SCALE_VOCAB_SHARDS) -> Iterator[None]:
    """The settings with these shard counts (``config.Settings.listing_shards_*``,
    ``search_term_shards``, ``search_vocab_shards``), then as before."""
    from chalicelib.config import settings

    names = {"LISTING_SHARDS_ALL": str(all_shards), "LISTING_SHARDS_SCOPE": str(scope_shards),
             "SEARCH_TERM_SHARDS": str(term_shards), "SEARCH_VOCAB_SHARDS": str(vocab_shards)}
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
    """The busiest key of the catalog table and its indexes."""
    return max(((k, v) for k, v in wcu.items() if k.startswith("catalog ")), key=lambda kv: kv[1])


def search_max(wcu: dict[str, float]) -> tuple[str, float]:
    """The busiest key of the search table (postings, vocabulary, documents)."""
    return max(((k, v) for k, v in wcu.items() if k.startswith("search ")), key=lambda kv: kv[1])


def overall_max(wcu: dict[str, float]) -> tuple[str, float]:
    """The busiest key of any table."""
    return max(wcu.items(), key=lambda kv: kv[1])


def writes(product: dict[str, Any], vocabulary: set[str],
           lists: dict[str, dict[str, tuple[int, bytes]]] | None = None) -> list[tuple[str, int]]:
    """(partition key, write units) of every write importing ``product`` makes; its match-list
    entries are added to ``lists`` (partition → product → entry) when given."""
    from chalicelib.search import document
    from chalicelib.store import catalog, keys

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
        out.append((f"search {doc.item()['PK']}", max(1, math.ceil(item_bytes(doc.item()) / 1024))))
        for entry in document.diff(product["product_id"], None, doc).matches:
            out.append((f"search {entry['PK']}", 2))  # the fresh entry, and its delete when compacted
            if lists is not None:
                lists.setdefault(entry["PK"], {})[product["product_id"]] = (int(entry["w"]),
                                                                            bytes.fromhex(entry["h"]))
        for surface in doc.words.values():
            for word in surface:
                if len(word) >= 2 and word not in vocabulary:
                    vocabulary.add(word)
                    out.append((f"search {keys.search_vocab(word)['PK']}", 1))
    return out


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=10_000, help="products imported per second, all sellers")
    args = parser.parse_args(argv or [])
    catalog = generate(args.products)
    one = [{**p, "seller_id": "seller001"} for p in catalog[: max(1, len(catalog) // 4)]]
    scenarios = ((f"{len(catalog):,} products from {len({p['seller_id'] for p in catalog})} sellers at "
                  f"{args.rate:,} products/s", catalog, args.rate, f"{args.rate:,} products/s by many sellers"),
                 (f"{len(one):,} products of one seller at {SINGLE_SELLER_RATE:,} products/s", one,
                  SINGLE_SELLER_RATE, f"one seller at {SINGLE_SELLER_RATE:,} products/s"))
    rows = []
    for title, products, rate, label in scenarios:
        figures = {}
        for state, before in (("before (unsharded keys)", True), ("after (write-sharded)", False)):
            wcu, wps = load(products, rate, before=before)
            _table(f"{title}, {state}", wcu, wps)
            figures[before] = wcu
        summary = []
        for before in (True, False):
            wcu = figures[before]
            (ck, cv), (sk, sv) = catalog_max(wcu), search_max(wcu)
            over = sum(1 for w in wcu.values() if w > PARTITION_WCU_LIMIT)
            summary.append(f"{'before' if before else 'after'}: max {max(cv, sv):,.0f} WCU/s "
                           f"(catalog {cv:,.0f} on {ck}; search {sv:,.0f} on {sk}), {over} keys over the limit")
        print(f"{label}: " + "; ".join(summary) + "\n")
        after = figures[False]
        key, top = overall_max(after)
        rows.append((f"hot partition, {label}",
                     f"max {overall_max(figures[True])[1]:,.0f} → {top:,.0f} WCU/s on one key (limit "
                     f"{PARTITION_WCU_LIMIT:,})",
                     f"after: {key}; {sum(1 for w in after.values() if w > PARTITION_WCU_LIMIT)} keys over the "
                     f"limit (catalog table, its indexes and the search table)"))
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
    key, top = overall_max(wcu)
    over = sum(1 for w in wcu.values() if w > PARTITION_WCU_LIMIT)
    print(f"every table: max {top:,.0f} WCU/s on {key}; {over} keys above the limit, of {len(wcu):,}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
