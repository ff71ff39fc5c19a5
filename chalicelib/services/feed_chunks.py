"""Feeds beyond one function run: split into chunks, imported in parallel, committed once.

A feed with more valid offers than ``settings().import_chunk_offers`` goes this way (smaller
feeds, and dry runs, keep the single run of ``services/feed_import.py``):

1. **Split** (the import Lambda's run of the S3 notification, ``split``): pass 1 as usual
   (validation, categories, row errors), which also counts the valid offers and so the chunks.
   Then the job item (``store/import_chunks.py``) and the seller's journal opened under the
   split's run (as a single run opens its own). Pass 2 builds every product
   (``domain/catalog.product_from_offer``), reports duplicate ids and oversized offers, and
   writes the products as gzip'd JSON-lines chunk files of ``import_chunk_offers`` offers to
   ``chunks/<seller>/<feed_id>/<run>/`` in the feeds bucket; each chunk is sent — one message on
   the **import queue itself**, the same queue, function, retries and dead-letter queue as the
   S3 notifications — as soon as it is uploaded, so workers write while the split reads on. The
   last chunk goes once the id list, the row errors and the counts are stored for the commit.
   The seller's import lock stays taken.
2. **Write** (``handle_chunk``, one message): claim the chunk (a duplicate delivery finds it
   leased or done and does nothing), undo the chunk's earlier attempts from their journals,
   then pass 2's writer (``FeedImport._flush``: diff, guarded writes, search) over its products
   with a journal of its own (``<run>#c<n>a<attempt>``, under the split's run). Finishing is one
   conditional write on the job that adds the chunk's counts once.
3. **Commit** (whoever finishes the last chunk, ``_commit``): the "no longer in the feed" pass
   (against the id list), the category tree, the seller's import state with the journal closed
   (the commit point, as for a single run), then one report and one email (``_finish``).
4. **All or nothing.** A chunk or commit that failed ``CHUNK_ATTEMPTS`` times (or is delivered
   once more after that: a killed last attempt) fails the import: the job is marked failed, and
   the split's run — every chunk's journal and the commit's — is undone (``feed_import.undo``).
   A chunk still writing when that happens sees it at its next batch a second on
   (``_ChunkWriter._flush``, ``JOB_CHECK_SECONDS``),
   at its end, when it raises, or in its redelivery after a kill (``_outlived``), and takes back
   every attempt of its own (``_take_back``). A running job whose run the seller's journal no
   longer names is committed (the split opens the journal before it makes the job, every
   failure marks the job before it undoes), so nothing past the commit point undoes it. If the
   undo itself fails, the journal stays open on the seller's import state and the seller's next
   import undoes it first, as for a killed single run.
5. **Stalled.** An import that stopped moving — every delivery of a chunk died and the queue
   parked it — is failed and undone by the reconciler (``sweep_stalled``).

Why chunk messages on the import queue rather than a Step Functions Distributed Map: the queue
already gives retries, a dead-letter queue and bounded concurrency to the import function, the
workers need no second function or state machine, and the local stack's poller delivers the
same messages to the same handler (docs/feed-formats.md, "Feeds beyond one function run").
"""

from __future__ import annotations

import gzip
import json
import secrets
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import IO, Any

from chalicelib import clients, logs
from chalicelib.config import settings
from chalicelib.domain.imports import ImportCounts, ImportRecord
from chalicelib.services import feed_import
from chalicelib.services.feed_import import (
    CHUNK,
    LEASE_SECONDS,
    PROGRESS_ROWS,
    WRITERS,
    FeedImport,
    _finish,
    _Journal,
    _Outcome,
    undo,
)
from chalicelib.services.feeds import now_iso
from chalicelib.store import catalog as store
from chalicelib.store import import_chunks, import_journal, imports

CHUNKS_PREFIX = "chunks/"
CHUNK_ATTEMPTS = 2  # < the queue's maxReceiveCount (3): the next delivery after the last attempt fails the import
JOB_CHECK_SECONDS = 1.0  # a chunk writing reads its job at most this often: it stops this soon after a failure


def should_split(offers: int, dry_run: bool) -> bool:
    size = settings().import_chunk_offers
    return bool(not dry_run and size and settings().import_queue_url and offers > size)


# --- S3 objects of a job -----------------------------------------------------------------------


def _prefix(seller_id: str, feed_id: str, run: str) -> str:
    return f"{CHUNKS_PREFIX}{seller_id}/{feed_id}/{run.replace(':', '')}/"


def _put(key: str, body: IO[bytes], content_type: str) -> None:
    body.seek(0)
    clients.client("s3").upload_fileobj(body, settings().feeds_bucket, key, ExtraArgs={"ContentType": content_type})


def _lines(key: str) -> Iterator[str]:
    body = clients.client("s3").get_object(Bucket=settings().feeds_bucket, Key=key)["Body"]
    with gzip.GzipFile(fileobj=body) as unzipped:
        for raw in unzipped:
            if raw.strip():
                yield raw.decode("utf-8").rstrip("\n")


def chunk_key(job: dict[str, Any], n: int) -> str:
    return f"{job['prefix']}{n:05d}.jsonl.gz"


def _spooled_gzip() -> tuple[IO[bytes], gzip.GzipFile]:
    raw = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")  # noqa: SIM115 - closed by its owner
    return raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1)


def _put_gzip(key: str, parts: Iterable[bytes]) -> None:
    raw, out = _spooled_gzip()
    for part in parts:
        out.write(part)
    out.close()
    _put(key, raw, "application/gzip")
    raw.close()


class _ChunkFiles:
    """Products into chunk files, one per ``cut`` (each uploaded, then its message sent, while
    the split reads on), product ids into one list: memory holds one gzip buffer of each at
    most (spooled to disk past 8 MB)."""

    def __init__(self, prefix: str, send: Any) -> None:
        self.prefix, self.send = prefix, send
        self.count = 0  # chunk files uploaded (and sent)
        self.raw, self.out = _spooled_gzip()
        self.ids_raw, self.ids = _spooled_gzip()

    def add(self, products: list[dict[str, Any]]) -> None:
        for product in products:
            self.out.write(json.dumps(product, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            self.ids.write(product["product_id"].encode() + b"\n")

    def cut(self) -> None:
        """The current chunk is complete (even empty: its offers were all duplicates)."""
        self.out.close()
        _put(f"{self.prefix}{self.count:05d}.jsonl.gz", self.raw, "application/gzip")
        self.raw.close()
        self.send(self.count)
        self.count += 1
        self.raw, self.out = _spooled_gzip()

    def close_ids(self) -> None:
        self.ids.close()
        _put(f"{self.prefix}ids.txt.gz", self.ids_raw, "application/gzip")
        self.ids_raw.close()


# --- 1. split ------------------------------------------------------------------------------------


def split(run: Any, categories: list[dict[str, Any]], offers: int) -> Any:
    """Pass 2 of ``run`` (a ``FeedImport`` past pass 1, which counted ``offers`` valid offers)
    into chunk files of ``import_chunk_offers`` offers each: chunk ``n`` is sent as soon as it
    is uploaded, so workers write while the split reads on. Returns the run's outcome marked
    ``chunked``: the import goes on in the chunks.

    Chunks are cut by offer (duplicates and oversized offers only make a chunk smaller), so
    their number is known before the first is sent. The last chunk is sent only once the job
    holds what the commit needs (the id list, the row errors, the counts)."""
    from chalicelib.feeds.dedupe import OfferIdSet

    seller_id, feed_id = run.seller_id, run.feed_id
    size = settings().import_chunk_offers
    total = -(-offers // size)
    run_id = f"{run.now}.{secrets.token_hex(3)}"
    prefix = _prefix(seller_id, feed_id, run_id)
    _put_gzip(f"{prefix}categories.json.gz", [json.dumps(categories, ensure_ascii=False).encode()])
    job = {"feed_id": feed_id, "run": run_id, "now": run.now, "prefix": prefix, "total": total,
           "seller_id": seller_id, "fresh": bool(run.fresh), "rows": run.counts.rows, "rejected": 0, "available": 0,
           "first_errors": [], "source_at": run.obj.last_modified, "split_attempt": run.record.attempts,
           "created_at": now_iso()}
    run.journal = _Journal(seller_id, feed_id, run.now)
    run.journal.pointer["run"] = run_id
    run.journal.open()  # from here on, a chunk's writes are undone with the split's run
    run.journal_open = True
    # after the journal: a running job whose run the seller's journal no longer names is committed
    import_chunks.put_job(feed_id, job)
    progress = {"phase": "writing", "rows_read": run.counts.rows, "rows_written": 0}
    imports.update(feed_id, {"progress": progress, "chunks": total, "updated_at": now_iso()})
    files = _ChunkFiles(prefix, lambda n: _send(feed_id, run_id, n))
    try:
        run.seen = OfferIdSet()
        run.sink, run.cut_every, run.cut = files.add, size, files.cut
        available = run._write_rows()
        files.close_ids()
        run.counts.rejected = run.report.rows
        run.report.file.seek(0)
        _put_gzip(f"{prefix}errors.jsonl.gz", (line.encode() for line in run.report.file))
        import_chunks.set_fields(feed_id, run_id, {"rejected": run.counts.rejected, "available": available,
                                                   "first_errors": run.report.first})
        files.cut()  # the last chunk
        if files.count != total:
            raise RuntimeError(f"the file gave {files.count} chunks on its second read, {total} on its first")
    except BaseException as exc:
        current = import_chunks.get_job(feed_id) if isinstance(exc, Exception) else None
        if current and current.get("run") == run_id and current.get("status") == import_chunks.FAILED:
            run.journal_open = False  # a chunk failed the import for good: it undid it and reported
            return _Outcome(run.counts, run.report.first, None, 0, None, chunked=True)
        import_chunks.set_status(feed_id, run_id, import_chunks.ABANDONED)  # its chunks write nothing more
        raise
    logs.event("feed split into chunks", feed_id=feed_id, seller_id=seller_id, chunks=total,
               offers=run.rows_written, run=run_id)
    return _Outcome(run.counts, run.report.first, None, available, None, chunked=True)


def _send(feed_id: str, run: str, n: int) -> None:
    body = json.dumps({"chunk": {"feed_id": feed_id, "run": run, "n": n}})
    clients.client("sqs").send_message(QueueUrl=settings().import_queue_url, MessageBody=body)


def chunk_message(body: Any) -> dict[str, Any] | None:
    """The chunk a queue message names, or None when it is not a chunk message."""
    if isinstance(body, dict) and isinstance(body.get("chunk"), dict):
        chunk = body["chunk"]
        if isinstance(chunk.get("feed_id"), str) and isinstance(chunk.get("run"), str) \
                and isinstance(chunk.get("n"), int):
            return chunk
    return None


# --- 2. write one chunk ----------------------------------------------------------------------------


def handle_chunk(feed_id: str, run: str, n: int) -> None:
    """Import chunk ``n`` of the split ``run``; safe to call again for the same chunk. Raises
    for the queue to deliver it again (the attempt's own writes are undone by the next one)."""
    job = import_chunks.get_job(feed_id)
    record = imports.get(feed_id)
    if record is None:
        return
    if not job or job.get("run") != run or job.get("status") != import_chunks.RUNNING:
        _outlived(feed_id, run, n, job, record)
        return
    if import_chunks.is_done(job, n):  # a duplicate, or the commit of the last chunk died
        if job["done"] == job["total"]:
            _commit(job, record)
        return
    attempt = import_chunks.claim_chunk(feed_id, run, n, LEASE_SECONDS)
    if attempt is None:
        logs.event("duplicate chunk delivery ignored", feed_id=feed_id, n=n)
        return
    if attempt > CHUNK_ATTEMPTS:
        fail(job, record, f"part {n + 1} of {job['total']} of the file could not be imported")
        return
    try:
        _keep_lock(job, record)
        for earlier in range(1, attempt):
            _undo_run(job, _chunk_run(run, n, earlier))
        writer = _ChunkWriter(record, job, _chunk_run(run, n, attempt))
        counts = writer.write(json.loads(line) for line in _lines(chunk_key(job, n)))
    except Exception as exc:
        if _gone(feed_id, run):  # the import failed meanwhile: this chunk's writes go back too
            _take_back(feed_id, run, n, job, record.owner)
            return
        if isinstance(exc, _Stopped):
            return  # committed meanwhile: another attempt imported this chunk
        logs.event("feed chunk failed", 40, feed_id=feed_id, n=n, attempt=attempt, error=repr(exc)[:300])
        if attempt >= CHUNK_ATTEMPTS:
            fail(job, record, f"part {n + 1} of {job['total']} of the file could not be imported")
            return
        import_chunks.release_chunk(feed_id, run, n)
        raise
    finished = import_chunks.finish_chunk(feed_id, run, n, counts, retried=attempt > 1)
    if finished is None:
        if _gone(feed_id, run):  # the import failed meanwhile: this chunk's writes go back too
            _take_back(feed_id, run, n, job, record.owner)
        return  # else another attempt finished the chunk first: its writes are this one's too
    logs.event("feed chunk imported", feed_id=feed_id, n=n, done=finished["done"], total=finished["total"], **counts)
    if finished["done"] == finished["total"]:
        _commit(finished, record)


class _Stopped(Exception):  # noqa: N818 - not an error: the chunk stops writing
    """The job of the chunk being written is no longer running (failed, committed, replaced)."""


def _gone(feed_id: str, run: str) -> bool:
    """The import of ``run`` will not commit: failed, abandoned, or replaced by a new split."""
    current_run, status = import_chunks.state_of(feed_id)
    return current_run != run or status in (import_chunks.FAILED, import_chunks.ABANDONED)


def _outlived(feed_id: str, run: str, n: int, job: dict[str, Any] | None, record: ImportRecord) -> None:
    """A delivery of a chunk whose job is no longer running. If the job's end was not reported
    (the delivery that committed or failed it died), it is reported now; a chunk the import did
    not finish takes back what its attempts wrote (one killed while the import failed)."""
    same = bool(job) and job.get("run") == run
    final = record.status in imports.FINAL
    if same and job.get("status") == import_chunks.COMMITTED:
        if not final:
            _report_committed(job, record, resume=True)
        return
    if same and job.get("status") == import_chunks.FAILED and not final:
        fail(job, record, str(job.get("reason") or "the import could not be completed"))
    if same and import_chunks.is_done(job, n):
        return  # finished before the import failed: the import's own undo took it back
    _take_back(feed_id, run, n, job if same else None, record.owner)
    logs.event("chunk of an import that is not running ignored", feed_id=feed_id, run=run, n=n)


def _take_back(feed_id: str, run: str, n: int, job: dict[str, Any] | None, seller_id: str) -> None:
    """Undo every attempt of chunk ``n`` (the import of ``run`` failed or was replaced while it
    wrote): what it wrote after the import's own undo goes back too."""
    chunk = import_chunks.get_chunk(feed_id, run, n)
    if not chunk or chunk.get("settled"):
        return
    now = job["now"] if job else run.rsplit(".", 1)[0]  # a run id is "<the split's clock>.<random>"
    restored = 0
    for attempt in range(1, int(chunk.get("attempts") or 0) + 1):
        restored += undo(seller_id, {"feed_id": feed_id, "run": _chunk_run(run, n, attempt), "now": now})
    import_chunks.settle_chunk(feed_id, run, n)
    logs.event("chunk that outlived its import taken back", 30, feed_id=feed_id, n=n, restored=restored)


def _chunk_run(run: str, n: int, attempt: int) -> str:
    return f"{run}#c{n:05d}a{attempt}"


def _commit_run(run: str, attempt: int) -> str:
    return f"{run}#k{attempt}"


def _undo_run(job: dict[str, Any], run: str) -> None:
    restored = undo(job["seller_id"], {"feed_id": _feed_of(job), "run": run, "now": job["now"]})
    if restored:
        logs.event("earlier attempt undone", feed_id=_feed_of(job), run=run, restored=restored)


def _feed_of(job: dict[str, Any]) -> str:
    return str(job["feed_id"])


def _keep_lock(job: dict[str, Any], record: ImportRecord) -> None:
    """Renew the seller's import lock and the record's lease while the chunks run."""
    store.acquire_import_lock(job["seller_id"], record.feed_id, job["source_at"], LEASE_SECONDS)
    imports.update(record.feed_id, {"lease_until": int(time.time()) + LEASE_SECONDS})


class _ChunkWriter(FeedImport):
    """FeedImport's pass 2 (``_flush``: diff, journal, guarded writes, search) over products
    already built by the split."""

    def __init__(self, record: ImportRecord, job: dict[str, Any], run: str) -> None:
        self.record, self.state = record, {}
        self.seller_id, self.feed_id = record.owner, record.feed_id
        self.counts = ImportCounts()
        self.now = job["now"]  # every chunk writes with the split's clock: the undo recognises them by it
        self.dry_run = False
        self.fresh = bool(job.get("fresh"))
        self.sink = None
        self.rows_written = 0
        self.pushed = 0
        self.journal = _Journal(self.seller_id, self.feed_id, self.now)
        self.journal.pointer["run"] = run
        self.split_run = job["run"]
        self.next_check = 0.0  # the job is read before the first batch

    def _flush(self, chunk: list[dict[str, Any]]) -> None:
        """One batch, if the import still runs: a chunk whose import failed (or committed)
        meanwhile stops at its next batch once JOB_CHECK_SECONDS passed since it last looked
        (one consistent GetItem of the job; every batch would add one request to ~27)."""
        if time.monotonic() >= self.next_check:
            current_run, status = import_chunks.state_of(self.feed_id)
            if current_run != self.split_run or status != import_chunks.RUNNING:
                raise _Stopped(f"the import is {status or 'gone'}")
            self.next_check = time.monotonic() + JOB_CHECK_SECONDS
        super()._flush(chunk)

    def _progress(self, phase: str, rows: int, *, force: bool = False) -> None:
        """The rows this chunk wrote are added to the record's progress (the chunks write at once)."""
        if rows - self.pushed >= PROGRESS_ROWS or (force and rows > self.pushed):
            imports.add_progress(self.feed_id, rows - self.pushed)
            self.pushed = rows

    def write(self, products: Iterator[dict[str, Any]]) -> dict[str, int]:
        self.was_available_seen = 0
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="chunk-writer") as pool:
            self.pool = pool
            self.in_flight = deque()
            try:
                batch: list[dict[str, Any]] = []
                for product in products:
                    batch.append(product)
                    if len(batch) == CHUNK:
                        self._flush(batch)
                        batch = []
                if batch:
                    self._flush(batch)
                self._drain(0)
            finally:
                for future, _ in self.in_flight:
                    future.cancel()
        self._progress("writing", self.rows_written, force=True)
        return {"created": self.counts.created, "updated": self.counts.updated,
                "unchanged": self.counts.unchanged, "was_available": self.was_available_seen}


# --- 3. commit -------------------------------------------------------------------------------------


class _Committer(FeedImport):
    """FeedImport's snapshot pass (offers no longer in the feed) and category tree."""

    def __init__(self, record: ImportRecord, job: dict[str, Any], state: dict[str, Any], run: str) -> None:
        from chalicelib.feeds.dedupe import OfferIdSet
        retried = bool(job.get("retried")) or record.attempts > 1
        self.record = replace(record, attempts=2 if retried else 1)
        self.state = state
        self.seller_id, self.feed_id = record.owner, record.feed_id
        self.counts = ImportCounts()
        self.now = job["now"]
        self.dry_run = False
        self.sink = None
        self.journal = _Journal(self.seller_id, self.feed_id, self.now)
        self.journal.pointer["run"] = run
        self.seen = OfferIdSet()
        for product_id in _lines(f"{job['prefix']}ids.txt.gz"):
            self.seen.add(product_id)
        self.was_available_seen = int(job.get("was_available") or 0)

    def _progress(self, phase: str, rows: int, *, force: bool = False) -> None:
        pass  # the commit's progress is put on the record by _commit

    def deactivate_and_tree(self, categories: list[dict[str, Any]]) -> int:
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="commit-writer") as pool:
            self.pool = pool
            self.in_flight = deque()
            try:
                deactivated = self._deactivate_missing()
                self._drain(0)
            finally:
                for future, _ in self.in_flight:
                    future.cancel()
        self._store_categories(categories)
        return deactivated


def _commit(job: dict[str, Any], record: ImportRecord) -> None:
    feed_id, run = record.feed_id, job["run"]
    attempt = import_chunks.claim_commit(feed_id, run)
    if attempt is None:
        return
    state = store.get_import_state(job["seller_id"])
    # The seller's journal names the run until the commit point closes it (a failure marks the
    # job failed before it undoes the run): not named, the import is in and only its report is due.
    if (state.get("journal") or {}).get("run") == run:
        if attempt > CHUNK_ATTEMPTS:
            fail(job, record, "the import could not be completed")
            return
        try:
            imports.update(feed_id, {"progress": {"phase": "finishing", "rows_read": int(job["rows"]),
                                                  "rows_written": _written(job)}, "updated_at": now_iso()})
            _keep_lock(job, record)
            for earlier in range(1, attempt):
                _undo_run(job, _commit_run(run, earlier))
            committer = _Committer(record, job, state, _commit_run(run, attempt))
            categories = json.loads("".join(_lines(f"{job['prefix']}categories.json.gz")) or "[]")
            deactivated = committer.deactivate_and_tree(categories)
            import_chunks.set_deactivated(feed_id, run, deactivated)
            facts = {"last_feed": feed_id, "last_source_at": job["source_at"], "available_count": int(job["available"])}
            # the commit point, as for a single run: the import's facts and the closing of its journal
            store.release_import_lock(job["seller_id"], feed_id, facts, close_journal=True)
        except Exception as exc:
            logs.event("feed commit failed", 40, feed_id=feed_id, attempt=attempt, error=repr(exc)[:300])
            state = store.get_import_state(job["seller_id"])
            if (state.get("journal") or {}).get("run") == run:  # not committed (a lost answer is a commit)
                if attempt >= CHUNK_ATTEMPTS:
                    fail(job, record, "the import could not be completed")
                    return
                raise
    # committed: by this attempt, or by one that died before it could report
    _report_committed(job, record)


def _report_committed(job: dict[str, Any], record: ImportRecord, *, resume: bool = False) -> bool:
    """The one report of a committed import; ``resume``: the delivery that marked the job
    committed died before its report was written. False when another delivery reports it."""
    feed_id, run = record.feed_id, job["run"]
    if resume:
        if not import_chunks.claim_ending(feed_id, run, import_chunks.COMMITTED, LEASE_SECONDS):
            return False  # the delivery that marked it committed may still be reporting it
    elif not import_chunks.set_status(feed_id, run, import_chunks.COMMITTED, fields=_ending()):
        return False  # another delivery reported it
    current = import_chunks.get_job(feed_id) or job
    counts = ImportCounts(rows=int(job["rows"]), rejected=int(job["rejected"]), created=int(current["created"]),
                          updated=int(current["updated"]), unchanged=int(current["unchanged"]),
                          deactivated=int(current.get("deactivated") or 0))
    _report(record, current, counts, None)
    return True


def _written(job: dict[str, Any]) -> int:
    return int(job.get("created") or 0) + int(job.get("updated") or 0) + int(job.get("unchanged") or 0)


def _report(record: ImportRecord, job: dict[str, Any], counts: ImportCounts, failed: str | None) -> None:
    errors = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115 - _finish closes it
    try:
        for line in _lines(f"{job['prefix']}errors.jsonl.gz"):
            errors.write(line + "\n")
    except clients.client("s3").exceptions.NoSuchKey:
        pass  # the split died before it stored them: the failed report has none
    outcome = _Outcome(counts, list(job.get("first_errors") or []), failed, 0, errors)
    _finish(record, outcome, None, errors)
    import_chunks.reported(record.feed_id, job["run"])


# --- 4. fail ---------------------------------------------------------------------------------------


def fail(job: dict[str, Any], record: ImportRecord, reason: str, *, was: str = import_chunks.RUNNING) -> bool:
    """The import fails for good: every write of the split's run is undone, then one failed
    report. Marking the job failed comes first (a chunk still writing stops, and takes back what
    it wrote after this undo); a job failed already whose report is missing (the delivery that
    failed it died) is undone and reported again. False when another delivery ends it."""
    feed_id, run, seller_id = record.feed_id, job["run"], job["seller_id"]
    if not import_chunks.set_status(feed_id, run, import_chunks.FAILED, fields={"reason": reason, **_ending()},
                                    was=was):
        latest = imports.get(feed_id)
        if latest is None or latest.status in imports.FINAL \
                or not import_chunks.claim_ending(feed_id, run, import_chunks.FAILED, LEASE_SECONDS):
            return False  # reported, committed, or still being failed by another delivery
        current = import_chunks.get_job(feed_id) or {}
        reason = str(current.get("reason") or reason)
    logs.event("chunked feed import failed; rolling back", 40, feed_id=feed_id, reason=reason)
    closed = False
    try:
        # undone only while the seller's journal names the run: once closed, it was undone (by
        # this failure, or by the seller's next import that took the lock over)
        if (store.get_import_state(seller_id).get("journal") or {}).get("run") == run:
            restored = undo(seller_id, {"feed_id": feed_id, "run": run, "now": job["now"]})
            import_journal.close_run(seller_id, run)
            logs.event("feed import rolled back", feed_id=feed_id, restored=restored)
        closed = True
    except Exception as exc:  # noqa: BLE001 - the journal stays open: the seller's next import undoes it
        logs.event("feed import roll-back incomplete; the next run undoes it", 40, feed_id=feed_id,
                   error=repr(exc)[:300])
    store.release_import_lock(seller_id, feed_id, close_journal=closed)
    _report(record, job, ImportCounts(rows=int(job["rows"]), rejected=int(job["rejected"])), reason)
    return True


def _ending() -> dict[str, int]:
    """The lease of the delivery that ends a job (undo, report): another takes over once it ran out."""
    return {"ending_until": int(time.time()) + LEASE_SECONDS}


def stop(pointer: dict[str, Any], by_feed: str) -> None:
    """Another run of the seller is about to undo the open journal ``pointer`` (its import
    died): if that is a chunked import's run, its job stops first, so its chunks write no more
    — abandoned when the same feed splits again (its redelivery), failed otherwise (reported by
    the next delivery of one of its chunks, or by the sweep)."""
    feed_id, run = str(pointer.get("feed_id")), str(pointer.get("run"))
    if feed_id == by_feed:
        import_chunks.set_status(feed_id, run, import_chunks.ABANDONED)
    else:
        import_chunks.set_status(feed_id, run, import_chunks.FAILED,
                                 fields={"reason": "the import stopped and another file of this seller was imported"})


# --- 5. the sweep: an import whose chunks stopped moving ---------------------------------------------

STALLED = "the import stopped: part of the file could not be imported for {minutes} minutes"


def sweep_stalled(now: float | None = None) -> int:
    """Fail (and undo) every chunked import that has not moved for ``import_stall_seconds`` and
    whose worker's lease ran out — every delivery of a chunk died and the queue parked it in
    its dead-letter queue, or a split died for good — or report one whose commit landed but
    whose report never went out. Run by the reconciler; returns how many imports it ended."""
    now = time.time() if now is None else now
    limit = settings().import_stall_seconds
    ended = 0
    for stale in import_chunks.stalled(import_chunks.moved_at(now - limit) + "#~"):  # that second included
        feed_id, run = str(stale["feed_id"]), str(stale["run"])
        record = imports.get(feed_id)
        if record is None or record.status in imports.FINAL:
            import_chunks.reported(feed_id, run)  # reported by another way (a failed split's own run)
            continue
        if int(record.item.get("lease_until") or 0) > now:
            continue  # a worker holds the import (a split's redelivery, a long chunk)
        if not import_chunks.touch(feed_id, run, str(stale["GSI4SK"]), now):
            continue  # another sweep took it
        try:
            ended += _end_stalled(feed_id, run, record, limit)
        except Exception as exc:  # noqa: BLE001 - one import must not stop the sweep; retried once stalled again
            logs.event("stalled chunked import not ended", 40, feed_id=feed_id, error=repr(exc)[:300])
    return ended


def _end_stalled(feed_id: str, run: str, record: ImportRecord, limit: int) -> bool:
    job = import_chunks.get_job(feed_id)
    if not job or job.get("run") != run:
        return False
    status = job.get("status")
    journal = (store.get_import_state(job["seller_id"]).get("journal") or {}).get("run")
    logs.event("stalled chunked import", 30, feed_id=feed_id, status=status, done=job.get("done"),
               total=job.get("total"))
    if status == import_chunks.COMMITTED or (status == import_chunks.RUNNING and journal != run):
        return _report_committed(job, record, resume=status == import_chunks.COMMITTED)
    return fail(job, record, STALLED.format(minutes=limit // 60),
                was=status if status == import_chunks.ABANDONED else import_chunks.RUNNING)


# The single run hands a feed too big for it to this module (``feed_import.CHUNKS``): the
# dependency runs one way, from here to the single run.
feed_import.CHUNKS = sys.modules[__name__]
