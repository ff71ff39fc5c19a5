"""Feed import records: their statuses and the record as a typed value. Pure, standard library only.

One record per imported S3 object version (``store/imports.py`` keeps them)::

    queued ─▶ processing ─▶ succeeded | partially_succeeded | failed
       └──────────────────▶ unchanged | failed   (a fetched feed: unchanged, or the fetch failed)

``queued``: an upload URL was issued, a drop was seen, or a feed URL is being fetched;
``processing``: a worker holds it until ``lease_until``. The last four are final.

``ImportRecord`` is the record as stored, built from the item at the store's boundary;
``ImportCounts`` is what one import did row by row (the import counts into it as it runs, and
the record keeps it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

QUEUED, PROCESSING = "queued", "processing"
SUCCEEDED, PARTIAL, FAILED = "succeeded", "partially_succeeded", "failed"
UNCHANGED = "unchanged"  # a fetched feed (services/feed_sources.py) that had not changed: no import
FINAL = (SUCCEEDED, PARTIAL, FAILED, UNCHANGED)


@dataclass
class ImportCounts:
    """What one import did, row by row (kept on its record)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deactivated: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    @classmethod
    def from_item(cls, counts: Mapping[str, Any]) -> ImportCounts:
        return cls(**{f.name: int(counts.get(f.name) or 0) for f in fields(cls)})


@dataclass(frozen=True)
class Progress:
    """Where a running import is (put on the record every so many rows)."""

    phase: str  # validating | checking (dry run) | writing | finishing | done
    rows_read: int = 0
    rows_written: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "rows_read": self.rows_read, "rows_written": self.rows_written}


@dataclass(frozen=True)
class ImportRecord:
    """A feed import record as stored: what the services read of it, typed. The optional
    fields are None while the record does not carry them. ``item`` is the whole stored item."""

    feed_id: str
    status: str
    seller_id: str | None = None  # None: the file's key named no seller with a shop (it was rejected)
    filename: str | None = None
    bucket: str | None = None
    key: str | None = None
    source: str | None = None  # upload (presigned URL) | drop (a file put in the bucket) | url (fetched)
    url: str | None = None  # the feed URL a fetched import came from
    etag: str | None = None  # of the object version being imported
    size: int | None = None
    source_modified_at: str | None = None
    dry_run: bool = False  # checked and reported; the catalog is not touched
    attempts: int = 0  # claims so far: more than one means an earlier attempt may have written some
    reason: str | None = None  # why it failed
    note: str | None = None
    counts: ImportCounts | None = None  # None until the import ended
    errors: tuple[Mapping[str, Any], ...] = ()  # the first row errors (the report has them all)
    progress: Progress | None = None
    report_key: str | None = None
    report_csv_key: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    upload_expires_at: str | None = None
    item: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def owner(self) -> str:
        """The seller whose catalog the import writes: every record that gets claimed has one."""
        if self.seller_id is None:
            raise ValueError(f"the import {self.feed_id} names no seller")
        return self.seller_id

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ImportRecord:
        """The record of a stored import item (its table keys already taken off)."""
        counts, progress = item.get("counts"), item.get("progress")
        return cls(
            feed_id=str(item["feed_id"]), status=str(item["status"]), seller_id=_text(item, "seller_id"),
            filename=_text(item, "filename"), bucket=_text(item, "bucket"), key=_text(item, "key"),
            source=_text(item, "source"), url=_text(item, "url"), etag=_text(item, "etag"),
            size=None if item.get("size") is None else int(item["size"]),
            source_modified_at=_text(item, "source_modified_at"), dry_run=bool(item.get("dry_run")),
            attempts=int(item.get("attempts") or 0), reason=_text(item, "reason"), note=_text(item, "note"),
            counts=ImportCounts.from_item(counts) if counts else None,
            errors=tuple(item.get("errors") or ()),
            progress=None if not progress else Progress(
                phase=str(progress["phase"]), rows_read=int(progress.get("rows_read") or 0),
                rows_written=int(progress.get("rows_written") or 0)),
            report_key=_text(item, "report_key"), report_csv_key=_text(item, "report_csv_key"),
            created_at=_text(item, "created_at"), updated_at=_text(item, "updated_at"),
            started_at=_text(item, "started_at"), finished_at=_text(item, "finished_at"),
            upload_expires_at=_text(item, "upload_expires_at"), item=item,
        )


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value)
