"""Catalog table: feed import records (one per imported S3 object version).

Status timeline: ``queued`` (upload URL issued, a drop seen, or a feed URL being fetched) →
``processing`` (a worker holds it, until ``lease_until``) → ``succeeded`` |
``partially_succeeded`` | ``failed``; a fetch that found the feed unchanged goes from
``queued`` straight to ``unchanged``, and one that failed straight to ``failed``.
Reads return the typed record (``domain/imports.py``); writes take the item's fields.
``claim`` is the one conditional write that makes a duplicate SQS delivery a no-op: it only
moves a record that is queued, or processing with an expired lease (the worker died).
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain.imports import FAILED, FINAL, PARTIAL, PROCESSING, QUEUED, SUCCEEDED, UNCHANGED, ImportRecord
from chalicelib.store import keys
from chalicelib.store.catalog import strip_keys
from chalicelib.store.toolkit import Key, all_of, any_of, conditional

# The statuses are the domain's; the services name them through this module.
__all__ = ["FAILED", "FINAL", "PARTIAL", "PROCESSING", "QUEUED", "SUCCEEDED", "UNCHANGED", "ImportRecord", "claim",
           "add_progress", "create", "get", "list_for_seller", "update"]

UNASSIGNED = "_unassigned"  # imports whose key names no known seller


def _table() -> Any:
    return clients.table(settings().catalog_table)


def _item(record: dict[str, Any]) -> dict[str, Any]:
    seller = record.get("seller_id") or UNASSIGNED
    return {
        **keys.feed_import(record["feed_id"]),
        "GSI4PK": keys.seller_imports(seller),
        "GSI4SK": f"{record['created_at']}#{record['feed_id']}",
        **record,
    }


def create(record: dict[str, Any]) -> bool:
    """Store a new record; False when one with this feed id exists already."""
    created = conditional(_table().put_item, Item=_item(record), ConditionExpression="attribute_not_exists(PK)")
    return created is not None


def get(feed_id: str) -> ImportRecord | None:
    item = _table().get_item(Key=keys.feed_import(feed_id), ConsistentRead=True).get("Item")
    return ImportRecord.from_item(strip_keys(item)) if item else None


def claim(feed_id: str, fields: dict[str, Any], lease_seconds: int) -> ImportRecord | None:
    """Move a queued record (or one whose worker's lease expired) to processing.

    Returns the claimed record, or None when another delivery owns it or it is final —
    the second delivery of one S3 event lands here and does nothing.
    """
    now = int(time.time())
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values: dict[str, Any] = {f":f{i}": v for i, v in enumerate(fields.values())}
    values.update({":processing": PROCESSING, ":queued": QUEUED, ":now": now, ":until": now + lease_seconds})
    sets = ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
    # Timeline guarded: queued -> (delivery 1 claims) processing -> succeeded | failed. Delivery 2
    # of the same event finds it processing with a live lease, or final, and does nothing; it
    # takes over only a lease that lapsed (the worker died).
    waiting = "#s = :queued"
    worker_died = "#s = :processing AND lease_until < :now"
    done = conditional(
        _table().update_item,
        Key=keys.feed_import(feed_id),
        UpdateExpression="SET #s = :processing, lease_until = :until,"
        " attempts = if_not_exists(attempts, :zero) + :one" + (", " + sets if sets else ""),
        ConditionExpression=all_of("attribute_exists(PK)", any_of(waiting, worker_died)),
        ExpressionAttributeNames={"#s": "status", **names},
        ExpressionAttributeValues={**values, ":zero": 0, ":one": 1},
        ReturnValues="ALL_NEW",
    )
    return None if done is None else ImportRecord.from_item(strip_keys(done["Attributes"]))


def update(feed_id: str, fields: dict[str, Any], *, remove: tuple[str, ...] = ()) -> None:
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":f{i}": v for i, v in enumerate(fields.values())}
    expr = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
    for j, attr in enumerate(remove):
        names[f"#r{j}"] = attr
    if remove:
        expr += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
    _table().update_item(Key=keys.feed_import(feed_id), UpdateExpression=expr,
                         ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def add_progress(feed_id: str, rows_written: int) -> None:
    """Add rows to the running import's ``progress.rows_written`` (chunks write at once); a
    chunk that outlived its import changes nothing."""
    conditional(_table().update_item, Key=keys.feed_import(feed_id),
                UpdateExpression="SET progress.rows_written = progress.rows_written + :n, updated_at = :now",
                ConditionExpression="attribute_exists(progress.rows_written) AND #s = :processing",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":n": rows_written, ":now": _now_iso(), ":processing": PROCESSING})


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def list_for_seller(seller_id: str, limit: int, start: dict[str, Any] | None) -> tuple[list[ImportRecord], Any]:
    cond = Key("GSI4PK").eq(keys.seller_imports(seller_id))
    kwargs: dict[str, Any] = {"IndexName": "GSI4", "KeyConditionExpression": cond, "ScanIndexForward": False,
                              "Limit": limit}
    if start:
        kwargs["ExclusiveStartKey"] = start
    resp = _table().query(**kwargs)
    return [ImportRecord.from_item(strip_keys(i)) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")
