"""Promo codes: sellers' and the marketplace's codes, and the quote (seed 003's calcPrice).

    create(issuer, fields)            a seller's code (issuer = seller id) or a marketplace code
    list_codes(issuer, ...)           with their use counts
    update(issuer, code, changes)     change limits, window, minimum; end it
    quote(customer_id, codes, delivery)
                                      per seller cart: subtotal, discount, delivery, total; the
                                      grand total; the reason of every code that does not apply
    for_checkout(...)                 what ``services/checkout.py`` applies: the same evaluation
                                      the quote shows (``domain/promos.evaluate``)

Rules (rounding, spreading, limits, what a cancelled order gives back): ``domain/promos.py``.
A quote costs 2 DynamoDB calls (the cart's lines; one BatchGetItem of products, shops and the
codes); a checkout with codes costs what one without costs (the codes join its BatchGetItem
and its one TransactWriteItems).
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import settings
from chalicelib.domain import cart as cart_rules
from chalicelib.domain import promos as rules
from chalicelib.domain.catalog import Product
from chalicelib.errors import Conflict, NotFound, PromoCodeRejected, ValidationFailed, field_error
from chalicelib.store import accounts, carts
from chalicelib.store import promos as store
from chalicelib.store.orders import now_iso

EDITABLE = ("min_subtotal", "starts_at", "ends_at", "max_uses", "max_uses_per_customer")


def _check(kind: str, value: int, terms: dict[str, Any]) -> None:
    problems = rules.check_definition(kind, value, **terms)
    if problems:
        raise ValidationFailed("; ".join(f"{f}: {r}" for f, r in problems),
                               errors=[field_error(f, r) for f, r in problems])


def create(issuer: str, fields: dict[str, Any]) -> dict[str, Any]:
    code = rules.normalize(fields["code"])
    terms = {k: fields.get(k) for k in EDITABLE}
    _check(fields["kind"], fields["value"], terms)
    if terms["ends_at"] and terms["ends_at"] <= now_iso():
        raise ValidationFailed.one("ends_at", "must be in the future")
    if issuer == rules.MARKETPLACE:
        currency = settings().default_currency
    else:
        shop = accounts.get_shop(issuer)
        if shop is None:
            raise Conflict("open your shop first (PUT /seller/shop): a code is in the shop's currency")
        currency = shop.get("currency") or settings().default_currency
    now = now_iso()
    item = {"issuer": issuer, "code": code, "kind": fields["kind"], "value": fields["value"], "currency": currency,
            "created_at": now, "updated_at": now, **{k: v for k, v in terms.items() if v is not None}}
    return store.create(item)


def list_codes(issuer: str, *, limit: int, start: dict[str, Any] | None
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    return store.list_codes(issuer, limit=limit, start=start)


def get(issuer: str, code: str) -> dict[str, Any]:
    item = store.get(issuer, rules.normalize(code)) if rules.CODE_RE.match(code) else None
    if item is None:
        raise NotFound(f"there is no code {code}")
    return item


def update(issuer: str, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes``: any of ``EDITABLE`` (None removes that term) and ``ended: true``."""
    code = rules.normalize(code)
    current = get(issuer, code)
    if changes.get("ended") is False and current.get("ended"):
        raise ValidationFailed.one("ended", "an ended code cannot be restarted: create a new one")
    terms = {k: changes[k] if k in changes else current.get(k) for k in EDITABLE}
    _check(current["kind"], int(current["value"]), terms)
    sets = {k: v for k, v in changes.items() if k in EDITABLE and v is not None}
    if changes.get("ended"):
        sets["ended"] = True
    removals = [k for k, v in changes.items() if k in EDITABLE and v is None]
    return store.update(issuer, code, sets, removals, now_iso())


# --- quote and checkout -------------------------------------------------------------------------


def _evaluate(texts: list[str], customer_id: str, lines: list[cart_rules.CartLine], products: dict[str, Product],
              shops: dict[str, Any], promo_items: list[dict[str, Any]]) -> tuple[dict[str, Any], rules.Evaluation]:
    view = cart_rules.cart_view(lines, products, shops)
    bases = [{"seller_id": c["seller_id"], "currency": c["currency"], "subtotal": c["subtotal"]} for c in view["carts"]]
    codes, issuers_of, uses = store.read_back(promo_items)
    return view, rules.evaluate(texts, bases, codes, issuers_of, uses, now_iso())


def check_texts(texts: list[str]) -> None:
    """422 for what no cart can make right: the same code twice, too many codes."""
    normalized = [rules.normalize(t) for t in texts]
    dupes = sorted({t for t in normalized if normalized.count(t) > 1})
    if dupes:
        raise ValidationFailed.one("promo_codes", f"a code may be used once per checkout: {', '.join(dupes)} "
                                                  "is entered more than once")


def quote(customer_id: str, texts: list[str], delivery: dict[str, str]) -> dict[str, Any]:
    check_texts(texts)
    lines = carts.lines(customer_id)
    product_ids, seller_ids = [x.product_id for x in lines], [x.seller_id for x in lines]
    products, shops, promo_items = carts.snapshot_with(
        product_ids, seller_ids, store.checkout_keys(texts, seller_ids, customer_id) if lines else [])
    view, evaluation = _evaluate(texts, customer_id, lines, products, shops, promo_items)
    problems = [field_error(f"delivery.{s}", "this seller has nothing in your cart")
                for s in delivery if s not in {c["seller_id"] for c in view["carts"]}]
    out, totals = [], {}
    for cart in view["carts"]:
        seller_id, currency = cart["seller_id"], cart["currency"]
        methods = {m["id"]: m for m in cart["delivery_methods"]}
        chosen = delivery.get(seller_id)
        if chosen is not None and chosen not in methods:
            problems.append(field_error(f"delivery.{seller_id}", f"{chosen!r} is not a delivery method of this seller"))
        delivery_price = methods[chosen]["price"] if chosen in methods else None
        discount = evaluation.discount(seller_id)
        total = cart["subtotal"] - discount + (delivery_price or 0)
        out.append({"seller_id": seller_id, "seller_name": cart["seller_name"], "currency": currency,
                    "subtotal": cart["subtotal"], "discount": discount, "discounts": evaluation.discounts(seller_id),
                    "delivery_method": chosen if chosen in methods else None, "delivery": delivery_price,
                    "total": total, "has_issues": cart["has_issues"]})
        if currency:
            totals[currency] = totals.get(currency, 0) + total
    if problems:
        raise ValidationFailed("; ".join(f"{p['field']}: {p['reason']}" for p in problems[:5]), errors=problems)
    applied = [{"code": a.code, "funded_by": a.funded_by, "amount": sum(a.shares.values()),
                "seller_id": None if a.issuer == rules.MARKETPLACE else a.issuer} for a in evaluation.applied]
    return {
        "carts": out,
        "totals": [{"amount": a, "currency": c} for c, a in sorted(totals.items())],
        "total": ({"amount": next(iter(totals.values())), "currency": next(iter(totals))}
                  if len(totals) == 1 else None),
        "delivery_included": all(c["delivery"] is not None for c in out),
        "applied": applied,
        "rejected": evaluation.rejected,
    }


def for_checkout(texts: list[str], customer_id: str, lines: list[cart_rules.CartLine], products: dict[str, Product],
                 shops: dict[str, Any], promo_items: list[dict[str, Any]], orders: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """Apply the codes to the planned ``orders`` exactly as the quote shows them, or refuse
    (``PromoCodeRejected``) when any code does not apply. Returns the redemptions to write."""
    if not texts:
        return []
    _, evaluation = _evaluate(texts, customer_id, lines, products, shops, promo_items)
    if evaluation.rejected:
        raise rejected(evaluation.rejected)
    redemptions = rules.apply_to_orders(orders, evaluation)
    codes, _, _ = store.read_back(promo_items)
    for r in redemptions:
        r["max_uses_per_customer"] = codes[(r["issuer"], r["code"])].get("max_uses_per_customer")
    return redemptions


def rejected(entries: list[dict[str, Any]]) -> PromoCodeRejected:
    parts = [f"{e['code']}: {e['detail']}" for e in entries[:5]]
    return PromoCodeRejected("; ".join(parts) + ". Nothing was reserved, redeemed or charged.", codes=entries)
