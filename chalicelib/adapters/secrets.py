"""The link-signing secret, read at run time from Secrets Manager, rotation-safe.

The secret never sits in a function's configuration: the functions get its ARN
(``LINK_SECRET_ID``) and read the value when they first need it, then keep it for
``CACHE_SECONDS`` per container. Rotation: Secrets Manager moves the old value to the
``AWSPREVIOUS`` stage when a new one becomes ``AWSCURRENT``. New links are signed with the
current value; a link signed with the previous one still verifies while the current value is
younger than ``ROTATION_WINDOW_SECONDS`` (the links' own lifetime), and not after — so a
rotation breaks no link that could still be used, and an old value stops working on its own.

Locally and in tests ``LINK_SECRET`` (a plain value) is used instead; there is no rotation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from chalicelib import clients

SYSTEM = "Secrets Manager"
CACHE_SECONDS = 300


@dataclass(frozen=True)
class LinkSecrets:
    current: bytes
    accepted: tuple[bytes, ...]  # current first


_lock = threading.Lock()
_cache: dict[str, tuple[float, LinkSecrets]] = {}


def _value(secret_id: str, stage: str) -> tuple[bytes, float] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters.aws import translated

    try:
        got = clients.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage=stage)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException" and stage != "AWSCURRENT":
            return None  # never rotated: there is no previous value
        raise translated(exc, SYSTEM) from None
    except BotoCoreError as exc:
        raise translated(exc, SYSTEM) from None
    created: Any = got.get("CreatedDate")
    return got["SecretString"].encode(), created.timestamp() if created is not None else 0.0


def link_secrets(secret_id: str, *, window_seconds: int, now: float | None = None) -> LinkSecrets:
    """The current value and those that still verify (cached per container)."""
    now = time.time() if now is None else now
    with _lock:
        hit = _cache.get(secret_id)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    current = _value(secret_id, "AWSCURRENT")
    assert current is not None
    accepted = [current[0]]
    if now - current[1] < window_seconds:
        previous = _value(secret_id, "AWSPREVIOUS")
        if previous is not None and previous[0] != current[0]:
            accepted.append(previous[0])
    secrets = LinkSecrets(current[0], tuple(accepted))
    with _lock:
        _cache[secret_id] = (now, secrets)
    return secrets


def forget() -> None:
    """Drop the cached values (tests; a rotation is otherwise seen within CACHE_SECONDS)."""
    with _lock:
        _cache.clear()
