"""All or nothing, with the process itself crashing (SPEC "Seller feeds at scale"): an import
stopped at its N-th write to AWS, for every N, leaves the previous catalog or — once it
committed — the new one, never a mix once the message is delivered again; the redelivery
finishes the job. On moto, comparing whole table snapshots read through boto3.

Two kinds of crash at the N-th write (DynamoDB, S3 or SES; reads are not counted):

- *fail*: the write raises (a bug, the store refusing): the run's own handlers see it;
- *kill*: the process stops there (the 15-minute limit, out of memory, the host lost): that
  write and every later call to AWS never happen — no handler of the run gets to do anything.
  SQS delivers the message again after its visibility timeout, when the killed worker's lease
  has run out.

"New" is the catalog a run without any crash leaves (made first, in the same test, then the
tables are put back to the old catalog before each crash).
"""

from __future__ import annotations

import boto3
import pytest
from feed_support import Feeds, offer, snapshot, yml

from chalicelib.domain.catalog import product_id
from chalicelib.store import keys

SELLER = "s-crash"
OLD_AT, NEW_AT = "2026-06-01T10:00:00.000Z", "2026-06-02T10:00:00.000Z"
N = 30  # with chunks of 8 products: four chunks, each its own journal entry and writes
OLD = yml("".join(offer(f"o{i}", f"Палатка {i}", "100", extra="<count>5</count>" if i % 4 == 1 else "")
                  for i in range(N)) + offer("gone", "Котелок", "50", extra="<count>3</count>"),
          '<category id="1">Все</category><category id="2">Палатки</category>')
NEW = yml("".join(offer(f"o{i}", f"Палатка {i}", "120", category="2" if i % 3 else "1",
                        extra="<count>7</count>" if i % 4 == 1 else "") for i in range(N))
          + offer("fresh", "Горелка газовая", "900"),
          '<category id="1">Все</category><category id="2">Палатки</category><category id="3">Горелки</category>')
READS = ("Get", "BatchGet", "Query", "Scan", "Head", "List", "Describe")


class Killed(BaseException):
    """The process is gone: no ``except Exception`` of the run sees it, and every call after
    it raises it too."""


class Crash:
    """Counts the app's writes to AWS; at the ``at``-th one, fails it (``kind="fail"``: raises
    RuntimeError once) or kills the process (``kind="kill"``: that call and every later one
    raise ``Killed`` until ``revive``)."""

    def __init__(self) -> None:
        from chalicelib import clients

        self.at, self.kind, self.writes, self.dead, self.done = 0, "", 0, False, False
        clients._session().events.register("before-call", self)
        clients.client.cache_clear()  # clients copy the session's handlers when they are made
        clients.table.cache_clear()
        clients.dynamodb_resource.cache_clear()

    def arm(self, at: int, kind: str) -> None:
        self.at, self.kind, self.writes, self.dead, self.done = at, kind, 0, False, False

    def revive(self) -> None:
        self.at, self.dead = 0, False

    def __call__(self, model, **_):
        if self.dead:
            raise Killed(model.name)
        if model.name.startswith(READS):
            return None
        self.writes += 1
        if self.writes == self.at and not self.done:
            self.done = True
            if self.kind == "kill":
                self.dead = True
                raise Killed(model.name)
            raise RuntimeError(f"write {self.at} ({model.name}) failed")
        return None


def dump(table: str) -> list[dict]:
    client, items, kwargs = boto3.client("dynamodb"), [], {}
    while True:
        resp = client.scan(TableName=table, **kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def put_back(table: str, items: list[dict]) -> None:
    """Make ``table`` hold exactly ``items`` again (every attribute, import records included)."""
    client = boto3.client("dynamodb")
    wanted = {(i["PK"]["S"], i["SK"]["S"]) for i in items}
    extra = [{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}} for i in dump(table)
             if (i["PK"]["S"], i["SK"]["S"]) not in wanted]
    requests = extra + [{"PutRequest": {"Item": i}} for i in items]
    for start in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={table: requests[start:start + 25]})


def search_snapshot(aws):
    """Every search item but the prefix vocabulary (it only grows, by design: store/keys.py);
    a match list by what it says (each product's weight and name hash), not by its items: its
    fresh entries are a log, and compaction repacks them (chalicelib/search/matches.py)."""
    from boto3.dynamodb.types import TypeDeserializer

    from chalicelib.search import matches

    everything = dump(aws["SEARCH_TABLE"])
    items = [i for i in everything if not i["PK"]["S"].startswith(("VOCAB#", "MATCH#"))]
    lists: dict[str, list[dict]] = {}
    for i in sorted((i for i in everything if i["PK"]["S"].startswith("MATCH#")), key=lambda i: i["SK"]["S"]):
        lists.setdefault(i["PK"]["S"], []).append(TypeDeserializer().deserialize({"M": i}))
    for pk, found in sorted(lists.items()):
        entries = matches.from_items(pk, found).entries()
        if entries:
            items.append({"PK": {"S": pk}, "SK": {"S": "entries"}, "entries": sorted(entries.items())})
    return sorted(items, key=lambda i: (i["PK"]["S"], i["SK"]["S"]))


class Scene:
    """The old catalog in place, the new file uploaded, the new catalog known; ``again`` puts
    the tables back to the old catalog."""

    def __init__(self, feeds: Feeds, aws, monkeypatch) -> None:
        from chalicelib.services import feed_import

        self.feeds, self.aws, self.monkeypatch, self.module = feeds, aws, monkeypatch, feed_import
        self.clock = {"now": OLD_AT}
        monkeypatch.setattr(feed_import, "now_iso", lambda: self.clock["now"])
        monkeypatch.setattr(feed_import, "CHUNK", 8)
        feeds.shop_only(SELLER)
        assert feeds.drop(SELLER, OLD)["status"] == "succeeded"
        self.old = (snapshot(aws), search_snapshot(aws))
        self.tables = {t: dump(aws[t]) for t in ("CATALOG_TABLE", "SEARCH_TABLE")}
        self.key = feeds.put(f"feeds/{SELLER}/next/feed.yml", NEW)
        self.clock["now"] = NEW_AT
        record = self.deliver()
        assert record.status == "succeeded" and record.counts.deactivated == 1, record
        self.new = (snapshot(aws), search_snapshot(aws))
        assert self.new != self.old
        self.crash = Crash()

    def again(self) -> None:
        for name, items in self.tables.items():
            put_back(self.aws[name], items)
        assert self.now() == self.old

    def now(self):
        return snapshot(self.aws), search_snapshot(self.aws)

    def deliver(self):
        """SQS delivers the message (again): the import record as it ends. A delivery that finds
        the import finished already (the crash came after its record was final, at the email)
        does nothing and returns None: the record is read then."""
        record = self.module.handle_s3_notification(self.feeds.bucket, self.key)
        if record is None:
            from chalicelib.store import imports

            record = imports.get(self.module._derived_id(self.module._head(self.feeds.bucket, self.key)))
        return record

    def crashed_delivery(self, at: int, kind: str) -> None:
        """One delivery crashing at its ``at``-th write; the lease it takes has run out by the
        time SQS delivers again (the visibility timeout is longer than the lease)."""
        self.crash.arm(at, kind)
        with self.monkeypatch.context() as m:
            m.setattr(self.module, "LEASE_SECONDS", -1)
            with pytest.raises((Killed, RuntimeError)):
                self.deliver()
        self.crash.revive()

    def committed(self) -> bool:
        """The seller's import state names the new file: the run got past its commit point."""
        state = boto3.resource("dynamodb").Table(self.aws["CATALOG_TABLE"]).get_item(
            Key=keys.import_state(SELLER))["Item"]
        before = next(i for i in self.tables["CATALOG_TABLE"]
                      if i["PK"]["S"] == keys.import_state(SELLER)["PK"] and i["SK"]["S"] == "IMPORT_STATE")
        return state["last_feed"] != before["last_feed"]["S"]


@pytest.fixture
def scene(api, aws, register, monkeypatch):
    from local import patches

    patches.serialize_dynamodb()  # moto's DynamoDB is not atomic under concurrent requests
    return Scene(Feeds(api, aws, register), aws, monkeypatch)


def writes_of_an_import(scene: Scene) -> int:
    scene.again()
    scene.crash.arm(10**9, "fail")
    assert scene.deliver().status == "succeeded"
    assert scene.now() == scene.new
    return scene.crash.writes


def test_an_import_failing_at_any_write_leaves_the_old_catalog_and_the_retry_the_new(scene):
    total = writes_of_an_import(scene)
    assert total > 12  # the journal, four chunks, their search postings, the deactivation, the commit
    for at in range(1, total + 1):
        scene.again()
        scene.crashed_delivery(at, "fail")
        expected = scene.new if scene.committed() else scene.old
        assert scene.now() == expected, f"failed at write {at} of {total}: neither the old nor the new catalog"
        record = scene.deliver()  # SQS delivers the message again
        assert record.status == "succeeded", (at, record)
        assert scene.now() == scene.new, f"the retry after a failure at write {at} did not finish the job"


def test_an_import_killed_at_any_write_is_finished_by_the_redelivery(scene):
    total = writes_of_an_import(scene)
    for at in range(1, total + 1):
        scene.again()
        scene.crashed_delivery(at, "kill")
        record = scene.deliver()
        assert record.status == "succeeded", (at, record)
        assert scene.now() == scene.new, f"the redelivery after a kill at write {at} did not finish the job"


def test_a_redelivery_that_fails_after_a_kill_leaves_the_old_catalog(scene):
    """The killed run's writes are undone by the redelivery before it writes: if that one fails
    too, the shop shows the old catalog, not the killed run's half."""
    total = writes_of_an_import(scene)
    mixes = 0
    for at in (total // 3, total // 2, 2 * total // 3):
        scene.again()
        scene.crashed_delivery(at, "kill")
        mixes += scene.now() not in (scene.old, scene.new)
        assert _fail_after_undo(scene), at
        assert scene.now() == scene.old, f"killed at write {at}, the failed redelivery left a mix"
        assert scene.deliver().status == "succeeded"
        assert scene.now() == scene.new
    assert mixes  # a killed run does leave a mix behind until the message comes back


def _fail_after_undo(scene: Scene) -> bool:
    """Deliver again, failing the first product write after the killed run was undone."""
    from chalicelib.services import feed_import

    real = feed_import._write_chunk
    state = {"failed": False}

    def fail_first(*args, **kwargs):
        if not state["failed"] and scene.undone:
            state["failed"] = True
            raise RuntimeError("the redelivery fails as well")
        return real(*args, **kwargs)

    scene.undone = False
    real_undo = feed_import._undo_dead_run

    def undo_then_mark(*args, **kwargs):
        real_undo(*args, **kwargs)
        scene.undone = True

    with scene.monkeypatch.context() as m:
        m.setattr(feed_import, "_write_chunk", fail_first)
        m.setattr(feed_import, "_undo_dead_run", undo_then_mark)
        with pytest.raises(RuntimeError, match="fails as well"):
            scene.deliver()
    return scene.undone and state["failed"]


def test_a_redelivery_killed_while_it_undoes_is_finished_by_the_next(scene):
    total = writes_of_an_import(scene)
    for first, second in ((total // 2, 1), (total // 2, 2), (total // 2, 4), (2 * total // 3, 3)):
        scene.again()
        scene.crashed_delivery(first, "kill")
        scene.crashed_delivery(second, "kill")  # dies again, early in the undo of the first
        assert scene.deliver().status == "succeeded"
        assert scene.now() == scene.new, (first, second)


def test_the_crash_points_cover_the_products_of_every_chunk(scene):
    """The new catalog really differs from the old in every chunk: prices, stock, categories."""
    products = {p["product_id"]: p for p in scene.feeds.products(seller=SELLER)}
    assert products[product_id(SELLER, "o29")]["price"]["amount"] == 12000
    assert products[product_id(SELLER, "fresh")]["available"] is True
    assert product_id(SELLER, "gone") not in products or products[product_id(SELLER, "gone")]["available"] is False
