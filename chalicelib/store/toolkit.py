"""The DynamoDB plumbing every store shares; AWS errors become the store's own answers here.

- **Batches.** ``batch_write`` (BatchWriteItem, 25 requests a call) and ``batch_get`` /
  ``batch_get_across`` (BatchGetItem, 100 keys a call). What DynamoDB hands back unprocessed
  is sent again after a jittered, capped exponential backoff, at most ``BATCH_RETRIES``
  times; then ``errors.Unavailable`` (a 503, or a retried workflow step or import).
- **Conditional writes.** ``conditional(write, **params)`` makes one write whose
  ConditionExpression may not hold: its response, or — nothing was written — None, or the
  domain error the caller named; ``write_one(op)`` runs a transaction's operation that way, on
  its own. ``all_of`` / ``any_of`` join named sub-conditions, so a
  non-trivial condition reads as the timeline it guards.
- **Key conditions.** ``Key`` / ``Attr``: boto3's condition builders for the resource API's
  queries, imported on first use (``import boto3.dynamodb`` imports all of boto3, which
  ``import app`` leaves to the first request that calls DynamoDB; ``clients.py``).
- **Transactions.** ``transact(ops)``: one TransactWriteItems of labelled operations
  (``Op``). A cancellation raises ``TransactionCancelled``, which says per label why (and the
  item as it was, where the operation asked for it with ``ReturnValuesOnConditionCheckFailure``).
  A cancellation by a concurrent transaction or a throttle wrote nothing, so the same
  transaction is sent again after a jittered backoff; a failed condition is final.

Calls go through the DynamoDB resource's client: thread-safe (the import writes from several
threads), and it takes and returns plain Python values (no ``{"S": ...}`` wrapping).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import clients
from chalicelib.adapters.aws import error_code
from chalicelib.errors import Unavailable
from chalicelib.store.values import plain

BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
TRANSACT_MAX = 100
BATCH_RETRIES = 8
TRANSACT_RETRIES = 3
# Cancellation reasons that say "not now" rather than "no": nothing was written, so the same
# transaction may simply be sent again.
TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})

_WIRE_TYPES = frozenset({"S", "N", "B", "M", "L", "BOOL", "NULL", "SS", "NS", "BS"})


def _client() -> Any:
    return clients.dynamodb_resource().meta.client


def Key(name: str) -> Any:
    """``boto3.dynamodb.conditions.Key(name)``."""
    from boto3.dynamodb.conditions import Key as key

    return key(name)


def Attr(name: str) -> Any:
    """``boto3.dynamodb.conditions.Attr(name)``."""
    from boto3.dynamodb.conditions import Attr as attr

    return attr(name)


@cache
def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def backoff(attempt: int, *, base: float = 0.05, cap: float = 2.0) -> None:
    """Sleep before retry ``attempt`` (0, 1, …): exponential, capped, with jitter so that
    writers throttled together do not come back together."""
    time.sleep(random.uniform(0.5, 1.0) * min(base * 2**attempt, cap))


# --- batches -----------------------------------------------------------------------------------


def batch_write(table: str, puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, str]] = ()) -> int:
    """Delete ``deletes`` (keys) and put ``puts`` (items), 25 requests per BatchWriteItem.
    Returns the number of calls. A caller never passes two requests for one key (DynamoDB
    refuses such a batch)."""
    requests = [{"DeleteRequest": {"Key": k}} for k in deletes] + [{"PutRequest": {"Item": i}} for i in puts]
    calls = 0
    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending = requests[start : start + BATCH_WRITE_MAX]
        for attempt in range(BATCH_RETRIES + 1):
            calls += 1
            resp = _client().batch_write_item(RequestItems={table: pending})
            pending = resp.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            _retry_or_give_up(attempt)
    return calls


def batch_get(table: str, key_list: Iterable[dict[str, Any]], **options: Any) -> Iterator[dict[str, Any]]:
    """Items of ``table`` by key, 100 keys per BatchGetItem, in no particular order (absent
    items are left out). ``options``: ConsistentRead, ProjectionExpression,
    ExpressionAttributeNames."""
    for _, item in batch_get_across([(table, k) for k in key_list], **options):
        yield item


def batch_get_across(wanted: Iterable[tuple[str, dict[str, Any]]], **options: Any
                     ) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(table, item)`` for each ``(table, key)`` of ``wanted`` that exists: one BatchGetItem
    per 100 keys, whatever tables they are in (``options`` apply to each table)."""
    unique = list({(table, tuple(sorted(key.items()))): (table, key) for table, key in wanted}.values())
    for start in range(0, len(unique), BATCH_GET_MAX):
        request: dict[str, Any] = {}
        for table, key in unique[start : start + BATCH_GET_MAX]:
            request.setdefault(table, {"Keys": [], **options})["Keys"].append(key)
        for attempt in range(BATCH_RETRIES + 1):
            resp = _client().batch_get_item(RequestItems=request)
            for table, items in resp["Responses"].items():
                for item in items:
                    yield table, item
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
            _retry_or_give_up(attempt)


def _retry_or_give_up(attempt: int) -> None:
    if attempt >= BATCH_RETRIES:  # the detail reaches clients: it names no table
        raise Unavailable("the store kept throttling; retry shortly")
    backoff(attempt)


# --- conditional writes ------------------------------------------------------------------------


Refusal = BaseException | Callable[[dict[str, Any] | None], BaseException] | None


def conditional(write: Callable[..., dict[str, Any]], /, *, refused: Refusal = None,
                **params: Any) -> dict[str, Any] | None:
    """``write(**params)`` (a PutItem, UpdateItem or DeleteItem with a ConditionExpression):
    its response; when the condition did not hold (nothing was written) None, or ``refused``
    raised when given — an exception, or a function of the item as it was (None unless the
    write asked for ``ReturnValuesOnConditionCheckFailure``) that returns one."""
    try:
        return write(**params)
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        if refused is None:
            return None
        if isinstance(refused, BaseException):
            raise refused from exc
        old = exc.response.get("Item")
        raise refused(from_wire(old) if old else None) from exc


def all_of(*conditions: str) -> str:
    """``a AND b …``; a part that is itself an OR is parenthesised."""
    return " AND ".join(f"({c})" if " OR " in c else c for c in conditions)


def any_of(*conditions: str) -> str:
    """``a OR b …``; a part that is itself an AND is parenthesised."""
    return " OR ".join(f"({c})" if " AND " in c else c for c in conditions)


def from_wire(item: dict[str, Any]) -> dict[str, Any]:
    """An item DynamoDB returned inside an error (a condition failure, a cancellation reason):
    those come in the wire format (``{"S": "x"}``) even through the resource's client."""
    out = {}
    for name, value in item.items():
        wire = isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _WIRE_TYPES
        out[name] = _deserializer().deserialize(value) if wire else value
    return out


# --- transactions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One labelled operation of a transaction (``{"Put": {...}}``, ``{"Update": {...}}``…).
    Labels are unique within a transaction: they name the cancellation reasons."""

    label: str
    item: dict[str, Any]


@dataclass(frozen=True)
class Reason:
    code: str  # "None" when that operation was fine; "ConditionalCheckFailed", "TransactionConflict"…
    item: dict[str, Any] | None  # the item as it was (wire format), when its condition failed and it existed


class TransactionCancelled(Exception):
    """DynamoDB refused the whole transaction; ``reasons`` maps each operation's label to why
    (in the order of the operations)."""

    def __init__(self, reasons: dict[str, Reason]):
        super().__init__(", ".join(f"{k}={r.code}" for k, r in reasons.items()))
        self.reasons = reasons

    def failed(self, label: str) -> bool:
        """The condition of the operation labelled ``label`` did not hold."""
        r = self.reasons.get(label)
        return r is not None and r.code == "ConditionalCheckFailed"

    def item(self, label: str) -> dict[str, Any] | None:
        """The item as it was when the operation's condition failed (plain values)."""
        r = self.reasons.get(label)
        return plain(from_wire(r.item)) if r and r.item else None

    @property
    def transient(self) -> bool:
        """No condition failed: concurrent transactions or throttling outlasted the retries."""
        codes = {r.code for r in self.reasons.values()}
        return "ConditionalCheckFailed" not in codes and bool(codes & TRANSIENT_REASONS)


def write_one(op: Op) -> bool:
    """Run one ``Put``, ``Update`` or ``Delete`` operation on its own, as a single conditional
    write (``conditional``): True when its condition held and it was written."""
    ((kind, params),) = op.item.items()
    write = {"Put": _client().put_item, "Update": _client().update_item, "Delete": _client().delete_item}[kind]
    return conditional(write, **{k: v for k, v in params.items() if k != "ReturnValuesOnConditionCheckFailure"}
                       ) is not None


def transact(ops: list[Op], *, retries: int = TRANSACT_RETRIES) -> None:
    """One TransactWriteItems of ``ops`` (at most 100). A cancellation that failed no condition
    but met a concurrent transaction or a throttle is sent again up to ``retries`` times;
    otherwise ``TransactionCancelled``."""
    labels = [op.label for op in ops]
    if len(set(labels)) != len(labels):
        raise ValueError(f"transaction labels must be unique: {labels}")
    for attempt in range(retries + 1):
        try:
            _client().transact_write_items(TransactItems=[op.item for op in ops])
            return
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            raw = exc.response.get("CancellationReasons") or []
            cancelled = TransactionCancelled({op.label: Reason(r.get("Code") or "None", r.get("Item"))
                                              for op, r in zip(ops, raw, strict=False)})
            if not cancelled.transient or attempt == retries:
                raise cancelled from exc
        backoff(attempt, base=0.02, cap=1.0)
