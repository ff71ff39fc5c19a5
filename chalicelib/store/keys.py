"""Every DynamoDB key of the system is built here, and nowhere else.

Grammar: ``<PREFIX>#<value>[#<PREFIX>#<value>...]``; prefixes are upper-case nouns. Each table
(``infra/resources.py``) has its section below with its access patterns:

| access pattern | table / index | key condition | example |
|---|---|---|---|

ACCOUNTS table
| user profile by id | Accounts | PK=USER#<sub>, SK=PROFILE | USER#5f1c…, PROFILE |
| seller's shop | Accounts | PK=SHOP#<seller>, SK=SHOP | SHOP#5f1c…, SHOP |
| revoked session (logout) | Accounts | PK=REVOKED#<origin_jti>, SK=REVOKED (ttl = token exp) | REVOKED#6e5a…, REVOKED |
| sessions of a user revoked before t (password reset) | Accounts | PK=USER#<sub>, SK=SESSIONS | USER#5f1c…, SESSIONS |
| unverified accounts, oldest first (purge) | GSI1 | GSI1PK=UNVERIFIED, GSI1SK < <created_at> | 2026-…#5f1c… |
| rate-limit counter, one window | Accounts | PK=LIMIT#<group>#<ip|acct>#<value>, SK=W#<start> | LIMIT#login#ip#1… |
| failed logins of an email (known or not) | Accounts | PK=LOGINFAIL#<sha256>, SK=LOGINFAIL | LOGINFAIL#9f86… |
| every user, newest first (admin list) | GSI2 | GSI2PK=USERS, GSI2SK desc | USERS, 2026-…#5f1c… |
| every shop, newest first (admin list) | GSI2 | GSI2PK=SHOPS, GSI2SK desc | SHOPS, 2026-…#5f1c… |
| staff of one role (admin list, last-admin check) | Accounts | PK=STAFF#<role>, SK=USER#<sub> | STAFF#support |
| the admin set's version (last-admin guard) | Accounts | PK=STAFF, SK=ADMINS | STAFF, ADMINS |
| staff actions, newest first (audit) | Accounts | PK=AUDIT, SK desc | AUDIT, 2026-…Z#a71c… |

GSI1 of the accounts table is sparse: only a profile that is not verified yet carries its keys
(registration sets them, verification removes them), so the purge reads nothing else.
The SESSIONS item is the account's access record: besides ``not_before`` it carries ``role``
(set by an admin; it overrides the token's groups) and ``blocked``, so the authorizer's one
BatchGetItem sees a role change or a block at once. GSI2 holds one partition per listing
(USERS, SHOPS): writes there are registrations and shop edits, far under a partition's
1,000 WCU. Staff of a role are a few items in the base table (consistent reads). The audit is
one partition: staff act at a human pace.

CATALOG table (the product item; other catalog patterns are listed further down)
| product by id | Catalog | PK=PRODUCT#<product_id>, SK=PRODUCT | PRODUCT#pq3x…, PRODUCT |

Other tables add their sections below (search, commerce, ledger, idempotency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from chalicelib.config import settings


def user(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": "PROFILE"}


def shop(seller_id: str) -> dict[str, str]:
    return {"PK": f"SHOP#{seller_id}", "SK": "SHOP"}


def revoked(session_id: str) -> dict[str, str]:
    return {"PK": f"REVOKED#{session_id}", "SK": "REVOKED"}


def user_sessions(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": "SESSIONS"}


UNVERIFIED = "UNVERIFIED"


def unverified(created_at: str, user_id: str) -> dict[str, str]:
    """GSI1 attributes of a profile whose email is not verified yet."""
    return {"GSI1PK": UNVERIFIED, "GSI1SK": f"{created_at}#{user_id}"}


def rate_window(group: str, dimension: str, value: str, window_start: int) -> dict[str, str]:
    return {"PK": f"LIMIT#{group}#{dimension}#{value}", "SK": f"W#{window_start}"}


def login_failures(email_digest: str) -> dict[str, str]:
    return {"PK": f"LOGINFAIL#{email_digest}", "SK": "LOGINFAIL"}


USERS = "USERS"
SHOPS = "SHOPS"


def user_listing(created_at: str, user_id: str) -> dict[str, str]:
    """GSI2 attributes of a profile (every user, newest first)."""
    return {"GSI2PK": USERS, "GSI2SK": f"{created_at}#{user_id}"}


def shop_listing(created_at: str, seller_id: str) -> dict[str, str]:
    """GSI2 attributes of a shop (every shop, newest first)."""
    return {"GSI2PK": SHOPS, "GSI2SK": f"{created_at}#{seller_id}"}


def staff_partition(role: str) -> str:
    return f"STAFF#{role}"


def staff_member(role: str, user_id: str) -> dict[str, str]:
    return {"PK": staff_partition(role), "SK": f"USER#{user_id}"}


def admins_guard() -> dict[str, str]:
    return {"PK": "STAFF", "SK": "ADMINS"}


AUDIT = "AUDIT"


def audit_entry(at: str, audit_id: str) -> dict[str, str]:
    return {"PK": AUDIT, "SK": f"{at}#{audit_id}"}


def product(product_id: str) -> dict[str, str]:
    return {"PK": f"PRODUCT#{product_id}", "SK": PRODUCT_SK}


# ---------------------------------------------------------------------------------------------
# COMMERCE table: carts, checkouts, orders (the order workflow's own records: WORKFLOW below)
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | a customer's cart (all lines) | Commerce | PK=CART#<customer> | CART#5f1c… |
# | one cart line | Commerce | PK=CART#<customer>, SK=LINE#<product_id> | CART#5f1c…, LINE#pq3x… |
# | checkout record (idempotency) | Commerce | PK=CHECKOUT#<checkout_id>, SK=CHECKOUT | CHECKOUT#c7a…, CHECKOUT |
# | order by id (+ its timeline) | Commerce | PK=ORDER#<order_id>, SK=ORDER | ORDER#o4f…, ORDER |
# | customer's orders, newest first | GSI1 | GSI1PK=CUSTOMER#<customer>, GSI1SK desc | ORDER#2025-…#o4f… |
# | seller's orders, newest first | GSI2 | GSI2PK=SELLER#<seller>, GSI2SK desc | ORDER#2025-…#o4f… |
# | seller's orders in one status | GSI3 | GSI3PK=SELLER#<seller>, GSI3SK begins STATUS#<st># | STATUS#PAID#o4f… |
# | orders whose workflow has not started, oldest | GSI4 | GSI4PK=WORKFLOW_PENDING, GSI4SK < <t> | 2026-…Z#o4f… |
# | a return by id | Commerce | PK=RETURN#<return_id>, SK=RETURN | RETURN#r9d…, RETURN |
# | an order's returns / a seller's returns | GSI1 / GSI2 | GSI1PK=ORDER_RETURNS#<order> / GSI2PK=SELLER_RETURNS#<s> | |
# | returns past their answer deadline | GSI4 | GSI4PK=RETURNS_DUE, GSI4SK < <now> | 2026-…Z#r9d… |
# | a return workflow's parked task token | Commerce | PK=RETURN#<return_id>, SK=WAIT#seller (ttl) | WAIT#seller |
# | every order of one day, newest first (admin) | GSI5 | GSI5PK=ORDERS#<yyyy-mm-dd>, GSI5SK desc | ORDERS#2026-12-04 |
#
# Cart lines are keyed by product only (the seller is an attribute): PUT and DELETE
# /cart/items/{product_id} address the line straight from the URL with no product read.
# A customer's orders filtered by status use GSI1 with a FilterExpression (a customer has few
# orders); the seller's working queue ("PAID, waiting for me") gets GSI3, whose sort key
# ``transition`` rewrites with the status (order ids start with their creation time in hex,
# so within a status they sort newest first, and the key needs nothing but the order id).
# The timeline is a list on the order item, so one GetItem serves GET /orders/{id}; the
# workflow's WAIT# items (task tokens, WORKFLOW below) are separate items and never leave the
# store. GSI4 is sparse: checkout writes the order with ``workflow_pending`` keys and the
# workflow's first step removes them, so the reconciler (``services/reconcile.py``) reads only
# orders whose start may have been lost. GSI5 partitions every order by the day it was placed
# (UTC), so staff list a day's orders with one Query and no partition takes more than a day's
# order writes.
# ---------------------------------------------------------------------------------------------

ORDER_SK = "ORDER"


def cart(customer_id: str) -> dict[str, str]:
    """Partition of one customer's cart lines (Query with ``PK = :pk``)."""
    return {"PK": f"CART#{customer_id}"}


def cart_line(customer_id: str, product_id: str) -> dict[str, str]:
    return {"PK": f"CART#{customer_id}", "SK": f"LINE#{product_id}"}


def checkout(checkout_id: str) -> dict[str, str]:
    return {"PK": f"CHECKOUT#{checkout_id}", "SK": "CHECKOUT"}


def order(order_id: str) -> dict[str, str]:
    return {"PK": f"ORDER#{order_id}", "SK": ORDER_SK}


WORKFLOW_PENDING = "WORKFLOW_PENDING"


def workflow_pending(created_at: str, order_id: str) -> dict[str, str]:
    """GSI4 attributes of an order whose workflow has not reported its start yet."""
    return {"GSI4PK": WORKFLOW_PENDING, "GSI4SK": f"{created_at}#{order_id}"}


def order_sort(created_at: str, order_id: str) -> str:
    return f"ORDER#{created_at}#{order_id}"


def customer_orders(customer_id: str) -> str:
    """GSI1PK of a customer's orders."""
    return f"CUSTOMER#{customer_id}"


def seller_orders(seller_id: str) -> str:
    """GSI2PK of a seller's orders."""
    return f"SELLER#{seller_id}"


def seller_status_prefix(status: str) -> str:
    """GSI3SK prefix of a seller's orders in one status (GSI3PK is ``seller_orders``)."""
    return f"STATUS#{status}#"


def seller_status_sort(status: str, order_id: str) -> str:
    return f"{seller_status_prefix(status)}{order_id}"


def order_index_keys(order: dict) -> dict[str, str]:
    """The GSI attributes of an order item (GSI3SK follows its status)."""
    sort = order_sort(order["created_at"], order["order_id"])
    return {
        "GSI1PK": customer_orders(order["customer_id"]),
        "GSI1SK": sort,
        "GSI2PK": seller_orders(order["seller_id"]),
        "GSI2SK": sort,
        "GSI3PK": seller_orders(order["seller_id"]),
        "GSI3SK": seller_status_sort(order["status"], order["order_id"]),
        "GSI5PK": orders_of_day(order["created_at"][:10]),
        "GSI5SK": sort,
    }


def orders_of_day(day: str) -> str:
    """GSI5PK of the orders placed on ``day`` (``yyyy-mm-dd``, UTC)."""
    return f"ORDERS#{day}"


# ---------------------------------------------------------------------------------------------
# PROMO CODES (Commerce table): codes, their use counters and redemptions
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | one code of an issuer (checkout: BatchGet) | Commerce | PK=PROMOS#<issuer>, SK=CODE#<CODE> | CODE#SUMMER10 |
# | an issuer's codes (seller's list) | Commerce | PK=PROMOS#<issuer>, SK begins CODE# | PROMOS#marketplace |
# | a customer's uses of a code | Commerce | PK=PROMOS#<issuer>, SK=CUSTOMER#<CODE>#<customer> | CUSTOMER#SUMMER10#9a… |
# | a checkout's redemption of a code | Commerce | PK=PROMOS#<issuer>, SK=REDEMPTION#<CODE>#<checkout> | REDEMPTION#… |
# | who has issued a text (any seller) | Commerce | PK=PROMOTEXT#<CODE>, SK=ISSUERS | PROMOTEXT#SUMMER10, ISSUERS |
#
# ``issuer`` is a seller id or ``marketplace``; ``CODE`` is upper-case (codes are
# case-insensitive). The code item carries ``uses`` (checkouts holding a use now), which the
# checkout's TransactWriteItems increments under ``uses < max_uses``; the customer item the
# same per customer; the redemption item counts the checkout's orders the code discounted that
# are not cancelled (``open``) and gives the use back once when it reaches 0. The PROMOTEXT
# item lets a checkout say "another seller's code" rather than "unknown" in the same BatchGet.
# ---------------------------------------------------------------------------------------------


def promo_issuer(issuer: str) -> str:
    return f"PROMOS#{issuer}"


PROMO_CODE_PREFIX = "CODE#"


def promo_code(issuer: str, code: str) -> dict[str, str]:
    return {"PK": promo_issuer(issuer), "SK": f"{PROMO_CODE_PREFIX}{code}"}


def promo_customer(issuer: str, code: str, customer_id: str) -> dict[str, str]:
    return {"PK": promo_issuer(issuer), "SK": f"CUSTOMER#{code}#{customer_id}"}


def promo_redemption(issuer: str, code: str, checkout_id: str) -> dict[str, str]:
    return {"PK": promo_issuer(issuer), "SK": f"REDEMPTION#{code}#{checkout_id}"}


def promo_text(code: str) -> dict[str, str]:
    return {"PK": f"PROMOTEXT#{code}", "SK": "ISSUERS"}


# ---------------------------------------------------------------------------------------------
# CATALOG table: products, their listing items, per-seller category trees, feed imports
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | product by id (product page, cart, checkout) | Catalog | PK=PRODUCT#<pid>, SK=PRODUCT | PRODUCT#pq3x…, PRODUCT |
# | products by id, in bulk (import diff) | Catalog | BatchGetItem of PK=PRODUCT#<pid>, SK=PRODUCT | ×100 |
# | a seller's products (import: deactivate missing) | Catalog | PK=SELLER#<seller>#<nn> ×4, SK begins PRODUCT# | |
# | all products, by price (+ range) | GSI1 | GSI1PK=L#ALL#A<0/1>[#S]#<nn> ×16, GSI1SK between | L#ALL#A1#07, 0…28#p… |
# | products on sale (any scope, any sort) | GSI1/2/3 | GSInPK=<scope>#A<0/1>#S#<nn> | L#ALL#A1#S#07 |
# | all products, by name | GSI2 | GSI2PK=L#ALL#A<0/1>#<nn> ×16, GSI2SK > <cursor> | L#ALL#A1#07, iphone#pq… |
# | all products, newest first | GSI3 | GSI3PK=L#ALL#A<0/1>#<nn> ×16, GSI3SK < <cursor> | L#ALL#A1#07, 2025-…#pq… |
# | a seller's products, by price/name/newest | GSI1/2/3 | GSInPK=L#SELLER#<seller>#A<0/1>#<nn> ×4 | L#SELLER#5f…#A1#2 |
# | a category's products, by price/name/newest | GSI1/2/3 | GSInPK=L#CAT#<cat_key>#A<0/1>#<nn> ×4 | L#CAT#c7…#A1#02 |
# | a seller's category tree | Catalog | PK=SELLER#<seller>, SK=CATEGORIES | SELLER#5f1c…, CATEGORIES |
# | every seller's category tree | GSI4 | GSI4PK=CATEGORIES, GSI4SK=<seller> | CATEGORIES, 5f1c… |
# | a seller's import lock + last imported file | Catalog | PK=SELLER#<seller>, SK=IMPORT_STATE | |
# | feed import by id | Catalog | PK=IMPORT#<feed_id>, SK=IMPORT | IMPORT#f9c1…, IMPORT |
# | a seller's imports, newest first | GSI4 | GSI4PK=IMPORTS#<seller>, GSI4SK desc | IMPORTS#5f1c…, 2025-…#f9c1… |
# | a seller's feed URL (source) | Catalog | PK=FEEDSOURCES, SK=SELLER#<seller> | FEEDSOURCES, SELLER#5f1c… |
# | every feed source (the scheduled fetch) | Catalog | PK=FEEDSOURCES | FEEDSOURCES |
# | a central bank's latest rates (CBRF, NBU, NBK) | Catalog | PK=RATES, SK=<source> | RATES, CBRF |
#
# Feed sources share one partition so the scheduled fetch reads them with one paginated
# Query (no scan): one small item per seller, written once per fetch (hourly at most), so even
# 100,000 sellers write ~30 items/s there, far under a partition's 1,000 WCU.
#
# Listings. Every product is listed under three scopes: ALL (the product item itself carries
# the GSI1..3 keys), its SELLER and its CATEGORY (two small "listing items" in the seller's
# and the category's partition, projecting what a listing card shows). Each listing key ends
# in A1 (available) or A0 (unavailable): ``available=true/false`` reads one partition; no
# availability filter merges the two sorted partitions (k-way merge by the sort key; the
# cursor is the sort key reached). Every listing partition is write-sharded (``#<nn>``, below).
# A product on sale (old price above price) is listed in the same partitions with ``#S``
# appended (L#ALL#A1#S): ``on_sale=true`` reads only those, ``on_sale=false`` only the others,
# no filter merges both; an import that changes the prices rewrites the keys with the item.
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


def stable_shard(value: str, shards: int) -> int:
    """The write shard of ``value`` among ``shards`` (0 when unsharded)."""
    return _stable_shard(value, shards) if shards > 1 else 0


def _stable_shard(value: str, shards: int) -> int:
    """A stable hash (never Python's salted ``hash``) of ``value`` modulo ``shards``."""
    digest = hashlib.blake2b(value.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % shards


def _listing_item_pk(partition: str, product_id: str, shards: int | None) -> str:
    """A listing item's base-table partition written with ``shards`` write shards (None: the
    current ``listing_shards_scope``; 1: the unsharded partition of items written before)."""
    shards = settings().listing_shards_scope if shards is None else shards
    return partition if shards == 1 else f"{partition}#{_stable_shard(product_id, shards):02d}"


def _partitions(unsharded: str, shards: int, shard: Callable[[int], str], legacy: bool) -> list[str]:
    """Every partition a write-sharded key's items can be in: its ``shards`` shards, and the
    unsharded one while its legacy reads are on (one shard: the unsharded one only)."""
    if shards == 1:
        return [unsharded]
    out = [shard(n) for n in range(shards)]
    return out + [unsharded] if legacy else out


def _listing_item_partitions(partition: str) -> list[str]:
    return _partitions(partition, settings().listing_shards_scope, lambda n: f"{partition}#{n:02d}",
                       settings().listing_legacy_reads)


def seller_listing(seller_id: str, product_id: str, shards: int | None = None) -> dict[str, str]:
    """A seller listing item's key (``shards``: see ``_listing_item_pk``)."""
    return {"PK": _listing_item_pk(seller_partition(seller_id), product_id, shards),
            "SK": f"{LISTING_SK_PREFIX}{product_id}"}


def seller_listing_partitions(seller_id: str) -> list[str]:
    """Every base-table partition holding a seller's listing items: its write shards, and the
    unsharded one while LISTING_LEGACY_READS is on."""
    return _listing_item_partitions(seller_partition(seller_id))


def category_listing(category_key: str, product_id: str, shards: int | None = None) -> dict[str, str]:
    """A category listing item's key (``shards``: see ``_listing_item_pk``)."""
    return {"PK": _listing_item_pk(f"CAT#{category_key}", product_id, shards),
            "SK": f"{LISTING_SK_PREFIX}{product_id}"}


def listing_scope_all() -> str:
    return "L#ALL"


def listing_scope_seller(seller_id: str) -> str:
    return f"L#SELLER#{seller_id}"


def listing_scope_category(category_key: str) -> str:
    return f"L#CAT#{category_key}"


# Write sharding. DynamoDB takes at most 1,000 WCU/s on one partition key (of a table or of
# each GSI); a GSI with ProjectionType ALL is written with the whole item, one WCU per started
# KB. The goal is 10,000 products/s imported by all sellers together:
#   ALL scope:    10,000 writes/s × 1.5 WCU per write (product items run 0.6–2 KB; the bench
#                 measures ~1.0) / 1,000 WCU/s = 15 → 16 shards (625–940 WCU/s per key).
#   SELLER scope: one seller imports alone (per-seller lock) with WRITERS=4 concurrent
#                 BatchWriteItem chunks of 25 items, ~2–3 items per product, ~15 ms a call:
#                 ≤ 4 × 25 / 2 / 0.015 ≈ 3,300 products/s × ~0.5 WCU (listing items are cards,
#                 < 1 KB: 1 WCU) → 3,300 WCU/s / 1,000 = 3.3 → 4 shards. A CATEGORY belongs to
#                 one seller, so the seller's bound and the same 4 shards hold for it.
# shard = a stable hash of the product id (never Python's salted ``hash``), so a product's
# listing items of one scope always sit in the same shard and a rewrite lands on the same key.
# Reads scatter-gather every shard and merge by the sort key (``services/catalog.py``).
#
# Migration (one-off): items written before sharding carry the unsharded key
# (``L#ALL#A1``); imports skip unchanged products (content hash), so they are not rewritten on
# the next import. While LISTING_LEGACY_READS is on, every listing also merges the unsharded
# partition as one more stream, so nothing disappears; ``store/catalog.reshard_listings``
# moves every product to its shard (a Query of the unsharded ALL partitions, then the same
# conditional relist transaction as a stock change). Run it once after deploying
# (``python -m chalicelib.store.catalog reshard``), then set LISTING_LEGACY_READS to false.
# The base-table keys of the listing items are sharded the same way: one seller importing at
# full speed put its ~3,300 writes/s on SELLER#<seller> (and its biggest category ~1,150 on
# CAT#<key>), so a listing item lives at SELLER#<seller>#<nn> / CAT#<key>#<nn>, nn = the same
# hash of the product id modulo ``listing_shards_scope`` (4). The product item records the
# shard count its listing items were written with (``listing_shards``; absent: the unsharded
# SELLER#<seller> / CAT#<key> of before), so a rewrite deletes the old ones where they are
# (``store/catalog.stale_keys``) and a listing never holds a product twice. ``seller_products``
# (the import's "deactivate what the file no longer has") Queries the 4 shards and, while
# LISTING_LEGACY_READS is on, the unsharded partition; ``reshard_listings`` moves the listing
# items of products written before (put + delete, the product item's stock unchanged).
#
# On by default (``config.Settings.listing_shards_all`` / ``listing_shards_scope``: the
# numbers above). Sharding costs reads, not latency: a page merges every shard of every
# partition it selects (16 × 4 streams for an unfiltered marketplace page, + 4 legacy ones), and
# ``services/catalog`` sends the streams' Queries at the same time (a thread pool,
# ``listing_read_threads``), so a page waits for its slowest Query, not for their sum; each
# stream's first Query reads ~2 items (``first_read``), so the items read per page stay ~2 per
# stream + the page. ``bench/listing_bench.py`` measures it against the unsharded keys. One
# shard (``LISTING_SHARDS_ALL=1``) writes and reads the unsharded keys.
LISTING_WRITES_PER_SECOND = 10_000
LISTING_WCU_PER_WRITE = 1.5
PARTITION_WCU_LIMIT = 1_000
AT_SCALE_ALL_SHARDS = 16  # ceil(WRITES_PER_SECOND × WCU_PER_WRITE / PARTITION_WCU_LIMIT) = 15, rounded up
AT_SCALE_SCOPE_SHARDS = 4  # one seller's (or one category's) import: ceil(3,300 WCU/s / 1,000)


def listing_shards(scope: str) -> int:
    """Write shards of ``scope`` (``config.Settings.listing_shards_all`` / ``_scope``)."""
    s = settings()
    return s.listing_shards_all if scope == listing_scope_all() else s.listing_shards_scope


def listing_shard(scope: str, product_id: str) -> int:
    return _stable_shard(product_id, listing_shards(scope))


def listing_partition(scope: str, available: bool, sale: bool = False, shard: int | None = None) -> str:
    """``<scope>#A<0/1>``, ``#S`` after it for a product on sale (old price above price), then
    ``#<nn>``, the write shard (none: the unsharded partition of items written before)."""
    pk = f"{scope}#A{1 if available else 0}" + ("#S" if sale else "")
    return pk if shard is None else f"{pk}#{shard:02d}"


def listing_partitions(scope: str, available: bool, sale: bool) -> list[str]:
    """Every partition a listing of (scope, availability, sale) reads: its shards, and the
    unsharded one while LISTING_LEGACY_READS is on (one shard: the unsharded one only)."""
    if listing_shards(scope) == 1:
        return [listing_partition(scope, available, sale)]
    out = [listing_partition(scope, available, sale, n) for n in range(listing_shards(scope))]
    return out + [listing_partition(scope, available, sale)] if settings().listing_legacy_reads else out


def product_listing_partition(scope: str, available: bool, sale: bool, product_id: str) -> str:
    """The partition a product is written to in ``scope`` (unsharded with one shard)."""
    if listing_shards(scope) == 1:
        return listing_partition(scope, available, sale)
    return listing_partition(scope, available, sale, listing_shard(scope, product_id))


def price_sort(price: int, product_id: str = "") -> str:
    return f"{int(price):0{PRICE_DIGITS}d}#{product_id}"


def listing_keys(scope: str, available: bool, *, price: int, name_key: str, created_at: str,
                 product_id: str, sale: bool = False) -> dict[str, str]:
    """GSI1..3 attributes of a listed item (product item or listing item)."""
    pk = product_listing_partition(scope, available, sale, product_id)
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


FEED_SOURCES = "FEEDSOURCES"


def feed_source(seller_id: str) -> dict[str, str]:
    return {"PK": FEED_SOURCES, "SK": f"SELLER#{seller_id}"}


RATES = "RATES"


def currency_rates(source: str) -> dict[str, str]:
    return {"PK": RATES, "SK": source}


def feed_import(feed_id: str) -> dict[str, str]:
    return {"PK": f"IMPORT#{feed_id}", "SK": "IMPORT"}


def seller_imports(seller_id: str) -> str:
    """GSI4PK of a seller's imports (GSI4SK = created_at#feed_id)."""
    return f"IMPORTS#{seller_id}"


# ---------------------------------------------------------------------------------------------
# LEDGER table: wallets, seller balances, provider clearing shards, holds, ledger transactions
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | customer wallet (available, held) | Ledger | PK=WALLET#<customer>, SK=BALANCE | WALLET#5f1c…, BALANCE |
# | seller balance (earnings) | Ledger | PK=EARNINGS#<seller>, SK=BALANCE | EARNINGS#9a2e…, BALANCE |
# | provider clearing, one shard | Ledger | PK=CLEARING#<provider>#<nn>, SK=BALANCE | CLEARING#sandbox#07, BALANCE |
# | marketplace promotion expense, one shard | Ledger | PK=MARKETPLACE#promotions#<nn>, SK=BALANCE | …#promotions#03 |
# | marketplace fee revenue, one shard | Ledger | PK=MARKETPLACE#fees#<nn>, SK=BALANCE | MARKETPLACE#fees#03, BALANCE |
# | the marketplace fee schedule (admin) | Ledger | PK=FEES, SK=SCHEDULE | FEES, SCHEDULE |
# | a seller's earnings still pending (return window) | Ledger | PK=PENDING#<seller>, SK > <now> | …, 2026-…Z#o4f… |
# | one order's pending earnings, not delivered yet | Ledger | PK=PENDING#<seller>, SK=UNDELIVERED#<order> | |
# | a payout by id (state requested/paid/failed) | Ledger | PK=PAYOUT#<payout_id>, SK=PAYOUT | PAYOUT#p7c…, PAYOUT |
# | a seller's payouts, newest first | GSI1 | GSI1PK=PAYOUTS#<seller>, GSI1SK desc | 2026-…Z#p7c… |
# | the hold of an order (state held/captured/released) | Ledger | PK=HOLD#<order>, SK=HOLD | HOLD#o4f…, HOLD |
# | ledger transaction by id (journal, immutable) | Ledger | PK=TXN#<txn_id>, SK=TXN | TXN#hold:o4f…, TXN |
# | a customer's transactions, newest first | GSI1 | GSI1PK=WALLET#<customer>, GSI1SK desc | 2026-…Z#hold:o4f… |
# | a seller's transactions, newest first | GSI2 | GSI2PK=EARNINGS#<seller>, GSI2SK desc | 2026-…Z#capture:o4f… |
#
# Balance items are projections of the journal, updated in the same TransactWriteItems as the
# transaction item they come from; a customer's two accounts (available, held) share one item
# so a hold's "available >= amount" condition and both changes are one Update. Transaction
# ids are deterministic (``hold:<order>``, ``capture:<order>``, ``topup:<request hash>``), so
# a retried write meets ``attribute_not_exists`` and does nothing twice. Every transaction
# touches a customer (GSI1); captures also land in the seller's index (GSI2). GSI sort keys
# are ``<created_at>#<txn_id>``; both indexes are eventually consistent on AWS.
# ---------------------------------------------------------------------------------------------

BALANCE_SK = "BALANCE"


def wallet(customer_id: str) -> dict[str, str]:
    return {"PK": wallet_partition(customer_id), "SK": BALANCE_SK}


def wallet_partition(customer_id: str) -> str:
    """PK of the wallet item and GSI1PK of the customer's transactions."""
    return f"WALLET#{customer_id}"


def earnings(seller_id: str) -> dict[str, str]:
    return {"PK": earnings_partition(seller_id), "SK": BALANCE_SK}


def earnings_partition(seller_id: str) -> str:
    """PK of the seller balance item and GSI2PK of the seller's transactions."""
    return f"EARNINGS#{seller_id}"


def clearing(provider: str, shard: int) -> dict[str, str]:
    return {"PK": f"CLEARING#{provider}#{shard:02d}", "SK": BALANCE_SK}


def marketplace_account(name: str, shard: int) -> dict[str, str]:
    """A marketplace account's balance shard (``promotions``: the expense of marketplace codes)."""
    return {"PK": f"MARKETPLACE#{name}#{shard:02d}", "SK": BALANCE_SK}


def hold(order_id: str) -> dict[str, str]:
    return {"PK": f"HOLD#{order_id}", "SK": "HOLD"}


def fee_schedule() -> dict[str, str]:
    return {"PK": "FEES", "SK": "SCHEDULE"}


UNDELIVERED = "UNDELIVERED"  # sorts after every ISO date: an undelivered order is pending whatever the time


def pending_partition(seller_id: str) -> str:
    return f"PENDING#{seller_id}"


def pending_earnings(seller_id: str, order_id: str, until: str | None) -> dict[str, str]:
    """An order's captured net, pending until ``until`` (its return window's end; None: not delivered)."""
    return {"PK": pending_partition(seller_id), "SK": f"{until or UNDELIVERED}#{order_id}"}


def return_request(return_id: str) -> dict[str, str]:
    """A return of (part of) an order, in the COMMERCE table; its index attributes below."""
    return {"PK": f"RETURN#{return_id}", "SK": "RETURN"}


def return_wait(return_id: str) -> dict[str, str]:
    """The parked task token of the return's workflow (``services/return_workflow.py``): an item
    of its own beside the return, so the token never travels with the return's reads."""
    return {"PK": f"RETURN#{return_id}", "SK": "WAIT#seller"}


RETURNS_DUE = "RETURNS_DUE"


def return_indexes(order_id: str, seller_id: str, created_at: str, return_id: str, deadline: str
                   ) -> dict[str, str]:
    """GSI attributes of a return: the order's returns (GSI1), the seller's (GSI2), and — while
    it waits for the seller — the due sweep (GSI4, sparse: removed when it is decided)."""
    sort = f"{created_at}#{return_id}"
    return {"GSI1PK": f"ORDER_RETURNS#{order_id}", "GSI1SK": sort,
            "GSI2PK": f"SELLER_RETURNS#{seller_id}", "GSI2SK": sort,
            "GSI4PK": RETURNS_DUE, "GSI4SK": f"{deadline}#{return_id}"}


def order_returns_partition(order_id: str) -> str:
    return f"ORDER_RETURNS#{order_id}"


def seller_returns_partition(seller_id: str) -> str:
    return f"SELLER_RETURNS#{seller_id}"


def payout(payout_id: str) -> dict[str, str]:
    return {"PK": f"PAYOUT#{payout_id}", "SK": "PAYOUT"}


def payouts_partition(seller_id: str) -> str:
    """GSI1PK of a seller's payouts."""
    return f"PAYOUTS#{seller_id}"


def ledger_txn(txn_id: str) -> dict[str, str]:
    return {"PK": f"TXN#{txn_id}", "SK": "TXN"}


def ledger_txn_sort(created_at: str, txn_id: str) -> str:
    return f"{created_at}#{txn_id}"


# Payments through a provider (``store/payments.py``), in the LEDGER table:
# | a top-up paid on the provider's page | Ledger | PK=PAYMENT#<topup_id>, SK=PAYMENT | PAYMENT#tp_9c1f… |
# | the sandbox provider's own payment | Ledger | PK=SANDBOXPAY#<id>, SK=SANDBOXPAY | SANDBOXPAY#sbx_4e… |
# | an order's card payment at the provider | Ledger | PK=ORDERPAY#<order_id>, SK=ORDERPAY | ORDERPAY#o_7d… |
# | pending top-ups, oldest first (expiry) | GSI1 | GSI1PK=TOPUPS_PENDING#<n>, GSI1SK < <created_at> | 2026-…Z#tp_9c… |
#
# A top-up record carries its GSI1 keys only while it is pending (sparse: settling, cancelling
# or expiring it removes them), spread over ``TOPUP_SHARDS`` partitions by its id.


def payment(topup_id: str) -> dict[str, str]:
    return {"PK": f"PAYMENT#{topup_id}", "SK": "PAYMENT"}


def sandbox_payment(payment_id: str) -> dict[str, str]:
    return {"PK": f"SANDBOXPAY#{payment_id}", "SK": "SANDBOXPAY"}


TOPUP_SHARDS = 4


def pending_topups_partition(shard: int) -> str:
    return f"TOPUPS_PENDING#{shard}"


def pending_topup_index(topup_id: str, created_at: str) -> dict[str, str]:
    """GSI1 attributes of a top-up while it is pending."""
    shard = int(hashlib.sha256(topup_id.encode()).hexdigest()[:8], 16) % TOPUP_SHARDS
    return {"GSI1PK": pending_topups_partition(shard), "GSI1SK": f"{created_at}#{topup_id}"}


def order_payment(order_id: str) -> dict[str, str]:
    """A card order's payment at the provider (``store/payments.py``)."""
    return {"PK": f"ORDERPAY#{order_id}", "SK": "ORDERPAY"}


# ---------------------------------------------------------------------------------------------
# IDEMPOTENCY table: one record per (caller scope, Idempotency-Key)
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | request record (ttl) | Idempotency | PK=IDEM#<scope>#<key>, SK=IDEM | IDEM#5f1c…:POST:/wallet/topups#k-1, IDEM |
#
# ``scope`` is ``<user>:<METHOD>:<route>``: the same key from two users, or on two routes, never
# collides. Records expire through the table's ``ttl`` attribute (24 h after the first request).
# ---------------------------------------------------------------------------------------------


def idempotency(scope: str, key: str) -> dict[str, str]:
    return {"PK": f"IDEM#{scope}#{key}", "SK": "IDEM"}


# ---------------------------------------------------------------------------------------------
# SEARCH table: an inverted index over the catalog (chalicelib/search/ owns it)
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | a term's postings, strongest first | Search | PK=TERM#<term>#<nn> ×16 (Query each, merged by SK) | TERM#ботинк#07 |
# | one posting (diff) | Search | PK=TERM#<term>#<nn>, SK=RANK#<999-rank>#PRODUCT#<pid> | TERM#boot#03, RANK#0988#… |
# | what is indexed for a product | Search | PK=SEARCHDOC#<pid>, SK=SEARCHDOC (BatchGet) | SEARCHDOC#pq3x…, SEARCHDOC |
# | words beginning with a prefix | Search | PK=VOCAB#<2 chars>#<n> ×4, SK begins WORD#<prefix> | VOCAB#кр#2 |
# | every product of a term (match list) | Search | PK=MATCH#<term>#<nn> ×16: FRESH#<pid>, PACKED#<n> | MATCH#бот#07 |
#
# A posting is one (term, product) pair carrying the weight of the fields the term is in, the
# product's term -> weight map (<= 64 terms: other query words are checked in it, no document
# read) and the product summary a result shows (name, price, picture, seller, category...), so
# a result page needs no other read. rank = weight (+100 when the name is exactly the term); ``999 - rank``
# zero-padded makes ascending SK order strongest-first (chalicelib/search/document.py).
# VOCAB maps a surface word to its term (ботинок → ботинк); it only grows.
#
# Write sharding (the listings' scheme, "Write sharding" above; chalicelib/search/__init__.py,
# "Hot terms", has the arithmetic): a term's postings are spread over
# ``Settings.search_term_shards`` (16) partitions by a stable hash of the product id — a
# product's posting of one term always sits in one shard, so the indexer's diff deletes the
# item it wrote — and a vocabulary partition over ``search_vocab_shards`` (4) by a hash of the
# word. The SK is unchanged, so merging a term's shards by SK gives exactly the unsharded
# partition's order (``search/store.py``). The search document records the shard count its
# postings were written with (``ts``; absent: the unsharded keys of before), so a re-index
# deletes old postings where they are. One shard writes and reads the unsharded keys. While
# SEARCH_LEGACY_READS is on, readers merge the unsharded partition too (postings and words
# indexed before), until ``python -m chalicelib.search.indexer rebuild`` has moved them.
# ---------------------------------------------------------------------------------------------

SEARCH_RANK_MAX = 999


def search_term(term: str, shard: int | None = None) -> str:
    """A term's postings partition: shard ``shard``, or the unsharded one (None)."""
    return f"TERM#{term}" if shard is None else f"TERM#{term}#{shard:02d}"


def search_term_shards() -> int:
    return settings().search_term_shards


def search_term_partitions(term: str) -> list[str]:
    """Every partition holding postings of ``term``: its shards, and the unsharded one while
    SEARCH_LEGACY_READS is on (one shard: the unsharded one only)."""
    return _partitions(search_term(term), search_term_shards(), lambda n: search_term(term, n),
                       settings().search_legacy_reads)


def search_posting(term: str, rank_value: int, product_id: str, shards: int | None = None) -> dict[str, str]:
    """The key of a posting written with ``shards`` term shards (None: the current setting;
    1: the unsharded partition)."""
    shards = search_term_shards() if shards is None else shards
    rank = SEARCH_RANK_MAX - max(0, min(rank_value, SEARCH_RANK_MAX))
    pk = search_term(term) if shards == 1 else search_term(term, _stable_shard(product_id, shards))
    return {"PK": pk, "SK": f"RANK#{rank:04d}#PRODUCT#{product_id}"}


def search_match_partition(term: str, shard: int) -> str:
    """One write shard of a term's match list (``chalicelib/search/matches.py``)."""
    return f"MATCH#{term}#{shard:02d}"


def search_match_partitions(term: str) -> list[str]:
    return [search_match_partition(term, n) for n in range(search_term_shards())]


def search_match_fresh(term: str, product_id: str, write_id: str, shards: int | None = None) -> dict[str, str]:
    """A fresh entry of a product in a term's match list (one per write: ``write_id`` orders
    them), in the shard its posting of the term is in."""
    shards = search_term_shards() if shards is None else shards
    return {"PK": search_match_partition(term, stable_shard(product_id, shards)),
            "SK": f"{SEARCH_MATCH_FRESH}{product_id}#{write_id}"}


def search_match_packed(partition: str, part: int) -> dict[str, str]:
    return {"PK": partition, "SK": f"{SEARCH_MATCH_PACKED}{part:03d}"}


SEARCH_MATCH_FRESH = "FRESH#"  # sorts before PACKED#: a Query reads the fresh entries first
SEARCH_MATCH_PACKED = "PACKED#"


def search_doc(product_id: str) -> dict[str, str]:
    return {"PK": f"SEARCHDOC#{product_id}", "SK": "SEARCHDOC"}


def search_vocab_partition(word: str, shard: int | None = None) -> str:
    """The vocabulary partition of a word's (or a prefix's) first two characters: shard
    ``shard``, or the unsharded one (None)."""
    return f"VOCAB#{word[:2]}" if shard is None else f"VOCAB#{word[:2]}#{shard}"


def search_vocab_partitions(prefix: str) -> list[str]:
    """Every partition holding words beginning with ``prefix`` (≥ 2 chars)."""
    return _partitions(search_vocab_partition(prefix), settings().search_vocab_shards,
                       lambda n: search_vocab_partition(prefix, n), settings().search_legacy_reads)


def search_vocab(word: str) -> dict[str, str]:
    shards = settings().search_vocab_shards
    pk = search_vocab_partition(word) if shards == 1 else search_vocab_partition(word, _stable_shard(word, shards))
    return {"PK": pk, "SK": search_vocab_word(word)}


def search_vocab_word(word_or_prefix: str) -> str:
    return f"WORD#{word_or_prefix}"


# ---------------------------------------------------------------------------------------------
# WORKFLOW (Commerce table): the order workflow's task tokens, action links, email markers and
# the local outbox
#
# | access pattern | table / index | key condition | example |
# |---|---|---|---|
# | the task token a waiting step parked | Commerce | PK=ORDER#<order>, SK=WAIT#<kind> (ttl) | ORDER#o4f…, WAIT#seller |
# | parked tokens whose wake-up failed, oldest | GSI4 | GSI4PK=WAKE_PENDING, GSI4SK < <t> | 2026-…Z#o4f…#seller |
# | an action link (seller's email button) | Commerce | PK=LINK#<link_id>, SK=LINK (ttl) | LINK#l7q…, LINK |
# | "this email of this order was sent" | Commerce | PK=ORDER#<order>, SK=EMAIL#<kind> | ORDER#o4f…, EMAIL#new_order |
# | local runs only: every email sent, newest first | Commerce | PK=OUTBOX, SK desc (ttl) | OUTBOX, 2026-…Z#0100… |
#
# Task tokens never leave the store (no route, email or log shows them); ``kind`` is the wait
# (``WAIT_KINDS``). Link ids are derived from (order, seller, action), so issuing the links of
# an order twice (a retried step) finds the same records; the emailed token is the signed,
# expiring ``v1.`` token of ``notify/links.py`` naming that id. The outbox is one partition: it
# exists in local runs only, for the mailbox page, and expires after a day. A decision recorded
# whose wake-up failed marks its wait item with sparse GSI4 keys (``WAKE_PENDING``): the
# reconciler answers it; the mark goes with the token (answered, re-parked or expired).
# ---------------------------------------------------------------------------------------------

WAIT_KINDS = ("payment", "seller", "shipment", "receipt")
WAKE_PENDING = "WAKE_PENDING"
LINK_SK = "LINK"
OUTBOX_PK = "OUTBOX"


def workflow_wait(order_id: str, kind: str) -> dict[str, str]:
    if kind not in WAIT_KINDS:
        raise ValueError(f"unknown wait kind {kind!r}")
    return {"PK": f"ORDER#{order_id}", "SK": f"WAIT#{kind}"}


def action_link(link_id: str) -> dict[str, str]:
    return {"PK": f"LINK#{link_id}", "SK": LINK_SK}


def email_sent(order_id: str, kind: str) -> dict[str, str]:
    return {"PK": f"ORDER#{order_id}", "SK": f"EMAIL#{kind}"}


def outbox_entry(sent_at: str, message_id: str) -> dict[str, str]:
    return {"PK": OUTBOX_PK, "SK": f"{sent_at}#{message_id}"}


# --- import journal (store/import_journal.py) -------------------------------------------------
# | an import run's write-ahead journal | Catalog | PK=IMPORT#<feed_id>, SK=JOURNAL#<run>#<seq>#<part> (ttl) | |
# The journal lives in its import record's partition: the seller's import state names the open
# run, and the run's entries are one Query (``begins_with`` its prefix). They expire by TTL.


def import_journal_prefix(run: str) -> str:
    return f"JOURNAL#{run}#"


def import_journal(feed_id: str, run: str, seq: int, part: int) -> dict[str, str]:
    return {"PK": feed_import(feed_id)["PK"], "SK": f"{import_journal_prefix(run)}{seq:08d}#{part:03d}"}


# --- a feed imported in chunks (store/import_chunks.py) ---------------------------------------
# | the chunked import's job | Catalog | PK=IMPORT#<feed_id>, SK=CHUNKS | |
# | one chunk's claims | Catalog | PK=IMPORT#<feed_id>, SK=CHUNK#<run>#<n> | |
# | chunked imports not reported yet, least recently moved first (the stall sweep) | GSI4 |
# |   GSI4PK=CHUNK_JOBS, GSI4SK < <moved_at> (sparse: removed once reported) | CHUNK_JOBS, 2026-…#d9c1… |
# A chunk's journal is a run of its own under the split's: JOURNAL#<run>#c<n>a<attempt>#…, so
# the split's run prefix Queries every chunk's entries (the undo of the whole import).


CHUNK_JOBS = "CHUNK_JOBS"


def import_chunk_job(feed_id: str) -> dict[str, str]:
    return {"PK": feed_import(feed_id)["PK"], "SK": "CHUNKS"}


def import_chunk(feed_id: str, run: str, n: int) -> dict[str, str]:
    return {"PK": feed_import(feed_id)["PK"], "SK": f"CHUNK#{run}#{n:05d}"}
