"""The staff audit: one immutable item per staff action (who, when, what), in the accounts table.

An entry is built by ``entry`` and written by the store that performs the action, as one more
``Put`` of the action's own TransactWriteItems (``put_op``), so an action without its entry (or
an entry without its action) cannot happen. Actions that run elsewhere (an order cancel goes
through the order workflow; a product block rewrites catalog and search items) ``record`` the
entry right after the action succeeded.

Entries share one partition (``keys.AUDIT``), sorted by time: staff act at a human pace, far
under a partition's write limit, and the newest-first listing is one Query. Filters (actor,
action, target) are FilterExpressions on it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import Attr, Key

ACTIONS = ("user.role", "user.blocked", "seller.blocked", "product.blocked", "order.cancel", "feed.upload",
           "promo.create")


def _table() -> Any:
    return clients.table(settings().accounts_table)


def entry(*, actor_id: str, actor_role: str, action: str, target: str, detail: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    """An audit item: ``target`` names what was acted on (``user:<id>``, ``order:<id>``…)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    audit_id = uuid.uuid4().hex
    return {**keys.audit_entry(at, audit_id), "audit_id": audit_id, "at": at, "actor_id": actor_id,
            "actor_role": actor_role, "action": action, "target": target, "detail": detail or {}}


def put_op(item: dict[str, Any]) -> dict[str, Any]:
    """The entry as one operation of a TransactWriteItems (never overwrites another entry)."""
    return {"Put": {"TableName": settings().accounts_table, "Item": item,
                    "ConditionExpression": "attribute_not_exists(PK)"}}


def record(item: dict[str, Any]) -> None:
    _table().put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")


def list_entries(*, actor_id: str | None, action: str | None, target: str | None, limit: int,
                 start_key: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Newest first; one Query page (a filtered page may hold fewer than ``limit`` entries)."""
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(keys.AUDIT), "ScanIndexForward": False,
                              "Limit": limit}
    conditions = [Attr(name).eq(value) for name, value in
                  (("actor_id", actor_id), ("action", action), ("target", target)) if value is not None]
    if conditions:
        combined = conditions[0]
        for c in conditions[1:]:
            combined = combined & c
        kwargs["FilterExpression"] = combined
    if start_key:
        kwargs["ExclusiveStartKey"] = start_key
    resp = _table().query(**kwargs)
    items = [{k: v for k, v in item.items() if k not in ("PK", "SK")} for item in resp.get("Items", [])]
    return items, resp.get("LastEvaluatedKey")
