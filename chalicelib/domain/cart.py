"""Carts and the orders a checkout makes from them: pure rules, no IO.

A customer has one cart line per product; lines are grouped by the product's seller into one
cart per seller. The view shows current prices (the price the customer last saw is kept on
the line, so a dearer product is flagged). Checkout turns each seller's cart into one order
at the current prices plus the chosen delivery.

Caps follow from DynamoDB's 100-item TransactWriteItems, which places a whole checkout
atomically: per line one stock reservation and one cart-line delete, per seller one order,
plus one checkout record: ``2·lines + sellers + 1 ≤ 100``; with ``sellers ≤ lines`` that is
33 lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.domain import orders as order_rules
from chalicelib.errors import OutOfStock, ValidationFailed, field_error

TRANSACT_MAX_ITEMS = 100
MAX_LINES = (TRANSACT_MAX_ITEMS - 1) // 3  # 33
MAX_QUANTITY = 999

# Line issues shown by GET /cart (and refused by checkout, except price_increased).
UNAVAILABLE = "unavailable"
PRICE_INCREASED = "price_increased"
NOT_ENOUGH_STOCK = "not_enough_stock"


def transact_items(lines: int, sellers: int) -> int:
    return 2 * lines + sellers + 1


def is_limited(product: Mapping[str, Any]) -> bool:
    """Products without a stock count are not limited (the feed gives no count)."""
    return product.get("stock") is not None


def stock_of(product: Mapping[str, Any] | None) -> int | None:
    """Units that can be ordered now: 0 if unavailable, None when not limited."""
    if not offered(product):
        return 0
    return int(product["stock"]) if is_limited(product) else None


def offered(product: Mapping[str, Any] | None) -> bool:
    """In the seller's current feed as available, and not blocked by an admin."""
    return bool(product and product.get("available") and not product.get("blocked"))


def sellable(product: Mapping[str, Any] | None, shop: Mapping[str, Any] | None) -> bool:
    return offered(product) and shop is not None and not shop.get("blocked")


def line_issues(line: Mapping[str, Any], product: Mapping[str, Any] | None,
                shop: Mapping[str, Any] | None) -> list[str]:
    if not sellable(product, shop):
        return [UNAVAILABLE]
    assert product is not None
    issues = []
    if int(product["price"]) > int(line.get("price_seen", product["price"])):
        issues.append(PRICE_INCREASED)
    stock = stock_of(product)
    if stock is not None and stock < int(line["quantity"]):
        issues.append(NOT_ENOUGH_STOCK)
    return issues


def group_by_seller(lines: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Lines per seller, sellers and lines in the order they were first added."""
    ordered = sorted(lines, key=lambda line: (str(line.get("added_at", "")), line["product_id"]))
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for line in ordered:
        groups.setdefault(line["seller_id"], []).append(line)
    return groups


def cart_view(lines: list[Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]],
              shops: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """GET /cart: one cart per seller with current prices, flags, subtotals and delivery
    methods; the grand total per currency (delivery is not included: it is not chosen yet).
    Subtotals count only lines that can be ordered now."""
    carts = []
    totals: dict[str, int] = {}
    for seller_id, group in group_by_seller(lines).items():
        shop = shops.get(seller_id)
        out_lines = []
        subtotal = 0
        currency = (shop or {}).get("currency")
        for line in group:
            product = products.get(line["product_id"])
            issues = line_issues(line, product, shop)
            price = int(product["price"]) if product else None
            qty = int(line["quantity"])
            entry: dict[str, Any] = {
                "product_id": line["product_id"],
                "name": (product or {}).get("name"),
                "picture": next(iter((product or {}).get("pictures") or []), None),
                "price": price,
                "price_seen": int(line.get("price_seen", price or 0)),
                "currency": (product or {}).get("currency", currency),
                "quantity": qty,
                "line_total": price * qty if price is not None else None,
                "available": stock_of(product) if UNAVAILABLE not in issues else 0,
                "issues": issues,
            }
            if UNAVAILABLE not in issues and price is not None:
                subtotal += price * qty
                currency = currency or entry["currency"]
            out_lines.append(entry)
        carts.append({
            "seller_id": seller_id,
            "seller_name": (shop or {}).get("name"),
            "currency": currency,
            "lines": out_lines,
            "subtotal": subtotal,
            "delivery_methods": [_method(m) for m in (shop or {}).get("delivery_methods") or []],
            "has_issues": any(line["issues"] for line in out_lines),
        })
        if currency:
            totals[currency] = totals.get(currency, 0) + subtotal
    return {
        "carts": carts,
        "line_count": len(lines),
        "totals": [{"amount": a, "currency": c} for c, a in sorted(totals.items())],
        "total": {"amount": next(iter(totals.values())), "currency": next(iter(totals))} if len(totals) == 1 else None,
    }


def _method(m: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(m["id"]), "name": m.get("name"), "price": int(m.get("price", 0)), "days": _days(m.get("days"))}


def _days(value: Any) -> int | None:
    return None if value is None else int(value)


def plan_checkout(
    *,
    checkout_id: str,
    customer_id: str,
    lines: list[Mapping[str, Any]],
    products: Mapping[str, Mapping[str, Any]],
    shops: Mapping[str, Mapping[str, Any]],
    delivery: Mapping[str, str],
    address: Mapping[str, Any],
    payment_method: str,
    now_iso: str,
    now_ms: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The orders (one per seller, status AWAITING_PAYMENT) and the stock reservations of a
    checkout, or the error naming every problem. Order items use the current prices."""
    if not lines:
        raise ValidationFailed.one("cart", "the cart is empty")
    groups = group_by_seller(lines)
    needed = transact_items(len(lines), len(groups))
    if needed > TRANSACT_MAX_ITEMS:
        raise ValidationFailed.one("cart", f"too many lines to check out at once (at most {MAX_LINES})")

    problems = []
    for seller_id in groups:
        shop = shops.get(seller_id)
        chosen = delivery.get(seller_id)
        methods = {str(m["id"]): m for m in (shop or {}).get("delivery_methods") or []}
        if chosen is None:
            problems.append(field_error(f"delivery.{seller_id}", "choose a delivery method for this seller"))
        elif chosen not in methods:
            problems.append(field_error(f"delivery.{seller_id}", f"{chosen!r} is not a delivery method of this seller"))
    for seller_id in delivery:
        if seller_id not in groups:
            problems.append(field_error(f"delivery.{seller_id}", "this seller has nothing in your cart"))
    if problems:
        raise ValidationFailed("; ".join(f"{p['field']}: {p['reason']}" for p in problems[:5]), errors=problems)

    failing = []
    for line in lines:
        product = products.get(line["product_id"])
        shop = shops.get(line["seller_id"])
        qty = int(line["quantity"])
        if not sellable(product, shop):
            failing.append({"product_id": line["product_id"], "requested": qty, "available": 0, "reason": UNAVAILABLE})
            continue
        stock = stock_of(product)
        if stock is not None and stock < qty:
            failing.append({"product_id": line["product_id"], "requested": qty, "available": stock,
                            "reason": NOT_ENOUGH_STOCK})
    if failing:
        raise OutOfStock(failure_detail(failing), lines=failing)

    orders, reservations = [], []
    for seller_id, group in groups.items():
        shop = shops[seller_id]
        method = {str(m["id"]): m for m in shop.get("delivery_methods") or []}[delivery[seller_id]]
        currencies = {products[line["product_id"]].get("currency") for line in group}
        currency = shop.get("currency") or next(iter(currencies))
        if currencies != {currency}:
            raise ValidationFailed.one(f"delivery.{seller_id}", "this seller's prices are in another currency "
                                                               "than its delivery; the seller must fix the catalog")
        items = []
        for line in group:
            product = products[line["product_id"]]
            price, qty = int(product["price"]), int(line["quantity"])
            items.append({
                "product_id": line["product_id"],
                "name": product.get("name", ""),
                "price": price,
                "quantity": qty,
                "line_total": price * qty,
                "reserved": is_limited(product),
            })
            reservations.append({
                "product_id": line["product_id"],
                "quantity": qty,
                "price": price,
                "limited": is_limited(product),
                "line_quantity": qty,
            })
        items_total = sum(i["line_total"] for i in items)
        delivery_price = int(method.get("price", 0))
        oid = order_rules.order_id(checkout_id, seller_id, now_ms)
        orders.append({
            "order_id": oid,
            "checkout_id": checkout_id,
            "customer_id": customer_id,
            "seller_id": seller_id,
            "seller_name": shop.get("name", ""),
            "status": order_rules.INITIAL,
            "items": items,
            "delivery": {"method_id": str(method["id"]), "name": method.get("name", ""),
                         "price": delivery_price, "days": _days(method.get("days"))},
            "items_total": items_total,
            "delivery_price": delivery_price,
            "total": items_total + delivery_price,
            "currency": currency,
            "address": dict(address),
            "payment_method": payment_method,
            "created_at": now_iso,
            "updated_at": now_iso,
            "stock_released": False,
            "timeline": [{
                "event_id": "created",
                "type": "created",
                "at": now_iso,
                "actor": f"customer:{customer_id}",
                "detail": {"checkout_id": checkout_id},
                "status": order_rules.INITIAL,
            }],
        })
    return orders, reservations


def failure_detail(failing: list[Mapping[str, Any]]) -> str:
    parts = []
    for f in failing[:5]:
        if f.get("reason") == UNAVAILABLE:
            parts.append(f"{f['product_id']} is not available")
        elif f.get("reason") == "price_changed":
            parts.append(f"the price of {f['product_id']} just changed")
        else:
            parts.append(f"{f['product_id']}: {f['requested']} requested, {f['available']} available")
    more = f" (and {len(failing) - 5} more)" if len(failing) > 5 else ""
    return "; ".join(parts) + more + "; review your cart"
