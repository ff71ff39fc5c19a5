"""The feed package's vocabulary: what a reader yields, the file-level error, and the limits.

Everything here is plain data (frozen dataclasses) so callers can store, compare and hash what
the readers produce without importing any parser.
"""

from __future__ import annotations

from dataclasses import dataclass

# Limits. They protect the import Lambda, not the seller: a feed that hits one is hostile or
# broken, so the whole file is rejected (FeedFileError) rather than silently truncated.
MAX_FIELD_CHARS = 131_072  # one text field / CSV cell; equals csv.field_size_limit()'s default
MAX_CSV_LINE_CHARS = 4 * 1024 * 1024  # one physical CSV line (a line is read before it is split)
MAX_XML_DEPTH = 64  # real YML is at most ~7 deep (yml_catalog/shop/offers/offer/outlets/outlet)
MAX_ATTR_CHARS = 8_192  # one XML attribute value
MAX_OFFER_ID_CHARS = 128
MAX_NAME_CHARS = 1_000
MAX_PICTURES = 30
MAX_URL_CHARS = 2_048
MAX_PRICE_MINOR = 10**12  # 10 billion roubles: anything above is a typo or an attack
MAX_GROUP_ROWS = 2_000  # rows of one Shopify product (variants + image rows) buffered together
MAX_PENDING_OFFERS = 10_000  # foreign-currency offers buffered while <currencies> is still ahead


class FeedFileError(Exception):
    """The whole file is rejected; the caller must not commit anything it staged from it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FeedCategory:
    id: str
    name: str
    parent_id: str | None


@dataclass(frozen=True)
class FeedOffer:
    offer_id: str
    name: str
    offer_type: str
    price: int
    currency: str
    old_price: int | None
    category_id: str | None
    category_name: str | None
    pictures: tuple[str, ...]
    vendor: str | None
    model: str | None
    vendor_code: str | None
    barcodes: tuple[str, ...]
    params: tuple[tuple[str, str | None, str], ...]
    description: str
    available: bool
    stock: int | None
    url: str | None
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RowError:
    """One rejected row (CSV record, YML offer or category); `row` is its first line number."""

    row: int | None
    offer_id: str | None
    field: str | None
    reason: str


class RowRejected(Exception):  # noqa: N818 - internal control flow, never leaves the package
    """Raised while building one offer; the reader turns it into a RowError and moves on."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
