"""Commerce table: cart lines, and the one-call read of the catalog and shops a cart needs.

One item per (customer, product) line: ``keys.cart_line`` → ``{customer_id, product_id,
seller_id, quantity, price_seen, delivery_seen, currency, added_at, updated_at}``.
``price_seen`` is the price when the customer last added or set the line, ``delivery_seen``
the seller's delivery prices then (``{method_id: price}``; absent on lines written before it
was recorded), so GET /cart can flag what became dearer and checkout can refuse to charge it
unconfirmed (``domain/cart.check_seen``).

Writes are optimistic: a line is written on condition that its quantity is still the one the
service checked the stock and the caps against (``expect``), so two concurrent adds cannot
both pass a check meant for one. A failed condition raises ``LineChanged`` and the service
reads again.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain.cart import CartLine
from chalicelib.domain.catalog import Product
from chalicelib.store import keys, toolkit
from chalicelib.store.orders import now_iso
from chalicelib.store.toolkit import conditional
from chalicelib.store.values import plain


class LineChanged(Exception):
    """The line changed between the service's read and its write (internal retry signal)."""


def _table() -> Any:
    return clients.table(settings().commerce_table)


def _line(item: dict[str, Any]) -> CartLine:
    """The stored item as a ``CartLine`` (numbers as ints; what an old line lacks stays None)."""
    raw = plain(item)
    seen = raw.get("delivery_seen")
    return CartLine(
        customer_id=raw["customer_id"], product_id=raw["product_id"], seller_id=raw["seller_id"],
        quantity=int(raw["quantity"]),
        price_seen=None if raw.get("price_seen") is None else int(raw["price_seen"]),
        currency=raw.get("currency", ""), added_at=raw.get("added_at", ""), updated_at=raw.get("updated_at", ""),
        delivery_seen=None if seen is None else {str(k): int(v) for k, v in seen.items()},
    )


def lines(customer_id: str) -> list[CartLine]:
    """Every line of the customer's carts: one consistent Query (≤ ``MAX_LINES`` small items: one page)."""
    out: list[CartLine] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": keys.cart(customer_id)["PK"]},
        "ConsistentRead": True,
    }
    while True:
        resp = _table().query(**kwargs)
        out += [_line(i) for i in resp.get("Items", [])]
        if not resp.get("LastEvaluatedKey"):
            return out
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def put_line(customer_id: str, product: Product, quantity: int, *, delivery_seen: dict[str, int],
             expect: int | None) -> CartLine:
    """Set the line's quantity, provided it still holds ``expect`` units (None: no line yet),
    and record the product's price and the seller's delivery prices as seen now."""
    now = now_iso()
    if expect is None:  # a new line: one conditional PutItem of the whole item
        item = {**keys.cart_line(customer_id, product.product_id), "quantity": quantity,
                "seller_id": product.seller_id, "price_seen": product.price, "delivery_seen": delivery_seen,
                "currency": product.currency, "customer_id": customer_id, "product_id": product.product_id,
                "updated_at": now, "added_at": now}
        conditional(_table().put_item, refused=LineChanged(product.product_id), Item=item,
                    ConditionExpression="attribute_not_exists(quantity)")
        return _line(item)
    values: dict[str, Any] = {
        ":q": quantity, ":seller": product.seller_id, ":price": product.price, ":dseen": delivery_seen,
        ":cur": product.currency, ":now": now, ":cust": customer_id, ":pid": product.product_id,
        ":expect": expect,
    }
    condition = "quantity = :expect"
    done = conditional(
        _table().update_item,
        refused=LineChanged(product.product_id),
        Key=keys.cart_line(customer_id, product.product_id),
        UpdateExpression=(
            "SET quantity = :q, seller_id = :seller, price_seen = :price, delivery_seen = :dseen, currency = :cur, "
            "customer_id = :cust, product_id = :pid, updated_at = :now, added_at = if_not_exists(added_at, :now)"
        ),
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return _line(done["Attributes"])


def remove_line(customer_id: str, product_id: str) -> None:
    """Delete a line; deleting an absent line is not an error."""
    _table().delete_item(Key=keys.cart_line(customer_id, product_id))


def clear(customer_id: str) -> int:
    """Delete every line: one Query for the keys, one BatchWriteItem per 25 lines."""
    found = lines(customer_id)
    toolkit.batch_write(settings().commerce_table,
                        deletes=[keys.cart_line(customer_id, line.product_id) for line in found])
    return len(found)


def snapshot(product_ids: list[str], seller_ids: list[str], *, consistent: bool = False
             ) -> tuple[dict[str, Product], dict[str, dict[str, Any]]]:
    """Products and their sellers' shops in ONE BatchGetItem across the catalog and accounts
    tables (the seller id is on each cart line, so the shops need not wait for the products).
    Returns (products by id, as ``domain.catalog.Product`` records; shops by seller id); more
    than 100 keys take more calls."""
    products, shops, _ = snapshot_with(product_ids, seller_ids, [], consistent=consistent)
    return products, shops


def snapshot_with(product_ids: list[str], seller_ids: list[str], commerce_keys: list[dict[str, str]], *,
                  consistent: bool = False
                  ) -> tuple[dict[str, Product], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``snapshot`` plus the Commerce items at ``commerce_keys`` (a checkout's promo codes:
    ``store/promos.checkout_keys``), raw, in the same BatchGetItem."""
    catalog, commerce = settings().catalog_table, settings().commerce_table
    wanted = [(catalog, keys.product(p)) for p in product_ids]
    wanted += [(settings().accounts_table, keys.shop(s)) for s in seller_ids]
    wanted += [(commerce, k) for k in commerce_keys]
    products: dict[str, Product] = {}
    shops: dict[str, dict[str, Any]] = {}
    others: list[dict[str, Any]] = []
    for table, item in toolkit.batch_get_across(wanted, ConsistentRead=consistent):
        if table == catalog:
            products[item["product_id"]] = Product.from_item(_strip(item))
        elif table == commerce:
            others.append(plain(item))
        else:
            shops[item["PK"].split("#", 1)[1]] = _strip(item)
    return products, shops, others


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return plain({k: v for k, v in item.items() if k not in ("PK", "SK", "ttl") and not k.startswith("GSI")})
