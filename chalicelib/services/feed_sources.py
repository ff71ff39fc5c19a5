"""Use cases of a seller's feed URL: set it, fetch it now, fetch every due one on schedule.

A fetch never imports by itself: the body it downloads is put in the feeds bucket under
``feeds/<seller>/<feed_id>/<file>`` with a queued import record made first, exactly like a
presigned upload, so the S3 → SQS → import path (``services/feed_import.py``) does the rest,
with its report, idempotency and snapshot rules.

What a fetch can end as, on the import record (``source: "url"``) and on the source:

* refused (bad scheme, private address, too big, too slow, HTTP error, broken transfer) →
  the record is ``failed`` with the reason; the source counts failures in a row and, when the
  count reaches ``FAILURE_EMAIL_AFTER``, the seller gets one email (the next success resets it);
* unchanged (HTTP 304 to the conditional GET, or the same bytes as the last fetch) → the record
  is ``unchanged`` and nothing is imported;
* new bytes → stored in S3; the import follows.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from chalicelib import logs
from chalicelib.adapters import feed_fetch
from chalicelib.adapters.feed_objects import feed_objects
from chalicelib.config import settings
from chalicelib.domain.imports import ImportCounts
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.services.feeds import FEED_SUFFIXES, FEEDS_PREFIX, now_iso, safe_filename
from chalicelib.store import accounts, imports
from chalicelib.store import feed_sources as store

SCHEDULES = {"hourly": 3600, "daily": 24 * 3600}
FAILURE_EMAIL_AFTER = 3
FETCH_NOW_SECONDS = 20.0  # inside API Gateway's 29 s
SCHEDULED_SECONDS = 300.0  # one source, in the scheduled function
RUN_BUDGET_SECONDS = 600.0  # sources started per scheduled run (its timeout is 900 s)

_resolver = None  # tests install a fake resolver (feed_fetch.Resolver); None = the system's


def policy(total_seconds: float) -> feed_fetch.FetchPolicy:
    local = settings().local
    return feed_fetch.FetchPolicy(allow_http=local, allow_loopback=local, max_bytes=settings().feed_max_bytes,
                                  total_seconds=total_seconds)


def _at(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _public(source: dict[str, Any]) -> dict[str, Any]:
    keep = ("url", "schedule", "next_fetch_at", "last_fetched_at", "last_status", "last_error", "last_feed_id",
            "failures", "created_at", "updated_at")
    return {k: source[k] for k in keep if source.get(k) is not None}


def _filename(url: str) -> str:
    """The URL's file name when it names a feed type, else ``feed.txt`` (the reader sniffs)."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    try:
        return safe_filename(name) if name.lower().endswith(FEED_SUFFIXES) else "feed.txt"
    except ValidationFailed:
        return "feed.txt"


# --- the seller's routes ------------------------------------------------------------------------


def set_source(seller_id: str, url: str, schedule: str) -> dict[str, Any]:
    if schedule not in SCHEDULES:
        raise ValidationFailed.one("schedule", "must be one of: " + ", ".join(SCHEDULES))
    try:
        feed_fetch.check_url(url, policy(FETCH_NOW_SECONDS))
    except feed_fetch.FetchRefused as exc:
        raise ValidationFailed.one("url", exc.reason) from None
    if accounts.get_shop(seller_id) is None:
        raise Conflict("register your shop (PUT /seller/shop) before adding a feed source")
    old = store.get(seller_id) or {}
    now = now_iso()
    fields: dict[str, Any] = {"url": url.strip(), "schedule": schedule, "next_fetch_at": now,
                              "created_at": old.get("created_at") or now, "updated_at": now, "failures": 0}
    if old.get("url") == fields["url"]:  # same URL: keep what makes the next GET conditional
        fields.update({k: old[k] for k in ("etag", "last_modified", "content_hash", "last_fetched_at",
                                           "last_status", "last_feed_id") if old.get(k) is not None})
    return _public(store.put(seller_id, fields))


def get_source(seller_id: str) -> dict[str, Any]:
    source = store.get(seller_id)
    if source is None:
        raise NotFound("no feed source: set one with PUT /seller/feed-source")
    return _public(source)


def delete_source(seller_id: str) -> None:
    if not store.delete(seller_id):
        raise NotFound("no feed source")


def fetch_now(seller_id: str) -> str:
    """Fetch the seller's feed now (bounded to fit an API call); the new import's id."""
    source = store.get(seller_id)
    if source is None:
        raise NotFound("no feed source: set one with PUT /seller/feed-source")
    return fetch_source(source, FETCH_NOW_SECONDS)


# --- the schedule ------------------------------------------------------------------------------


def fetch_due(now: str | None = None, budget_seconds: float = RUN_BUDGET_SECONDS) -> dict[str, int]:
    """Fetch every source whose time has come (the scheduled function's work)."""
    started = time.monotonic()
    now = now or now_iso()
    counts = {"due": 0, "fetched": 0, "skipped": 0}
    for source in store.every():
        if time.monotonic() - started > budget_seconds:
            counts["skipped"] += 1
            continue  # the next run picks it up: it is still due
        seen = source.get("next_fetch_at") or ""
        if seen > now:
            continue
        counts["due"] += 1
        interval = SCHEDULES.get(str(source.get("schedule")), SCHEDULES["daily"])
        if not store.claim_due(source["seller_id"], seen, source["url"], _at(interval)):
            continue  # another run took it, or the seller changed the URL meanwhile
        fetch_source(source, SCHEDULED_SECONDS)
        counts["fetched"] += 1
    return counts


def fetch_source(source: dict[str, Any], total_seconds: float) -> str:
    seller_id, url = source["seller_id"], source["url"]
    cfg = settings()
    feed_id = "f" + uuid.uuid4().hex[:24]
    filename = _filename(url)
    key = f"{FEEDS_PREFIX}{seller_id}/{feed_id}/{filename}"
    now = now_iso()
    imports.create({"feed_id": feed_id, "seller_id": seller_id, "filename": filename, "bucket": cfg.feeds_bucket,
                    "key": key, "source": "url", "url": url[:2048], "status": imports.QUEUED, "created_at": now,
                    "updated_at": now, "note": "fetching the feed"})
    try:
        got = feed_fetch.fetch(url, policy(total_seconds), etag=source.get("etag"),
                               last_modified=source.get("last_modified"),
                               **({"resolver": _resolver} if _resolver else {}))
    except feed_fetch.FetchRefused as exc:
        _failed(source, feed_id, exc.reason)
        return feed_id
    try:
        if got.not_modified:
            _unchanged(source, feed_id, "not modified since the last fetch (HTTP 304): nothing imported")
            return feed_id
        digest = _sha256(got.body)
        if digest == source.get("content_hash"):
            _unchanged(source, feed_id, "the same bytes as the last fetch: nothing imported")
            return feed_id
        imports.update(feed_id, {"size": got.size, "note": "fetched; waiting for the import",
                                 "updated_at": now_iso()})
        feed_objects().upload(cfg.feeds_bucket, key, got.body, got.content_type or "application/octet-stream")
    finally:
        if got.body is not None:
            got.body.close()
    store.record_fetch(seller_id, url, {"etag": got.etag, "last_modified": got.last_modified, "content_hash": digest,
                                        "last_fetched_at": now_iso(), "last_status": "fetched",
                                        "last_feed_id": feed_id, "last_error": None}, failed=False)
    logs.event("feed fetched", seller_id=seller_id, feed_id=feed_id, size=got.size)
    return feed_id


def _sha256(body: Any) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    body.seek(0)
    return digest.hexdigest()


def _unchanged(source: dict[str, Any], feed_id: str, note: str) -> None:
    now = now_iso()
    imports.update(feed_id, {"status": imports.UNCHANGED, "note": note, "finished_at": now, "updated_at": now,
                             "counts": ImportCounts().as_dict(), "errors": []})
    store.record_fetch(source["seller_id"], source["url"], {"last_fetched_at": now, "last_status": "unchanged",
                                                            "last_feed_id": feed_id, "last_error": None},
                       failed=False)


def _failed(source: dict[str, Any], feed_id: str, reason: str) -> None:
    now = now_iso()
    imports.update(feed_id, {"status": imports.FAILED, "reason": f"fetch failed: {reason}", "finished_at": now,
                             "updated_at": now, "counts": ImportCounts().as_dict(), "errors": []},
                   remove=("note",))
    after = store.record_fetch(source["seller_id"], source["url"],
                               {"last_fetched_at": now, "last_status": "failed", "last_error": reason,
                                "last_feed_id": feed_id}, failed=True)
    logs.event("feed fetch failed", seller_id=source["seller_id"], feed_id=feed_id, reason=reason)
    if after and int(after.get("failures") or 0) == FAILURE_EMAIL_AFTER:
        shop = accounts.get_shop(source["seller_id"]) or {}
        from chalicelib.services import feed_notices

        feed_notices.send("feed_fetch_failing", shop, f"{settings().public_base_url}/seller/feed-source",
                          url=source["url"], reason=reason, failures=FAILURE_EMAIL_AFTER)
