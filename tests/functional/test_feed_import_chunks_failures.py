"""Feeds imported in chunks (``services/feed_chunks.py``) when things go wrong between the
chunks, on moto through boto3: a chunk still writing when another one (or the commit) fails
the import, a split killed after sending some of its chunks, a commit failing once or dying
after its commit point, and an import whose chunk dies at every delivery (the reconciler's
sweep fails it).

Each scene imports a small new feed over a small old catalog in one run first (chunking off),
keeps the catalog, the search table and the report, and puts the tables back to the old
catalog; then the same file goes through the chunks (6 chunks of 10 offers) on the import
queue, drained as Lambda's SQS mapping does (``test_feed_import_chunks.Queue``). "Old" and
"new" are compared item for item, the search postings included.
"""

from __future__ import annotations

import uuid

import pytest
from feed_support import SHOP, Feeds, offer, yml
from test_feed_import_chunks import Queue, SceneBase

from chalicelib.config import settings

SELLER = "s-chunk-fail"
OLD_AT, NEW_AT = "2026-06-01T10:00:00.000Z", "2026-06-02T10:00:00.000Z"
N = 60
CHUNK_OFFERS = 10
CHUNKS = N // CHUNK_OFFERS


class Killed(BaseException):
    """The process is gone: no ``except Exception`` of the run sees it."""


def _old() -> bytes:
    offers = "".join(offer(f"o{i}", f"Палатка {i}", "100", extra="<count>5</count>" if i % 7 == 1 else "")
                     for i in range(0, N, 2))
    return yml(offers + offer("gone", "Котелок", "50", extra="<count>3</count>"),
               '<category id="1">Все</category><category id="2">Палатки</category>')


def _new() -> bytes:
    rows = "".join(offer(f"o{i}", f"Палатка {i} {'зелёная' if i % 3 else 'синяя'}", str(100 + i % 9),
                         category="2" if i % 3 else "1", extra="<count>7</count>" if i % 7 == 1 else "")
                   for i in range(N))
    return yml(rows, '<category id="1">Все</category><category id="2">Палатки</category>'
                     '<category id="3">Горелки</category>')


class Scene(SceneBase):
    seller, chunk_offers = SELLER, CHUNK_OFFERS

    def __init__(self, feeds: Feeds, aws: dict, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.services import feed_chunks
        from chalicelib.store import accounts

        monkeypatch.setattr(feed_chunks, "CHUNK", 4)  # a chunk of 10 is written in three batches
        monkeypatch.setattr(feed_chunks, "JOB_CHECK_SECONDS", 0)  # each looking at the job first
        self.dlq = Queue(self.start(feeds, aws, monkeypatch, OLD_AT)["IMPORT_DLQ_URL"])
        self.email = f"shop-{uuid.uuid4().hex[:8]}@example.com"
        accounts.put_shop(SELLER, {**SHOP, "seller_id": SELLER, "contact_email": self.email})
        self.import_old_then_new(_old(), _new(), NEW_AT)
        assert self.single["status"] == "succeeded", self.single
        assert self.single["counts"]["deactivated"] == 1
        self.mails_before = len(self.mails())  # the old catalog's import and the single run
        self.again()
        self.chunking(True)

    def mails(self) -> list[dict]:
        items = self.feeds.api.http.get(f"/local/emails?to={self.email}").json_body["items"]
        return [m for m in items if m["kind"] == "feed_import_finished"]

    def job(self) -> dict:
        from chalicelib.store import import_chunks

        return import_chunks.get_job(self.feed_id()) or {}

    def split(self) -> dict:
        record = self.deliver()
        assert record["status"] == "processing" and record["chunks"] == CHUNKS, record
        return record

    def succeeded_as_single(self) -> None:
        record = self.record()
        assert record["status"] == "succeeded", record
        assert record["counts"] == self.single["counts"]
        assert record["progress"] == self.single["progress"]
        assert self.report(record) == self.single_report
        assert self.now() == self.new
        assert len(self.mails()) == self.mails_before + 1  # once


@pytest.fixture
def scene(api, aws, register, monkeypatch):
    from local import patches

    patches.serialize_dynamodb()  # moto's DynamoDB is not atomic under concurrent requests
    return Scene(Feeds(api, aws, register), aws, monkeypatch)


# --- a chunk still writing when the import fails ---------------------------------------------------


@pytest.mark.parametrize("ending", ["writes_on", "raises", "is_killed"])
def test_a_chunk_writing_when_another_chunk_fails_the_import_takes_its_own_writes_back(scene, monkeypatch, ending):
    """Chunk 2 has written its first batch and is about to write its second when another worker
    fails the import for good (its undo runs then); the late chunk writes that batch anyway, then
    writes on (and stops at its next batch), or fails, or is killed and is delivered again: once
    everything settles, the previous catalog is back exactly."""
    from chalicelib.services import feed_chunks
    from chalicelib.store import imports

    real_submit, seen = feed_chunks._ChunkWriter._submit, {"batches": 0}

    def submit(self, *args, **kwargs):
        if "#c00002" not in self.journal.pointer["run"]:
            return real_submit(self, *args, **kwargs)
        seen["batches"] += 1
        if seen["batches"] == 2:  # past the chunk's look at the job: the import fails meanwhile
            self._drain(0)
            job = feed_chunks.import_chunks.get_job(self.feed_id)
            feed_chunks.fail(job, imports.get(self.feed_id), "part 9 of 6 of the file could not be imported")
            assert scene.record()["status"] == "failed"
        return real_submit(self, *args, **kwargs)

    real_flush = feed_chunks._ChunkWriter._flush

    def flush(self, batch):
        if "#c00002" in self.journal.pointer["run"] and seen["batches"] == 2:
            self._drain(0)  # the late batch is in
            if ending == "raises":
                raise RuntimeError("the store refuses the late chunk")
            if ending == "is_killed":
                raise Killed
        return real_flush(self, batch)

    scene.split()
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._ChunkWriter, "_submit", submit)
        m.setattr(feed_chunks._ChunkWriter, "_flush", flush)
        m.setattr(feed_chunks, "LEASE_SECONDS", -1)  # a killed delivery's lease has run out when SQS delivers again
        scene.queue.drain()
    assert seen["batches"] == 2  # the late chunk wrote one batch after the failure, and no more
    assert scene.queue.failures == (1 if ending == "is_killed" else 0)
    record = scene.record()
    assert record["status"] == "failed" and record["reason"].startswith("part 9"), record
    assert scene.now() == scene.old
    assert scene.queue.messages() == 0
    assert len(scene.mails()) == scene.mails_before + 1  # the failure, once


def test_a_chunk_delivered_while_the_failure_is_being_undone_neither_undoes_nor_reports_it_again(scene, monkeypatch):
    """Chunk 3 fails for good; while its delivery undoes the import, another chunk's message is
    delivered: it finds the import failed and leaves the ending to the delivery at it."""
    from chalicelib.services import feed_chunks

    real_flush, real_undo, nested = feed_chunks._ChunkWriter._flush, feed_chunks.undo, []

    def flush(self, batch):
        real_flush(self, batch)
        if "#c00003" in self.journal.pointer["run"]:
            raise RuntimeError("the store refuses this chunk")

    def undo(seller_id, pointer):
        if "#" not in pointer["run"] and not nested:  # the import's own undo, under way
            nested.append(pointer["run"])
            feed_chunks.handle_chunk(scene.feed_id(), pointer["run"], 5)
            assert scene.record()["status"] == "processing"
        return real_undo(seller_id, pointer)

    scene.split()
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._ChunkWriter, "_flush", flush)
        m.setattr(feed_chunks, "undo", undo)
        scene.queue.drain()
    assert nested
    record = scene.record()
    assert record["status"] == "failed" and record["reason"].startswith("part 4 of 6"), record
    assert scene.now() == scene.old
    assert len(scene.mails()) == scene.mails_before + 1


def test_an_earlier_attempt_of_a_chunk_finishing_after_the_commit_leaves_the_new_catalog(scene, monkeypatch):
    """Chunk 2's first attempt outlives its lease: SQS delivers the chunk again, the second
    attempt imports it, the last chunk commits; then the first attempt writes on and ends.
    Its writes are the second attempt's own, so nothing is taken back."""
    from chalicelib.services import feed_chunks

    real_flush, seen = feed_chunks._ChunkWriter._flush, {"batches": 0}

    def flush(self, batch):
        if self.journal.pointer["run"].endswith("#c00002a1"):
            seen["batches"] += 1
            if seen["batches"] == 2:  # the lease ran out: the chunk is delivered again meanwhile
                self._drain(0)  # (its first batch is in)
                job = feed_chunks.import_chunks.get_job(self.feed_id)
                feed_chunks.handle_chunk(self.feed_id, job["run"], 2)
                scene.queue.drain()  # every other chunk, and the commit
                assert scene.record()["status"] == "succeeded"
        return real_flush(self, batch)

    scene.split()
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._ChunkWriter, "_flush", flush)
        m.setattr(feed_chunks, "LEASE_SECONDS", -1)
        scene.queue.drain()
    assert seen["batches"] == 2  # the first attempt stopped at its next batch
    scene.succeeded_as_single()


def test_a_chunk_writing_when_the_commit_fails_for_good_takes_its_own_writes_back(scene, monkeypatch):
    """As above, but the commit then fails at each attempt: the import fails, the first attempt
    of chunk 2 finishes after that, and the previous catalog is back exactly."""
    from chalicelib.services import feed_chunks

    real_flush, seen = feed_chunks._ChunkWriter._flush, {"batches": 0}

    def broken_commit(self, categories):
        raise RuntimeError("the store refuses the commit")

    def flush(self, batch):
        if self.journal.pointer["run"].endswith("#c00002a1"):
            seen["batches"] += 1
            if seen["batches"] == 2:
                job = feed_chunks.import_chunks.get_job(self.feed_id)
                feed_chunks.handle_chunk(self.feed_id, job["run"], 2)
                scene.queue.drain()
                assert scene.record()["status"] == "failed"
        return real_flush(self, batch)

    scene.split()
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._ChunkWriter, "_flush", flush)
        m.setattr(feed_chunks._Committer, "deactivate_and_tree", broken_commit)
        m.setattr(feed_chunks, "LEASE_SECONDS", -1)
        scene.queue.drain()
    record = scene.record()
    assert record["status"] == "failed" and record["reason"] == "the import could not be completed", record
    assert scene.now() == scene.old


# --- the split killed after sending some chunks ------------------------------------------------------


@pytest.mark.parametrize("sent", [1, CHUNKS - 1])
@pytest.mark.parametrize("how", ["handlers_run", "killed_outright"])
def test_a_split_killed_after_sending_some_chunks_is_finished_by_its_redelivery(scene, monkeypatch, sent, how):
    """The split sends ``sent`` chunks, which workers import at once, and the process dies
    (with its handlers running, or outright: nothing of the run runs after that write). SQS
    delivers the feed's message again once the lease ran out: the redelivery undoes what the
    dead run's chunks wrote and imports the file whole, counted once."""
    from chalicelib.services import feed_chunks, feed_import
    from chalicelib.store import catalog as store
    from chalicelib.store import import_chunks, imports

    real_send, chunk_queue = feed_chunks._send, []

    def send(feed_id, run, n):
        real_send(feed_id, run, n)
        chunk_queue.append(n)
        if len(chunk_queue) == sent:
            assert scene.queue.drain() == sent  # the workers import them while the split reads on
            assert scene.product("gone")["available"]
            if how == "killed_outright":  # nothing of the dead run gets to run after this
                m.setattr(import_chunks, "set_status", lambda *a, **k: True)
                m.setattr(imports, "update", lambda *a, **k: None)
                m.setattr(store, "release_import_lock", lambda *a, **k: None)
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(feed_chunks, "_send", send)
        with pytest.raises(Killed):
            scene.deliver()
    assert scene.now() != scene.old  # the dead run's chunks did write
    dead_run = scene.job()["run"]
    assert scene.job()["status"] == ("abandoned" if how == "handlers_run" else "running")
    with monkeypatch.context() as m:
        m.setattr(feed_import, "LEASE_SECONDS", -1)
        m.setattr(feed_chunks, "LEASE_SECONDS", -1)
        if how == "killed_outright":
            imports.update(scene.feed_id(), {"lease_until": 0})  # the visibility timeout is past the lease
        scene.split()  # the redelivery
        assert scene.job()["run"] != dead_run
        scene.queue.drain()
    scene.succeeded_as_single()
    assert scene.queue.messages() == 0


def test_a_split_killed_before_its_job_exists_is_imported_whole_by_its_redelivery(scene, monkeypatch):
    """The split dies outright between opening the seller's journal and writing the job (no
    chunk sent, the total nowhere): the redelivery imports the file whole, counted once."""
    from chalicelib.services import feed_chunks, feed_import
    from chalicelib.store import catalog as store
    from chalicelib.store import imports

    def put_job(feed_id, job):
        m.setattr(imports, "update", lambda *a, **k: None)  # nothing of the dead run runs after this
        m.setattr(store, "release_import_lock", lambda *a, **k: None)
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(feed_chunks.import_chunks, "put_job", put_job)
        with pytest.raises(Killed):
            scene.deliver()
    assert scene.job() == {} and store.get_import_state(SELLER)["journal"]["feed_id"] == scene.feed_id()
    imports.update(scene.feed_id(), {"lease_until": 0})  # the visibility timeout is past the lease
    with monkeypatch.context() as m:
        m.setattr(feed_import, "LEASE_SECONDS", -1)
        scene.split()
        scene.queue.drain()
    scene.succeeded_as_single()


def test_a_chunked_import_whose_lock_lapsed_is_stopped_by_the_sellers_next_file(scene, monkeypatch):
    """The chunks of a split wait in the queue until the seller's lock lapses, and the seller's
    next file takes it over: that import undoes the chunked run's journal, stopping its job
    first, so the chunks delivered afterwards write nothing and the chunked import is reported
    failed, once. The catalog is the next file's."""
    from chalicelib.store import catalog as store

    scene.split()
    assert scene.queue.drain(limit=2) == 2  # two chunks written, then the queue stalls
    store._table().update_item(Key=store.keys.import_state(SELLER), UpdateExpression="SET lock_until = :z",
                               ExpressionAttributeValues={":z": 0})
    scene.chunking(False)
    after = scene.feeds.import_key(scene.feeds.put(f"feeds/{SELLER}/again/feed.yml", _old()))
    assert after["status"] == "succeeded" and after["counts"]["unchanged"] == N // 2 + 1, after
    assert scene.now() == scene.old  # the chunks' writes undone; the next file is the old catalog again
    assert scene.job()["status"] == "failed"
    scene.queue.drain()
    record = scene.record()
    assert record["status"] == "failed" and "another file" in record["reason"], record
    assert scene.now() == scene.old
    assert len(scene.mails()) == scene.mails_before + 2  # the next file's, and the failure's


# --- the commit retried ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before_the_commit_point", "after_the_commit_point"])
def test_a_commit_failing_once_is_finished_by_the_redelivery_with_one_report(scene, monkeypatch, where):
    """The commit raises once, half-way through the "no longer in the feed" pass (its writes
    are taken back by the next attempt) or after its commit point (the import is in; only the
    report is missing): the redelivered last chunk finishes the job, counts not doubled."""
    from chalicelib.services import feed_chunks

    calls = {"n": 0}
    real_deactivate, real_set_status = feed_chunks._Committer._deactivate, feed_chunks.import_chunks.set_status

    def deactivate(self, product_ids):
        count = real_deactivate(self, product_ids)
        calls["n"] += 1
        if calls["n"] == 1 and where == "before_the_commit_point":
            self._drain(0)
            assert not scene.product("gone")["available"]  # written: the retry must put it right
            raise RuntimeError("the store refuses the commit")
        return count

    def set_status(feed_id, run, status, **kwargs):
        if status == "committed" and where == "after_the_commit_point" and not calls.get("lost"):
            calls["lost"] = True
            raise RuntimeError("the store fails after the commit point")
        return real_set_status(feed_id, run, status, **kwargs)

    scene.split()
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._Committer, "_deactivate", deactivate)
        m.setattr(feed_chunks.import_chunks, "set_status", set_status)
        scene.queue.drain()
    assert scene.queue.failures == 1
    scene.succeeded_as_single()
    assert scene.job()["commit_attempts"] == 2


@pytest.mark.parametrize("at", ["the_status", "the_report"])
def test_a_commit_killed_after_its_commit_point_is_reported_by_a_later_delivery_never_undone(scene, monkeypatch, at):
    """The commit lands but the process dies before the import is reported (before the job is
    marked committed, or after), at two deliveries in a row: the import is in, so the third
    delivery reports it — it never takes it back, though the commit's attempts are spent."""
    from chalicelib.services import feed_chunks

    real_set_status = feed_chunks.import_chunks.set_status

    def set_status(feed_id, run, status, **kwargs):
        if status == "committed":
            raise Killed
        return real_set_status(feed_id, run, status, **kwargs)

    def report(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(feed_chunks, "LEASE_SECONDS", -1)  # a killed delivery's lease ran out when SQS delivers again
    scene.split()
    with monkeypatch.context() as m:
        if at == "the_status":
            m.setattr(feed_chunks.import_chunks, "set_status", set_status)
        else:
            m.setattr(feed_chunks, "_report", report)
        scene.queue.drain(limit=CHUNKS + 1)  # the last chunk's first delivery and its redelivery die
    assert scene.queue.failures == 2 and scene.record()["status"] == "processing"
    assert scene.now() == scene.new
    scene.queue.drain()  # the third delivery
    scene.succeeded_as_single()


# --- every delivery of a chunk dies: the sweep -------------------------------------------------------


def run_reconciler() -> dict:
    """One scheduled run of the reconciler, as EventBridge invokes it."""
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        return client.lambda_.invoke("reconcile_orders", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", resources=[], detail={})).payload


def swept_as_failed(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep, with no stall limit left, fails the import once: old catalog back, one email."""
    monkeypatch.setenv("IMPORT_STALL_SECONDS", "0")
    settings.cache_clear()
    assert run_reconciler()["imports_stalled"] == 1
    record = scene.record()
    assert record["status"] == "failed" and "stopped" in record["reason"], record
    assert scene.now() == scene.old
    assert len(scene.mails()) == scene.mails_before + 1


@pytest.mark.parametrize("stage", ["a_chunk", "the_commit"])
def test_an_import_whose_chunk_dies_at_every_delivery_is_failed_by_the_sweep(scene, monkeypatch, stage):
    """Every delivery of chunk 3 (or of the commit) dies before it could count an attempt — the
    store throttles, the function times out — and SQS parks the message in the dead-letter queue
    after its last receive. The reconciler finds the import stalled past
    ``IMPORT_STALL_SECONDS``, fails it and undoes every chunk: the record says so, one email."""
    from chalicelib.services import feed_chunks
    from chalicelib.store import catalog as store
    from chalicelib.store import imports

    real_claim = feed_chunks.import_chunks.claim_chunk

    def claim_chunk(feed_id, run, n, lease):
        if n == 3:
            raise Killed
        return real_claim(feed_id, run, n, lease)

    def claim_commit(feed_id, run):
        raise Killed

    scene.split()
    with monkeypatch.context() as m:
        if stage == "a_chunk":
            m.setattr(feed_chunks.import_chunks, "claim_chunk", claim_chunk)
        else:
            m.setattr(feed_chunks.import_chunks, "claim_commit", claim_commit)
        scene.queue.drain()  # delivered until the queue's maxReceiveCount, then parked
    assert scene.queue.messages() == 0 and scene.dlq.messages() == 1
    assert scene.record()["status"] == "processing" and scene.now() not in (scene.old, scene.new)
    assert run_reconciler()["imports_stalled"] == 0  # within the limit, and a worker's lease runs: left alone
    assert scene.record()["status"] == "processing"
    imports.update(scene.feed_id(), {"lease_until": 0})  # the last worker's lease ran out
    assert run_reconciler()["imports_stalled"] == 0  # not stalled for long enough yet
    swept_as_failed(scene, monkeypatch)
    assert run_reconciler()["imports_stalled"] == 0  # once
    state = store.get_import_state(SELLER)  # the seller's next file is not held up
    assert "journal" not in state and "lock_feed" not in state, state


def test_a_split_whose_message_never_comes_back_is_failed_by_the_sweep(scene, monkeypatch):
    """The split dies after two chunks were written and its own message ends in the dead-letter
    queue: the import record waits, queued, with the dead run's journal open. The sweep fails it
    and undoes those chunks."""
    from chalicelib.services import feed_chunks
    from chalicelib.store import catalog as store

    real_send = feed_chunks._send

    def send(feed_id, run, n):
        real_send(feed_id, run, n)
        if n == 1:
            assert scene.queue.drain() == 2
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(feed_chunks, "_send", send)
        with pytest.raises(Killed):
            scene.deliver()
    assert scene.record()["status"] == "queued" and scene.job()["status"] == "abandoned"
    assert scene.now() != scene.old
    swept_as_failed(scene, monkeypatch)
    assert "journal" not in store.get_import_state(SELLER)
