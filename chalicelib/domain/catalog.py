"""The product as every part of the system sees it.

A product belongs to one seller; its id is stable across re-imports because it is derived
from (seller id, the feed's offer id). The stored catalog item carries these attributes
(besides its keys), and the search index, the product page, carts and checkout read them:

| attribute | type | meaning |
|---|---|---|
| product_id | str | ``product_id(seller_id, offer_id)`` |
| seller_id, offer_id | str | owner and the feed's own id / SKU |
| offer_type | str | YML type ("simple", "vendor.model", "book", ...) or "csv" |
| name | str | display name |
| description | str | sanitized HTML |
| price | int | minor units, in ``currency`` |
| old_price | int or absent | minor units |
| currency | str | ISO 4217 |
| category_id | str or absent | the seller's category id (categories are per seller) |
| category_name | str or absent | leaf category name, denormalized for display and search |
| pictures | list[str] | https URLs |
| vendor, model, vendor_code, url | str or absent | |
| barcodes | list[str] | |
| author, publisher, isbn | str or absent | book fields (``book_fields``) |
| year | int or absent | a book's publication year |
| params | list[{name, unit, value}] | |
| attributes | map str→str | everything else the feed gave |
| available | bool | false when the seller deactivated it or a later feed dropped it |
| stock | int or absent | units that can be ordered; absent = the feed gives no count (not limited) |
| reserved | int or absent | units sold and not shipped yet (checkout adds, cancellation and shipment take off) |
| sold_out | true or absent | ``stock`` reached 0: listed, searched and shown as unavailable until it returns |
| blocked | true or absent | an admin hid the product (kept across re-imports) |
| created_at, updated_at | str | ISO-8601 UTC |
| content_hash | str | hash of the feed-derived fields: a re-import of the same data writes nothing |

Checkout reserves stock with a conditional update on ``stock`` (never below zero), on
``available`` and on ``blocked``. ``product_from_offer`` is what a feed's offer becomes; a
feed's stock count is the seller's warehouse, so a re-import keeps the reservations
(``keep_reservations``).

Sold out: a product whose ``stock`` is 0 is not available to anyone (``on_sale``), while
``available`` keeps what the seller's feed said, so the product comes back by itself when
stock returns (a cancellation, a re-import). ``sold_out`` mirrors ``stock <= 0`` on the
product's listing items, which carry no stock (``store/catalog.sync_availability``).

``Product`` is the product item as a typed record, built from the stored item at the store's
boundary (``store/catalog.load_product``); what the product page, carts and checkout read. The
feed import still builds and compares items as dicts (``product_from_offer``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from typing import Any

HASH_VERSION = "v2"  # part of every content hash: bump it when the offer → product mapping changes
# (v2: book fields lifted from the attributes, ``book_fields``)
MAX_ITEM_BYTES = 380_000  # a product item must stay under DynamoDB's 400 KB


def product_id(seller_id: str, offer_id: str) -> str:
    """Deterministic, URL-safe, short: ``p`` + 26 base32 chars of sha256(seller \\0 offer)."""
    digest = hashlib.sha256(f"{seller_id}\x00{offer_id}".encode()).digest()
    return "p" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]


# --- a feed's offer as a product ------------------------------------------------------------


def content_hash(offer: Any, category: tuple[str | None, str | None]) -> str:
    """Hash of everything the feed says about one product (and its resolved category)."""
    raw = json.dumps([HASH_VERSION, astuple(offer), category], ensure_ascii=False, separators=(",", ":"),
                     default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def category_path(offer: Any) -> list[str]:
    """The category path of an offer that names its category instead of pointing at a tree
    (CSV): ``category_path`` attribute ("A > B > C") or the leaf name alone."""
    if offer.category_id or not offer.category_name:
        return []
    for k, v in offer.attributes:
        if k == "category_path" and v:
            return [part.strip() for part in v.split(" > ") if part.strip()]
    return [offer.category_name]


def product_from_offer(seller_id: str, offer: Any, feed_id: str,
                       categories: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The product item (domain/catalog.py shape) of one valid offer, without its timestamps.

    YML offers point into the feed's category tree (``categoryId``): the name comes from the
    tree. CSV offers name their category: its path becomes the category id.
    """
    category_id, category_name = offer.category_id, offer.category_name
    path = category_path(offer)
    if path:
        category_id, category_name = " > ".join(path), path[-1]
    elif category_id and not category_name:
        category_name = ((categories or {}).get(category_id) or {}).get("name")
    product: dict[str, Any] = {
        "product_id": product_id(seller_id, offer.offer_id),
        "seller_id": seller_id,
        "offer_id": offer.offer_id,
        "offer_type": offer.offer_type,
        "name": offer.name,
        "description": offer.description or "",
        "price": int(offer.price),
        "currency": offer.currency,
        "pictures": list(offer.pictures),
        "barcodes": list(offer.barcodes),
        "params": [{k: v for k, v in (("name", n), ("unit", u), ("value", v)) if v is not None}
                   for n, u, v in offer.params],
        "attributes": {k: v for k, v in reversed(offer.attributes)},  # first occurrence wins
        "available": bool(offer.available),
        "content_hash": content_hash(offer, (category_id, category_name)),
        "feed_id": feed_id,
    }
    optional = {"old_price": offer.old_price, "category_id": category_id, "category_name": category_name,
                "vendor": offer.vendor, "model": offer.model, "vendor_code": offer.vendor_code, "url": offer.url,
                "stock": offer.stock}
    product.update({k: v for k, v in optional.items() if v is not None and v != ""})
    product.update(book_fields(offer.attributes))
    return product


# Book fields: YML ``book``/``audiobook`` offers carry <author>, <publisher>, <year>, <ISBN> (the
# reader keeps them as attributes); CSV feeds name them in columns of their own (attributes too).
BOOK_FIELDS = {
    "author": ("author", "authors", "автор", "авторы", "book author"),
    "publisher": ("publisher", "издательство", "издатель"),
    "year": ("year", "год", "год издания", "publication year", "year published"),
    "isbn": ("isbn", "isbn13", "isbn10"),
}
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")


def book_fields(attributes: Any) -> dict[str, Any]:
    """``author``, ``publisher``, ``year`` (an integer) and ``isbn`` from an offer's attributes
    (names case-insensitive; the first value wins)."""
    found: dict[str, Any] = {}
    fields = {name: fld for fld, names in BOOK_FIELDS.items() for name in names}
    for k, value in attributes:
        fld = fields.get(" ".join(str(k).casefold().replace("_", " ").split()))
        if fld is None or fld in found or not value:
            continue
        if fld == "year":
            year = _YEAR.search(str(value))
            if year:
                found["year"] = int(year.group(1))
        else:
            found[fld] = str(value).strip()
    return found


def too_large(product: dict[str, Any]) -> bool:
    # Exact size only for the rare product whose long texts could reach the limit at all.
    rough = len(product["description"]) + sum(len(p.get("value", "")) for p in product["params"])
    rough += sum(len(v) for v in product["attributes"].values())
    return rough > 90_000 and len(json.dumps(product, ensure_ascii=False).encode()) > MAX_ITEM_BYTES


def sold_out(product: dict[str, Any]) -> bool:
    """A stock count that reached 0 (products without a count never sell out)."""
    stock = product.get("stock")
    return stock is not None and int(stock) <= 0


def on_sale(product: dict[str, Any]) -> bool:
    """What listings, search and the product page call ``available``: the feed offers it and
    there is stock left (an admin's block hides the product altogether, elsewhere). A product
    item's own ``stock`` decides; a listing item, which has none, carries ``sold_out``."""
    gone = sold_out(product) if product.get("stock") is not None else bool(product.get("sold_out"))
    return bool(product.get("available")) and not gone


def discounted(product: dict[str, Any]) -> bool:
    """On sale in the shopper's sense (``on_sale=true`` of GET /products and /search): the
    feed's old price is above the price. (``on_sale`` above is availability.)"""
    old = product.get("old_price")
    return old is not None and int(old) > int(product.get("price") or 0)


SHORT_DESCRIPTION_CHARS = 200
_TAG = re.compile(r"<[^>]*>")


def short_description(description: str | None, limit: int = SHORT_DESCRIPTION_CHARS) -> str:
    """The first ``limit`` characters of a (sanitized HTML) description as plain text, cut at a
    word boundary with an ellipsis: what a result card shows."""
    plain = " ".join(html.unescape(_TAG.sub(" ", description or "")).split())
    if len(plain) <= limit:
        return plain
    cut = plain[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:-") + "…"


# --- the product as a record -----------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    value: str
    unit: str | None = None


@dataclass(frozen=True)
class Product:
    """A product item as stored (the attribute table above), typed. ``sold_out`` is the flag
    the listings carry; whether the stock ran out is ``out_of_stock``."""

    product_id: str
    seller_id: str
    name: str
    price: int
    currency: str
    offer_id: str = ""
    offer_type: str | None = None
    description: str = ""
    old_price: int | None = None
    category_id: str | None = None
    category_name: str | None = None
    pictures: tuple[str, ...] = ()
    vendor: str | None = None
    model: str | None = None
    vendor_code: str | None = None
    url: str | None = None
    barcodes: tuple[str, ...] = ()
    author: str | None = None
    publisher: str | None = None
    year: int | None = None
    isbn: str | None = None
    params: tuple[Param, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    available: bool = False
    stock: int | None = None  # None: the feed gives no count (not limited)
    reserved: int = 0
    sold_out: bool = False
    blocked: bool = False
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Product:
        """The record of a stored product item (keys stripped, numbers plain)."""

        def opt_str(k: str) -> str | None:
            return None if item.get(k) is None else str(item[k])

        def opt_int(k: str) -> int | None:
            return None if item.get(k) is None else int(item[k])

        return cls(
            product_id=str(item["product_id"]), seller_id=str(item["seller_id"]), name=str(item.get("name", "")),
            price=int(item["price"]), currency=str(item.get("currency", "")), offer_id=str(item.get("offer_id", "")),
            offer_type=opt_str("offer_type"), description=str(item.get("description") or ""),
            old_price=opt_int("old_price"), category_id=opt_str("category_id"),
            category_name=opt_str("category_name"), pictures=tuple(item.get("pictures") or ()),
            vendor=opt_str("vendor"), model=opt_str("model"), vendor_code=opt_str("vendor_code"), url=opt_str("url"),
            barcodes=tuple(item.get("barcodes") or ()), author=opt_str("author"), publisher=opt_str("publisher"),
            year=opt_int("year"), isbn=opt_str("isbn"),
            params=tuple(Param(name=str(p.get("name", "")), value=str(p.get("value", "")),
                               unit=None if p.get("unit") is None else str(p["unit"]))
                         for p in item.get("params") or ()),
            attributes=dict(item.get("attributes") or {}), available=bool(item.get("available")),
            stock=opt_int("stock"), reserved=int(item.get("reserved") or 0), sold_out=bool(item.get("sold_out")),
            blocked=bool(item.get("blocked")), created_at=opt_str("created_at"), updated_at=opt_str("updated_at"),
        )

    @property
    def limited(self) -> bool:
        """Products without a stock count are not limited (the feed gives no count)."""
        return self.stock is not None

    @property
    def out_of_stock(self) -> bool:
        """``sold_out``: a stock count that reached 0."""
        return self.stock is not None and self.stock <= 0

    @property
    def on_sale(self) -> bool:
        """``on_sale``: the feed offers it and there is stock left (the stock decides; the
        listing flag only when there is no count)."""
        return self.available and not (self.out_of_stock if self.limited else self.sold_out)

    @property
    def discounted(self) -> bool:
        """``discounted``: the feed's old price is above the price."""
        return self.old_price is not None and self.old_price > self.price


@dataclass(frozen=True)
class LiveState:
    """What a listing or search card shows that changes without a re-index, read now from the
    product item (``store/catalog.live`` reads only these fields): whether it is on sale
    (``on_sale``), its stock (None: not counted) and the short plain-text description."""

    available: bool
    stock: int | None
    description: str

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LiveState:
        return cls(available=on_sale(item), stock=None if item.get("stock") is None else int(item["stock"]),
                   description=short_description(item.get("description")))

    def card(self) -> dict[str, Any]:
        """The card fields it replaces."""
        return {"available": self.available, "stock": self.stock, "description": self.description}


def keep_reservations(product: dict[str, Any], old: dict[str, Any]) -> None:
    """The feed counts what is in the seller's warehouse, including units sold but not shipped
    yet (``reserved`` on the product, kept by checkout, cancellation and shipment): what can be
    ordered is the feed's count less those."""
    reserved = int(old.get("reserved") or 0)
    if reserved <= 0:
        return
    product["reserved"] = reserved
    if product.get("stock") is not None:
        product["stock"] = max(int(product["stock"]) - reserved, 0)
