"""Facet counts of a result set (pure): category, seller, price range, on sale, in stock.

Both GET /search and GET /products answer ``facets=true`` with the counts over the products the
query matches, computed from rows they read anyway — search from its matches (the postings'
summaries), a listing from its partitions (availability and sale are in the partition key) —
and never over more than ``MAX_ROWS`` rows: ``counted`` says how many were counted and
``complete`` whether that was all of them (when it is false the counts are those of the first
``MAX_ROWS`` in the answer's order, a lower bound). Counters kept at write time would make every
product write an UpdateItem on a few hot keys (one per category, seller, bucket): the write
path would lose what the listing shards win.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 1000  # rows one facet computation reads at most
TOP = 20  # values listed per facet (the most frequent)
# Price ranges in minor units: [0, 1 000), [1 000, 5 000), ... in the currency's major units
PRICE_BOUNDS = (0, 100_000, 500_000, 2_000_000, 10_000_000)


@dataclass(frozen=True)
class Row:
    """What a facet counts of one matched product."""

    seller_id: str
    category_id: str | None
    category_name: str | None
    price: int
    currency: str
    on_sale: bool
    in_stock: bool


def count(rows: Iterable[Row], *, complete: bool, shop_names: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The counts; ``shop_names`` (seller → shop name) names the seller facet's values."""
    rows = list(rows)
    shop_names = shop_names or {}
    categories = Counter(r.category_id for r in rows if r.category_id)
    names = {r.category_id: r.category_name for r in rows if r.category_id}
    sellers = Counter(r.seller_id for r in rows)
    buckets: Counter[tuple[int, str]] = Counter()
    for r in rows:
        lo = max(b for b in PRICE_BOUNDS if b <= max(r.price, 0))
        buckets[(lo, r.currency)] += 1
    price = []
    for (lo, currency), n in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        upper = [b for b in PRICE_BOUNDS if b > lo]
        price.append({"min": lo, "max": upper[0] - 1 if upper else None, "currency": currency, "count": n})
    return {
        "category": [{"id": c, "name": names.get(c) or c, "count": n} for c, n in _top(categories)],
        "seller": [{"id": s, "name": shop_names.get(s), "count": n} for s, n in _top(sellers)],
        "price_ranges": price,
        "on_sale": sum(1 for r in rows if r.on_sale),
        "in_stock": sum(1 for r in rows if r.in_stock),
        "counted": len(rows),
        "complete": complete,
    }


def _top(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
