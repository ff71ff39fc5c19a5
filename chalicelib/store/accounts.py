"""Accounts table: user profiles, seller shops and revoked sessions."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import conditional


def _table() -> Any:
    return clients.table(settings().accounts_table)


def _strip(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK", "ttl")}


def put_profile(user_id: str, profile: dict[str, Any]) -> None:
    _table().put_item(Item={**keys.user(user_id), **profile})


def get_profile(user_id: str) -> dict[str, Any] | None:
    return _strip(_table().get_item(Key=keys.user(user_id), ConsistentRead=True).get("Item"))


def update_profile(user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply ``changes`` to an existing profile; None when there is no profile."""
    names = {f"#f{i}": k for i, k in enumerate(changes)}
    values = {f":v{i}": v for i, v in enumerate(changes.values())}
    done = conditional(
        _table().update_item,
        Key=keys.user(user_id),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return None if done is None else _strip(done["Attributes"])


def put_shop(seller_id: str, shop: dict[str, Any]) -> dict[str, Any]:
    item = {**keys.shop(seller_id), **shop}
    _table().put_item(Item=item)
    return _strip(item) or {}


def get_shop(seller_id: str) -> dict[str, Any] | None:
    return _strip(_table().get_item(Key=keys.shop(seller_id)).get("Item"))


def get_shops(seller_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Shops by seller id in one BatchGetItem round trip per 100 ids."""
    items = toolkit.batch_get(settings().accounts_table, [keys.shop(s) for s in seller_ids])
    return {item["PK"].split("#", 1)[1]: _strip(item) or {} for item in items}


def revoke(session_id: str, expires_at: int) -> None:
    # Kept until the token would have expired anyway; TTL removes it after that.
    _table().put_item(Item={**keys.revoked(session_id), "ttl": int(expires_at) + 60, "at": int(time.time())})


def is_revoked(session_id: str) -> bool:
    return "Item" in _table().get_item(Key=keys.revoked(session_id), ProjectionExpression="PK")
