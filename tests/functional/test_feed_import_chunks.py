"""Feeds beyond one function run (``services/feed_chunks.py``), on moto through boto3: a feed
above ``IMPORT_CHUNK_OFFERS`` is split into chunk messages on the import queue, each imported by
the import Lambda's handler, the last one committing.

Each test first imports the same new feed over the same old catalog in one run (chunking off),
keeps the catalog, the search table and the report, puts the tables back to the old catalog,
and then imports the feed in chunks of 250 products: the outcome must be the same, item for
item. The queue is drained as Lambda's SQS mapping does: a message is deleted when the handler
returned, and delivered again when it raised.
"""

from __future__ import annotations

import json

import boto3
import pytest
from feed_support import Feeds, offer, snapshot, yml
from test_feed_import_crash import dump, put_back, search_snapshot

from chalicelib.config import settings
from chalicelib.domain.catalog import product_id

SELLER = "s-chunks"
OLD_AT, NEW_AT = "2026-06-01T10:00:00.000Z", "2026-06-02T10:00:00.000Z"
N = 1200
CHUNK_OFFERS = 100
BAD_PRICES = {i for i in range(N) if i % 250 == 13}


def _old() -> bytes:
    offers = "".join(offer(f"o{i}", f"Палатка {i}", "100", extra="<count>5</count>" if i % 7 == 1 else "")
                     for i in range(0, N, 2))
    gone = offer("gone", "Котелок", "50", extra="<count>3</count>") + offer("gone2", "Кружка", "30")
    return yml(offers + gone, '<category id="1">Все</category><category id="2">Палатки</category>')


def _new() -> bytes:
    rows = []
    for i in range(N):
        price = "100" if i % 4 == 0 else str(100 + i % 90)  # half of the old offers unchanged
        if i in BAD_PRICES:
            price = "-5"  # a row error
        rows.append(offer(f"o{i}", f"Палатка {i} {'зелёная' if i % 3 else 'синяя'}", price,
                          category="2" if i % 3 else "1", available="false" if i % 11 == 5 else "true",
                          extra="<count>7</count>" if i % 7 == 1 else ""))
    rows.append(offer("o10", "Дубликат", "1"))  # a duplicate id: reported by pass 2
    return yml("".join(rows), '<category id="1">Все</category><category id="2">Палатки</category>'
                              '<category id="3">Горелки</category>')


def handler_delivery(body: str) -> None:
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        client.lambda_.invoke("import_feed", client.events.generate_sqs_event(message_bodies=[body],
                                                                               queue_name="imports"))


class Queue:
    """The import queue, drained as the SQS event-source mapping does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqs = boto3.client("sqs")
        self.failures = 0

    def receive(self) -> dict | None:
        msgs = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1, WaitTimeSeconds=0,
                                        AttributeNames=["All"]).get("Messages", [])
        return msgs[0] if msgs else None

    def drain(self, *, limit: int | None = None, times: int = 1) -> int:
        """Deliver messages until none is left (or ``limit`` were delivered); ``times``: each
        message is delivered that many times before it is deleted (duplicate deliveries)."""
        delivered = 0
        while limit is None or delivered < limit:
            message = self.receive()
            if message is None:
                return delivered
            delivered += 1
            try:
                for _ in range(times):
                    handler_delivery(message["Body"])
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: BLE001 - a failed or killed run: the mapping leaves it on the queue
                self.failures += 1
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"],
                                                   VisibilityTimeout=0)
                continue
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return delivered

    def messages(self) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


class SceneBase:
    """What a chunked-import scene reads and resets: the seller's next file (``key``), the
    catalog and search tables as the old file left them (``tables``, ``old``). A subclass sets
    ``seller`` and ``chunk_offers`` and builds the scene."""

    seller: str
    chunk_offers: int
    feeds: Feeds
    aws: dict
    monkeypatch: pytest.MonkeyPatch
    key: str
    tables: dict
    old: tuple[list, list]

    def start(self, feeds: Feeds, aws: dict, monkeypatch: pytest.MonkeyPatch, old_at: str) -> dict:
        """The scene's clock at ``old_at``, its own import queue, chunking off; the queue's URLs."""
        from chalicelib.services import feed_import
        from local import bootstrap

        self.feeds, self.aws, self.monkeypatch = feeds, aws, monkeypatch
        self.clock = {"now": old_at}
        monkeypatch.setattr(feed_import, "now_iso", lambda: self.clock["now"])
        queue = bootstrap.create_import_queue(None, "us-east-1", f"q{self.seller}")
        self.queue = Queue(queue["IMPORT_QUEUE_URL"])
        monkeypatch.setenv("IMPORT_QUEUE_URL", self.queue.url)
        self.chunking(False)
        return queue

    def import_old_then_new(self, old_feed: str, new_feed: str, new_at: str) -> None:
        """The old file imported (the tables saved as it left them), then the new one whole at
        ``new_at``: ``single`` is its record, ``new`` the tables it leaves."""
        assert self.feeds.drop(self.seller, old_feed)["status"] == "succeeded"
        self.old = self.now()
        self.tables = {t: dump(self.aws[t]) for t in ("CATALOG_TABLE", "SEARCH_TABLE")}
        self.key = self.feeds.put(f"feeds/{self.seller}/next/feed.yml", new_feed)
        self.clock["now"] = new_at
        self.single = self.deliver()
        self.new = self.now()
        self.single_report = self.report(self.single)

    def chunking(self, on: bool) -> None:
        self.monkeypatch.setenv("IMPORT_CHUNK_OFFERS", str(self.chunk_offers) if on else "0")
        settings.cache_clear()

    def again(self) -> None:
        for name, items in self.tables.items():
            put_back(self.aws[name], items)
        assert self.now() == self.old

    def now(self) -> tuple[list, list]:
        return snapshot(self.aws), search_snapshot(self.aws)

    def deliver(self) -> dict:
        """The S3 notification of the new file (the split, when chunking is on)."""
        self.feeds.deliver(self.key)
        return self.record()

    def feed_id(self) -> str:
        from chalicelib.services import feed_import

        return feed_import._derived_id(feed_import._head(self.feeds.bucket, self.key))

    def record(self) -> dict:
        from chalicelib.store import imports

        return dict(imports.get(self.feed_id()).item)

    def report(self, record: dict) -> dict:
        body = boto3.client("s3").get_object(Bucket=self.feeds.bucket, Key=record["report_key"])["Body"].read()
        report = json.loads(body)
        report.pop("feed_id")
        return report

    def product(self, offer_id: str) -> dict:
        item = boto3.resource("dynamodb").Table(self.aws["CATALOG_TABLE"]).get_item(
            Key={"PK": f"PRODUCT#{product_id(self.seller, offer_id)}", "SK": "PRODUCT"})
        return item.get("Item") or {}


class Scene(SceneBase):
    seller, chunk_offers = SELLER, CHUNK_OFFERS

    def __init__(self, feeds: Feeds, aws: dict, monkeypatch: pytest.MonkeyPatch) -> None:
        self.start(feeds, aws, monkeypatch, OLD_AT)
        feeds.shop_only(SELLER)
        self.import_old_then_new(_old(), _new(), NEW_AT)
        assert self.single["status"] == "partially_succeeded", self.single
        assert self.single["counts"]["deactivated"] == 2
        assert self.new != self.old
        self.again()
        self.chunking(True)



@pytest.fixture
def scene(api, aws, register, monkeypatch):
    from local import patches

    patches.serialize_dynamodb()  # moto's DynamoDB is not atomic under concurrent requests
    return Scene(Feeds(api, aws, register), aws, monkeypatch)


def split(scene: Scene) -> dict:
    record = scene.deliver()
    assert record["status"] == "processing" and record["progress"]["phase"] == "writing", record
    offers = N - len(BAD_PRICES) + 1  # valid offers (the duplicate id is rejected in pass 2): cut by offer
    assert record["chunks"] == -(-offers // CHUNK_OFFERS)
    return record


def test_a_chunked_import_leaves_the_catalog_search_and_report_of_a_single_run(scene):
    split(scene)
    assert scene.queue.drain() == scene.record()["chunks"]
    record = scene.record()
    assert record["status"] == "partially_succeeded", record
    assert record["counts"] == scene.single["counts"]
    assert record["progress"] == scene.single["progress"]
    assert scene.report(record) == scene.single_report
    assert scene.now() == scene.new
    assert scene.queue.messages() == 0


def test_a_chunk_delivered_twice_or_dying_half_way_counts_and_writes_once(scene, monkeypatch):
    from chalicelib.services import feed_chunks

    class Killed(BaseException):
        pass

    real_flush, killed = feed_chunks._ChunkWriter._flush, []

    def flush(self, chunk):
        real_flush(self, chunk)
        if self.journal.pointer["run"].endswith("#c00002a1") and not killed:
            killed.append(True)
            raise Killed  # the process is gone: no handler of the run sees it

    split(scene)
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._ChunkWriter, "_flush", flush)
        m.setattr(feed_chunks, "LEASE_SECONDS", -1)  # its lease has run out when SQS delivers again
        scene.queue.drain(times=2)
    assert killed and scene.queue.failures == 1
    record = scene.record()
    assert record["counts"] == scene.single["counts"], record
    assert scene.report(record) == scene.single_report
    assert scene.now() == scene.new


def test_a_chunk_failing_for_good_leaves_the_previous_catalog_exactly(scene, monkeypatch):
    from chalicelib.services import feed_chunks

    real_flush = feed_chunks._ChunkWriter._flush

    def flush(self, chunk):
        real_flush(self, chunk)  # writes part of the chunk, then fails every time
        if "#c00003" in self.journal.pointer["run"]:
            raise RuntimeError("the store refuses this chunk")

    split(scene)
    with monkeypatch.context() as m:
        m.setattr(feed_chunks._ChunkWriter, "_flush", flush)
        scene.queue.drain()
    record = scene.record()
    assert record["status"] == "failed" and "part 4 of" in record["reason"], record
    assert record["counts"]["rows"] == N + 1 and record["counts"]["created"] == 0
    assert scene.now() == scene.old  # prices, stock, availability, listings, search postings
    assert scene.queue.messages() == 0
    # the seller's lock and journal are free: the same file imports whole afterwards
    scene.again()
    split(scene)
    scene.queue.drain()
    assert scene.now() == scene.new


def test_products_absent_from_the_feed_go_off_sale_only_after_every_chunk_succeeded(scene):
    record = split(scene)
    assert scene.queue.drain(limit=record["chunks"] - 1) == record["chunks"] - 1
    assert scene.product("gone")["available"] and scene.product("gone2")["available"]
    assert scene.record()["status"] == "processing"
    scene.queue.drain()
    assert not scene.product("gone")["available"] and not scene.product("gone2")["available"]
    assert scene.record()["counts"]["deactivated"] == 2
