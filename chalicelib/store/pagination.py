"""Opaque, signed pagination cursors.

A cursor wraps DynamoDB's ``LastEvaluatedKey``; signing it means a forged or truncated cursor
is a clean 422 naming ``cursor`` instead of a DynamoDB ``ValidationException`` (a 500). It
lives below the API: routes, services and the search query all page with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.config import settings
from chalicelib.errors import ValidationFailed


def _sig(raw: bytes) -> bytes:
    return hmac.new(settings().link_secret + b"/cursor", raw, hashlib.sha256).digest()[:12]


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(_sig(raw) + raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sig, raw = blob[:12], blob[12:]
        if not hmac.compare_digest(sig, _sig(raw)):
            raise ValueError("bad signature")
        key = json.loads(raw)
        if not isinstance(key, dict):
            raise ValueError("not an object")
        return key
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise ValidationFailed.one("cursor", "invalid or tampered cursor") from exc
