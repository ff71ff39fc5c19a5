"""Every DynamoDB key of the system is built here, and nowhere else.

Grammar: ``<PREFIX>#<value>[#<PREFIX>#<value>...]``; prefixes are upper-case nouns. Each table
(``infra/resources.py``) has its section below with its access patterns:

| access pattern | table / index | key condition | example |
|---|---|---|---|

ACCOUNTS table
| user profile by id | Accounts | PK=USER#<sub>, SK=PROFILE | USER#5f1c…, PROFILE |
| seller's shop | Accounts | PK=SHOP#<seller>, SK=SHOP | SHOP#5f1c…, SHOP |
| revoked session (logout) | Accounts | PK=REVOKED#<origin_jti>, SK=REVOKED (ttl = token exp) | REVOKED#6e5a…, REVOKED |

CATALOG table (the product item; other catalog patterns are listed further down)
| product by id | Catalog | PK=PRODUCT#<product_id>, SK=PRODUCT | PRODUCT#pq3x…, PRODUCT |

Other tables add their sections below (search, commerce, ledger, idempotency).
"""

from __future__ import annotations


def user(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": "PROFILE"}


def shop(seller_id: str) -> dict[str, str]:
    return {"PK": f"SHOP#{seller_id}", "SK": "SHOP"}


def revoked(session_id: str) -> dict[str, str]:
    return {"PK": f"REVOKED#{session_id}", "SK": "REVOKED"}


def product(product_id: str) -> dict[str, str]:
    return {"PK": f"PRODUCT#{product_id}", "SK": "PRODUCT"}


# ---------------------------------------------------------------------------------------------
# COMMERCE table: carts, checkouts, orders (+ the order workflow's task tokens)
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | a customer's cart (all lines) | Commerce | PK=CART#<customer> | CART#5f1c… |
# | one cart line | Commerce | PK=CART#<customer>, SK=LINE#<product_id> | CART#5f1c…, LINE#pq3x… |
# | checkout record (idempotency) | Commerce | PK=CHECKOUT#<checkout_id>, SK=CHECKOUT | CHECKOUT#c7a…, CHECKOUT |
# | order by id (+ its timeline) | Commerce | PK=ORDER#<order_id>, SK=ORDER | ORDER#o4f…, ORDER |
# | workflow task token of an order | Commerce | PK=ORDER#<order_id>, SK=TASK#<kind> | ORDER#o4f…, TASK#payment |
# | customer's orders, newest first | GSI1 | GSI1PK=CUSTOMER#<customer>, GSI1SK begins ORDER# (desc) | ORDER#2025-…#o4f… |
# | seller's orders, newest first | GSI2 | GSI2PK=SELLER#<seller>, GSI2SK begins ORDER# (desc) | ORDER#2025-…#o4f… |
# | seller's orders in one status | GSI3 | GSI3PK=SELLER#<seller>#STATUS#<status> (desc) | SELLER#5f1c…#STATUS#PAID |
#
# Cart lines are keyed by product only (the seller is an attribute): PUT and DELETE
# /cart/items/{product_id} address the line straight from the URL with no product read.
# A customer's orders filtered by status use GSI1 with a FilterExpression (a customer has few
# orders); the seller's working queue ("PAID, waiting for me") gets its own index, whose key
# ``transition`` rewrites with the status. The timeline is a list on the order item, so one
# GetItem serves GET /orders/{id}. TASK# items sort after ORDER and never leave the store.
# ---------------------------------------------------------------------------------------------

ORDER_SK = "ORDER"
TASK_KINDS = ("payment", "seller", "delivery")


def cart(customer_id: str) -> dict[str, str]:
    """Partition of one customer's cart lines (Query with ``PK = :pk``)."""
    return {"PK": f"CART#{customer_id}"}


def cart_line(customer_id: str, product_id: str) -> dict[str, str]:
    return {"PK": f"CART#{customer_id}", "SK": f"LINE#{product_id}"}


def cart_line_product(sk: str) -> str:
    return sk.removeprefix("LINE#")


def checkout(checkout_id: str) -> dict[str, str]:
    return {"PK": f"CHECKOUT#{checkout_id}", "SK": "CHECKOUT"}


def order(order_id: str) -> dict[str, str]:
    return {"PK": f"ORDER#{order_id}", "SK": ORDER_SK}


def order_task(order_id: str, kind: str) -> dict[str, str]:
    """A Step Functions task token of an order, kept server-side (kind in ``TASK_KINDS``)."""
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    return {"PK": f"ORDER#{order_id}", "SK": f"TASK#{kind}"}


def order_sort(created_at: str, order_id: str) -> str:
    return f"ORDER#{created_at}#{order_id}"


def customer_orders(customer_id: str) -> str:
    """GSI1PK of a customer's orders."""
    return f"CUSTOMER#{customer_id}"


def seller_orders(seller_id: str) -> str:
    """GSI2PK of a seller's orders."""
    return f"SELLER#{seller_id}"


def seller_orders_in(seller_id: str, status: str) -> str:
    """GSI3PK of a seller's orders in one status."""
    return f"SELLER#{seller_id}#STATUS#{status}"


def order_index_keys(order: dict) -> dict[str, str]:
    """The GSI attributes of an order item (GSI3 follows its status)."""
    sort = order_sort(order["created_at"], order["order_id"])
    return {
        "GSI1PK": customer_orders(order["customer_id"]),
        "GSI1SK": sort,
        "GSI2PK": seller_orders(order["seller_id"]),
        "GSI2SK": sort,
        "GSI3PK": seller_orders_in(order["seller_id"], order["status"]),
        "GSI3SK": sort,
    }


# ---------------------------------------------------------------------------------------------
# CATALOG table: products, their listing items, per-seller category trees, feed imports
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | product by id (product page, cart, checkout) | Catalog | PK=PRODUCT#<pid>, SK=PRODUCT | PRODUCT#pq3x…, PRODUCT |
# | products by id, in bulk (import diff) | Catalog | BatchGetItem of PK=PRODUCT#<pid>, SK=PRODUCT | ×100 |
# | a seller's products (import: deactivate missing) | Catalog | PK=SELLER#<seller>, SK begins PRODUCT# | SELLER#5f1c…, PRODUCT#pq3x… |
# | all products, by price (+ price range) | GSI1 | GSI1PK=L#ALL#A<0/1>, GSI1SK between <price13>… | L#ALL#A1, 0000000102800#pq3x… |
# | all products, by name | GSI2 | GSI2PK=L#ALL#A<0/1>, GSI2SK asc | L#ALL#A1, iphone 15#pq3x… |
# | all products, newest first | GSI3 | GSI3PK=L#ALL#A<0/1>, GSI3SK desc | L#ALL#A1, 2025-01-02T…#pq3x… |
# | a seller's products, by price/name/newest | GSI1/2/3 | GSInPK=L#SELLER#<seller>#A<0/1> | L#SELLER#5f1c…#A1 |
# | a category's products, by price/name/newest | GSI1/2/3 | GSInPK=L#CAT#<category_key>#A<0/1> | L#CAT#c7k2…#A1 |
# | a seller's category tree | Catalog | PK=SELLER#<seller>, SK=CATEGORIES | SELLER#5f1c…, CATEGORIES |
# | every seller's category tree | GSI4 | GSI4PK=CATEGORIES, GSI4SK=<seller> | CATEGORIES, 5f1c… |
# | a seller's import lock + last imported file | Catalog | PK=SELLER#<seller>, SK=IMPORT_STATE | |
# | feed import by id | Catalog | PK=IMPORT#<feed_id>, SK=IMPORT | IMPORT#f9c1…, IMPORT |
# | a seller's imports, newest first | GSI4 | GSI4PK=IMPORTS#<seller>, GSI4SK desc | IMPORTS#5f1c…, 2025-…#f9c1… |
#
# Listings. Every product is listed under three scopes: ALL (the product item itself carries
# the GSI1..3 keys), its SELLER and its CATEGORY (two small "listing items" in the seller's
# and the category's partition, projecting what a listing card shows). Each listing key ends
# in A1 (available) or A0 (unavailable): ``available=true/false`` reads one partition; no
# availability filter merges the two sorted partitions (k-way merge, one cursor per stream).
# GSI1SK is the price zero-padded to 13 digits, so a price range is a key condition when the
# sort is price (else a FilterExpression on the same query). Category keys are opaque hashes
# of (seller, feed category id): categories are per seller. No pattern uses Scan.
# ---------------------------------------------------------------------------------------------

PRODUCT_SK = "PRODUCT"
LISTING_SK_PREFIX = "PRODUCT#"
PRICE_DIGITS = 13  # MAX_PRICE_MINOR (10**12) fits
LISTING_INDEX = {"price": "GSI1", "name": "GSI2", "newest": "GSI3"}


def seller_partition(seller_id: str) -> str:
    return f"SELLER#{seller_id}"


def seller_listing(seller_id: str, product_id: str) -> dict[str, str]:
    return {"PK": seller_partition(seller_id), "SK": f"{LISTING_SK_PREFIX}{product_id}"}


def category_listing(category_key: str, product_id: str) -> dict[str, str]:
    return {"PK": f"CAT#{category_key}", "SK": f"{LISTING_SK_PREFIX}{product_id}"}


def listing_scope_all() -> str:
    return "L#ALL"


def listing_scope_seller(seller_id: str) -> str:
    return f"L#SELLER#{seller_id}"


def listing_scope_category(category_key: str) -> str:
    return f"L#CAT#{category_key}"


def listing_partition(scope: str, available: bool) -> str:
    return f"{scope}#A{1 if available else 0}"


def price_sort(price: int, product_id: str = "") -> str:
    return f"{int(price):0{PRICE_DIGITS}d}#{product_id}"


def listing_keys(scope: str, available: bool, *, price: int, name_key: str, created_at: str,
                 product_id: str) -> dict[str, str]:
    """GSI1..3 attributes of a listed item (product item or listing item)."""
    pk = listing_partition(scope, available)
    return {
        "GSI1PK": pk,
        "GSI1SK": price_sort(price, product_id),
        "GSI2PK": pk,
        "GSI2SK": f"{name_key}#{product_id}",
        "GSI3PK": pk,
        "GSI3SK": f"{created_at}#{product_id}",
    }


def category_tree(seller_id: str) -> dict[str, str]:
    return {"PK": seller_partition(seller_id), "SK": "CATEGORIES"}


CATEGORY_TREES = "CATEGORIES"


def import_state(seller_id: str) -> dict[str, str]:
    return {"PK": seller_partition(seller_id), "SK": "IMPORT_STATE"}


def feed_import(feed_id: str) -> dict[str, str]:
    return {"PK": f"IMPORT#{feed_id}", "SK": "IMPORT"}


def seller_imports(seller_id: str) -> str:
    """GSI4PK of a seller's imports (GSI4SK = created_at#feed_id)."""
    return f"IMPORTS#{seller_id}"
