"""Background delivery for the local stack: the import queue's messages to the import function
(``ImportPoller``), and scheduled functions on a timer (``ScheduleTimer``).

Stands in for Lambda's SQS event-source mapping, which moto runs synchronously inside the
``SendMessage`` (and so inside the S3 ``PutObject`` that notified the queue). Like the real
mapping it long-polls, invokes the function through Lambda ``Invoke`` (so the in-process hook
of ``local/patches.py`` runs the Chalice handler), deletes a message only when the function
succeeded, and otherwise lets it come back: after the queue's ``maxReceiveCount`` failed
receives, SQS moves it to the dead-letter queue. Locally a failed message becomes visible
again after ``retry_delay`` seconds instead of the queue's 15-minute visibility timeout.
``workers`` threads poll at once, as the mapping runs up to its maximum concurrency of function
instances: the chunks of a big feed (``services/feed_chunks.py``) are imported in parallel.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import boto3

log = logging.getLogger("marketplace.local")


class ImportPoller:
    def __init__(
        self,
        queue_url: str,
        function_name: str,
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        wait_seconds: int = 1,
        retry_delay: int = 1,
        batch_size: int = 1,
        workers: int = 1,
    ) -> None:
        self.queue_url = queue_url
        self.function_name = function_name
        self.wait_seconds = wait_seconds
        self.retry_delay = retry_delay
        self.batch_size = batch_size
        self.region = region
        self._sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint)
        self._lambda = boto3.client("lambda", region_name=region, endpoint_url=endpoint)
        self._queue_arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.workers = max(1, workers)
        self._counts = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's SQS mapping sends (what Chalice's ``SQSEvent`` parses)."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self._queue_arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }

    def poll_once(self, wait_seconds: int | None = None) -> int:
        """Receive one batch and deliver it; returns how many messages were received."""
        resp = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        result = self._lambda.invoke(FunctionName=self.function_name, Payload=json.dumps(self._event(messages)))
        payload = result["Payload"].read()
        ids = [m["MessageId"] for m in messages]
        if result.get("FunctionError"):
            with self._counts:
                self.failed += len(messages)
            receives = [int(m.get("Attributes", {}).get("ApproximateReceiveCount", "0")) for m in messages]
            log.warning(
                "import message failed, will be retried",
                extra={"fields": {"message_ids": ids, "receives": receives,
                                  "error": payload[:500].decode(errors="replace")}},
            )
            for m in messages:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=self.retry_delay
                )
        else:
            with self._counts:
                self.delivered += len(messages)
            for m in messages:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            log.info("import message delivered", extra={"fields": {"message_ids": ids}})
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling; the stack stays up
                if self._stop.is_set():
                    return
                log.exception("import poller error")
                self._stop.wait(1)

    def start(self) -> ImportPoller:
        for n in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"import-poller-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)


def scheduled_event(region: str) -> dict[str, Any]:
    """The event an EventBridge schedule sends (what Chalice's ``CloudWatchEvent`` parses)."""
    return {"version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "", "region": region, "resources": [], "detail": {}}


class ScheduleTimer:
    """Stands in for an EventBridge schedule: invokes a function every ``interval`` seconds
    with the event a scheduled rule sends (moto keeps rules but never fires them)."""

    def __init__(self, function_name: str, interval: float, *, endpoint: str | None = None,
                 region: str = "us-east-1") -> None:
        self.function_name = function_name
        self.interval = interval
        self.region = region
        self._lambda = boto3.client("lambda", region_name=region, endpoint_url=endpoint)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fire(self) -> dict[str, Any]:
        result = self._lambda.invoke(FunctionName=self.function_name,
                                     Payload=json.dumps(scheduled_event(self.region)))
        payload = json.loads(result["Payload"].read() or b"{}")
        if result.get("FunctionError"):
            log.warning("scheduled function failed", extra={"fields": {"function": self.function_name,
                                                                       "error": str(payload)[:500]}})
        return payload

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fire()
            except Exception:  # noqa: BLE001 - keep ticking; the stack stays up
                if self._stop.is_set():
                    return
                log.exception("schedule timer error")

    def start(self) -> ScheduleTimer:
        self._thread = threading.Thread(target=self._run, name=f"timer-{self.function_name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
