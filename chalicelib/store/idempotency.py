"""Idempotency table: one record per (scope, Idempotency-Key), claimed with a lease.

Record attributes: ``status`` (IN_PROGRESS | COMPLETED), ``fingerprint`` (sealed hash of the
request), ``origin`` (a random id fixed when the record is first created and kept when an
expired lease is taken over: what ``services.idempotency.derived_id`` hashes), ``lease_token``
and ``lease_until`` (who runs the request, until when), the stored response, and ``ttl``.
Key grammar: ``store/keys.py`` (IDEMPOTENCY).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import all_of, any_of, conditional

IN_PROGRESS, COMPLETED = "IN_PROGRESS", "COMPLETED"

_NAMES = {
    "#status": "status",
    "#fp": "fingerprint",
    "#origin": "origin",
    "#tok": "lease_token",
    "#until": "lease_until",
    "#created": "created_at",
    "#ttl": "ttl",
}


@dataclass(frozen=True)
class Record:
    status: str
    fingerprint: str
    origin: str
    lease_token: str
    lease_until: float
    expires_at: int
    response_status: int | None = None
    response_body: str | None = None
    response_headers: dict[str, str] | None = None


class Taken(Exception):
    """The key is held by a record we may not claim; ``record`` is that record."""

    def __init__(self, record: Record | None):
        super().__init__("idempotency key taken")
        self.record = record


def _table() -> Any:
    return clients.table(settings().idempotency_table)


def _record(item: dict[str, Any]) -> Record:
    def num(v: Any) -> float:
        return float(v) if isinstance(v, (int, float, Decimal)) else 0.0

    return Record(
        status=item.get("status", ""),
        fingerprint=item.get("fingerprint", ""),
        origin=item.get("origin", ""),
        lease_token=item.get("lease_token", ""),
        lease_until=num(item.get("lease_until")),
        expires_at=int(num(item.get("ttl"))),
        response_status=int(item["response_status"]) if "response_status" in item else None,
        response_body=item.get("response_body"),
        response_headers=dict(item["response_headers"]) if "response_headers" in item else None,
    )


def _fresh(scope: str, key: str, *, fingerprint: str, token: str, origin: str, now: float, lease_until: float,
           expires_at: int) -> dict[str, Any]:
    """A new record, leased to ``token`` (a new key, or one written over an expired record)."""
    return {**keys.idempotency(scope, key), "status": IN_PROGRESS, "fingerprint": fingerprint,
            "lease_token": token, "lease_until": Decimal(str(lease_until)), "origin": origin,
            "created_at": Decimal(str(now)), "ttl": expires_at}


def claim(scope: str, key: str, *, fingerprint: str, token: str, origin: str, now: float, lease_until: float,
          expires_at: int) -> str:
    """Create the record, or take over one whose lease expired (same request only).

    Returns the record's origin; raises ``Taken`` with the existing record otherwise.
    """
    # Timeline guarded: a new key (``new_key``) | a crashed or failed run of the *same* request
    # (``same_request``) whose lease ran out (``lease_lapsed``), while the record is still within
    # its retention (``retained``). A completed record, a live lease or another request: Taken.
    new_key = "attribute_not_exists(PK)"
    # the common case first: a new key is one conditional PutItem of the whole record
    fresh = _fresh(scope, key, fingerprint=fingerprint, token=token, origin=origin, now=now,
                   lease_until=lease_until, expires_at=expires_at)
    if conditional(_table().put_item, Item=fresh, ConditionExpression=new_key) is not None:
        return origin
    lease_lapsed = "#status = :in_progress AND #until < :now"
    same_request = "#fp = :fp"
    retained = "#ttl > :now"
    item = conditional(
        _table().update_item,
        refused=lambda old: Taken(_record(old) if old else None),
        Key=keys.idempotency(scope, key),
        UpdateExpression=(
            "SET #status = :in_progress, #fp = :fp, #tok = :tok, #until = :until, "
            "#origin = if_not_exists(#origin, :origin), #created = if_not_exists(#created, :now), "
            "#ttl = if_not_exists(#ttl, :ttl)"
        ),
        ConditionExpression=any_of(new_key, all_of(lease_lapsed, same_request, retained)),
        ExpressionAttributeNames=_NAMES,
        ExpressionAttributeValues={
            ":in_progress": IN_PROGRESS, ":fp": fingerprint, ":tok": token, ":until": Decimal(str(lease_until)),
            ":origin": origin, ":now": Decimal(str(now)), ":ttl": expires_at,
        },
        ReturnValues="ALL_NEW",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    return str(item["Attributes"]["origin"])


def replace_expired(scope: str, key: str, *, fingerprint: str, token: str, origin: str, now: float,
                    lease_until: float, expires_at: int) -> bool:
    """Start afresh over a record past its retention that TTL has not swept yet."""
    return conditional(
        _table().put_item,
        Item=_fresh(scope, key, fingerprint=fingerprint, token=token, origin=origin, now=now,
                    lease_until=lease_until, expires_at=expires_at),
        ConditionExpression="#ttl <= :now",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":now": Decimal(str(now))},
    ) is not None


def complete(scope: str, key: str, token: str, status: int, body: str | None, headers: dict[str, str]) -> bool:
    """Store the response; False when our lease was taken over meanwhile."""
    values: dict[str, Any] = {":done": COMPLETED, ":tok": token, ":rs": status, ":rh": headers}
    update = "SET #status = :done, response_status = :rs, response_headers = :rh REMOVE #until"
    if body is not None:
        values[":rb"] = body
        update = update.replace(" REMOVE", ", response_body = :rb REMOVE")
    return conditional(
        _table().update_item,
        Key=keys.idempotency(scope, key),
        UpdateExpression=update,
        ConditionExpression="#tok = :tok",
        ExpressionAttributeNames={"#status": "status", "#tok": "lease_token", "#until": "lease_until"},
        ExpressionAttributeValues=values,
    ) is not None


def release(scope: str, key: str, token: str) -> None:
    """End our lease now but keep the record (and its origin) for the client's retry."""
    conditional(
        _table().update_item,
        Key=keys.idempotency(scope, key),
        UpdateExpression="SET #until = :zero",
        ConditionExpression="#tok = :tok AND #status = :in_progress",
        ExpressionAttributeNames={"#until": "lease_until", "#tok": "lease_token", "#status": "status"},
        ExpressionAttributeValues={":zero": 0, ":tok": token, ":in_progress": IN_PROGRESS},
    )


def delete(scope: str, key: str, token: str) -> None:
    """Forget the record (the request failed before any write): the key is free again."""
    conditional(
        _table().delete_item,
        Key=keys.idempotency(scope, key),
        ConditionExpression="#tok = :tok AND #status = :in_progress",
        ExpressionAttributeNames={"#tok": "lease_token", "#status": "status"},
        ExpressionAttributeValues={":tok": token, ":in_progress": IN_PROGRESS},
    )


def get(scope: str, key: str) -> Record | None:
    item = _table().get_item(Key=keys.idempotency(scope, key), ConsistentRead=True).get("Item")
    return _record(item) if item else None
