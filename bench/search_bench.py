"""Search benchmark: the same queries on a 1k and a 100k catalog, and a Scan baseline.

Run: ``.venv/bin/python -m bench.search_bench`` (``--large 20000`` for a quick run).

What it does, all in one in-process moto (``mock_aws``) with the tables of ``infra/resources.py``:

1. Generates a synthetic Russian + English catalog (Zipf-distributed product nouns, colours,
   materials, brands, description words; unique model codes). The 1k catalog is the first 1k
   products of the 100k one, so the same queries make sense on both.
2. 1k catalog: writes the product items and indexes them through the real path
   (``indexer.apply_changes`` in import-sized chunks) → index items written per product, and
   write → searchable time for single products.
3. 100k catalog: the same index items (``document.build`` / ``document.diff``, the functions
   ``apply_changes`` uses) are bulk-loaded straight into moto's tables — BatchWriteItem through
   botocore runs at ~5k items/s here, too slow for ~2M items in a few minutes.
4. Measures each query (median of ``--repeats``) on both catalogs, with the items it read.
5. Scan-with-filter baseline on the 100k product table (what search would cost without an index).

**Emulator cost model.** moto 5.2.5 answers every Query by sorting *all* items of the table
(``Table.all_items``), so a Query costs O(table) in moto while DynamoDB reads one partition in
key order. ``partition_shim`` restores DynamoDB's model for the measurement: a Query sees only
the ``Limit`` items of its partition after its start key (the partition is sorted once), a
paginated Scan resumes at its start key instead of re-walking the table. Without it the 100k
figures would measure moto, not the design. The ``items read`` column (Query ScannedCount +
BatchGetItem items) is emulator-independent.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import gc
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.support import use_emulator_env

use_emulator_env(in_process=True)

REGION = "us-east-1"

# --- synthetic catalog ------------------------------------------------------------------------


def _words(line: str) -> list[str]:
    return line.split()


RU_KINDS = {
    "Обувь": ["кроссовки", "ботинки", "сапоги", "туфли", "кеды", "сандалии", "тапочки", "мокасины"],
    "Одежда": ["куртка", "футболка", "джинсы", "платье", "свитер", "рубашка", "толстовка", "пальто", "носки"],
    "Электроника": ["смартфон", "наушники", "ноутбук", "планшет", "телевизор", "зарядка", "колонка", "часы"],
    "Дом": ["чайник", "сковорода", "кастрюля", "лампа", "подушка", "одеяло", "полотенце", "кружка", "ваза"],
    "Спорт": ["мяч", "гантели", "велосипед", "палатка", "рюкзак", "коврик", "самокат", "ролики"],
    "Детям": ["конструктор", "кукла", "машинка", "пазл", "коляска", "погремушка"],
}
RU_ADJ = ["черный", "белый", "красный", "синий", "зеленый", "серый", "кожаный", "хлопковый", "мужской",
          "женский", "детский", "зимний", "летний", "беговой", "беспроводной", "стальной", "керамический",
          "водонепроницаемый", "легкий", "теплый", "большой", "маленький", "складной", "ортопедический"]
RU_FILLER = _words(
    "отличный выбор для каждого дня качественные материалы удобная посадка гарантия производителя "
    "быстрая доставка подходит подарок прочный надежный стильный дизайн современный уход простой "
    "размер цвет модель новинка коллекция сезон упаковка комплект инструкция страна производства "
    "состав эксплуатация срок службы совместимость мощность объем вес габариты"
)
EN_KINDS = {
    "Shoes": ["sneakers", "boots", "sandals", "loafers", "slippers", "heels"],
    "Clothing": ["jacket", "shirt", "jeans", "dress", "sweater", "hoodie", "coat", "socks"],
    "Electronics": ["smartphone", "headphones", "laptop", "tablet", "television", "charger", "speaker", "watch"],
    "Home": ["kettle", "pan", "pot", "lamp", "pillow", "blanket", "towel", "mug", "vase"],
    "Sports": ["ball", "dumbbells", "bicycle", "tent", "backpack", "mat", "scooter", "skates"],
    "Kids": ["bricks", "doll", "car", "puzzle", "stroller", "rattle"],
}
EN_ADJ = ["black", "white", "red", "blue", "green", "grey", "leather", "cotton", "men's", "women's", "kids",
          "winter", "summer", "running", "wireless", "steel", "ceramic", "waterproof", "light", "warm", "large",
          "small", "folding", "orthopedic"]
EN_FILLER = _words(
    "great choice for every day quality materials comfortable fit manufacturer warranty fast delivery "
    "perfect gift durable reliable stylish design modern easy care size colour model new collection "
    "season package set manual country origin composition lifetime compatibility power volume weight "
    "dimensions"
)
BRANDS = ["Nike", "Adidas", "Puma", "Reebok", "Asics", "Samsung", "Apple", "Xiaomi", "Sony", "Philips", "Bosch",
          "Tefal", "Lego", "Hasbro", "Ecco", "Salomon", "Columbia", "Levi's", "Zara", "Huawei", "Lenovo", "Asus",
          "JBL", "Braun", "Redmond", "Polaris", "Scarlett", "Vitek", "Decathlon", "Mattel", "Fossil", "Casio",
          "Garmin", "Timberland", "Skechers", "Mizuno", "Dyson", "Kitfort", "Hoff", "IKEA"]


def _zipf(items: list[str], s: float = 1.1) -> list[float]:
    return [1 / (i + 1) ** s for i in range(len(items))]


def generate(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` products; the first k of ``generate(n)`` are ``generate(k)``."""
    from chalicelib.domain.catalog import product_id

    rnd = random.Random(seed)
    brand_w = _zipf(BRANDS)
    out = []
    for i in range(n):
        ru = i % 2 == 0
        kinds, adj, filler = (RU_KINDS, RU_ADJ, RU_FILLER) if ru else (EN_KINDS, EN_ADJ, EN_FILLER)
        cats = list(kinds)
        cat = rnd.choices(cats, _zipf(cats, 0.8))[0]
        noun = rnd.choices(kinds[cat], _zipf(kinds[cat], 0.9))[0]
        adjs = rnd.sample(adj, rnd.randint(1, 2))
        brand = rnd.choices(BRANDS, brand_w)[0]
        model = f"{brand[:2].upper()}-{rnd.randint(100, 99999)}"
        if ru:
            name = " ".join([noun.capitalize(), *adjs, brand, model])
        else:
            name = " ".join([*[a.capitalize() for a in adjs], noun, brand, model])
        desc_words = rnd.choices(filler, _zipf(filler, 1.0), k=rnd.randint(8, 16)) + rnd.sample(adj, 2) + [noun]
        rnd.shuffle(desc_words)
        seller = f"seller{rnd.randint(1, 200):03d}"
        out.append({
            "product_id": product_id(seller, str(i)), "seller_id": seller, "offer_id": str(i),
            "offer_type": "vendor.model",
            "name": name, "vendor": brand, "model": model, "category_id": str(cats.index(cat) + 1),
            "category_name": cat, "description": "<p>" + " ".join(desc_words).capitalize() + ".</p>",
            "price": rnd.randint(100, 200_000) * 100, "currency": "RUB",
            "pictures": [f"https://img.example/{seller}/{i}.jpg"], "available": True, "stock": rnd.randint(0, 50),
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
        })
    return out


QUERIES = [
    "кроссовки",  # one common word
    "черные кроссовки",  # two common words
    "кроссовки nike",  # noun + brand
    "крос",  # as-you-type prefix
    "чайник bosch стальной",  # three words
    "беспроводные наушники sony",
    "boots",
    "running sneakers",
    "wireless headphones samsung",
    "lapt",
    "кроссовки sneakers",  # common but never together (one Russian, one English product noun)
    "черный white",  # common colours of the two languages: no product has both
]

# --- emulator cost model ----------------------------------------------------------------------

_hint = threading.local()


@contextmanager
def partition_shim() -> Iterator[None]:
    """Make moto's Query read one partition and Scan resume at its start key (see module doc)."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    orig_query, orig_scan, orig_all = Table.query, Table.scan, Table.all_items
    orig_put, orig_delete = Table.put_item, Table.delete_item
    parts: dict[tuple[int, Any], tuple[list[Any], list[str]]] = {}
    whole: dict[int, tuple[list[Any], list[tuple[str, str]]]] = {}

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        parts.pop((id(self), DynamoType(item_attrs[self.hash_key_attr])), None)
        whole.pop(id(self), None)
        return orig_put(self, item_attrs, *args, **kwargs)

    def delete_item(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        parts.pop((id(self), hash_key), None)
        whole.pop(id(self), None)
        return orig_delete(self, hash_key, *args, **kwargs)

    def sorted_part(table: Any, hash_key: Any) -> tuple[list[Any], list[str]]:
        cached = parts.get((id(table), hash_key))
        if cached is None:
            items = sorted(table.items.get(hash_key, {}).values(), key=lambda it: it.range_key.value)
            cached = parts[(id(table), hash_key)] = (items, [it.range_key.value for it in items])
        return cached

    def all_items(self: Any) -> list[Any]:
        hint = getattr(_hint, "items", None)
        if hint is not None and hint[0] is self:
            return hint[1]
        return orig_all(self)

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[1] if len(args) > 1 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr or scan_index_forward is False:
            return orig_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                              scan_index_forward, *args, **kwargs)
        items, rkeys = sorted_part(self, hash_key)
        start = bisect.bisect_right(rkeys, exclusive_start_key[self.range_key_attr]["S"]) if exclusive_start_key else 0
        # a page reads at most ``limit`` items (+1 tells moto there is more): DynamoDB never
        # touches the rest of the partition, and moto would re-sort it
        items = items[start : start + limit + 1] if limit else items[start:]
        _hint.items = (self, items)
        try:
            return orig_query(self, hash_key, range_comparison, range_objs, limit, None,
                              scan_index_forward, *args, **kwargs)
        finally:
            _hint.items = None

    def scan(self: Any, filters: Any, limit: Any, exclusive_start_key: Any, *args: Any, **kwargs: Any) -> Any:
        cached = whole.get(id(self))
        if cached is None:
            items = orig_all(self)
            cached = whole[id(self)] = (items, [(it.hash_key.value, it.range_key.value) for it in items])
        items = cached[0]
        if exclusive_start_key:
            key = (exclusive_start_key[self.hash_key_attr]["S"], exclusive_start_key[self.range_key_attr]["S"])
            items = items[bisect.bisect_right(cached[1], key):]
        _hint.items = (self, items)
        try:
            return orig_scan(self, filters, limit, None, *args, **kwargs)
        finally:
            _hint.items = None

    Table.query, Table.scan, Table.all_items = query, scan, all_items
    Table.put_item, Table.delete_item = put_item, delete_item
    try:
        yield
    finally:
        Table.query, Table.scan, Table.all_items = orig_query, orig_scan, orig_all
        Table.put_item, Table.delete_item = orig_put, orig_delete


# --- loading ----------------------------------------------------------------------------------


def use(env: dict[str, str]) -> None:
    from chalicelib.config import settings

    os.environ.update(env)
    settings.cache_clear()


def _moto_table(name: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[name]


def bulk_load(table_name: str, items: list[dict[str, Any]]) -> None:
    """Put items straight into moto's table (what BatchWriteItem would store)."""
    from boto3.dynamodb.types import TypeSerializer
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    serialize = TypeSerializer().serialize

    def ser(value: Any) -> dict[str, Any]:  # binary travels base64-encoded, as on the wire
        out = serialize(value)
        return {"B": base64.b64encode(out["B"]).decode()} if "B" in out else out
    table = _moto_table(table_name)
    for item in items:
        record = Item.__new__(Item)
        record.hash_key, record.range_key = DynamoType({"S": item["PK"]}), DynamoType({"S": item["SK"]})
        # moto's size check re-measures the whole item on every attribute (quadratic); the
        # items here are small and were built by the code under test
        record.attrs = LimitedSizeDict()
        dict.update(record.attrs, {k: DynamoType(ser(v)) for k, v in item.items()})
        table.items[record.hash_key][record.range_key] = record


Docs = dict[str, tuple[dict[str, int], str]]  # product id -> (terms, name key): the brute-force oracle


def index_items(products: list[dict[str, Any]], docs: Docs | None = None) -> tuple[list[dict[str, Any]], int, int]:
    """The index items ``apply_changes`` writes for new products: (items, postings, vocabulary)."""
    from chalicelib.search import document, matches
    from chalicelib.store import keys

    items, words = [], {}
    lists: dict[str, dict[str, tuple[int, bytes]]] = {}
    for p in products:
        doc = document.build(p)
        diff = document.diff(p["product_id"], None, doc)
        items += diff.puts
        words.update(diff.new_words)
        for e in diff.matches:
            lists.setdefault(e["PK"], {})[p["product_id"]] = (int(e["w"]), bytes.fromhex(e["h"]))
        if docs is not None and doc:
            docs[p["product_id"]] = (doc.terms, doc.name_key)
    postings = sum(1 for i in items if i["SK"] != "SEARCHDOC")
    # the match lists as compaction leaves them: every entry packed
    items += [part for pk, entries in lists.items() for part in matches.packed_items(pk, entries)]
    vocab = [{**keys.search_vocab(w), "word": w, "term": t} for w, t in words.items() if len(w) >= 2]
    return items + vocab, postings, len(vocab)


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names + UTF-8 string values."""
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in item.items())


def size_report(items: list[dict[str, Any]]) -> str:
    postings = sorted(item_bytes(i) for i in items if i["PK"].startswith("TERM#"))
    docs = sorted(item_bytes(i) for i in items if i["SK"] == "SEARCHDOC")
    per_product = sum(postings) / max(len(docs), 1)
    return (f"posting bytes median {statistics.median(postings):.0f}, p99 {postings[len(postings) * 99 // 100]}, "
            f"max {postings[-1]}; document median {statistics.median(docs):.0f}; "
            f"{per_product / 1024:.1f} KB of postings per product (DynamoDB item limit 400 KB)")


# --- measuring --------------------------------------------------------------------------------


class Reads:
    """Items DynamoDB evaluated for the calls in a block (Query ScannedCount, BatchGet items)."""

    def __init__(self) -> None:
        self.items = 0
        self.calls = 0

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls += 1
        if model.name in ("Query", "Scan"):
            self.items += parsed.get("ScannedCount", 0)
        elif model.name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())


@contextmanager
def counting() -> Iterator[Reads]:
    from chalicelib import clients

    reads = Reads()
    events = clients.dynamodb_resource().meta.client.meta.events
    events.register("after-call.dynamodb", reads)
    try:
        yield reads
    finally:
        events.unregister("after-call.dynamodb", reads)


def measure(q: str, repeats: int) -> tuple[float, int, int, int]:
    """(median ms, results on the first page, items read, calls) of one query."""
    from chalicelib.search import query

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        items, _cursor = query.search(q, limit=20)
        times.append((time.perf_counter() - started) * 1000)
    with counting() as reads:
        query.search(q, limit=20)
    return statistics.median(times), len(items), reads.items, reads.calls


def exact(q: str, docs: Docs, limit: int = 20) -> tuple[int, list[int]]:
    """Brute force over every product: (how many match every word, the scores of the exact first
    page). Scores, not ids: ties are broken by product id, equally good either way."""
    from chalicelib.search import query, text

    words = [query.expand(w) for w in text.query_words(q)]
    scored = []
    for pid, (terms, nk) in docs.items():
        if not any(w.match({t: 1}) for t in terms for w in words[:1]):
            continue
        total = query.score(words, terms, nk)
        if total is not None:
            scored.append((-total, pid))
    scored.sort()
    return len(scored), [-neg for neg, _ in scored[:limit]]


def first_page(q: str) -> list[int]:
    from chalicelib.search import query

    return [i["score"] for i in query.search(q, limit=20)[0]]


def overlap(got: list[int], want: list[int]) -> int:
    """How many of the exact first page's scores the page has (as a multiset)."""
    left = list(want)
    n = 0
    for s in got:
        if s in left:
            left.remove(s)
            n += 1
    return n


def scan_baseline(q: str) -> tuple[float, int, int]:
    """What a search costs without an index: Scan the product table with a name filter."""
    from boto3.dynamodb.conditions import Attr

    from chalicelib import clients
    from chalicelib.config import settings

    words = q.split()
    cond = Attr("name").contains(words[0])
    for w in words[1:]:
        cond = cond & Attr("name").contains(w)
    client = clients.dynamodb_resource().meta.client
    params: dict[str, Any] = {"TableName": settings().catalog_table, "FilterExpression": cond}
    started, found, scanned = time.perf_counter(), 0, 0
    while True:
        resp = client.scan(**params)
        found += resp["Count"]
        scanned += resp["ScannedCount"]
        if "LastEvaluatedKey" not in resp:
            break
        params["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return (time.perf_counter() - started) * 1000, found, scanned


def write_to_searchable(products: list[dict[str, Any]]) -> list[float]:
    """ms from the product write (catalog item + apply_changes) to the product being found."""
    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.search import indexer, query
    from chalicelib.store import keys

    out = []
    for p in products:
        started = time.perf_counter()
        clients.table(settings().catalog_table).put_item(Item={**keys.product(p["product_id"]), **p})
        indexer.apply_changes([(None, p)])
        hits = query.search(p["model"], seller=p["seller_id"])[0]
        assert [h["product_id"] for h in hits] == [p["product_id"]]
        out.append((time.perf_counter() - started) * 1000)
    return out


def pair_cost(catalog: list[dict[str, Any]]) -> tuple[float, float, float]:
    """What term-pair postings would write (chalicelib/search, "Designs weighed"), medians per
    product: (postings now, + pairs of strong-field terms, + pairs of a strong term with any
    term). A strong term has a field weight ≥ 2 (anything but the description); flags excluded."""
    from chalicelib.search import document

    now, strong_pairs, strong_any = [], [], []
    for p in catalog:
        doc = document.build(p)
        if doc is None:
            continue
        weights = [int(w) for t, w in doc.terms.items() if not document.is_flag(t)]
        k, n = sum(1 for w in weights if w >= 2), len(weights)
        now.append(len(doc.terms))
        strong_pairs.append(k * (k - 1) // 2)
        strong_any.append(k * (k - 1) // 2 + k * (n - k))
    return statistics.median(now), statistics.median(strong_pairs), statistics.median(strong_any)


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    """``make bench`` calls ``main()``: defaults (or SEARCH_BENCH_LARGE=20000 for a quick run)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=int(os.environ.get("SEARCH_BENCH_LARGE", "100000")))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scan-queries", type=int, default=3)
    parser.add_argument("--driver-read", type=int, default=None, help="override query.MAX_DRIVER_READ")
    args = parser.parse_args(argv or [])
    from chalicelib.search import query as _query

    if args.driver_read is not None:
        _query.MAX_DRIVER_READ = args.driver_read

    from moto import mock_aws

    from chalicelib import clients
    from chalicelib.config import settings
    from chalicelib.search import indexer
    from chalicelib.store import accounts, keys
    from local import bootstrap

    t0 = time.perf_counter()
    catalog = generate(args.large)
    small = catalog[: args.small]
    print(f"generated {len(catalog):,} products in {time.perf_counter() - t0:.1f}s")

    with mock_aws():
        clients.reset()
        env_small = bootstrap.create_tables(None, REGION, "bench-small")
        env_large = bootstrap.create_tables(None, REGION, "bench-large")
        for env in (env_small, env_large):  # results show only sellers with a shop
            use(env)
            for seller in sorted({p["seller_id"] for p in catalog}):
                accounts.put_shop(seller, {"seller_id": seller, "name": seller})

        # 1k: the real write path
        use(env_small)
        t0 = time.perf_counter()
        with clients.table(settings().catalog_table).batch_writer() as batch:
            for p in small:
                batch.put_item(Item={**keys.product(p["product_id"]), **p})
        written = postings = docs = vocab = entries = 0
        for i in range(0, len(small), 500):
            stats = indexer.apply_changes([(None, p) for p in small[i : i + 500]])
            written += stats.items_written
            postings += stats.postings_put
            docs += stats.documents_written
            vocab += stats.vocabulary_put
            entries += stats.match_entries
        print(f"\n{args.small:,} catalog indexed through apply_changes in {time.perf_counter() - t0:.1f}s: "
              f"{written / len(small):.1f} index items written per product "
              f"({postings / len(small):.1f} postings + {entries / len(small):.1f} match-list entries + "
              f"{docs / len(small):.1f} document + {vocab / len(small):.2f} vocabulary words)")

        # 100k: the same items, bulk-loaded
        use(env_large)
        t0 = time.perf_counter()
        bulk_load(settings().catalog_table, [{**keys.product(p["product_id"]), **p} for p in catalog])
        docs: Docs = {}
        items, n_postings, n_vocab = index_items(catalog, docs)
        bulk_load(settings().search_table, items)
        print(f"{args.large:,} catalog bulk-loaded in {time.perf_counter() - t0:.1f}s: {len(items):,} index items, "
              f"{(len(items) - n_vocab) / len(catalog):.1f} per product + {n_vocab:,} vocabulary words "
              f"({n_postings / len(catalog):.1f} postings + 1 document per product)")
        print(size_report(items))
        postings_now, pairs_strong, pairs_any = pair_cost(catalog)
        print(f"term-pair postings (not built), medians per product: {postings_now:.0f} postings now; "
              f"+{pairs_strong:.0f} for the pairs of strong-field terms (x{1 + pairs_strong / postings_now:.1f} "
              f"index writes), +{pairs_any:.0f} for a strong term with any term "
              f"(x{1 + pairs_any / postings_now:.1f})")
        del items
        # ~2M emulator objects: a full GC pass would land on whichever query runs then
        gc.collect()
        gc.freeze()

        with partition_shim():
            extra = generate(args.large + 20)[args.large :]
            w2s = write_to_searchable(extra)
            print(f"write -> searchable on the {args.large:,} catalog (product write + apply_changes + the "
                  f"search that finds it), {len(w2s)} products: median {statistics.median(w2s):.1f} ms, "
                  f"max {max(w2s):.1f} ms")
            small_docs = {p["product_id"]: docs[p["product_id"]] for p in small}
            rows, quality = [], []
            for q in QUERIES:
                use(env_small)
                s = measure(q, args.repeats)
                n_small, top_small = exact(q, small_docs)
                got_small = first_page(q)
                use(env_large)
                big = measure(q, args.repeats)
                n_big, top_big = exact(q, docs)
                got_big = first_page(q)
                rows.append((q, s, big))
                quality.append((overlap(got_small, top_small), len(top_small), n_small,
                                overlap(got_big, top_big), len(top_big), n_big))
            print(f"\nquery latency, median of {args.repeats} (ms), first page of 20; items read = Query "
                  f"ScannedCount + BatchGet items (shops included); top 20 = scores of the first page that "
                  f"are in the exact top 20 (brute force over every product), of the matches in the catalog")
            print(f"{'query':32} {'1k ms':>7} {'100k ms':>8} {'ratio':>6} {'1k read':>8} {'100k read':>9} {'calls':>6}"
                  f" {'1k top 20':>14} {'100k top 20':>16}")
            for (q, s, big), (a, b, n, c, d, m) in zip(rows, quality, strict=True):
                print(f"{q:32} {s[0]:7.1f} {big[0]:8.1f} {big[0] / s[0]:6.2f} {s[2]:8d} {big[2]:9d} {big[3]:6d}"
                      f" {f'{a}/{b} of {n}':>14} {f'{c}/{d} of {m:,}':>16}")
            ratios = [big[0] / s[0] for _, s, big in rows]
            print(f"{'median':32} {statistics.median([s[0] for _, s, _b in rows]):7.1f} "
                  f"{statistics.median([b[0] for _, _s, b in rows]):8.1f} {statistics.median(ratios):6.2f}")
            worst = max(range(len(rows)), key=lambda i: ratios[i])
            print(f"{'worst':32} {rows[worst][1][0]:7.1f} {rows[worst][2][0]:8.1f} {ratios[worst]:6.2f}  "
                  f"({rows[worst][0]})")
            reads = [big[2] for _, _s, big in rows]

            print(f"\nScan-with-filter baseline on the {args.large:,} product table (name contains every word)")
            print(f"{'query':32} {'scan ms':>9} {'search ms':>10} {'speed-up':>9} {'scanned':>9}")
            speedups = []
            for q, _s, big in rows[: args.scan_queries]:
                ms, _found, scanned = scan_baseline(q)
                speedups.append(ms / big[0])
                print(f"{q:32} {ms:9.0f} {big[0]:10.1f} {ms / big[0]:8.0f}x {scanned:9,d}")
    print(f"\ntotal {time.perf_counter() - T_START:.0f}s")
    small_ms, large_ms = statistics.median([s[0] for _, s, _b in rows]), statistics.median([b[0] for _, _s, b in rows])
    return [
        (f"search latency, {len(rows)} queries, {args.small:,} vs {args.large:,} products",
         f"median {small_ms:.1f} ms vs {large_ms:.1f} ms",
         f"x{statistics.median(ratios):.2f} median, x{ratios[worst]:.2f} worst per-query ratio "
         f"(goal <= 1.3, <= 2.0)"),
        (f"search items read per first page, {len(rows)} queries, {args.large:,} products",
         f"median {statistics.median(reads):,.0f}, max {max(reads):,}",
         f"max: {rows[reads.index(max(reads))][0]}"),
        (f"search vs Scan-with-filter, {args.large:,} products", f"x{statistics.median(speedups or [0]):.0f} faster",
         f"median of {len(speedups)} queries"),
        (f"search write → searchable, {args.large:,} catalog", f"median {statistics.median(w2s):.1f} ms",
         f"max {max(w2s):.1f} ms"),
    ]


T_START = time.perf_counter()

if __name__ == "__main__":
    main(sys.argv[1:])
