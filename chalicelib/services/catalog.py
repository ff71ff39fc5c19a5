"""Use cases of the public catalog: list products, show one, show the category trees.

Listing (``list_products``) picks one listing *scope* from the filters — the category, else
the seller, else ALL — and one index from the sort (``keys.LISTING_INDEX``). Availability and
being on sale (old price above price) are part of the listing partition key:
``available=true|false`` with ``on_sale=true|false`` reads one partition; without them the
partitions (A1, A1#S, A0, A0#S) are merged in sort order, each stream resuming from its own key
in the cursor. A price range is a key condition under the price sort and a FilterExpression under
the others. Products of blocked sellers are dropped after one BatchGetItem of the page's shops
(shops are few per page; blocking then takes effect at once, with no product rewrite).
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
from typing import Any

from boto3.dynamodb.conditions import Attr

from chalicelib.domain import catalog as catalog_rules
from chalicelib.domain.money import money
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.search import facets
from chalicelib.store import accounts, keys
from chalicelib.store import catalog as store
from chalicelib.store.pagination import decode_cursor, encode_cursor

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
    """One sorted listing partition, read page by page, resumable from the cursor."""

    def __init__(self, query: dict[str, Any], state: dict[str, Any], budget: list[int]) -> None:
        self.query, self.budget = query, budget
        self.buf: deque[dict[str, Any]] = deque()
        self.next_start = state.get("k")
        self.resume = state.get("k")
        self.exhausted = bool(state.get("d"))
        self.fetched_any = False

    def head(self) -> dict[str, Any] | None:
        while not self.buf and not self.exhausted and self.budget[0] > 0:
            self.budget[0] -= 1
            items, last = store.query_listing(start=self.next_start, **self.query)
            self.buf.extend(items)
            self.next_start = last
            if last is None:
                self.exhausted = not self.buf
            if not items:
                self.resume = last
        return self.buf[0] if self.buf else None

    def pop(self, index: str) -> dict[str, Any]:
        item = self.buf.popleft()
        if self.buf:
            self.resume = {k: item[k] for k in ("PK", "SK", f"{index}PK", f"{index}SK")}
        else:
            self.resume = self.next_start
            self.exhausted = self.next_start is None
        return item

    def state(self) -> dict[str, Any]:
        if self.exhausted and not self.buf:
            return {"d": 1}
        return {"k": self.resume} if self.resume else {}


def _fingerprint(filters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]


def list_products(*, category: str | None = None, seller: str | None = None, min_price: int | None = None,
                  max_price: int | None = None, available: bool | None = None, on_sale: bool | None = None,
                  sort: str = "newest", limit: int = 20,
                  cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    if sort not in SORTS:
        raise ValidationFailed.one("query.sort", "one of " + ", ".join(SORTS))
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed.one("query.min_price", "must not exceed max_price")
    filters = {"c": category, "s": seller, "lo": min_price, "hi": max_price, "a": available, "o": sort,
               "os": on_sale}
    state = decode_cursor(cursor) or {}
    if state and state.get("f") != _fingerprint(filters):
        raise ValidationFailed.one("cursor", "the cursor belongs to another query")

    shops: dict[str, dict[str, Any] | None] = {}
    scope = _scope(category, seller, shops)
    if scope is None:
        return [], None
    kind, ascending = SORTS[sort]
    index = keys.LISTING_INDEX[kind]
    sk_between, filter_expr = _conditions(kind, category, seller, min_price, max_price)
    partitions = _partitions(available, on_sale)
    stream_states = state.get("s") or [{} for _ in partitions]
    if len(stream_states) != len(partitions) or not all(isinstance(st, dict) for st in stream_states):
        raise ValidationFailed.one("cursor", "the cursor belongs to another query")
    budget = [MAX_FETCHES]
    streams = [
        _Stream({"index": index, "partition": keys.listing_partition(scope, avail, sale), "forward": ascending,
                 "limit": limit, "sk_between": sk_between, "filter_expr": filter_expr}, st, budget)
        for (avail, sale), st in zip(partitions, stream_states, strict=True)
    ]

    sort_attr = f"{index}SK"
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        heads = [(s, s.head()) for s in streams]
        if any(h is None and not s.exhausted for s, h in heads):
            break  # out of fetch budget: answer short, the cursor resumes here
        live = [(s, h) for s, h in heads if h is not None]
        if not live:
            break
        pick = min if ascending else max
        stream, _ = pick(live, key=lambda sh: sh[1][sort_attr])
        item = stream.pop(index)
        seller_id = item.get("seller_id", "")
        if seller_id not in shops:
            pending = {s for st in streams for s in (i.get("seller_id", "") for i in st.buf)} | {seller_id}
            found = accounts.get_shops([s for s in pending if s not in shops])
            shops.update({s: found.get(s) for s in pending if s not in shops})
        if not _visible(shops.get(seller_id)) or item.get("blocked"):
            continue
        out.append(product_card(item))

    done = all(s.exhausted and not s.buf for s in streams)
    next_cursor = None if done else encode_cursor({"f": _fingerprint(filters), "s": [s.state() for s in streams]})
    return _as_of_now(out, available, exact=scope == keys.listing_scope_all()), next_cursor


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
    ``facets.MAX_ROWS`` items in all (Query pages of up to that many), plus one BatchGetItem of
    shops. Availability and sale come from the partition an item is in."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed.one("query.min_price", "must not exceed max_price")
    shops: dict[str, dict[str, Any] | None] = {}
    scope = _scope(category, seller, shops)
    if scope is None:
        return facets.count([], complete=True)
    sk_between, filter_expr = _conditions("price", category, seller, min_price, max_price)
    rows: list[tuple[dict[str, Any], bool, bool]] = []
    complete = True
    for avail, sale in _partitions(available, on_sale):
        start = None
        while True:
            room = facets.MAX_ROWS - len(rows)
            if room <= 0:
                complete = False
                break
            items, start = store.query_listing(index="GSI1", partition=keys.listing_partition(scope, avail, sale),
                                               forward=True, limit=room, start=start, sk_between=sk_between,
                                               filter_expr=filter_expr, projection=FACET_FIELDS)
            rows += [(i, avail, sale) for i in items]
            if start is None:
                break
    sellers = {str(i.get("seller_id", "")) for i, _, _ in rows} - set(shops)
    shops.update(accounts.get_shops(sorted(sellers)) if sellers else {})
    counted = [facets.Row(seller_id=i["seller_id"],
                          category_id=store.category_key(i["seller_id"], i["category_id"]) if i.get("category_id")
                          else None,
                          category_name=i.get("category_name"), price=int(i.get("price", 0)),
                          currency=str(i.get("currency", "")), on_sale=sale, in_stock=avail)
               for i, avail, sale in rows if _visible(shops.get(i.get("seller_id", ""))) and not i.get("blocked")]
    return facets.count(counted, complete=complete)


def _as_of_now(cards: list[dict[str, Any]], available: bool | None, *, exact: bool) -> list[dict[str, Any]]:
    """Whether each product is on sale, as of now, its stock and short description. The listing
    partitions follow stock a moment after a checkout (``store/catalog.sync_availability``), and
    a failed follow-up leaves one behind until the next stock change: a seller's or a category's
    listing items carry no stock (nor the description), so their page reads them (one
    BatchGetItem of the page's products, ``store.live``); the all-products listing is the
    product items themselves, whose own stock already decided. A card the ``available`` filter
    no longer matches leaves the page."""
    if cards and not exact:
        now = store.live([c["product_id"] for c in cards])
        cards = [{**c, **now.get(c["product_id"], {})} for c in cards]
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
    product = store.get_product(product_id)
    if product is None or product.get("blocked"):
        raise NotFound("no such product")
    shop = accounts.get_shop(product["seller_id"])
    if not _visible(shop):
        raise NotFound("no such product")
    assert shop is not None
    currency = product.get("currency", "")
    page: dict[str, Any] = {
        k: product[k] for k in (
            "product_id", "offer_id", "offer_type", "name", "description", "pictures", "vendor", "model",
            "vendor_code", "url", "barcodes", "params", "attributes", "available", "stock", "created_at",
            "updated_at", "author", "publisher", "year", "isbn",
        ) if product.get(k) is not None
    }
    page["available"] = catalog_rules.on_sale(product)  # sold out (stock 0) is not available
    page["price"] = money(product["price"], currency)
    if product.get("old_price") is not None:
        page["old_price"] = money(product["old_price"], currency)
    if product.get("category_id"):
        page["category"] = {"id": store.category_key(product["seller_id"], product["category_id"]),
                            "feed_id": product["category_id"],
                            "name": product.get("category_name") or product["category_id"]}
    page["seller"] = {"id": product["seller_id"], "name": shop.get("name", "")}
    shop_currency = shop.get("currency") or currency
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
