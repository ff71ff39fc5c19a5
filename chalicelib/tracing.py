"""X-Ray: the ids an operator searches traces by, and the trace id of the current work.

``annotate(order_id=…, seller_id=…)`` puts indexed annotations on the subsegment of the
current unit of work (a request, a workflow step, an import), so the X-Ray console finds
every trace of an order with ``annotation.order_id = "o01…"``. The edge and the event
handlers open that subsegment (``unit``); Lambda's own segment cannot be annotated. Locally
the SDK is disabled (``AWS_XRAY_SDK_ENABLED=false``, docs/architecture.md): everything here is
then a no-op, and so is it in tests.

``trace_id()`` is Lambda's ``_X_AMZN_TRACE_ID`` root, which every log line carries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

ANNOTATED = ("order_id", "seller_id", "customer_id", "feed_id", "checkout_id")


def _enabled() -> bool:
    return os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() != "false" and bool(
        os.environ.get("_X_AMZN_TRACE_ID"))


def trace_id() -> str | None:
    raw = os.environ.get("_X_AMZN_TRACE_ID", "")
    for part in raw.split(";"):
        if part.startswith("Root="):
            return part[5:]
    return None


@contextlib.contextmanager
def unit(name: str) -> Iterator[None]:
    """A subsegment for one unit of work (annotations land on it)."""
    if not _enabled():
        yield
        return
    from aws_xray_sdk.core import xray_recorder

    with xray_recorder.in_subsegment(name[:200]):
        yield


def annotate(**ids: Any) -> None:
    if not _enabled():
        return
    from aws_xray_sdk.core import xray_recorder

    sub = xray_recorder.current_subsegment()
    if sub is None:
        return
    for key, value in ids.items():
        if key in ANNOTATED and value:
            sub.put_annotation(key, str(value))
