"""Search table IO: postings, per-product search documents and the prefix vocabulary.

The only module of ``chalicelib/search`` that talks to DynamoDB. Keys come from
``store/keys.py`` (its SEARCH section has the access-pattern table). Reads never Scan: a
term's postings and a prefix's words are each one Query on one partition; documents and
vocabulary words are read with BatchGetItem. Writes go through ``batch_write`` (25 per call,
unprocessed items retried with exponential backoff). Calls go through the DynamoDB resource's
client (thread-safe; the resource's own ``Table`` objects are not), so a query may fetch
several partitions at once. Filters are applied by the query, in memory, to decoded postings:
a FilterExpression would read (and bill) the same items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from boto3.dynamodb.conditions import Key

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import Unavailable
from chalicelib.search.document import POSTING_BODY
from chalicelib.store import keys
from chalicelib.store.values import plain

Accept = Callable[[dict[str, Any]], bool]

BATCH_WRITE = 25
BATCH_GET = 100
MAX_RETRIES = 8


def _client() -> Any:
    return clients.dynamodb_resource().meta.client


def _name() -> str:
    return settings().search_table


def _backoff(attempt: int) -> None:
    if attempt >= MAX_RETRIES:
        raise Unavailable("the search index kept throttling; retry shortly")
    time.sleep(min(0.05 * 2**attempt, 2.0))


def batch_write(puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, str]] = ()) -> int:
    """Deletes first, then puts, 25 per BatchWriteItem; unprocessed items are resent with
    backoff. Returns how many items were written. A caller never passes two requests for the
    same key (BatchWriteItem rejects that)."""
    requests = [{"DeleteRequest": {"Key": k}} for k in deletes] + [{"PutRequest": {"Item": i}} for i in puts]
    name = _name()
    for start in range(0, len(requests), BATCH_WRITE):
        pending, attempt = requests[start : start + BATCH_WRITE], 0
        while pending:
            resp = _client().batch_write_item(RequestItems={name: pending})
            pending = resp.get("UnprocessedItems", {}).get(name, [])
            if pending:
                _backoff(attempt)
                attempt += 1
    return len(requests)


def batch_get(key_list: list[dict[str, str]], attributes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Items by key (only ``attributes`` when given), BatchGetItem per 100, unprocessed keys
    retried with backoff."""
    name, out = _name(), []
    for start in range(0, len(key_list), BATCH_GET):
        req: dict[str, Any] = {"Keys": key_list[start : start + BATCH_GET]}
        if attributes:
            req["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
            req["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
        request, attempt = {name: req}, 0
        while request:
            resp = _client().batch_get_item(RequestItems=request)
            out += resp["Responses"].get(name, [])
            request = resp.get("UnprocessedKeys") or None
            if request:
                _backoff(attempt)
                attempt += 1
    return out


def get_docs(product_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What is indexed for each product (absent: nothing is)."""
    items = batch_get([keys.search_doc(pid) for pid in dict.fromkeys(product_ids)])
    return {item["product_id"]: plain(item) for item in items}


def existing_vocab(words: list[str]) -> set[str]:
    items = batch_get([keys.search_vocab(w) for w in dict.fromkeys(words)], attributes=("word",))
    return {item["word"] for item in items}


def postings_page(term: str, *, limit: int,
                  start: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One Query page of a term's postings, strongest first, decoded: (postings, next start key)."""
    params: dict[str, Any] = {
        "TableName": _name(),
        "KeyConditionExpression": Key("PK").eq(keys.search_term(term)),
        "Limit": limit,
    }
    if start:
        params["ExclusiveStartKey"] = start
    resp = _client().query(**params)
    return [json.loads(item[POSTING_BODY]) for item in resp.get("Items", [])], resp.get("LastEvaluatedKey")


def vocab_terms(prefix: str, *, limit: int) -> dict[str, str]:
    """Up to ``limit`` indexed words beginning with ``prefix`` (≥ 2 chars) → their terms."""
    resp = _client().query(
        TableName=_name(),
        KeyConditionExpression=Key("PK").eq(keys.search_vocab_partition(prefix))
        & Key("SK").begins_with(keys.search_vocab_word(prefix)),
        ProjectionExpression="#w, #t",
        ExpressionAttributeNames={"#w": "word", "#t": "term"},
        Limit=limit,
    )
    return {item["word"]: item["term"] for item in resp.get("Items", [])}
