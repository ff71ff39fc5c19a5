"""Use cases of the public catalog: list products, show one, show the category trees.

Listing (``list_products``) picks one listing *scope* from the filters — the category, else
the seller, else ALL — and one index from the sort (``keys.LISTING_INDEX``). Availability and
being on sale (old price above price) are part of the listing partition key:
``available=true|false`` with ``on_sale=true|false`` reads one partition; without them the
partitions (A1, A1#S, A0, A0#S) are merged in sort order. Each of them is write-sharded
(``keys.py``, "Write sharding"): every shard is one more sorted stream of the same merge, the
streams' Queries are sent at the same time (a thread pool: a page waits for its slowest Query,
not for their sum), and the cursor holds the sort key reached, from which every stream
resumes. A price range is a key condition under the price sort and a FilterExpression under
the others. Products of
blocked sellers are dropped after one BatchGetItem of the page's shops (shops are few per page;
blocking then takes effect at once, with no product rewrite).
A short page (filters dropped most rows) still carries a ``next_cursor``; every read is a Query.

Categories are per seller (feed category ids mean nothing across sellers): GET /categories
returns each seller's tree, grouped by seller, and ``category=<id>`` lists the products filed
under exactly that category (the feeds file products under leaves). Including descendants
would take one listing item per ancestor, multiplying import writes by the tree's depth.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import catalog as catalog_rules
from chalicelib.domain.money import money
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.search import facets
from chalicelib.store import accounts, keys
from chalicelib.store import catalog as store
from chalicelib.store.pagination import decode_cursor, encode_cursor
from chalicelib.store.toolkit import Attr

SORTS: dict[str, tuple[str, bool]] = {  # sort -> (index kind, ascending)
    "price": ("price", True),
    "-price": ("price", False),
    "name": ("name", True),
    "newest": ("newest", False),
}
MAX_FETCHES = 8  # Query calls one page may spend skipping filtered rows before it answers short
MAX_PRICE = 10**12
_TREE_PAGE_KEYS = {"PK", "SK", "GSI4PK", "GSI4SK"}


# --- shaping (prices as the API's money objects, domain/money.py) ---------------------------


def product_card(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "product_id": item["product_id"],
        "name": item.get("name", ""),
        "price": money(item.get("price", 0), item.get("currency", "")),
        "available": catalog_rules.on_sale(item),
        "seller_id": item.get("seller_id"),
    }
    if item.get("old_price") is not None:
        out["old_price"] = money(item["old_price"], item.get("currency", ""))
    if item.get("category_id"):
        out["category"] = {"id": store.category_key(item["seller_id"], item["category_id"]),
                           "name": item.get("category_name") or item["category_id"]}
    picture = item.get("picture") or (item.get("pictures") or [None])[0]
    if picture:
        out["picture"] = picture
    for k in ("vendor", "author", "year", "created_at"):
        if item.get(k):
            out[k] = item[k]
    if "description" in item:  # a product item (the ALL listing): no second read for these
        out["description"] = catalog_rules.short_description(item.get("description"))
        out["stock"] = item.get("stock")
    return out


def _visible(shop: dict[str, Any] | None) -> bool:
    return bool(shop) and not shop.get("blocked")


# --- listing -------------------------------------------------------------------------------


class _Stream:
    """One listing partition (one write shard of one availability/sale partition), read in
    the listing's order after the cursor's position, in Query pages that grow as it is used.

    ``frontier`` is the sort key of the last item read from it (returned or dropped by a
    filter): whatever it has not read yet sorts after it, so a stream whose buffer is empty
    does not hold up the merge of items that come before its frontier."""

    def __init__(self, query: dict[str, Any], after: str | None, budget: list[int], sizes: tuple[int, int],
                 stats: dict[str, int]) -> None:
        self.query, self.budget, self.stats = query, budget, stats
        self.size, self.cap = sizes
        self.after, self.frontier = after, after
        self.buf: deque[dict[str, Any]] = deque()
        self.start: dict[str, Any] | None = None
        self.exhausted = False
        self.fetched = False

    def claim(self) -> bool:
        """Take one Query from the page's fetch budget; False when it is spent."""
        if self.budget[0] <= 0:
            return False
        self.budget[0] -= 1
        return True

    def fetch(self) -> None:
        """Read one more Query page (a claimed one). Touches only this stream: the page's
        streams fetch in parallel (``_fetch_all``)."""
        sort_attr = f"{self.query['index']}SK"
        items, last = store.query_listing(start=self.start, after=self.after, limit=self.size, stats=self.stats,
                                          **self.query)
        self.fetched = True
        self.buf.extend(items)
        self.start = last
        if last is not None:
            self.frontier = last[sort_attr]
        elif items:
            self.frontier = items[-1][sort_attr]
        self.exhausted = last is None
        self.size = min(self.size * 2, self.cap)


@cache
def _pool(width: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=width, thread_name_prefix="listing")


def _parallel(fn: Any, args: list[Any]) -> list[Any]:
    """``[fn(a) for a in args]``, the calls at the same time (``Settings.listing_read_threads``;
    1: one after another): a listing waits for its slowest Query, not for their sum."""
    width = settings().listing_read_threads
    if width <= 1 or len(args) <= 1:
        return [fn(a) for a in args]
    return list(_pool(width).map(fn, args))


def _fetch_all(streams: list[_Stream]) -> None:
    """One Query page of each stream, at the same time."""
    _parallel(_Stream.fetch, streams)


def _fingerprint(filters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]


FIRST_READ_MIN = 2  # items the first Query of each stream reads at least


def first_read(limit: int, streams: int) -> int:
    """Items each stream's first Query reads: twice its share of the page (product ids hash
    evenly over the shards), at least FIRST_READ_MIN; a stream the merge drains reads again,
    twice as many each time, up to the page size."""
    return min(limit, max(FIRST_READ_MIN, -(-2 * limit // streams)))


def list_products(*, category: str | None = None, seller: str | None = None, min_price: int | None = None,
                  max_price: int | None = None, available: bool | None = None, on_sale: bool | None = None,
                  sort: str = "newest", limit: int = 20, cursor: str | None = None,
                  stats: dict[str, int] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a listing. Its partitions — (availability, sale) × write shards
    (``keys.py``, "Write sharding") — are read as sorted streams and merged by the sort key
    (``{index}SK`` = sort value + ``#<product id>``, unique: a total order). The cursor holds the
    position reached: every stream resumes strictly after it with a key condition, so the
    cursor's size does not grow with the number of streams. ``stats`` (when given) receives
    ``read`` (items DynamoDB read) and ``queries``. Items read per page ≤ streams × first_read
    + the refills, within MAX_FETCHES + 2 × streams Query calls."""
    if sort not in SORTS:
        raise ValidationFailed.one("query.sort", "one of " + ", ".join(SORTS))
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed.one("query.min_price", "must not exceed max_price")
    filters = {"c": category, "s": seller, "lo": min_price, "hi": max_price, "a": available, "o": sort,
               "os": on_sale}
    state = decode_cursor(cursor) or {}
    if state and (state.get("f") != _fingerprint(filters) or not isinstance(state.get("a"), str)):
        raise ValidationFailed.one("cursor", "the cursor belongs to another query")
    after: str | None = state.get("a")

    shops: dict[str, dict[str, Any] | None] = {}
    scope = _scope(category, seller, shops)
    if scope is None:
        return [], None
    kind, ascending = SORTS[sort]
    index = keys.LISTING_INDEX[kind]
    sk_between, filter_expr = _conditions(kind, category, seller, min_price, max_price)
    partitions = [pk for avail, sale in _partitions(available, on_sale)
                  for pk in keys.listing_partitions(scope, avail, sale)]
    budget = [MAX_FETCHES + 2 * len(partitions)]
    stats = {} if stats is None else stats
    first = first_read(limit, len(partitions))
    streams = [
        _Stream({"index": index, "partition": pk, "forward": ascending, "sk_between": sk_between,
                 "filter_expr": filter_expr}, after, budget, (first, limit), {})
        for pk in partitions
    ]
    sort_attr = f"{index}SK"

    def before(a: str, b: str) -> bool:
        return a < b if ascending else a > b

    popped = after
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        heads = [s for s in streams if s.buf]
        best = None
        for s in heads:
            if best is None or before(s.buf[0][sort_attr], best.buf[0][sort_attr]):
                best = s
        best_key = best.buf[0][sort_attr] if best else None
        # an empty stream may hold an item before the best head unless its frontier is past it
        waiting = [s for s in streams if not s.buf and not s.exhausted
                   and (not s.fetched or best_key is None or before(s.frontier, best_key))]
        if waiting:
            claimed = [s for s in waiting if s.claim()]
            _fetch_all(claimed)
            if len(claimed) < len(waiting):
                break  # out of fetch budget: answer short, the cursor resumes at the position reached
            continue
        if best is None:
            break
        item = best.buf.popleft()
        popped = item[sort_attr]
        seller_id = item.get("seller_id", "")
        if seller_id not in shops:
            pending = {s for st in streams for s in (i.get("seller_id", "") for i in st.buf)} | {seller_id}
            found = accounts.get_shops([s for s in pending if s not in shops])
            shops.update({s: found.get(s) for s in pending if s not in shops})
        if not _visible(shops.get(seller_id)) or item.get("blocked"):
            continue
        out.append(product_card(item))

    stats["queries"] = stats.get("queries", 0) + MAX_FETCHES + 2 * len(partitions) - budget[0]
    stats["read"] = stats.get("read", 0) + sum(s.stats.get("read", 0) for s in streams)
    done = all(s.exhausted and not s.buf for s in streams)
    position = None if done else _position(streams, popped, before, sort_attr)
    next_cursor = None if done else encode_cursor({"f": _fingerprint(filters), "a": position})
    return _as_of_now(out, available, exact=scope == keys.listing_scope_all()), next_cursor


def _position(streams: list[_Stream], popped: str | None, before: Any, sort_attr: str) -> str | None:
    """Where the next page starts (exclusive): past every item this page emitted or skipped.
    That is the last item taken, or further, the nearest frontier of the drained streams when
    every buffered item lies beyond it (filters skipped rows there: the next page must not read
    them again)."""
    drained = [s.frontier for s in streams if not s.buf and not s.exhausted and s.fetched]
    if not drained or len(drained) != sum(1 for s in streams if not s.buf and not s.exhausted):
        return popped
    nearest = drained[0]
    for f in drained[1:]:
        if before(f, nearest):
            nearest = f
    heads = [s.buf[0][sort_attr] for s in streams if s.buf]
    if all(before(nearest, h) for h in heads) and (popped is None or not before(nearest, popped)):
        return nearest
    return popped


def _scope(category: str | None, seller: str | None, shops: dict[str, dict[str, Any] | None]) -> str | None:
    """The listing scope the filters pick (None: the seller's shop is hidden)."""
    if seller and not category:
        shops[seller] = accounts.get_shop(seller)
        return keys.listing_scope_seller(seller) if _visible(shops[seller]) else None
    return keys.listing_scope_category(category) if category else keys.listing_scope_all()


def _conditions(kind: str, category: str | None, seller: str | None, min_price: int | None,
                max_price: int | None) -> tuple[tuple[str, str] | None, Any]:
    """(sort key range, FilterExpression) of a listing Query: a price range is a key condition
    under the price sort; a seller inside a category scope is a filter."""
    lo, hi = min_price or 0, MAX_PRICE if max_price is None else max_price
    sk_between, filter_expr = None, None
    if min_price is not None or max_price is not None:
        if kind == "price":
            sk_between = (f"{keys.price_sort(lo)}", f"{keys.price_sort(hi)}~")
        else:
            filter_expr = Attr("price").between(lo, hi)
    if category and seller:
        cond = Attr("seller_id").eq(seller)
        filter_expr = cond if filter_expr is None else filter_expr & cond
    return sk_between, filter_expr


def _partitions(available: bool | None, on_sale: bool | None) -> list[tuple[bool, bool]]:
    """(available, on sale) of each listing partition the filters read."""
    return [(avail, sale) for avail in ([available] if available is not None else [True, False])
            for sale in ([on_sale] if on_sale is not None else [False, True])]


FACET_FIELDS = ("product_id", "seller_id", "category_id", "category_name", "price", "currency", "blocked")


def listing_facets(*, category: str | None = None, seller: str | None = None, min_price: int | None = None,
                   max_price: int | None = None, available: bool | None = None,
                   on_sale: bool | None = None) -> dict[str, Any]:
    """Facet counts of a listing (``search/facets.py``): its partitions are read by price (a
    price range is a key condition there) with a projection of what facets count, at most
    ``facets.MAX_ROWS`` items in all (a first page of every partition at once, each its share;
    then Query pages of the room left), plus one BatchGetItem of shops. Availability and sale
    come from the partition an item is in."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed.one("query.min_price", "must not exceed max_price")
    shops: dict[str, dict[str, Any] | None] = {}
    scope = _scope(category, seller, shops)
    if scope is None:
        return facets.count([], complete=True)
    sk_between, filter_expr = _conditions("price", category, seller, min_price, max_price)
    parts = [(avail, sale, pk) for avail, sale in _partitions(available, on_sale)
             for pk in keys.listing_partitions(scope, avail, sale)]  # every write shard

    def page(partition: str, limit: int, start: Any) -> tuple[list[dict[str, Any]], Any]:
        return store.query_listing(index="GSI1", partition=partition, forward=True, limit=limit, start=start,
                                   sk_between=sk_between, filter_expr=filter_expr, projection=FACET_FIELDS)

    # a first page of every partition at once, each its share of MAX_ROWS; then the rest in turn
    share = -(-facets.MAX_ROWS // len(parts))
    firsts = _parallel(lambda part: page(part[2], share, None), parts)
    rows: list[tuple[dict[str, Any], bool, bool]] = []
    complete = True
    for (avail, sale, partition), (items, start) in zip(parts, firsts, strict=True):
        while True:
            room = facets.MAX_ROWS - len(rows)
            if len(items) > room:
                complete = False
            rows += [(i, avail, sale) for i in items[:max(room, 0)]]
            if start is None or not complete:
                break
            if facets.MAX_ROWS - len(rows) <= 0:
                complete = False
                break
            items, start = page(partition, facets.MAX_ROWS - len(rows), start)
    sellers = {str(i.get("seller_id", "")) for i, _, _ in rows} - set(shops)
    shops.update(accounts.get_shops(sorted(sellers)) if sellers else {})
    counted = [facets.Row(seller_id=i["seller_id"],
                          category_id=store.category_key(i["seller_id"], i["category_id"]) if i.get("category_id")
                          else None,
                          category_name=i.get("category_name"), price=int(i.get("price", 0)),
                          currency=str(i.get("currency", "")), on_sale=sale, in_stock=avail)
               for i, avail, sale in rows if _visible(shops.get(i.get("seller_id", ""))) and not i.get("blocked")]
    names = {s: (shop or {}).get("name") for s, shop in shops.items()}
    return facets.count(counted, complete=complete, shop_names=names)


def _as_of_now(cards: list[dict[str, Any]], available: bool | None, *, exact: bool) -> list[dict[str, Any]]:
    """Whether each product is on sale, as of now, its stock and short description. The listing
    partitions follow stock a moment after a checkout (``store/catalog.sync_availability``), and
    a failed follow-up leaves one behind until the next stock change: a seller's or a category's
    listing items carry no stock (nor the description), so their page reads them (one
    BatchGetItem of the page's products, ``store.live``); the all-products listing is the
    product items themselves, whose own stock already decided. A card the ``available`` filter
    no longer matches leaves the page.

    Why the seller's and category's listing items do not carry the stock instead: every
    checkout would then write two more items per order line (the product's seller and category
    listing items), inside its transaction (larger, more conflicts between concurrent checkouts
    of one seller) or after it (a card then shows a stock that was already spent). The
    description alone could be copied at import time (it changes only then), but the stock read
    would remain, so the BatchGetItem (one call of at most a page of keys) stays."""
    if cards and not exact:
        now = store.live([c["product_id"] for c in cards])
        cards = [{**c, **(now[c["product_id"]].card() if c["product_id"] in now else {})} for c in cards]
    return cards if available is None else [c for c in cards if c["available"] is available]


# --- admin ----------------------------------------------------------------------------------


def set_product_blocked(product_id: str, blocked: bool) -> dict[str, Any]:
    """Block (hide from listings, search, the product page, carts and checkout) or unblock one
    product. Three UpdateItems and, when the flag changes, the product's search postings."""
    from chalicelib.search.indexer import apply_changes

    before = store.set_blocked(product_id, blocked)
    if before is None:
        raise NotFound("no such product")
    after = {k: v for k, v in before.items() if k != "blocked"}
    if blocked:
        after["blocked"] = True
    if bool(before.get("blocked")) != blocked:
        apply_changes([(before, after)])
    return {"product_id": product_id, "seller_id": before["seller_id"], "name": before.get("name", ""),
            "blocked": blocked}


# --- product page --------------------------------------------------------------------------


def get_product(product_id: str) -> dict[str, Any]:
    """Everything the feed gave, the seller and its delivery methods (two GetItems)."""
    product = store.load_product(product_id)
    if product is None or product.blocked:
        raise NotFound("no such product")
    shop = accounts.get_shop(product.seller_id)
    if not _visible(shop):
        raise NotFound("no such product")
    assert shop is not None
    p = product
    page: dict[str, Any] = {
        "product_id": p.product_id, "offer_id": p.offer_id, "offer_type": p.offer_type, "name": p.name,
        "description": p.description, "pictures": list(p.pictures), "vendor": p.vendor, "model": p.model,
        "vendor_code": p.vendor_code, "url": p.url, "barcodes": list(p.barcodes),
        "params": [{k: v for k, v in (("name", x.name), ("unit", x.unit), ("value", x.value)) if v is not None}
                   for x in p.params],
        "attributes": dict(p.attributes), "stock": p.stock, "created_at": p.created_at, "updated_at": p.updated_at,
        "author": p.author, "publisher": p.publisher, "year": p.year, "isbn": p.isbn,
        "available": p.on_sale,  # sold out (stock 0) is not available
        "price": money(p.price, p.currency),
    }
    if p.old_price is not None:
        page["old_price"] = money(p.old_price, p.currency)
    if p.category_id:
        page["category"] = {"id": store.category_key(p.seller_id, p.category_id), "feed_id": p.category_id,
                            "name": p.category_name or p.category_id}
    page["seller"] = {"id": p.seller_id, "name": shop.get("name", "")}
    shop_currency = shop.get("currency") or p.currency
    page["delivery_methods"] = [{**m, "price": money(m.get("price", 0), shop_currency)}
                                for m in store.plain(shop.get("delivery_methods") or [])]
    return page


# --- categories ----------------------------------------------------------------------------


def category_tree(seller_id: str, flat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nested nodes {id, feed_id, name, children} from the feed's flat (id, parent_id) list.

    A parent the feed never declared, or a cycle, makes the node a root: nothing is lost.
    """
    nodes = {c["id"]: {"id": store.category_key(seller_id, c["id"]), "feed_id": c["id"], "name": c["name"],
                       "children": []} for c in flat}
    parents = {c["id"]: c.get("parent_id") for c in flat}
    roots = []
    for cid, node in nodes.items():
        parent, seen = parents.get(cid), {cid}
        ancestor = parent
        while ancestor in nodes and ancestor not in seen:  # cycle check up the chain
            seen.add(ancestor)
            ancestor = parents.get(ancestor)
        if parent in nodes and ancestor not in seen:
            nodes[parent]["children"].append(node)
        else:
            roots.append(node)
    return roots


def _group(tree: dict[str, Any], shop: dict[str, Any]) -> dict[str, Any]:
    seller_id = tree["seller_id"]
    return {"seller": {"id": seller_id, "name": shop.get("name", "")},
            "categories": category_tree(seller_id, tree.get("categories") or [])}


def list_categories(*, seller: str | None = None, limit: int = 20,
                    cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Category trees grouped per seller (categories are per seller: ids never merge)."""
    if seller:
        shop = accounts.get_shop(seller)
        tree = store.get_category_tree(seller) if _visible(shop) else None
        return ([_group(tree, shop)] if tree and shop else []), None
    start = decode_cursor(cursor)
    if start is not None and (start.get("GSI4PK") != keys.CATEGORY_TREES or set(start) != _TREE_PAGE_KEYS):
        raise ValidationFailed.one("cursor", "the cursor belongs to another listing")
    trees, last = store.list_category_trees(limit, start)
    shops = accounts.get_shops([t["seller_id"] for t in trees])
    groups = [_group(t, shops[t["seller_id"]]) for t in trees if _visible(shops.get(t["seller_id"]))]
    return groups, encode_cursor(last)
