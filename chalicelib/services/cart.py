"""Cart use cases: add, set, remove, empty and view the customer's carts (one per seller).

DynamoDB calls per operation (``bench/commerce_bench.py`` measures them):

| operation | calls | what they are | floor the access patterns allow |
|---|---|---|---|
| add / set, product in the cart | 3 | Query cart · BatchGetItem product + shop · UpdateItem line | 2 |
| add / set, product new to it | 4 | Query cart · GetItem product · GetItem shop · UpdateItem line | 3 |
| remove a line | 1 | DeleteItem (the line key is customer + product) | 1 |
| get cart | 2 | Query cart · BatchGetItem products + shops (one call, two tables) | 2 |
| empty cart | 1 + ⌈n/25⌉ | Query · BatchWriteItem deletes | same |

A line records what the customer saw: the product's price and the seller's delivery prices
(``domain/cart.py``), so the write needs the product and its seller's shop. When the product
is in the cart already its line names the seller, and one BatchGetItem reads both (the
``carts.snapshot`` read); a product new to the cart must be read before its seller is known
(product ids do not name the seller), so the shop costs one more GetItem. The floor is then
product → shop → write (3), or 2 when the seller is known.

The Query of the cart, on top of the floor, is what makes the caps exact (at most
``MAX_LINES`` lines — beyond that a checkout would not fit in one transaction) and lets the
409 say how many units are already in the cart. The line write is conditional on the quantity
the checks saw, so the Query cannot go stale unnoticed (a retry re-runs only the Query).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain import cart as rules
from chalicelib.domain.catalog import Product
from chalicelib.errors import NotFound, OutOfStock, Unavailable, ValidationFailed
from chalicelib.store import accounts, carts, catalog

WRITE_ATTEMPTS = 3


def _product(product_id: str, line: rules.CartLine | None, *, in_path: bool
             ) -> tuple[Product, dict[str, Any] | None]:
    """The product and its seller's shop: one BatchGetItem when the cart line names the seller,
    else the product, then (only if it can be added) the shop."""
    if line is not None:
        products, shops = carts.snapshot([product_id], [line.seller_id])
        product, shop = products.get(product_id), shops.get(line.seller_id)
    else:
        product, shop = catalog.load_product(product_id), None
    if product is None:
        if in_path:
            raise NotFound(f"product {product_id} does not exist")
        raise ValidationFailed.one("product_id", f"unknown product {product_id}")
    if not product.available:
        raise OutOfStock(f"product {product_id} is not available", product_id=product_id, available=0,
                         reason=rules.UNAVAILABLE)
    if line is None:
        shop = accounts.get_shop(product.seller_id)
    return product, shop


def _write(customer_id: str, pid: str, quantity_of: Any, *, in_path: bool) -> rules.CartLine:
    """Check caps and stock against the current cart, then write on condition that the line
    is still what was checked; a concurrent change of the same line re-runs the check."""
    current = {line.product_id: line for line in carts.lines(customer_id)}
    product, shop = _product(pid, current.get(pid), in_path=in_path)
    seen = rules.delivery_prices(shop)
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            current = {line.product_id: line for line in carts.lines(customer_id)}
        existing = current.get(pid)
        held = existing.quantity if existing else 0
        quantity = quantity_of(held)
        if existing is None and len(current) >= rules.MAX_LINES:
            raise ValidationFailed.one("product_id", f"the cart holds at most {rules.MAX_LINES} lines")
        if quantity > rules.MAX_QUANTITY:
            raise ValidationFailed.one(
                "quantity", f"at most {rules.MAX_QUANTITY} units per line ({held} already in the cart)")
        stock = rules.stock_of(product)
        if stock is not None and quantity > stock:
            raise OutOfStock(
                f"only {stock} unit(s) of {pid} available; you asked for {quantity}"
                + (f" ({held} already in the cart)" if held else ""),
                product_id=pid, requested=quantity, available=stock, in_cart=held)
        try:
            return carts.put_line(customer_id, product, quantity, delivery_seen=seen,
                                  expect=held if existing else None)
        except carts.LineChanged:
            continue
    raise Unavailable("your cart is being changed by another request; retry")


def add(customer_id: str, product_id: str, quantity: int) -> rules.CartLine:
    """Add units of a product; quantities of the same product sum."""
    return _write(customer_id, product_id, lambda held: held + quantity, in_path=False)


def set_quantity(customer_id: str, product_id: str, quantity: int) -> rules.CartLine:
    """Set the line's quantity (creating the line if the product is not in the cart yet)."""
    return _write(customer_id, product_id, lambda held: quantity, in_path=True)


def remove(customer_id: str, product_id: str) -> None:
    carts.remove_line(customer_id, product_id)


def clear(customer_id: str) -> None:
    carts.clear(customer_id)


def view(customer_id: str) -> dict[str, Any]:
    lines = carts.lines(customer_id)
    if not lines:
        return rules.cart_view([], {}, {})
    products, shops = carts.snapshot([line.product_id for line in lines], [line.seller_id for line in lines])
    return rules.cart_view(lines, products, shops)
