"""Use cases of the seller's feed routes: an upload URL with its queued import record, and the
import records (status, counts, errors, report link). The import itself is
``services/feed_import.py``; the URLs are presigned by ``adapters/feed_objects.py``."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.feed_objects import feed_objects
from chalicelib.config import settings
from chalicelib.domain.imports import ImportCounts, ImportRecord
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.store import accounts, imports, keys

FEEDS_PREFIX = "feeds/"
FEED_SUFFIXES = (".yml", ".xml", ".csv", ".tsv", ".txt", ".gz", ".zip")
UPLOAD_URL_SECONDS = 3600
REPORT_URL_SECONDS = 3600
QUEUED_RECORD_DAYS = 7  # an upload URL nobody used: its record expires (ttl)

_IMPORT_PAGE_KEYS = {"PK", "SK", "GSI4PK", "GSI4SK"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- uploads --------------------------------------------------------------------------------


def safe_filename(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = _SAFE_NAME.sub("_", base).strip("._")[:120]
    if not cleaned or not cleaned.lower().endswith(FEED_SUFFIXES):
        raise ValidationFailed.one("filename", "must end in " + ", ".join(FEED_SUFFIXES))
    return cleaned


def create_upload(seller_id: str, filename: str, *, dry_run: bool = False) -> dict[str, Any]:
    """A presigned POST form bounded by ``FEED_MAX_BYTES`` under the seller's own prefix, and the
    queued import record it feeds. No presigned PUT is offered: S3 cannot bound a PUT's size.
    ``dry_run``: the file is checked and reported like an import, and the catalog is not touched."""
    name = safe_filename(filename)
    if accounts.get_shop(seller_id) is None:
        raise Conflict("register your shop (PUT /seller/shop) before uploading feeds")
    cfg = settings()
    feed_id = "f" + uuid.uuid4().hex[:24]
    key = f"{FEEDS_PREFIX}{seller_id}/{feed_id}/{name}"
    post = feed_objects().upload_form(cfg.feeds_bucket, key, UPLOAD_URL_SECONDS, cfg.feed_max_bytes)
    now = now_iso()
    expires_at = datetime.fromtimestamp(time.time() + UPLOAD_URL_SECONDS, UTC).isoformat(timespec="seconds")
    imports.create({
        "feed_id": feed_id, "seller_id": seller_id, "filename": name, "bucket": cfg.feeds_bucket, "key": key,
        "source": "upload", "status": imports.QUEUED, "created_at": now, "updated_at": now,
        "upload_expires_at": expires_at, "ttl": int(time.time()) + QUEUED_RECORD_DAYS * 86400,
        **({"dry_run": True} if dry_run else {}),
    })
    return {"feed_id": feed_id, "upload_url": post.url, "expires_at": expires_at, "method": "POST", "key": key,
            "fields": post.fields, "max_bytes": cfg.feed_max_bytes}


# --- reading import records (the seller's routes) ---------------------------------------------


def _public(record: ImportRecord, with_report_url: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "feed_id": record.feed_id, "filename": record.filename, "status": record.status, "source": record.source,
        "reason": record.reason, "created_at": record.created_at, "updated_at": record.updated_at,
        "started_at": record.started_at, "finished_at": record.finished_at, "note": record.note,
        "progress": record.progress.as_dict() if record.progress else None,
    }
    out["dry_run"] = record.dry_run
    out["counts"] = (record.counts or ImportCounts()).as_dict()
    out["errors"] = [dict(e) for e in record.errors]
    if with_report_url and record.report_key:
        out["report_url"] = feed_objects().download_url(settings().feeds_bucket, record.report_key,
                                                        REPORT_URL_SECONDS)
    if with_report_url and record.report_csv_key:
        out["report_csv_url"] = feed_objects().download_url(settings().feeds_bucket, record.report_csv_key,
                                                            REPORT_URL_SECONDS)
    return {k: v for k, v in out.items() if v is not None}


def get_import(seller_id: str, feed_id: str) -> dict[str, Any]:
    record = imports.get(feed_id)
    if not record or record.seller_id != seller_id:
        raise NotFound("no such feed import")
    return _public(record, with_report_url=True)


def report_csv_url(seller_id: str, feed_id: str) -> str:
    """A short-lived download URL of the import's CSV report; NotFound until the import ended."""
    url = get_import(seller_id, feed_id).get("report_csv_url")
    if not url:
        raise NotFound("the report is written when the import ends")
    return str(url)


def list_imports(seller_id: str, limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
    if start is not None and (start.get("GSI4PK") != keys.seller_imports(seller_id) or set(start) != _IMPORT_PAGE_KEYS):
        raise ValidationFailed.one("cursor", "the cursor belongs to another listing")
    records, last = imports.list_for_seller(seller_id, limit, start)
    return [_public(r, with_report_url=False) for r in records], last
