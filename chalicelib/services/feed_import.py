"""Use cases of seller feeds: issue an upload URL, import an uploaded (or dropped) file.

The pipeline, for one S3 object (``handle_s3_notification``, called by the import Lambda for
every S3 notification the queue delivers):

1. **Identify.** The key must be ``feeds/<seller_id>/…`` with a feed extension and name a
   seller who has a shop; anything else becomes a *failed* import record with the reason and
   is never read. Presigned uploads (``feeds/<seller>/<feed_id>/<file>``) reuse the record
   ``POST /seller/feeds`` created; any other key (an "S3 feed drop") gets a feed id derived from
   bucket, key, ETag and version (or LastModified), so a duplicate delivery maps to the same
   record.
2. **Claim.** One conditional write moves the record from ``queued`` to ``processing``; a
   second delivery of the same event finds it processing or final and does nothing.
   A per-seller lock keeps two files of one seller from importing at once and refuses a file
   older than the seller's last imported one.
3. **Pass 1: validate.** Stream the object through ``chalicelib.feeds.read_feed`` writing
   nothing: row errors go to a spooled report, categories are collected (bounded). A
   ``FeedFileError`` at any point — even after many rows — fails the import with the catalog
   untouched; so does a file without a single valid offer.
4. **Pass 2: write.** Stream the same object version again (``IfMatch`` on its ETag). Offers go
   in chunks of 100: one BatchGetItem reads the current products, products whose content hash
   and availability are unchanged are skipped (re-importing a file writes no product), the rest
   are written with their listing items by BatchWriteItem (25 per call, unprocessed items
   retried) and handed to the search indexer.
5. **Snapshot.** Products of the seller that were available and are not in this file become
   unavailable (the seller's partition is queried only when the counts say some are missing).
   The category tree is replaced when it changed; the full report goes to S3 (JSON and CSV).
6. **Undo on failure or kill.** Before a writer thread writes a chunk (pass 2, pass 5, the
   category tree), what the chunk overwrites goes to a journal persisted in DynamoDB
   (``_Journal``, ``store/import_journal.py``), open on the seller's import state until the
   commit closes it. An exception puts back what this run wrote, then raises (the redelivery
   imports again); a killed run's journal stays open, and the next run of the seller — the
   redelivery — undoes it before it writes. docs/architecture.md, decision 9, says what this
   covers and what it does not.
7. **Tell.** ``progress`` (rows read, rows written) is put on the record every PROGRESS_ROWS
   rows or PROGRESS_SECONDS; the ending is emailed to the shop (``feed_notices``).

A feed with more valid offers than ``settings().import_chunk_offers`` leaves this pipeline after
pass 1: ``services/feed_chunks.py`` splits it into chunks that this function imports in
parallel, one queue message each, with the same journal, commit and report.

A *dry run* (``dry_run`` on the record, from ``POST /seller/feeds``) runs pass 1 and pass 2's
own checks, writes the report and the email, and takes no lock and writes no product.

Memory stays flat: one chunk of offers, the bounded category list, and a fingerprint of ~16
bytes per product id (``feeds/dedupe.OfferIdSet``, to find the missing ones) — no offer list,
no error list in memory. The object is read, and the report written, through
``adapters/feed_objects.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote_plus

from chalicelib import logs, metrics, tracing
from chalicelib.adapters.feed_objects import FeedObject, feed_objects
from chalicelib.config import settings
from chalicelib.domain import catalog as catalog_rules
from chalicelib.domain.imports import ImportCounts, ImportRecord
from chalicelib.domain.spreadsheet import csv_lines
from chalicelib.errors import Gone, Unavailable
from chalicelib.services.feeds import FEED_SUFFIXES, FEEDS_PREFIX, now_iso
from chalicelib.store import accounts, import_journal, imports, keys
from chalicelib.store import catalog as store

REPORTS_PREFIX = "reports/"
LEASE_SECONDS = 840  # < the queue's visibility timeout (900 s): a crashed worker's retry can claim
CHUNK = 100  # offers per BatchGetItem
WRITERS = 4  # chunks written concurrently: parsing and diffing overlap the writes' round trips
INLINE_ERRORS = 20
MAX_CATEGORIES = 5000
MAX_CATEGORY_BYTES = 300_000  # the tree is one item (DynamoDB's limit is 400 KB)
PROGRESS_ROWS = 2000  # progress goes on the record every this many rows …
PROGRESS_SECONDS = 2.0  # … or this often, whichever comes first: one UpdateItem each time
REPORT_CSV_HEADER = ("row", "offer_id", "field", "reason")
SEARCHABLE = ("name", "vendor", "model", "category_name", "description", "price", "old_price", "available", "seller_id",
              "category_id", "author", "publisher", "isbn", "barcodes", "vendor_code")

_FEED_ID = re.compile(r"^[fd][a-z0-9]{10,40}$")


class RetryLater(Exception):  # noqa: N818 - the SQS message must come back later
    """Raised to the import Lambda so SQS redelivers the message (another import is running)."""


# --- small helpers ---------------------------------------------------------------------------


def _reader() -> Callable[..., Iterator[Any]]:
    from chalicelib.feeds import read_feed  # the parser package; imported when an import runs

    return read_feed


# A product whose stock checkouts may be changing while the import writes it: (id, the item as
# read, how to build the new item from the item as it is now).
Guarded = tuple[str, dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]]]
GUARD_ROUNDS = 10


def _stock_tracked(old: dict[str, Any] | None) -> bool:
    """Checkouts, cancellations and shipments change this product's ``stock``/``reserved``."""
    return bool(old) and (old.get("stock") is not None or old.get("reserved") is not None)


def _write_chunk(puts: list[dict[str, Any]], deletes: list[dict[str, str]], guarded: list[Guarded]) -> None:
    """Plain items in batches; products with a stock count conditionally on the stock read
    (``store.write_guarded``), so a checkout landing between the import's read and its write
    is never overwritten: such a product is read again and rebuilt from what it is now."""
    if puts or deletes:
        store.batch_write(puts, deletes)
    rounds = 0
    while guarded:
        entries = []
        for _pid, old, build in guarded:
            new = build(old)
            entries.append((new, old, store.stale_keys(old, new)))
        conflicted = store.write_guarded(entries)
        if not conflicted:
            return
        rounds += 1
        if rounds >= GUARD_ROUNDS:
            raise Unavailable("products kept changing under the import; it will be retried")
        current = store.batch_get_products(sorted(conflicted))
        guarded = [(pid, current[pid], build) for pid, _old, build in guarded if pid in current and pid in conflicted]


def _index(changes: list[tuple[dict[str, Any] | None, dict[str, Any]]]) -> None:
    """Hand product changes to the search index (owned by chalicelib/search)."""
    if not changes:
        return
    from chalicelib.search.indexer import apply_changes

    apply_changes(changes)


def _searchable(product: dict[str, Any] | None) -> tuple[Any, ...]:
    return tuple((product or {}).get(k) for k in SEARCHABLE)


# --- the S3 notification --------------------------------------------------------------------


class _Failed(Exception):
    """The import fails with this reason and changes nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _head(bucket: str, key: str) -> FeedObject | None:
    for candidate in dict.fromkeys((key, unquote_plus(key))):  # event keys arrive URL-encoded
        obj = feed_objects().head(bucket, candidate)
        if obj is not None:
            return obj
    return None


def _derived_id(obj: FeedObject) -> str:
    raw = "\x00".join((obj.bucket, obj.key, obj.etag, obj.version or obj.last_modified))
    return "d" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def _seller_of(key: str) -> str | None:
    parts = key.split("/")
    if key.startswith(FEEDS_PREFIX) and len(parts) >= 3 and parts[1]:
        return parts[1][:128]
    return None


def _rejection(obj: FeedObject, seller_id: str | None, has_shop: bool) -> str | None:
    """Why this key is never imported, or None when it may be."""
    if obj.bucket != settings().feeds_bucket:
        return f"the bucket {obj.bucket[:80]!r} is not the feeds bucket"
    if seller_id is None:
        return "the file is outside feeds/<seller_id>/"
    if not obj.filename.lower().endswith(FEED_SUFFIXES):
        return f"unsupported file type {obj.filename[:80]!r}: upload one of " + ", ".join(FEED_SUFFIXES)
    if not has_shop:
        return f"unknown seller {seller_id[:80]!r}"
    if obj.size > settings().feed_max_bytes:
        return f"the file is larger than {settings().feed_max_bytes} bytes"
    return None


def handle_s3_notification(bucket: str, key: str, event_id: str | None = None) -> ImportRecord | None:
    """Import the object one S3 notification names; safe to call again for the same object.

    ``event_id`` (the event's sequencer) is only logged: the object's own ETag and version /
    LastModified identify the import, so a duplicate delivery finds the same record.

    Returns the final import record, or None when there was nothing to do (the object is gone,
    or this delivery is a duplicate of one that is running or done).
    """
    obj = _head(bucket, key)
    if obj is None:
        logs.event("feed object no longer exists", bucket=bucket, key=key, event_id=event_id)
        return None
    seller_id = _seller_of(obj.key)
    has_shop = seller_id is not None and accounts.get_shop(seller_id) is not None
    reason = _rejection(obj, seller_id, has_shop)
    feed_id = (_presigned_feed_id(obj, seller_id) if has_shop else None) or _derived_id(obj)
    now = now_iso()
    base: dict[str, Any] = {
        "feed_id": feed_id, "filename": obj.filename[:200], "bucket": obj.bucket, "key": obj.key[:1024],
        "etag": obj.etag, "size": obj.size, "source_modified_at": obj.last_modified, "source": "drop",
        "created_at": now, "updated_at": now,
    }
    if has_shop:
        base["seller_id"] = seller_id
    if reason:
        failed = {"status": imports.FAILED, "reason": reason, "finished_at": now, "counts": ImportCounts().as_dict(),
                  "errors": []}
        if not imports.create({**base, **failed}) and imports.claim(feed_id, {}, LEASE_SECONDS):
            imports.update(feed_id, failed, remove=("lease_until", "ttl"))  # a presigned upload, rejected
        logs.event("feed rejected", feed_id=feed_id, key=obj.key, reason=reason)
        return imports.get(feed_id)
    imports.create({**base, "status": imports.QUEUED})  # a no-op for a presigned upload's record
    claimed = imports.claim(feed_id, {"etag": obj.etag, "size": obj.size, "source_modified_at": obj.last_modified,
                                      "started_at": now, "updated_at": now}, LEASE_SECONDS)
    if claimed is None:
        logs.event("duplicate feed delivery ignored", feed_id=feed_id)
        return None
    return _run_claimed(claimed, obj)


def _presigned_feed_id(obj: FeedObject, seller_id: str | None) -> str | None:
    """The record POST /seller/feeds made for this key, unless it already imported other bytes."""
    parts = obj.key.split("/")
    if seller_id is None or len(parts) != 4 or not _FEED_ID.match(parts[2]):
        return None
    record = imports.get(parts[2])
    if not record or record.seller_id != seller_id or record.key != obj.key:
        return None
    if record.etag in (None, obj.etag):
        return parts[2]
    return None  # the same URL was used again with other content: a new import


def _run_claimed(record: ImportRecord, obj: FeedObject) -> ImportRecord | None:
    feed_id, seller_id = record.feed_id, record.owner
    tracing.annotate(feed_id=feed_id, seller_id=seller_id)
    if record.dry_run:  # writes nothing: no lock, no timeline
        try:
            outcome = FeedImport(record, obj, {}).run()
        except BaseException:
            imports.update(feed_id, {"status": imports.QUEUED, "updated_at": now_iso()}, remove=("lease_until",))
            raise
        return _finish(record, outcome, obj, outcome.report)
    try:
        state = store.acquire_import_lock(seller_id, feed_id, obj.last_modified, LEASE_SECONDS)
    except store.ImportLocked as exc:
        imports.update(feed_id, {"status": imports.QUEUED, "updated_at": now_iso(),
                                 "note": "waiting for another import of this seller"}, remove=("lease_until",))
        raise RetryLater(f"seller {seller_id} is importing {exc}") from exc
    except store.Superseded:
        return _finish(record, _Outcome(failed="a newer file of this seller was imported already"), obj, None)
    job = None
    try:
        if state.get("journal"):  # a run of this seller died writing: the catalog goes back first
            _undo_dead_run(seller_id, state["journal"], feed_id)
        job = FeedImport(record, obj, state)
        outcome = job.run()
        if outcome.chunked:  # the chunks import it, holding the lock; the last one commits
            return imports.get(feed_id)
        commit = None
        if not outcome.failed:
            commit = {"last_feed": feed_id, "last_source_at": obj.last_modified,
                      "available_count": outcome.available_count}
        # The commit point: the import's facts and the closing of its journal are one write (a
        # failed run closes its journal once it is undone).
        store.release_import_lock(seller_id, feed_id, commit,
                                  close_journal=commit is not None or not job.journal_open)
    except BaseException as exc:
        if job is not None and job.journal_open and isinstance(exc, Exception):
            job.journal_open = not job.undo_unless_committed(exc)  # the commit write itself failed
        # Hand the record back so the redelivered message can claim it straight away; a journal
        # still open is undone by whoever takes the lock next.
        imports.update(feed_id, {"status": imports.QUEUED, "updated_at": now_iso()}, remove=("lease_until",))
        store.release_import_lock(seller_id, feed_id, close_journal=job is not None and not job.journal_open)
        raise
    return _finish(record, outcome, obj, outcome.report)


def _undo_dead_run(seller_id: str, pointer: dict[str, Any], by_feed: str) -> None:
    """Undo the run whose journal is still open (it was killed, or its own undo failed) and
    close it; the seller's import state is read again so the new run sees the catalog as it
    was. The dead run's chunks, if it was split, are stopped first (``feed_chunks.stop``)."""
    logs.event("undoing an import run that did not finish", 40, seller_id=seller_id, run=pointer.get("run"),
               dead_feed_id=pointer.get("feed_id"))
    if CHUNKS is not None:
        CHUNKS.stop(pointer, by_feed)
    restored = undo(seller_id, pointer)
    import_journal.close_run(seller_id, pointer["run"])
    logs.event("unfinished import run undone", seller_id=seller_id, run=pointer.get("run"), restored=restored)


# --- the import itself ------------------------------------------------------------------------


@dataclass
class _Outcome:
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[dict[str, Any]] = field(default_factory=list)  # the first INLINE_ERRORS
    failed: str | None = None
    available_count: int = 0
    report: IO[str] | None = None
    chunked: bool = False  # split into chunks: the import goes on in them (services/feed_chunks.py)


class _Report:
    """Row errors as JSON lines in a spooled temp file (memory-bounded), the first few inline."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115
        self.first: list[dict[str, Any]] = []
        self.count = 0  # every reported problem
        self.rows = 0  # rejected offers (category problems are reported but are not rows)

    def add(self, row: int | None, offer_id: str | None, field_name: str | None, reason: str,
            *, is_row: bool = True) -> None:
        entry = {"row": row, "offer_id": offer_id, "field": field_name, "reason": reason}
        entry = {k: v for k, v in entry.items() if v is not None}
        if len(self.first) < INLINE_ERRORS:
            self.first.append(entry)
        self.file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1
        self.rows += is_row


def _item_key(item: dict[str, Any]) -> dict[str, str]:
    return {"PK": item["PK"], "SK": item["SK"]}


def _as_before(old: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``old`` again, over the product as it is now: the units checkouts reserved since ``old``
    was read stay reserved (taken off the stock ``old`` had), an admin's block stays."""
    restored = dict(old)
    reserved_then, reserved_now = int(old.get("reserved") or 0), int(current.get("reserved") or 0)
    if reserved_now:
        restored["reserved"] = reserved_now
    else:
        restored.pop("reserved", None)
    if old.get("stock") is not None:
        restored["stock"] = max(int(old["stock"]) - (reserved_now - reserved_then), 0)
    restored.pop("blocked", None)  # an admin's block (or unblock) meanwhile stands
    if current.get("blocked"):
        restored["blocked"] = True
    return restored


TREE = "#tree"  # the journal entry of the seller's category tree


class _Journal:
    """The run's write-ahead journal (``store/import_journal.py``): before a chunk is written,
    what it overwrites — per product the item as it was (None when the run creates it) and the
    category its new version lists it under — is put in DynamoDB, by the writer thread that
    then writes the chunk. Memory stays flat: entries live only in the chunk being written.

    Why a persisted undo journal and not staged versions with a switch-over: every reader
    (product page, three listing scopes shared by all sellers, search postings, carts,
    checkout's conditional stock writes) reads the live product items by key, one Query or one
    BatchGetItem. Versioning them would make every listing query filter by each seller's current
    version (the ALL scope mixes every seller in one partition), double the search postings,
    and give the stock a checkout reserves two homes. The journal keeps one copy of each product
    and costs the import one small PutItem per chunk (compressed, under 1% of its write units);
    reads pay nothing. A run that fails undoes itself from the journal; a run that is killed
    leaves it open on the seller's import state, and whoever takes the seller's lock next — the
    redelivered message, after the visibility timeout — undoes it first, then imports the file
    whole: the previous catalog, or the new one, never a mix that lasts. See
    docs/architecture.md, decision 9, for what it guarantees and what it does not."""

    def __init__(self, seller_id: str, feed_id: str, now: str) -> None:
        self.seller_id = seller_id
        self.pointer = {"feed_id": feed_id, "run": f"{now}.{secrets.token_hex(3)}", "now": now}
        self.seq = 0
        self.count = 0  # products journaled (for the log)

    def open(self) -> None:
        import_journal.open_run(self.seller_id, self.pointer)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def write(self, seq: int, entries: list[import_journal.Entry]) -> None:
        import_journal.append(self.pointer["feed_id"], self.pointer["run"], seq, entries)
        self.count += len(entries)


def undo(seller_id: str, pointer: dict[str, Any]) -> int:
    """Put back everything the run ``pointer`` names wrote, from its journal; safe to run
    again (a product already put back, or never reached, is recognised as not the run's).
    Returns how many products were put back."""
    restored = 0
    for entries in import_journal.entries(pointer["feed_id"], pointer["run"]):
        restored += _restore(seller_id, entries, pointer["feed_id"], pointer["now"])
    return restored


def _written_by(item: dict[str, Any], feed_id: str, run_now: str, deactivated: bool) -> bool:
    mark = "deactivated_by" if deactivated else "feed_id"
    return item.get("updated_at") == run_now and item.get(mark) == feed_id


def _restore_tree(seller_id: str, old: dict[str, Any] | None, run_now: str) -> None:
    current = store.get_category_tree(seller_id)
    if not current or current.get("updated_at") != run_now:
        return  # the run never wrote it
    if old:
        store.put_category_tree(seller_id, old["categories"], old["tree_hash"], old["updated_at"])
    else:
        store.delete_category_tree(seller_id)


def _restore(seller_id: str, entries: list[import_journal.Entry], feed_id: str, run_now: str) -> int:
    """One journal item's products as they were, with what checkouts did since: the units
    they reserved stay reserved (``_as_before``), an admin's block stands.

    A product item the run wrote is put back (or deleted, if the run created it). One it did
    not write may still have listing items a batch in flight reached when the run died: they
    are written again from the product item as it is, and the new version's category listing
    is deleted. Search postings are first brought to the run's version of the product (a run
    killed while indexing left postings its stored document does not list), then back."""
    products = []
    for pid, old, deactivated, new_category in entries:
        if pid == TREE:
            _restore_tree(seller_id, old, run_now)
        else:
            products.append((pid, old, deactivated, new_category))
    current = store.batch_get_products([pid for pid, *_ in products])
    puts: list[dict[str, Any]] = []
    deletes: list[dict[str, str]] = []
    guarded: list[Guarded] = []
    changes = []
    for pid, old, deactivated, new_category in products:
        now = current.get(pid)
        listed_under = keys.category_listing(store.category_key(seller_id, new_category), pid) if new_category else None
        if now is None or not _written_by(now, feed_id, run_now, deactivated):
            if now is None:
                if old is None:  # the run would have created it: drop listing items it reached
                    deletes += [keys.seller_listing(seller_id, pid)] + ([listed_under] if listed_under else [])
                continue
            if listed_under and new_category != now.get("category_id"):
                deletes.append(listed_under)
            if _stock_tracked(now):
                guarded.append((pid, now, lambda cur: cur))
            else:
                puts += store.product_items(now)
                deletes += store.stale_keys(now, now)  # listing items it recorded under other shards
            continue
        if deactivated and old is not None:  # only `available` changed: put it back, keep the stock as is
            def back(cur: dict[str, Any], old: dict[str, Any] = old) -> dict[str, Any]:
                kept = {k: v for k, v in cur.items() if k != "deactivated_by"}
                return {**kept, **{k: old[k] for k in ("available", "updated_at", "deactivated_by") if k in old}}

            guarded.append((pid, now, back))
            changes.append((now, back(now)))
            continue
        if old is None and not int(now.get("reserved") or 0):
            deletes += [_item_key(i) for i in store.product_items(now)]
            changes.append((now, {**now, "available": False}))
            continue
        if old is None:  # created by this run and already sold: keep it for its order, off sale
            guarded.append((pid, now, lambda cur: {**cur, "available": False}))
            changes.append((now, {**now, "available": False}))
            continue
        if _stock_tracked(now) or _stock_tracked(old):
            guarded.append((pid, now, lambda cur, old=old: _as_before(old, cur)))
        else:
            puts += store.product_items(old)
            deletes += store.stale_keys(now, old)
        changes.append((now, old))
    _write_chunk(puts, deletes, guarded)
    _index([(None, now) for now, _ in changes])
    _index(changes)
    return len(changes)


# Where a feed too big for one run goes: ``services/feed_chunks.py`` puts itself here when it is
# imported (the import Lambda's handler imports it before any message; it imports this module,
# not the other way round). None: every feed imports in one run.
CHUNKS: Any = None


class FeedImport:
    """One claimed import: two streaming passes over one S3 object version."""

    def __init__(self, record: ImportRecord, obj: FeedObject, state: dict[str, Any],
                 reader: Callable[..., Iterator[Any]] | None = None) -> None:
        self.record, self.obj, self.state = record, obj, state
        self.seller_id = record.owner
        self.feed_id = record.feed_id
        self.read = reader or _reader()
        self.report = _Report()
        self.counts = ImportCounts()
        self.now = now_iso()
        self.categories: dict[str, dict[str, Any]] = {}  # id -> {id, name, parent_id?}, bounded
        self.dry_run = record.dry_run
        from chalicelib.services import rates

        self.named_rates = rates.named_rates()  # read only if the feed names a bank, once for both passes
        self.rows_written = 0  # offers stored (or found unchanged) so far, for the progress
        self.journal_open = False  # this run's journal is open on the seller's import state
        self.sink: Callable[[list[dict[str, Any]]], None] | None = None  # pass 2's products go here instead
        self.cut: Callable[[], None] | None = None  # called every ``cut_every`` offers of pass 2
        self.cut_every = 0
        self._progress_at = ("", 0, time.monotonic())  # (phase, rows, when) last put on the record

    def _progress(self, phase: str, rows: int, *, force: bool = False) -> None:
        """Put the progress on the import record, cheaply: every PROGRESS_ROWS rows or
        PROGRESS_SECONDS seconds (the clock is read once per hundred rows)."""
        last_phase, last_rows, last_at = self._progress_at
        if not force and phase == last_phase:
            if rows % 100 or rows == last_rows:
                return
            if rows - last_rows < PROGRESS_ROWS and time.monotonic() - last_at < PROGRESS_SECONDS:
                return
        self._progress_at = (phase, rows, time.monotonic())
        progress = {"phase": phase, "rows_read": self.counts.rows, "rows_written": self.rows_written}
        imports.update(self.feed_id, {"progress": progress, "updated_at": now_iso()})

    def _rows(self) -> Iterator[Any]:
        try:
            body = feed_objects().open(self.obj)
        except Gone as exc:
            raise _Failed("the file was replaced or deleted while it was being imported") from exc
        try:
            yield from self.read(body, self.obj.filename, target_currency=settings().default_currency,
                                 max_decompressed_bytes=settings().feed_max_bytes, named_rates=self.named_rates)
        finally:
            body.close()

    def run(self) -> _Outcome:
        from chalicelib.feeds import FeedFileError

        try:
            categories, offers = self._validate()
        except FeedFileError as exc:
            return self._failed(f"file rejected: {exc.reason}")
        except _Failed as exc:
            return self._failed(exc.reason)
        if offers == 0:
            return self._failed("the file has no valid offers" if self.report.rows else "the file has no offers")
        if self.dry_run:
            return self._dry_run()
        # A seller no import ever wrote for has no product: skip reading them back.
        self.fresh = not self.state.get("last_feed") and not self.state.get("touched")
        chunks = CHUNKS
        if chunks is not None and chunks.should_split(offers, self.dry_run):  # too big for one run
            try:
                return chunks.split(self, categories, offers)
            except (FeedFileError, _Failed) as exc:  # only if the object changed between passes
                if self.journal_open:  # chunks sent so far may have written
                    self.journal_open = not self._roll_back(exc)
                return self._failed(f"file changed during import: {exc.reason}")
        self.journal = _Journal(self.seller_id, self.feed_id, self.now)
        self.journal.open()  # from here on a kill leaves the journal open for the next run to undo
        self.journal_open = True
        try:
            available = self._write()
            self._store_categories(categories)
        except BaseException as exc:
            self.journal_open = not self._roll_back(exc)
            if isinstance(exc, (FeedFileError, _Failed)):  # only if the object changed between passes
                return self._failed(f"file changed during import: {exc.reason}")
            raise
        self.counts.rejected = self.report.rows
        return _Outcome(self.counts, self.report.first, None, available, self.report.file)

    def undo_unless_committed(self, cause: BaseException) -> bool:
        """After the commit write raised: undo the run unless the commit did land (it closes the
        journal: a lost response is not a failure). True when the journal can be closed."""
        state = store.get_import_state(self.seller_id)
        if (state.get("journal") or {}).get("run") != self.journal.pointer["run"]:
            return True
        return self._roll_back(cause)

    def _roll_back(self, cause: BaseException) -> bool:
        """Undo this run from its journal (``undo``); True when every write was put back. If
        the undo fails too (the store is down), the journal stays open: the next run undoes it."""
        logs.event("feed import failed; rolling back", 40, feed_id=self.feed_id, error=repr(cause)[:300],
                   products=self.journal.count)
        try:
            restored = undo(self.seller_id, self.journal.pointer)
        except Exception as exc:  # noqa: BLE001 - the redelivery undoes it; the first error is raised
            logs.event("feed import roll-back incomplete; the next run undoes it", 40,
                       feed_id=self.feed_id, error=repr(exc)[:300])
            return False
        logs.event("feed import rolled back", feed_id=self.feed_id, restored=restored)
        return True

    def _dry_run(self) -> _Outcome:
        """What the import would report, writing nothing: pass 2's own checks (duplicate ids,
        oversized offers) run over the parsed products, no store is read or written."""
        from chalicelib.feeds.dedupe import OfferIdSet

        self.seen = OfferIdSet()
        self._write_rows()
        self.counts.rejected = self.report.rows
        return _Outcome(self.counts, self.report.first, None, 0, self.report.file)

    def _failed(self, reason: str) -> _Outcome:
        counts = ImportCounts(rows=self.counts.rows, rejected=self.report.rows)
        return _Outcome(counts, self.report.first, reason, 0, self.report.file)

    # pass 1 -------------------------------------------------------------------------------

    def _validate(self) -> tuple[list[dict[str, Any]], int]:
        from chalicelib.feeds import FeedCategory, FeedOffer, RowError

        categories = self.categories
        offers = 0
        for row in self._rows():
            if isinstance(row, FeedOffer):
                offers += 1
                self.counts.rows += 1
                self._progress("validating", self.counts.rows)
                path = catalog_rules.category_path(row)
                for depth in range(len(path)):  # a CSV path: every prefix is a node of the tree
                    node_id = " > ".join(path[: depth + 1])
                    if node_id not in categories and len(categories) < MAX_CATEGORIES:
                        categories[node_id] = {"id": node_id, "name": path[depth]}
                        if depth:
                            categories[node_id]["parent_id"] = " > ".join(path[:depth])
            elif isinstance(row, FeedCategory):
                if len(categories) < MAX_CATEGORIES or row.id in categories:
                    node = {"id": row.id, "name": row.name}
                    if row.parent_id:
                        node["parent_id"] = row.parent_id
                    categories[row.id] = node
            elif isinstance(row, RowError):
                is_row = row.field != "category" or row.offer_id is not None
                self.counts.rows += is_row
                self.report.add(row.row, row.offer_id, row.field, row.reason, is_row=is_row)
        self._progress("writing" if not self.dry_run else "checking", 0, force=True)  # counts from 0 again
        return list(categories.values()), offers

    # pass 2 -------------------------------------------------------------------------------

    def _write(self) -> int:
        from chalicelib.feeds.dedupe import OfferIdSet  # the parser package; imported when an import runs

        self.seen = OfferIdSet()
        self.was_available_seen = 0
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="feed-writer") as pool:
            self.pool: ThreadPoolExecutor = pool
            self.in_flight: deque[tuple[Future, list]] = deque()
            try:
                available = self._write_rows()
                self._drain(0)
                self._progress("finishing", self.rows_written, force=True)
                self.counts.deactivated = self._deactivate_missing()
                self._drain(0)
            finally:
                for future, _ in self.in_flight:
                    future.cancel()
        return available

    def _submit(self, entries: list[import_journal.Entry], puts: list[dict[str, Any]],
                deletes: list[dict[str, str]], changes: list, guarded: list[Guarded] = ()) -> None:
        """Write one chunk in the pool, its journal entries first; at most WRITERS chunks wait,
        so memory stays bounded."""
        future = self.pool.submit(self._journaled_write, self.journal.next_seq(), entries, puts, deletes,
                                  list(guarded))
        self.in_flight.append((future, changes))
        self._drain(WRITERS)

    def _journaled_write(self, seq: int, entries: list[import_journal.Entry], puts: list[dict[str, Any]],
                         deletes: list[dict[str, str]], guarded: list[Guarded]) -> None:
        self.journal.write(seq, entries)
        _write_chunk(puts, deletes, guarded)

    def _drain(self, keep: int) -> None:
        """Wait for the oldest writes until ``keep`` remain; a failed write raises here. The
        search index hears of a chunk only once it is stored."""
        while len(self.in_flight) > keep:
            future, changes = self.in_flight.popleft()
            future.result()
            _index(changes)

    def _write_rows(self) -> int:
        from chalicelib.feeds import FeedOffer

        available = offers = 0
        chunk: list[dict[str, Any]] = []
        for row in self._rows():
            if not isinstance(row, FeedOffer):
                continue  # categories and row errors were taken in pass 1
            if self.cut is not None and offers and offers % self.cut_every == 0:
                if chunk:
                    self._flush(chunk)
                    chunk = []
                self.cut()
            offers += 1
            product = catalog_rules.product_from_offer(self.seller_id, row, self.feed_id, self.categories)
            if not self.seen.add(product["product_id"]):
                self.report.add(None, row.offer_id, "id", "duplicate offer id")
                continue
            if catalog_rules.too_large(product):
                self.report.add(None, row.offer_id, None, "the offer is larger than DynamoDB's 400 KB item limit")
                continue
            available += product["available"]
            chunk.append(product)
            if len(chunk) == CHUNK:
                self._flush(chunk)
                chunk = []
        if chunk:
            self._flush(chunk)
        return available

    def _flush(self, chunk: list[dict[str, Any]]) -> None:
        self.rows_written += len(chunk)
        if self.sink is not None:  # the chunks report the progress of their writes
            self.sink(chunk)
            return
        self._progress("writing" if not self.dry_run else "checking", self.rows_written)
        if self.dry_run:
            return
        existing = {} if self.fresh else store.batch_get_products([p["product_id"] for p in chunk])
        puts: list[dict[str, Any]] = []
        deletes: list[dict[str, str]] = []
        guarded: list[Guarded] = []
        changes = []
        entries: list[import_journal.Entry] = []
        for product in chunk:
            old = existing.get(product["product_id"])
            if old and old.get("available"):
                self.was_available_seen += 1
            same = old and old.get("content_hash") == product["content_hash"]
            if same and old.get("available") == product["available"]:
                self.counts.unchanged += 1
                continue
            if old:
                self.counts.updated += 1
            else:
                self.counts.created += 1
            offer = dict(product)  # the feed's own values: a rebuild starts from these again
            merged = self._merge(product, old)
            entries.append([offer["product_id"], old, False, merged.get("category_id")])
            if _stock_tracked(old):
                guarded.append((offer["product_id"], old, lambda now, offer=offer: self._merge(dict(offer), now)))
            else:
                puts += store.product_items(merged)
                deletes += store.stale_keys(old, merged)
            if _searchable(old) != _searchable(merged):
                changes.append((old, merged))
        if entries:
            self._submit(entries, puts, deletes, changes, guarded)

    def _merge(self, product: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """The offer as stored over ``old``: its creation time, an admin's block, and the units
        checkouts reserved (``domain/catalog.keep_reservations``)."""
        product["created_at"] = (old or {}).get("created_at") or self.now
        if old and old.get("blocked"):
            product["blocked"] = True  # the admin's block outlives the seller's feeds
        if old:
            catalog_rules.keep_reservations(product, old)
        product["updated_at"] = self.now
        return product

    def _deactivate_missing(self) -> int:
        before = self.state.get("available_count")
        retried = self.record.attempts > 1  # an earlier attempt may have written some
        if before is None or (before == self.was_available_seen and not retried):
            return 0  # first import of this seller, or every product available before is in the file
        missing: list[str] = []
        count = 0
        for item in store.seller_products(self.seller_id, available_only=True):
            if item["product_id"] not in self.seen:
                missing.append(item["product_id"])
            if len(missing) == CHUNK:
                count += self._deactivate(missing)
                missing = []
        if missing:
            count += self._deactivate(missing)
        return count

    def _deactivate(self, product_ids: list[str]) -> int:
        olds = store.batch_get_products(product_ids)
        puts, deletes, guarded, changes, entries = [], [], [], [], []
        for old in olds.values():
            if not old.get("available"):
                continue
            new = self._deactivated(old)
            entries.append([old["product_id"], old, True, old.get("category_id")])
            if _stock_tracked(old):
                guarded.append((old["product_id"], old, self._deactivated))
            else:
                puts += store.product_items(new)
                deletes += store.stale_keys(old, new)
            changes.append((old, new))
        if entries:
            self._submit(entries, puts, deletes, changes, guarded)
        return len(changes)

    def _deactivated(self, old: dict[str, Any]) -> dict[str, Any]:
        return {**old, "available": False, "updated_at": self.now, "deactivated_by": self.feed_id}

    def _store_categories(self, categories: list[dict[str, Any]]) -> None:
        encoded = json.dumps(categories, ensure_ascii=False, sort_keys=True)
        while len(encoded.encode()) > MAX_CATEGORY_BYTES and categories:
            categories = categories[: len(categories) * 3 // 4]
            encoded = json.dumps(categories, ensure_ascii=False, sort_keys=True)
        tree_hash = hashlib.sha256(encoded.encode()).hexdigest()[:32]
        current = store.get_category_tree(self.seller_id)
        if current and current.get("tree_hash") == tree_hash:
            return
        self.journal.write(self.journal.next_seq(), [[TREE, current, False, None]])
        store.put_category_tree(self.seller_id, categories, tree_hash, self.now)


# --- finishing ----------------------------------------------------------------------------------


def _error_entries(errors_file: IO[str] | None) -> Iterator[dict[str, Any]]:
    if errors_file is None:
        return
    errors_file.seek(0)
    for line in errors_file:
        yield json.loads(line)


def _write_csv_report(record: ImportRecord, errors_file: IO[str] | None) -> str:
    """The row report as CSV (one line per problem), every cell through ``safe_cell``: the
    seller opens it in a spreadsheet, and offer ids and reasons quote the seller's own data."""
    key = f"{REPORTS_PREFIX}{record.owner}/{record.feed_id}.csv"
    rows = ([e.get(c) for c in REPORT_CSV_HEADER] for e in _error_entries(errors_file))
    with tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+b") as out:
        out.write("\ufeff".encode())  # spreadsheets read the file as UTF-8 only with a BOM
        for line in csv_lines(REPORT_CSV_HEADER, rows):
            out.write(line.encode())
        out.seek(0)
        feed_objects().upload(settings().feeds_bucket, key, out, "text/csv; charset=utf-8")
    return key


def _write_report(record: ImportRecord, status: str, outcome: _Outcome, errors_file: IO[str] | None) -> str:
    key = f"{REPORTS_PREFIX}{record.owner}/{record.feed_id}.json"
    with tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+b") as out:
        head = {"feed_id": record.feed_id, "seller_id": record.owner, "filename": record.filename,
                "status": status, "reason": outcome.failed, "counts": outcome.counts.as_dict()}
        out.write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "errors": [')
        if errors_file is not None:
            errors_file.seek(0)
            for i, line in enumerate(errors_file):
                out.write((b"," if i else b"") + line.rstrip("\n").encode())
        out.write(b"]}")
        out.seek(0)
        feed_objects().upload(settings().feeds_bucket, key, out, "application/json")
    return key


def _finish(record: ImportRecord, outcome: _Outcome, obj: FeedObject,
            errors_file: IO[str] | None) -> ImportRecord | None:
    if outcome.failed:
        status = imports.FAILED
    elif outcome.counts.rejected:
        status = imports.PARTIAL
    else:
        status = imports.SUCCEEDED
    report_key = _write_report(record, status, outcome, errors_file)
    csv_key = _write_csv_report(record, errors_file)
    if errors_file is not None:
        errors_file.close()
    now = now_iso()
    counts = outcome.counts.as_dict()
    progress = {"phase": "done", "rows_read": counts["rows"],
                "rows_written": 0 if outcome.failed else counts["created"] + counts["updated"] + counts["unchanged"]}
    fields: dict[str, Any] = {"status": status, "counts": counts, "errors": outcome.errors,
                              "report_key": report_key, "report_csv_key": csv_key, "progress": progress,
                              "finished_at": now, "updated_at": now}
    if outcome.failed:
        fields["reason"] = outcome.failed
    imports.update(record.feed_id, fields, remove=("lease_until", "ttl", "note"))
    logs.event("feed imported", feed_id=record.feed_id, seller_id=record.owner, status=status,
               **outcome.counts.as_dict())
    counts = outcome.counts.as_dict()
    for key, metric in (("created", "ImportRowsCreated"), ("updated", "ImportRowsUpdated"),
                        ("rejected", "ImportRowsRejected")):
        metrics.count(metric, int(counts.get(key) or 0))
    metrics.count("Imports", by=status)
    _email_finished(record, status, outcome)
    return imports.get(record.feed_id)


def _email_finished(record: ImportRecord, status: str, outcome: _Outcome) -> None:
    """The seller's "your import ended" email: the counts and the link to the CSV report."""
    from chalicelib.services import feed_notices

    shop = accounts.get_shop(record.owner) or {}
    link = f"{settings().public_base_url}/seller/feeds/{record.feed_id}/report.csv"
    feed_notices.send("feed_import_finished", shop, link, status=status, dry_run=record.dry_run,
                      filename=record.filename or "", reason=outcome.failed or "",
                      **outcome.counts.as_dict())
