"""Rate-limit counters and failed-login records in the accounts table (DynamoDB, never memory:
Lambdas scale out, so only a shared store sees every request of a client).

- ``hit``: fixed-window counting. One item per (group, dimension, value, window start); one
  conditional ``UpdateItem`` both counts the request and refuses it once the window is full:

      ADD #count :one, SET #ttl = if_not_exists(#ttl, :expires)
      IF attribute_not_exists(#count)      -- first request of the window
         OR #count < :limit                -- budget left

  A refused request is not counted, so the item never grows past the limit; the next window is
  another item, and TTL removes the old ones (``ttl`` is a day after the window ends).
- ``login_failures`` / ``add_login_failure`` / ``clear_login_failures``: failed logins of one
  email — known or not, keyed by a digest of it — within a window that starts at the first.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import all_of, any_of, conditional

TTL_SLACK_SECONDS = 24 * 3600


def _table() -> Any:
    return clients.table(settings().accounts_table)


@dataclass(frozen=True)
class Window:
    limit: int
    used: int  # including this request when it was allowed
    reset_at: int  # epoch seconds when the window ends
    allowed: bool

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def hit(group: str, dimension: str, value: str, *, limit: int, seconds: int, now: float | None = None) -> Window:
    """Count one request of ``value`` (an address or an account) against ``limit`` per
    ``seconds``: one conditional UpdateItem."""
    at = int(time.time() if now is None else now)
    start = at - at % seconds
    reset_at = start + seconds
    done = conditional(
        _table().update_item,
        Key=keys.rate_window(group, dimension, value, start),
        UpdateExpression="ADD #count :one SET #ttl = if_not_exists(#ttl, :expires)",
        ConditionExpression=any_of("attribute_not_exists(#count)", "#count < :limit"),
        ExpressionAttributeNames={"#count": "count", "#ttl": "ttl"},
        ExpressionAttributeValues={":one": 1, ":limit": limit, ":expires": reset_at + TTL_SLACK_SECONDS},
        ReturnValues="UPDATED_NEW",
    )
    if done is None:
        return Window(limit, limit, reset_at, allowed=False)
    return Window(limit, int(done["Attributes"]["count"]), reset_at, allowed=True)


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass(frozen=True)
class Failures:
    count: int
    last_at: int
    window_ends: int


def login_failures(email: str, now: float | None = None) -> Failures | None:
    """The failures of ``email`` in its current window; None when there are none."""
    item = _table().get_item(Key=keys.login_failures(email_digest(email)), ConsistentRead=True).get("Item")
    at = int(time.time() if now is None else now)
    if item is None or int(item["window_ends"]) <= at:
        return None
    return Failures(int(item["count"]), int(item["last_at"]), int(item["window_ends"]))


def add_login_failure(email: str, *, window_seconds: int, now: float | None = None) -> Failures:
    """Count one failed login of ``email``; a failure after the window ended starts a new one."""
    at = int(time.time() if now is None else now)
    key = keys.login_failures(email_digest(email))
    # Within the window: add one. The window ended (or never began): start again at one.
    current = conditional(
        _table().update_item, Key=key,
        UpdateExpression="ADD #c :one SET #l = :now",
        ConditionExpression=all_of("attribute_exists(#w)", "#w > :now"),
        ExpressionAttributeNames={"#c": "count", "#l": "last_at", "#w": "window_ends"},
        ExpressionAttributeValues={":one": 1, ":now": at}, ReturnValues="ALL_NEW",
    )
    if current is None:
        ends = at + window_seconds
        _table().put_item(Item={**key, "count": 1, "last_at": at, "window_ends": ends,
                                "ttl": ends + TTL_SLACK_SECONDS})
        return Failures(1, at, ends)
    item = current["Attributes"]
    return Failures(int(item["count"]), int(item["last_at"]), int(item["window_ends"]))


def clear_login_failures(email: str) -> None:
    _table().delete_item(Key=keys.login_failures(email_digest(email)))
