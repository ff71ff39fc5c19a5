"""Idempotency keys for every money- or order-creating route (SPEC: HTTP API).

``api/http.py`` calls ``run`` for routes declared ``idempotent=True``, with the caller's
``Idempotency-Key``, a scope (``<user>:<METHOD>:<route>``) and a fingerprint of the request.

What a client sees:

| the same key arrives… | answer |
|---|---|
| for the first time | the handler runs; its response is stored for 24 hours |
| again, same request, first one finished | the stored response (+ ``Idempotent-Replayed: true``) |
| again, other body / path | 422 ``idempotency-key-reused`` |
| again while the first is still running | 409 ``idempotency-in-flight`` (``retry_after`` seconds) |
| after the first failed with a 4xx | the handler runs again (nothing was written; fix and retry) |
| after the first failed with a 5xx or crashed | the handler runs again as the *same* request (below) |
| more than 24 hours later | a new request |

Timeline of one key::

    claim (conditional write: new key, or an expired lease of the same request)
      └─ execute()  ── 2xx ──▶ complete: store the response          (replays from now on)
                    ── 4xx ──▶ delete the record, re-raise            (key free again)
                    ── 5xx / exception / Lambda killed ──▶ lease released (or it expires
                       after LEASE_SECONDS); the record and its ``origin`` stay

THE RULE FOR HANDLERS — "a handler that fails after its business write cannot run that write
twice on retry". The record cannot be committed together with the handler's own writes, so
a handler may crash after writing and before ``complete``; its retry runs ``execute`` again.
Make that harmless:

1. Derive the id of everything the handler creates from ``derived_id(...)`` — a hash of the
   scope, the key and the record's ``origin``, stable across every retry of this request
   (and different for a key reused after it expired) — and write it with a condition
   (``attribute_not_exists(PK)`` or a ``TransactWriteItems`` containing such a put).
2. When that condition fails, the write already happened: read what was written and answer
   as the first run would have.
3. Pass ``derived_id`` on to external calls as their idempotency key (the payment provider).
4. Raise a ``DomainError`` with a 4xx status only when nothing was written: the record is
   deleted and the client may retry the same key with corrected input. A 5xx (e.g.
   ``Unavailable`` from the provider, whose outcome may be unknown) keeps the record, so the
   retry reuses the same ids.

Example (``services/wallet.topup``)::

    txn_id = "topup:" + idempotency.derived_id("topup")
    charge = provider.charge(amount, currency, card, idempotency_key=txn_id)   # charged once
    ledger.record_topup(txn_id, ...)   # conditional put of TXN#<txn_id>; exists -> replay it

Checkout follows the same pattern with ``checkout_id = derived_id("checkout")`` and order ids
derived from it.

The fingerprint is sealed with an HMAC before it is stored: it hashes the body, and a top-up
body holds a card number, whose plain SHA-256 could be brute-forced.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import clients, logs, metrics
from chalicelib.config import settings
from chalicelib.errors import Conflict, DomainError, IdempotencyInFlight, IdempotencyMismatch
from chalicelib.store import idempotency as store

LEASE_SECONDS = 60
RETENTION_SECONDS = 24 * 3600
REPLAYED_HEADER = "Idempotent-Replayed"
# DynamoDB items stop at 400 KB; a larger response is not replayed (see ``_replay``).
MAX_STORED_BODY = 300_000

_clock: Callable[[], float] = time.time  # tests move time by replacing it


@dataclass(frozen=True)
class _Run:
    scope: str
    key: str
    origin: str


_current: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("idempotency_run", default=None)

Response = tuple[int, str, dict[str, str]]


def run(*, scope: str, key: str, fingerprint: str, execute: Callable[[], Response]) -> Response:
    """Run ``execute`` at most once per (scope, key) and request; replay its response after."""
    sealed = _seal(fingerprint)
    token = uuid.uuid4().hex
    origin = _claim(scope, key, sealed, token)
    if isinstance(origin, tuple):
        return origin  # a replay
    reset = _current.set(_Run(scope, key, origin))
    try:
        status, body, headers = execute()
    except DomainError as err:
        if err.status < 500:
            _quietly(store.delete, scope, key, token)
        else:
            _quietly(store.release, scope, key, token)
        raise
    except BaseException:
        _quietly(store.release, scope, key, token)
        raise
    finally:
        _current.reset(reset)
    stored_body = body if body is None or len(body.encode()) <= MAX_STORED_BODY else None
    try:
        completed = store.complete(scope, key, token, status, stored_body, dict(headers))
    except BaseException:
        # the handler's writes happened but its response is not stored: let the client's
        # retry run the handler again at once (its derived ids make that a replay)
        _quietly(store.release, scope, key, token)
        raise
    if not completed:
        # our lease ran out and another attempt took over: both computed the same writes
        # (derived ids), so this response is as good as theirs
        logs.event("idempotency lease lost", scope=scope)
    return status, body, headers


def derived_id(*parts: str) -> str:
    """A 32-hex id, the same on every retry of the current request (see the module rule)."""
    current = _current.get()
    if current is None:
        raise RuntimeError("derived_id() is only meaningful inside idempotency.run()")
    raw = "\x1f".join((current.scope, current.key, current.origin, *parts))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _claim(scope: str, key: str, sealed: str, token: str) -> str | Response:
    for _ in range(3):
        now = _clock()
        lease = {"now": now, "lease_until": now + LEASE_SECONDS, "expires_at": int(now + RETENTION_SECONDS)}
        fresh = uuid.uuid4().hex
        try:
            return store.claim(scope, key, fingerprint=sealed, token=token, origin=fresh, **lease)
        except store.Taken as taken:
            rec = taken.record
        if rec is None:  # vanished between the write and its failure report: try again
            continue
        if rec.expires_at <= now:
            if store.replace_expired(scope, key, fingerprint=sealed, token=token, origin=fresh, **lease):
                return fresh
            continue
        if not hmac.compare_digest(rec.fingerprint, sealed):
            raise IdempotencyMismatch(
                "this Idempotency-Key was used with a different request; use a new key for a new request",
                errors=[{"field": "Idempotency-Key", "reason": "already used with a different request"}],
            )
        if rec.status == store.COMPLETED:
            return _replay(rec)
        raise IdempotencyInFlight(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            retry_after=max(1, math.ceil(rec.lease_until - now)),
        )
    raise IdempotencyInFlight("this Idempotency-Key is contended; retry shortly", retry_after=1)


def _replay(rec: store.Record) -> Response:
    if rec.response_body is None and rec.response_status not in (204, None):
        raise Conflict("the original request succeeded, but its response is too large to replay")
    headers = {**(rec.response_headers or {}), REPLAYED_HEADER: "true"}
    metrics.count("IdempotentReplays")
    return int(rec.response_status or 200), rec.response_body or "", headers


def _seal(fingerprint: str) -> str:
    return hmac.new(settings().link_secret + b"/idempotency", fingerprint.encode(), hashlib.sha256).hexdigest()


def _quietly(action: Callable[[str, str, str], None], scope: str, key: str, token: str) -> None:
    """Clean-up after a failure must not hide the failure itself; a failed clean-up only
    means the client waits for the lease to expire."""
    try:
        action(scope, key, token)
    except clients.AWS_ERRORS:
        logs.log.exception("idempotency clean-up failed", extra={"fields": {"scope": scope}})
