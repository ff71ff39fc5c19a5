"""Seller shops: the seller's public face (name, language, delivery methods) and its
admin-controlled ``blocked`` flag."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import NotFound
from chalicelib.store import accounts

PUBLIC_FIELDS = ("seller_id", "name", "language", "currency", "delivery_methods", "created_at", "updated_at")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def put_shop(seller_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    current = accounts.get_shop(seller_id) or {}
    now = _now()
    shop = {
        **fields,
        "seller_id": seller_id,
        # The admin's block survives the seller's edits.
        "blocked": bool(current.get("blocked", False)),
        "created_at": current.get("created_at", now),
        "updated_at": now,
    }
    return accounts.put_shop(seller_id, shop)


def get_own_shop(seller_id: str) -> dict[str, Any]:
    shop = accounts.get_shop(seller_id)
    if shop is None:
        raise NotFound("you have no shop yet: create it with PUT /seller/shop")
    return shop


def get_public_shop(seller_id: str) -> dict[str, Any]:
    shop = accounts.get_shop(seller_id)
    if shop is None or shop.get("blocked"):
        raise NotFound("no such seller")
    return {k: shop[k] for k in PUBLIC_FIELDS if k in shop}


def set_blocked(seller_id: str, blocked: bool, *, audit_item: dict[str, Any] | None = None) -> dict[str, Any]:
    """``audit_item``: the staff action's audit entry, written in the same transaction."""
    shop = accounts.get_shop(seller_id)
    if shop is None:
        raise NotFound("no such seller")
    shop["blocked"] = blocked
    shop["updated_at"] = _now()
    return accounts.put_shop(seller_id, shop, audit_item=audit_item)
