"""Carts and the orders a checkout makes from them: pure rules, no IO.

A customer has one cart line per product; lines are grouped by the product's seller into one
cart per seller. The view shows current prices (the price the customer last saw is kept on
the line, so a dearer product is flagged). Checkout turns each seller's cart into one order
at the current prices plus the chosen delivery.

What the customer saw: each line keeps ``price_seen`` (the product's price) and
``delivery_seen`` (``{method_id: price}`` of the seller's delivery methods) from the moment it
was last added or set. A seller's seen delivery prices are those of the seller's most recently
added or updated line (``delivery_seen``). The checkout compares the orders it would place
with them (``check_seen``): it proceeds when the client's ``expected_total`` equals the grand
total, or, without ``expected_total``, when nothing rose (a price drop passes); otherwise
``CartChanged`` lists every difference. A delivery method the customer never saw counts as
risen (``old: None``); lines written before delivery prices were recorded pass on delivery.

Amounts: one order's total is one ledger movement (its hold), so it may not exceed
``ledger.MAX_AMOUNT``; a bigger order is refused at checkout (422 on ``cart.<seller_id>``)
rather than failing in the workflow's hold. Python integers do not overflow, and with that
cap every stored amount stays far below DynamoDB's 38 digits.

Caps follow from DynamoDB's 100-item TransactWriteItems, which places a whole checkout
atomically: per line one stock reservation and one cart-line delete, per seller one order,
plus one checkout record, plus per redeemed promo code three (its use counter, the customer's
counter, the redemption record; at most ``promos.MAX_CODES`` = 4 codes):
``2·lines + sellers + 1 + 3·codes ≤ 100``; with ``sellers ≤ lines`` and 4 codes that is
29 lines (33 before promo codes; the cap holds whether or not codes are sent, so a cart does
not become too big by adding a code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import orders as order_rules
from chalicelib.domain.catalog import Product
from chalicelib.domain.ledger import MAX_AMOUNT
from chalicelib.domain.promos import MAX_CODES
from chalicelib.errors import CartChanged, OutOfStock, ValidationFailed, field_error

TRANSACT_MAX_ITEMS = 100
ITEMS_PER_CODE = 3
MAX_LINES = (TRANSACT_MAX_ITEMS - 1 - ITEMS_PER_CODE * MAX_CODES) // 3  # 29
MAX_QUANTITY = 999

# Line issues shown by GET /cart (and refused by checkout, except price_increased, which
# checkout refuses unless the client confirms the new total: ``check_seen``).
UNAVAILABLE = "unavailable"
PRICE_INCREASED = "price_increased"
NOT_ENOUGH_STOCK = "not_enough_stock"
# Delivery method issue: the method appeared after the customer last saw the seller's methods.
NOT_SEEN = "not_seen"


@dataclass(frozen=True)
class CartLine:
    """One cart line as stored (``store/carts.py`` builds it from the item): the product, its
    seller, the quantity, and what the customer saw when they last added or set it."""

    customer_id: str
    product_id: str
    seller_id: str
    quantity: int
    price_seen: int | None = None  # None: a line written before prices were recorded
    currency: str = ""
    added_at: str = ""
    updated_at: str = ""
    delivery_seen: Mapping[str, int] | None = None  # {method_id: price}; None: written before it was recorded


def transact_items(lines: int, sellers: int, codes: int = MAX_CODES) -> int:
    return 2 * lines + sellers + 1 + ITEMS_PER_CODE * codes


def stock_of(product: Product | None) -> int | None:
    """Units that can be ordered now: 0 if unavailable, None when not limited (no count)."""
    if product is None or not offered(product):
        return 0
    return product.stock


def offered(product: Product | None) -> bool:
    """In the seller's current feed as available, and not blocked by an admin."""
    return product is not None and product.available and not product.blocked


def sellable(product: Product | None, shop: Mapping[str, Any] | None) -> bool:
    return offered(product) and shop is not None and not shop.get("blocked")


def line_issues(line: CartLine, product: Product | None,
                shop: Mapping[str, Any] | None) -> list[str]:
    if not sellable(product, shop):
        return [UNAVAILABLE]
    assert product is not None
    issues = []
    if product.price > _seen_price(line, product.price):
        issues.append(PRICE_INCREASED)
    stock = stock_of(product)
    if stock is not None and stock < line.quantity:
        issues.append(NOT_ENOUGH_STOCK)
    return issues


def _seen_price(line: CartLine | None, price: int) -> int:
    """The price the customer saw (``price`` itself when the line recorded none)."""
    return price if line is None or line.price_seen is None else line.price_seen


def delivery_prices(shop: Mapping[str, Any] | None) -> dict[str, int]:
    """``{method_id: price}`` of a shop's delivery methods now (what a line records as seen)."""
    return {str(m["id"]): int(m.get("price", 0)) for m in (shop or {}).get("delivery_methods") or []}


def delivery_seen(group: Iterable[CartLine]) -> dict[str, int] | None:
    """The seller's delivery prices as the customer last saw them: those recorded on the
    seller's most recently added or updated line; None when no line recorded them (lines
    written before delivery prices were recorded)."""
    recorded = [line for line in group if line.delivery_seen is not None]
    if not recorded:
        return None
    latest = max(recorded, key=lambda line: (line.updated_at or line.added_at, line.product_id))
    return {str(k): int(v) for k, v in (latest.delivery_seen or {}).items()}


def group_by_seller(lines: Iterable[CartLine]) -> dict[str, list[CartLine]]:
    """Lines per seller, sellers and lines in the order they were first added."""
    ordered = sorted(lines, key=lambda line: (line.added_at, line.product_id))
    groups: dict[str, list[CartLine]] = {}
    for line in ordered:
        groups.setdefault(line.seller_id, []).append(line)
    return groups


def cart_view(lines: list[CartLine], products: Mapping[str, Product],
              shops: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """GET /cart: one cart per seller with current prices, flags, subtotals and delivery
    methods; the grand total per currency (delivery is not included: it is not chosen yet).
    Subtotals count only lines that can be ordered now."""
    carts = []
    totals: dict[str, int] = {}
    for seller_id, group in group_by_seller(lines).items():
        shop = shops.get(seller_id)
        seen = delivery_seen(group)
        out_lines = []
        subtotal = 0
        currency = (shop or {}).get("currency")
        for line in group:
            product = products.get(line.product_id)
            issues = line_issues(line, product, shop)
            price = product.price if product else None
            qty = line.quantity
            units = stock_of(product) if UNAVAILABLE not in issues else 0  # None: not limited
            entry: dict[str, Any] = {
                "product_id": line.product_id,
                "name": product.name if product else None,
                "picture": next(iter(product.pictures), None) if product else None,
                "price": price,
                "price_seen": _seen_price(line, price or 0),
                "currency": product.currency if product else currency,
                "quantity": qty,
                "line_total": price * qty if price is not None else None,
                "available": units != 0,
                "available_quantity": units,
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
            "delivery_methods": [_method(m, seen) for m in (shop or {}).get("delivery_methods") or []],
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


def _method(m: Mapping[str, Any], seen: Mapping[str, int] | None) -> dict[str, Any]:
    """A delivery method with the price the customer last saw (``seen``: ``delivery_seen``;
    None means nothing was recorded, which passes like a line without ``price_seen``)."""
    price = int(m.get("price", 0))
    price_seen = price if seen is None else seen.get(str(m["id"]))
    issues = [NOT_SEEN] if price_seen is None else [PRICE_INCREASED] if price > price_seen else []
    return {"id": str(m["id"]), "name": m.get("name"), "price": price, "price_seen": price_seen,
            "days": _days(m.get("days")), "issues": issues}


def _days(value: Any) -> int | None:
    return None if value is None else int(value)


def plan_checkout(
    *,
    checkout_id: str,
    customer_id: str,
    lines: list[CartLine],
    products: Mapping[str, Product],
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
        product = products.get(line.product_id)
        shop = shops.get(line.seller_id)
        qty = line.quantity
        if not sellable(product, shop):
            failing.append({"product_id": line.product_id, "requested": qty, "available": 0, "reason": UNAVAILABLE})
            continue
        stock = stock_of(product)
        if stock is not None and stock < qty:
            failing.append({"product_id": line.product_id, "requested": qty, "available": stock,
                            "reason": NOT_ENOUGH_STOCK})
    if failing:
        raise OutOfStock(failure_detail(failing), lines=failing)

    orders, reservations, too_big = [], [], []
    for seller_id, group in groups.items():
        shop = shops[seller_id]
        method = {str(m["id"]): m for m in shop.get("delivery_methods") or []}[delivery[seller_id]]
        currencies = {products[line.product_id].currency for line in group}
        currency = shop.get("currency") or next(iter(currencies))
        if currencies != {currency}:
            raise ValidationFailed.one(f"delivery.{seller_id}", "this seller's prices are in another currency "
                                                               "than its delivery; the seller must fix the catalog")
        items = []
        for line in group:
            product = products[line.product_id]
            price, qty = product.price, line.quantity
            items.append({
                "product_id": line.product_id,
                "name": product.name,
                "price": price,
                "quantity": qty,
                "line_total": price * qty,
                "reserved": product.limited,
            })
            reservations.append({
                "product_id": line.product_id,
                "quantity": qty,
                "price": price,
                "limited": product.limited,
                "line_quantity": qty,
            })
        items_total = sum(i["line_total"] for i in items)
        delivery_price = int(method.get("price", 0))
        if items_total + delivery_price > MAX_AMOUNT:
            too_big.append(field_error(
                f"cart.{seller_id}",
                f"this seller's order totals {items_total + delivery_price} {currency} (minor units); one order can "
                f"be at most {MAX_AMOUNT}: lower the quantities or split the purchase"))
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
    if too_big:
        raise ValidationFailed("; ".join(f"{p['field']}: {p['reason']}" for p in too_big[:5]), errors=too_big)
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


# --- the customer pays what they saw --------------------------------------------------------


def seen_changes(orders: list[Mapping[str, Any]], lines: list[CartLine]) -> list[dict[str, Any]]:
    """Every difference between the orders a checkout would place and what the customer saw:
    per line ``{seller_id, product_id, kind: "price", old, new, currency}``, per chosen delivery
    ``{seller_id, kind: "delivery", method_id, old, new, currency}`` (``old`` None: a method the
    customer never saw). Drops are listed too; ``rose`` tells which ones block."""
    groups = group_by_seller(lines)
    changes: list[dict[str, Any]] = []
    for order in orders:
        seller_id, currency = order["seller_id"], order["currency"]
        group = groups.get(seller_id, [])
        by_product = {line.product_id: line for line in group}
        for item in order["items"]:
            old = _seen_price(by_product.get(item["product_id"]), int(item["price"]))
            if old != int(item["price"]):
                changes.append({"seller_id": seller_id, "product_id": item["product_id"], "name": item.get("name"),
                                "kind": "price", "old": old, "new": int(item["price"]), "currency": currency})
        seen = delivery_seen(group)
        if seen is None:
            continue  # lines written before delivery prices were recorded: nothing to compare
        method_id, price = order["delivery"]["method_id"], int(order["delivery"]["price"])
        if seen.get(method_id) != price:
            changes.append({"seller_id": seller_id, "kind": "delivery", "method_id": method_id,
                            "old": seen.get(method_id), "new": price, "currency": currency})
    return changes


def rose(change: Mapping[str, Any]) -> bool:
    return change["old"] is None or change["new"] > change["old"]


def grand_totals(orders: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Items + delivery of every order, per currency."""
    totals: dict[str, int] = {}
    for o in orders:
        totals[o["currency"]] = totals.get(o["currency"], 0) + int(o["total"])
    return totals


def check_seen(orders: list[Mapping[str, Any]], lines: list[CartLine],
               expected_total: int | None) -> None:
    """Let the checkout proceed only at a total the customer saw: ``expected_total`` equal to
    the grand total or, without it, no price and no chosen delivery price above what the lines
    recorded. Raises ``CartChanged`` (409) otherwise, or ``ValidationFailed`` when
    ``expected_total`` is sent for a cart in several currencies (one number cannot say it)."""
    totals = grand_totals(orders)
    if expected_total is not None and len(totals) > 1:
        raise ValidationFailed.one(
            "expected_total", f"your carts are in several currencies ({', '.join(sorted(totals))}); one number cannot "
                              "confirm their total: check out without expected_total")
    total, currency = (next(iter(totals.values())), next(iter(totals))) if len(totals) == 1 else (None, None)
    changes = seen_changes(orders, lines)
    if expected_total is not None:
        if expected_total == total:
            return
    elif not any(rose(c) for c in changes):
        return
    extra: dict[str, Any] = {"changes": [{k: v for k, v in c.items() if k != "name"} for c in changes]}
    if expected_total is not None:
        extra["expected_total"] = expected_total
    extra.update(total=total, currency=currency,
                 totals=[{"amount": a, "currency": c} for c, a in sorted(totals.items())])
    raise CartChanged(_changed_detail(changes, expected_total, total, currency), **extra)


def _changed_detail(changes: list[Mapping[str, Any]], expected_total: int | None, total: int | None,
                    currency: str | None) -> str:
    parts = []
    for c in changes[:5]:
        what = (f"{c.get('name') or c['product_id']}" if c["kind"] == "price"
                else f"delivery {c['method_id']!r} of seller {c['seller_id']}")
        old = "not shown before" if c["old"] is None else c["old"]
        parts.append(f"{what}: {old} → {c['new']} {c['currency']}")
    more = f" (and {len(changes) - 5} more)" if len(changes) > 5 else ""
    said = "" if expected_total is None else f"expected_total {expected_total} is not the total; "
    changed = ("prices changed since you saw them: " + "; ".join(parts) + more + ". ") if parts else ""
    if total is None:
        advice = ("Review your carts; setting a line again (PUT /cart/items/{product_id}) records its price and "
                  "its seller's delivery prices as seen.")
    else:
        advice = (f"The total is now {total} {currency} (minor units, items and delivery): review your cart and "
                  f"retry with expected_total={total} to accept it.")
    return said + changed + "Nothing was reserved or charged. " + advice
