"""The marketplace fee: the admin's schedule, and the fee of an order at capture.

Rules and rounding: ``domain/fees.py``. A change of the schedule applies to captures after it;
an order keeps the fee (and the rates) it was captured with — the capture writes them onto the
order in its own transaction (``store/fees.order_fee_op``).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain import fees as rules
from chalicelib.domain.ledger import now_iso
from chalicelib.domain.orders import Order
from chalicelib.errors import ValidationFailed, field_error
from chalicelib.store import catalog as catalog_store
from chalicelib.store import fees as store


def set_schedule(default_percent: Any, categories: dict[str, Any], *, admin_id: str) -> dict[str, Any]:
    """Replace the schedule; every bad rate is reported (422), and then nothing changes."""
    errors = []
    default_bps = 0
    try:
        default_bps = rules.percent_to_bps(default_percent)
    except rules.BadRate as bad:
        errors.append(field_error("default_percent", str(bad)))
    if len(categories) > rules.MAX_CATEGORIES:
        errors.append(field_error("categories", f"at most {rules.MAX_CATEGORIES} categories"))
    stored: dict[str, dict[str, Any]] = {}
    for name, percent in categories.items():
        key = rules.category_key(name)
        if not key or len(name) > rules.MAX_CATEGORY_NAME:
            errors.append(field_error(f"categories.{name}", f"a category name of 1..{rules.MAX_CATEGORY_NAME} "
                                                           "characters"))
            continue
        if key in stored:
            errors.append(field_error(f"categories.{name}", "the same category twice (names ignore case and "
                                                           "spaces)"))
            continue
        try:
            stored[key] = {"name": " ".join(name.split()), "bps": rules.percent_to_bps(percent)}
        except rules.BadRate as bad:
            errors.append(field_error(f"categories.{name}", str(bad)))
    if errors:
        raise ValidationFailed("the fee schedule is invalid", errors=errors)
    store.put_schedule(default_bps, stored, updated_by=admin_id, at=now_iso())
    return schedule()


def schedule() -> dict[str, Any]:
    _, raw = store.get_schedule()
    cats = raw.get("categories") or {}
    return {
        "default_percent": rules.bps_to_percent(int(raw.get("default_bps", 0))),
        "categories": {v["name"]: rules.bps_to_percent(int(v["bps"])) for v in cats.values()},
        "updated_at": raw.get("updated_at"),
        "updated_by": raw.get("updated_by"),
    }


def quote(order: Order) -> rules.OrderFee:
    """The fee the order pays if captured now: two reads (the schedule; the products' categories).

    A product deleted since the order was placed pays the default rate.
    """
    sched, _ = store.get_schedule()
    items = order.items
    products = catalog_store.load_products([i.product_id for i in items]) if sched.categories else {}
    categories = {pid: p.category_name for pid, p in products.items()}
    lines = [(i.product_id, i.line_total, sched.rate_for(categories.get(i.product_id))) for i in items]
    return rules.order_fee(order.total + order.marketplace_discount, lines, order.delivery_price, sched.default_bps)
