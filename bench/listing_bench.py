"""Listing benchmark: GET /products pages with the listing write shards on, against the
unsharded keys, in the same run.

Run: ``.venv/bin/python -m bench.listing_bench`` (``--products 5000`` for a quick run).

One in-process moto (``mock_aws``) holds three copies of the same catalog (``search_bench.
generate``: 200 sellers; some products sold out, some on sale, distinct creation times), each
written by ``store/catalog.product_items`` under its own settings:

1. **unsharded** (``LISTING_SHARDS_ALL=1``, ``LISTING_SHARDS_SCOPE=1``): the baseline, one
   partition per (scope, availability, sale);
2. **sharded, serial** (16 / 4 shards + the legacy partitions, ``LISTING_READ_THREADS=1``): every
   shard is one more stream of the merge, read one Query after another;
3. **sharded, parallel** (the defaults: 16 / 4 shards + legacy, 32 read threads).

Each listing (sorts, filters, scopes) is walked for three pages through the cursor with
``services/catalog.list_products``; the figures are the median page latency, the Queries and
the items read per page, and, as a check, that all three return the same pages.

**Cost model.** In process, a DynamoDB call has no network, and moto spends its time walking
and serializing items under the GIL (a GSI Query walks the whole table; DynamoDB reads one
partition in key order). ``index_shim`` gives a GSI Query only the ``Limit`` items of its
partition after its start (the partition sorted once). The latency figure is modelled: the
DynamoDB round trips on a page's critical path (``Rounds``: a call of the request's thread is
one; the Queries ``_fetch_all`` sends at once are one) × ``--rtt`` ms (6: a same-region call from
Lambda). The emulator's wall time is printed beside it; it grows with the items read (moto
serializes them), which the parallel reads cannot hide in one process. Round trips, Queries and
items read are emulator-independent.
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.search_bench import REGION, bulk_load, generate, use

PAGES = 3
REPEATS = 3
SHARDED = {"LISTING_SHARDS_ALL": "16", "LISTING_SHARDS_SCOPE": "4", "LISTING_LEGACY_READS": "true"}
CONFIGS: list[tuple[str, dict[str, str]]] = [
    ("unsharded", {"LISTING_SHARDS_ALL": "1", "LISTING_SHARDS_SCOPE": "1", "LISTING_LEGACY_READS": "false",
                   "LISTING_READ_THREADS": "1"}),
    ("sharded, serial", {**SHARDED, "LISTING_READ_THREADS": "1"}),
    ("sharded, parallel", {**SHARDED, "LISTING_READ_THREADS": "32"}),
]

_hint = threading.local()


@contextmanager
def index_shim() -> Iterator[None]:
    """A GSI Query sees only its partition's ``Limit`` (+1) items after its start (module doc)."""
    from moto.dynamodb.models.table import Table

    orig_query, orig_all, orig_put = Table.query, Table.all_items, Table.put_item
    parts: dict[tuple[int, str, Any], tuple[list[Any], list[str], str]] = {}
    built: set[tuple[int, str]] = set()
    ranges: dict[tuple[int, str], str] = {}
    lock = threading.Lock()

    def all_items(self: Any) -> Any:
        hint = getattr(_hint, "items", None)
        return hint[1] if hint is not None and hint[0] is self else orig_all(self)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        parts.clear()
        built.clear()
        return orig_put(self, *args, **kwargs)

    def part(table: Any, index_name: str, hash_key: Any) -> tuple[list[Any], list[str], str]:
        with lock:
            if (id(table), index_name) not in built:  # every partition of the index in one pass
                built.add((id(table), index_name))
                index = {i.name: i for i in table.all_indexes()}[index_name]
                h = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
                r = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE")
                groups: dict[Any, list[Any]] = {}
                for it in orig_all(table):
                    if h in it.attrs and r in it.attrs:
                        groups.setdefault(it.attrs[h].value, []).append(it)
                for value, items in groups.items():
                    items.sort(key=lambda it: it.attrs[r].value)
                    parts[(id(table), index_name, value)] = (items, [it.attrs[r].value for it in items], r)
                ranges[(id(table), index_name)] = r
            empty: tuple[list[Any], list[str], str] = ([], [], ranges[(id(table), index_name)])
            return parts.get((id(table), index_name, hash_key.value), empty)

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any, exclusive_start_key: Any,
              scan_index_forward: Any, projection_expressions: Any, index_name: Any = None, *args: Any,
              **kwargs: Any) -> Any:
        if not index_name or hash_key is None:
            return orig_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                              scan_index_forward, projection_expressions, index_name, *args, **kwargs)
        items, rkeys, r = part(self, index_name, hash_key)
        lo, hi = 0, len(items)
        values = [o.value for o in range_objs or []]
        if range_comparison in (">", "GT"):
            lo = bisect.bisect_right(rkeys, values[0])
        elif range_comparison in (">=", "GE"):
            lo = bisect.bisect_left(rkeys, values[0])
        elif range_comparison in ("<", "LT"):
            hi = bisect.bisect_left(rkeys, values[0])
        elif range_comparison in ("<=", "LE"):
            hi = bisect.bisect_right(rkeys, values[0])
        elif range_comparison == "BETWEEN":
            lo, hi = bisect.bisect_left(rkeys, values[0]), bisect.bisect_right(rkeys, values[1])
        elif range_comparison:
            raise NotImplementedError(range_comparison)
        if exclusive_start_key:
            at = exclusive_start_key[r]["S"]
            if scan_index_forward is False:
                hi = min(hi, bisect.bisect_left(rkeys, at))
            else:
                lo = max(lo, bisect.bisect_right(rkeys, at))
        window = items[lo:hi] if lo < hi else []
        if limit:  # +1: moto then says there is more
            window = window[: limit + 1] if scan_index_forward is not False else window[-(limit + 1):]
        _hint.items = (self, window)
        try:
            return orig_query(self, hash_key, range_comparison, range_objs, limit, None, scan_index_forward,
                              projection_expressions, index_name, *args, **kwargs)
        finally:
            _hint.items = None

    Table.query, Table.all_items, Table.put_item = query, all_items, put_item
    try:
        yield
    finally:
        Table.query, Table.all_items, Table.put_item = orig_query, orig_all, orig_put


class Rounds:
    """DynamoDB round trips on a page's critical path: each call the request's own thread makes
    is one, and so is each batch of Queries ``services/catalog._fetch_all`` sends at once (its
    calls run on the pool's threads and wait for one another's network time only once)."""

    def __init__(self) -> None:
        self.count = 0
        self.main = threading.main_thread()

    def __call__(self, **_: Any) -> None:
        if threading.current_thread() is self.main:
            self.count += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        from chalicelib import clients
        from chalicelib.config import settings
        from chalicelib.services import catalog as service

        client = clients.dynamodb_resource().meta.client
        fetch_all = service._fetch_all

        def counted(streams: list[Any]) -> None:
            if len(streams) > 1 and settings().listing_read_threads > 1:
                self.count += 1
            fetch_all(streams)

        client.meta.events.register("before-call.dynamodb.*", self)
        service._fetch_all = counted
        try:
            yield
        finally:
            service._fetch_all = fetch_all
            client.meta.events.unregister("before-call.dynamodb.*", self)


def catalog(n: int) -> list[dict[str, Any]]:
    """``n`` products: distinct creation times, every 7th sold out, every 5th on sale."""
    out = []
    for i, p in enumerate(generate(n)):
        p = {**p, "created_at": f"2025-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}Z"}
        if i % 7 == 0:
            p["stock"] = 0
        if i % 5 == 0:
            p["old_price"] = p["price"] + 1000
        out.append(p)
    return out


def listings(products: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    from chalicelib.store import catalog as store

    seller = products[0]["seller_id"]
    category = store.category_key(seller, products[0]["category_id"])
    return [
        ("all, newest", {"sort": "newest"}),
        ("all, price", {"sort": "price"}),
        ("all, name, in stock", {"sort": "name", "available": True}),
        ("all, -price, on sale", {"sort": "-price", "on_sale": True}),
        ("all, newest, price range", {"sort": "newest", "min_price": 1_000_000, "max_price": 3_000_000}),
        ("seller, newest", {"sort": "newest", "seller": seller}),
        ("category, price", {"sort": "price", "category": category}),
    ]


Walk = tuple[list[list[str]], list[float], list[int], list[int], list[int]]


def walk(query: dict[str, Any], rounds: Rounds) -> Walk:
    """PAGES pages of one listing: ids, seconds, round trips, Queries and items read per page."""
    from chalicelib.services import catalog as service

    ids, seconds, trips, queries, read = [], [], [], [], []
    cursor = None
    for _ in range(PAGES):
        stats: dict[str, int] = {}
        rounds.count = 0
        t0 = time.perf_counter()
        items, cursor = service.list_products(limit=20, cursor=cursor, stats=stats, **query)
        seconds.append(time.perf_counter() - t0)
        trips.append(rounds.count)
        ids.append([i["product_id"] for i in items])
        queries.append(stats.get("queries", 0))
        read.append(stats.get("read", 0))
        if cursor is None:
            break
    return ids, seconds, trips, queries, read


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    from moto import mock_aws

    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.store import accounts, keys
    from chalicelib.store import catalog as store
    from local import bootstrap

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rtt", type=float, default=6.0, help="ms of one DynamoDB round trip (the model)")
    args = parser.parse_args(argv or [])
    products = catalog(args.products)
    queries = listings(products)
    results: dict[str, dict[str, Walk]] = {}
    rounds = Rounds()
    with mock_aws(), index_shim():
        for n, (label, env) in enumerate(CONFIGS):
            clients.reset()
            use({**bootstrap.create_tables(None, REGION, f"listing{n}"), **env})
            for seller in sorted({p["seller_id"] for p in products}):
                accounts.put_shop(seller, {"seller_id": seller, "name": seller})
            bulk_load(settings().catalog_table, [i for p in products for i in store.product_items(p)])
            assert keys.listing_shards(keys.listing_scope_all()) == int(env["LISTING_SHARDS_ALL"])
            with rounds.counting():
                walk(queries[0][1], rounds)  # warm: the shim sorts each partition once, the pool starts
                runs = {name: [walk(q, rounds) for _ in range(REPEATS)] for name, q in queries}
            results[label] = {name: (r[0][0], [statistics.median(t) for t in zip(*(x[1] for x in r), strict=True)],
                                     *r[0][2:]) for name, r in runs.items()}
    base = results["unsharded"]
    for label, res in results.items():
        for name in base:
            # the same products in the same order; a page the fetch budget cut short (a filter
            # dropped most rows) may end elsewhere, so the shorter walk is a prefix of the longer
            got, want = sum(res[name][0], []), sum(base[name][0], [])
            n = min(len(got), len(want))
            assert got[:n] == want[:n] and n >= min(20, len(want)), f"{label}: {name} differs from the unsharded"
    print(f"{args.products:,} products, {PAGES} pages of 20 per listing; every configuration listed the same "
          f"products in the same order.\nPer page (max of the {PAGES}): DynamoDB round trips on the critical path, "
          f"Queries, items read;")
    print(f"median page: modelled latency (round trips x {args.rtt:g} ms) and the emulator's wall time "
          f"(moto's CPU, mostly serializing the items read)")
    print(f"{'listing':26} " + " ".join(f"{label:>23}" for label, _ in CONFIGS))
    print(f"{'':26} " + " ".join(f"{'trips Queries  read':>23}" for _ in CONFIGS))
    trips: dict[str, list[int]] = {label: [] for label, _ in CONFIGS}
    walls: dict[str, list[float]] = {label: [] for label, _ in CONFIGS}
    reads: dict[str, list[int]] = {label: [] for label, _ in CONFIGS}
    for name in base:
        cells = []
        for label, _ in CONFIGS:
            _, secs, tr, qs, rd = results[label][name]
            trips[label] += tr
            walls[label] += secs
            reads[label] += rd
            cells.append(f"{max(tr):5d} {max(qs):7d} {max(rd):5d}")
        print(f"{name:26} " + " ".join(f"{c:>23}" for c in cells))
    model = {label: statistics.median(t) * args.rtt for label, t in trips.items()}
    wall = {label: statistics.median(w) * 1000 for label, w in walls.items()}
    for label, _ in CONFIGS:
        print(f"{label:18}: modelled {model[label]:6.1f} ms (x{model[label] / model['unsharded']:.2f}), "
              f"emulator {wall[label]:6.1f} ms (x{wall[label] / wall['unsharded']:.2f}), items read median "
              f"{statistics.median(reads[label]):.0f}, max {max(reads[label])}")
    print()
    par, ser = "sharded, parallel", "sharded, serial"
    return [
        ("listing page, 16/4 shards vs unsharded (modelled)",
         f"median {model[par]:.0f} ms vs {model['unsharded']:.0f} ms ({args.rtt:g} ms a round trip)",
         f"x{model[par] / model['unsharded']:.2f} parallel; x{model[ser] / model['unsharded']:.2f} serial"),
        ("listing page, 16/4 shards vs unsharded (emulator wall)",
         f"median {wall[par]:.0f} ms vs {wall['unsharded']:.0f} ms",
         f"x{wall[par] / wall['unsharded']:.2f} parallel; x{wall[ser] / wall['unsharded']:.2f} serial"),
        ("listing items read per page, 16/4 shards",
         f"median {statistics.median(reads[par]):.0f}, max {max(reads[par])}",
         f"unsharded median {statistics.median(reads['unsharded']):.0f}, max {max(reads['unsharded'])}"),
    ]


if __name__ == "__main__":
    main(sys.argv[1:])
