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
| params | list[{name, unit, value}] | |
| attributes | map str→str | everything else the feed gave |
| available | bool | false when the seller deactivated it or a later feed dropped it |
| stock | int or absent | units left; absent = the feed gives no count (not limited) |
| created_at, updated_at | str | ISO-8601 UTC |
| content_hash | str | hash of the feed-derived fields: a re-import of the same data writes nothing |

Checkout reserves stock with a conditional update on ``stock`` (never below zero) and on
``available``.
"""

from __future__ import annotations

import base64
import hashlib


def product_id(seller_id: str, offer_id: str) -> str:
    """Deterministic, URL-safe, short: ``p`` + 26 base32 chars of sha256(seller \\0 offer)."""
    digest = hashlib.sha256(f"{seller_id}\x00{offer_id}".encode()).digest()
    return "p" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]
