"""The feed-import Lambda: S3 ``ObjectCreated`` under ``feeds/`` → SQS → this handler.

S3 notifies the import queue (not the function: ``chalice package`` cannot deploy
``on_s3_event``, and the queue gives retries and a dead-letter queue). Each SQS message body
is an S3 event; every object it names is handed to ``services.feed_import``. An exception
leaves the message on the queue, so the import is retried and, after the queue's
``maxReceiveCount``, parked in the dead-letter queue. The service makes duplicates harmless.

The same queue carries the chunks of a feed too big for one run: ``{"chunk": {feed_id, run,
n}}``, sent by the run that split it, each handled by ``services.feed_chunks.handle_chunk``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from chalice import Blueprint

from chalicelib import logs, metrics, tracing
from chalicelib.events import names

bp = Blueprint(__name__)


def s3_objects(body: str) -> Iterator[tuple[str, str, str | None]]:
    """``(bucket, key, event_id)`` for every created object in one S3 event body.

    S3's ``s3:TestEvent`` (sent when a notification is configured) names no object.
    Keys arrive URL-encoded (a space is ``+``).
    """
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("an S3 event is a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return
    for record in message.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        obj = s3["object"]
        event_id = obj.get("sequencer") or obj.get("eTag")
        yield s3["bucket"]["name"], unquote_plus(obj["key"]), event_id


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


@bp.on_sqs_message(queue=names.IMPORT_QUEUE_NAME, batch_size=1)
def import_feed(event: Any) -> None:
    metrics.scope.set(names.IMPORT_FUNCTION)
    for record in event:
        from chalicelib.services import feed_chunks  # imported here: the API's Lambda never loads it

        chunk = feed_chunks.chunk_message(_json(record.body))
        if chunk is not None:  # one chunk of a feed split by an earlier run of this function
            try:
                with tracing.unit("import chunk"):
                    feed_chunks.handle_chunk(chunk["feed_id"], chunk["run"], chunk["n"])
            finally:
                metrics.flush(function=names.IMPORT_FUNCTION, feed_id=chunk["feed_id"], chunk=chunk["n"])
            continue
        try:
            objects = list(s3_objects(record.body))
        except (ValueError, KeyError, TypeError) as exc:
            # Raise: a message that is not an S3 event ends up in the dead-letter queue.
            logs.event("feed notification is malformed", logging.ERROR, message_id=record.message_id, error=str(exc))
            raise
        # imported here: the API's Lambda never loads the import pipeline
        from chalicelib.services.feed_import import handle_s3_notification

        for bucket, key, event_id in objects:
            logs.event("feed notification", bucket=bucket, key=key, event_id=event_id)
            try:
                with tracing.unit("import"):
                    tracing.annotate(seller_id=key.split("/")[1] if key.count("/") >= 2 else None)
                    handle_s3_notification(bucket, key, event_id=event_id)
            finally:
                metrics.flush(function=names.IMPORT_FUNCTION, key=key)
