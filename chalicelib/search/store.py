"""Search table IO: postings, per-product search documents and the prefix vocabulary.

The only module of ``chalicelib/search`` that talks to DynamoDB. Keys come from
``store/keys.py`` (its SEARCH section has the access-pattern table). Reads never Scan: a
term's postings and a prefix's words are each one Query on one partition; documents and
vocabulary words are read with BatchGetItem. Batches go through ``store/toolkit.py`` (25 writes
or 100 keys per call, unprocessed items retried with jittered backoff). Calls go through the
DynamoDB resource's client (thread-safe; the resource's own ``Table`` objects are not), so a
query may fetch several partitions at once. Filters are applied by the query, in memory, to decoded postings:
a FilterExpression would read (and bill) the same items.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.search.document import POSTING_BODY
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import Key
from chalicelib.store.values import plain

Accept = Callable[[dict[str, Any]], bool]

BATCH_GET = toolkit.BATCH_GET_MAX  # keys per call: the query reads documents one call per thread

def _client() -> Any:
    return clients.dynamodb_resource().meta.client


def _name() -> str:
    return settings().search_table


def batch_write(puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, str]] = ()) -> int:
    """``toolkit.batch_write`` on the search table. Returns the call count."""
    return toolkit.batch_write(_name(), puts, deletes)


def batch_get(key_list: list[dict[str, str]], attributes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Items by key (only ``attributes`` when given): ``toolkit.batch_get``."""
    options: dict[str, Any] = {}
    if attributes:
        options["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        options["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
    return list(toolkit.batch_get(_name(), key_list, **options))


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
