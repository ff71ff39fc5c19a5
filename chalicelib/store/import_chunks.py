"""Catalog table: the job of a feed imported in chunks (``services/feed_chunks.py``).

In the import record's partition (``keys.import_chunk_job`` / ``keys.import_chunk``):

- the **job** (``SK=CHUNKS``): the split's run id and clock, how many chunks, what the split
  counted (rows, rejected, available, the first row errors), the sums the chunks add as they
  finish (created, updated, unchanged, was_available) and ``chunks_done`` (chunk number → its
  counts). ``status``: running → committed | failed | abandoned (a split that died; its
  redelivery splits again under a new run).
- one **chunk** item per chunk (``SK=CHUNK#<run>#<n>``): its claims (``attempts``) and lease,
  and ``settled`` once a chunk that outlived its job has taken its own writes back.

Until the import is reported the job carries a sparse GSI4 key (``GSI4PK=CHUNK_JOBS``, ``GSI4SK``
= when it last moved: split, a chunk finished, a commit attempt), so the reconciler finds an
import whose chunks stopped moving (``stalled``) without a Scan.

Every write that moves the job is conditional on its ``run`` and ``status``: a chunk of a run
that is no longer the job's, or that finishes after the job failed, changes nothing (and puts
back what it wrote itself); a chunk finishes once (``chunks_done`` has no entry for it yet).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import Key, conditional
from chalicelib.store.values import plain

RUNNING, COMMITTED, FAILED, ABANDONED = "running", "committed", "failed", "abandoned"
SUMS = ("created", "updated", "unchanged", "was_available")


def _table() -> Any:
    return clients.table(settings().catalog_table)


def moved_at(epoch: float | None = None, feed_id: str = "") -> str:
    """The sweep index's sort key: when the job last moved (``#feed_id`` keeps keys unique)."""
    stamp = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC).isoformat(timespec="seconds")
    return f"{stamp}#{feed_id}" if feed_id else stamp


def put_job(feed_id: str, job: dict[str, Any]) -> None:
    """The job of a new split (it replaces the job of an earlier split of the same record)."""
    item = {**keys.import_chunk_job(feed_id), **job, "status": RUNNING, "chunks_done": {}, "done": 0,
            "commit_attempts": 0, **dict.fromkeys(SUMS, 0),
            "GSI4PK": keys.CHUNK_JOBS, "GSI4SK": moved_at(feed_id=feed_id)}
    _table().put_item(Item=item)


def get_job(feed_id: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.import_chunk_job(feed_id), ConsistentRead=True).get("Item")
    return plain(item) if item else None


def set_status(feed_id: str, run: str, status: str, *, fields: dict[str, Any] | None = None,
               was: str = RUNNING) -> bool:
    """Move the job of ``run`` from ``was`` (running) to ``status``; False when it is not in
    ``was`` (any more)."""
    names = {"#s": "status", "#run": "run", **{f"#f{i}": k for i, k in enumerate(fields or {})}}
    values = {":s": status, ":running": was, ":run": run,
              **{f":f{i}": v for i, v in enumerate((fields or {}).values())}}
    sets = ", ".join(["#s = :s"] + [f"#f{i} = :f{i}" for i in range(len(fields or {}))])
    done = conditional(_table().update_item, Key=keys.import_chunk_job(feed_id), UpdateExpression="SET " + sets,
                       ConditionExpression="#s = :running AND #run = :run", ExpressionAttributeNames=names,
                       ExpressionAttributeValues=values)
    return done is not None


def set_fields(feed_id: str, run: str, fields: dict[str, Any]) -> None:
    """Fields of the running job of ``run`` (what the split learns by the end of its read)."""
    names = {f"#f{i}": k for i, k in enumerate(fields)}
    values = {f":f{i}": v for i, v in enumerate(fields.values())}
    _table().update_item(Key=keys.import_chunk_job(feed_id),
                         UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                         ConditionExpression="#s = :running AND #run = :run",
                         ExpressionAttributeNames={**names, "#s": "status", "#run": "run"},
                         ExpressionAttributeValues={**values, ":running": RUNNING, ":run": run})


def claim_chunk(feed_id: str, run: str, n: int, lease_seconds: int) -> int | None:
    """Claim chunk ``n`` for one attempt; returns the attempt's number (1, 2, …), or None when
    another delivery holds a live lease on it."""
    now = int(time.time())
    done = conditional(
        _table().update_item, Key=keys.import_chunk(feed_id, run, n),
        UpdateExpression="SET lease_until = :until ADD #a :one",
        ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
        ExpressionAttributeNames={"#a": "attempts"},
        ExpressionAttributeValues={":until": now + lease_seconds, ":now": now, ":one": 1},
        ReturnValues="ALL_NEW")
    return None if done is None else int(done["Attributes"]["attempts"])


def get_chunk(feed_id: str, run: str, n: int) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.import_chunk(feed_id, run, n), ConsistentRead=True).get("Item")
    return plain(item) if item else None


def settle_chunk(feed_id: str, run: str, n: int) -> None:
    """The chunk outlived its job and took its own writes back: a later delivery need not again."""
    _table().update_item(Key=keys.import_chunk(feed_id, run, n), UpdateExpression="SET settled = :t",
                         ExpressionAttributeValues={":t": True})


def state_of(feed_id: str) -> tuple[str | None, str | None]:
    """(run, status) of the feed's job, read consistently and cheaply (a chunk asks between batches)."""
    item = _table().get_item(Key=keys.import_chunk_job(feed_id), ConsistentRead=True,
                             ProjectionExpression="#run, #s",
                             ExpressionAttributeNames={"#run": "run", "#s": "status"}).get("Item") or {}
    return item.get("run"), item.get("status")


def release_chunk(feed_id: str, run: str, n: int) -> None:
    """The attempt failed: the redelivery may claim the chunk at once."""
    _table().update_item(Key=keys.import_chunk(feed_id, run, n), UpdateExpression="SET lease_until = :zero",
                         ExpressionAttributeValues={":zero": 0})


def finish_chunk(feed_id: str, run: str, n: int, counts: dict[str, int], retried: bool) -> dict[str, Any] | None:
    """Record chunk ``n`` as done and add its counts to the job, once; returns the job as it is
    now, or None when the job is not running under ``run`` or the chunk was recorded before."""
    values: dict[str, Any] = {f":{k}": int(counts.get(k) or 0) for k in SUMS}
    values.update({":one": 1, ":counts": values_of(counts), ":running": RUNNING, ":run": run,
                   ":moved": moved_at(feed_id=feed_id)})
    expr = "SET chunks_done.#n = :counts, GSI4SK = :moved ADD #done :one, " + ", ".join(f"#{k} :{k}" for k in SUMS)
    if retried:
        expr = expr.replace("SET ", "SET retried = :true, ", 1)
        values[":true"] = True
    done = conditional(
        _table().update_item, Key=keys.import_chunk_job(feed_id), UpdateExpression=expr,
        ConditionExpression="#s = :running AND #run = :run AND attribute_not_exists(chunks_done.#n)",
        ExpressionAttributeNames={"#s": "status", "#n": f"c{n}", "#run": "run", "#done": "done",
                                  **{f"#{k}": k for k in SUMS}},
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW")
    return None if done is None else plain(done["Attributes"])


def values_of(counts: dict[str, int]) -> dict[str, int]:
    return {k: int(counts.get(k) or 0) for k in SUMS}


def is_done(job: dict[str, Any], n: int) -> bool:
    return f"c{n}" in (job.get("chunks_done") or {})


def claim_commit(feed_id: str, run: str) -> int | None:
    """Count one commit attempt of a job whose chunks are all done; None when it is not running."""
    done = conditional(
        _table().update_item, Key=keys.import_chunk_job(feed_id),
        UpdateExpression="SET GSI4SK = :moved ADD commit_attempts :one",
        ConditionExpression="#s = :running AND #run = :run AND #done = #total",
        ExpressionAttributeNames={"#s": "status", "#run": "run", "#done": "done", "#total": "total"},
        ExpressionAttributeValues={":one": 1, ":running": RUNNING, ":run": run, ":moved": moved_at(feed_id=feed_id)},
        ReturnValues="ALL_NEW")
    return None if done is None else int(done["Attributes"]["commit_attempts"])


def set_deactivated(feed_id: str, run: str, deactivated: int) -> None:
    """What the commit deactivated, kept for the report in case the commit's answer is lost."""
    _table().update_item(Key=keys.import_chunk_job(feed_id), UpdateExpression="SET deactivated = :d",
                         ConditionExpression="#run = :run", ExpressionAttributeNames={"#run": "run"},
                         ExpressionAttributeValues={":d": deactivated, ":run": run})


def claim_ending(feed_id: str, run: str, status: str, lease_seconds: int) -> bool:
    """Take over the ending (undo, report) of a job already ``status`` (failed, committed) whose
    ending delivery's lease ran out (``ending_until``, set with the status): it died before
    the report. False while that delivery may still be at it."""
    now = int(time.time())
    done = conditional(
        _table().update_item, Key=keys.import_chunk_job(feed_id), UpdateExpression="SET ending_until = :until",
        ConditionExpression="#s = :s AND #run = :run AND (attribute_not_exists(ending_until) OR ending_until < :now)",
        ExpressionAttributeNames={"#s": "status", "#run": "run"},
        ExpressionAttributeValues={":s": status, ":run": run, ":now": now, ":until": now + lease_seconds})
    return done is not None


def reported(feed_id: str, run: str) -> None:
    """The import of ``run`` is reported: the sweep no longer looks at it."""
    conditional(_table().update_item, Key=keys.import_chunk_job(feed_id), UpdateExpression="REMOVE GSI4PK, GSI4SK",
                ConditionExpression="#run = :run", ExpressionAttributeNames={"#run": "run"},
                ExpressionAttributeValues={":run": run})


def stalled(before: str, limit: int = 25) -> list[dict[str, Any]]:
    """Jobs not reported yet that last moved before ``before`` (``moved_at``), oldest first."""
    resp = _table().query(IndexName="GSI4", Limit=limit,
                          KeyConditionExpression=Key("GSI4PK").eq(keys.CHUNK_JOBS) & Key("GSI4SK").lt(before))
    return [plain(item) for item in resp.get("Items", [])]


def touch(feed_id: str, run: str, seen: str, epoch: float) -> bool:
    """Move the job's sweep key from ``seen`` to ``epoch``: one sweep takes a stalled job (and
    the next looks again only once it stalled anew). False when another moved it first."""
    done = conditional(_table().update_item, Key=keys.import_chunk_job(feed_id), UpdateExpression="SET GSI4SK = :now",
                       ConditionExpression="#run = :run AND GSI4SK = :seen", ExpressionAttributeNames={"#run": "run"},
                       ExpressionAttributeValues={":run": run, ":seen": seen,
                                                  ":now": moved_at(epoch, feed_id)})
    return done is not None
