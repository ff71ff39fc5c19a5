"""Business and technical metrics in CloudWatch embedded metric format (EMF).

A metric is one JSON line on stdout that CloudWatch Logs turns into a metric: no API call on
the hot path, and the line is searchable like any log. Written here rather than with
Powertools Metrics: the format is a small, documented JSON shape, and the library would add
about a megabyte to the Lambda package and its import to every cold start for these few lines.

``count("OrdersPlaced")`` and ``count("OrdersCancelled", by="seller")`` add to the counters of
the current unit of work (a request, a Lambda invocation, a workflow step); ``flush()`` writes
them as one document per dimension set and starts over. The edge and the event handlers flush
when their unit ends; code outside them (scripts, tests) may call ``flush()`` itself.

Every metric has the dimension ``service`` (one dashboard per deployment); a count given
``by=…`` is also published with the dimension ``by`` (e.g. who cancelled). Off unless
``METRICS_ENABLED`` is set (the deploy template sets it): locally the console stays readable.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import time
from collections import Counter
from typing import Any

NAMESPACE = "Marketplace"
SERVICE = "marketplace"

# the unit of work now running ("GET /products", a function's name): technical counters
# such as DynamoDB calls are published ``by`` it
scope: contextvars.ContextVar[str] = contextvars.ContextVar("metrics_scope", default="-")

# per unit of work: {(metric, unit, by-value or ""): value}
_pending: contextvars.ContextVar[Counter[tuple[str, str, str]] | None] = contextvars.ContextVar(
    "metrics_pending", default=None)


def enabled() -> bool:
    return os.environ.get("METRICS_ENABLED", "").strip().lower() in {"1", "true", "yes", "on"}


def count(name: str, value: float = 1, *, unit: str = "Count", by: str | None = None) -> None:
    if not enabled():
        return
    pending = _pending.get()
    if pending is None:
        pending = Counter()
        _pending.set(pending)
    pending[(name, unit, by or "")] += value


def count_dynamodb_call(parsed: dict[str, Any] | None = None, **_: Any) -> None:
    """A botocore ``after-call.dynamodb`` hook (``clients.py``): every DynamoDB call, and every
    throttled one, of the current unit of work."""
    if not enabled():
        return
    unit = scope.get()
    count("DynamoDBCalls", by=unit)
    code = ((parsed or {}).get("Error") or {}).get("Code", "")
    if "Throughput" in code or "Throttl" in code or code == "RequestLimitExceeded":
        count("DynamoDBThrottles", by=unit)


def documents(pending: Counter[tuple[str, str, str]], **properties: Any) -> list[dict[str, Any]]:
    """The EMF documents of ``pending``: one per ``by`` value (metrics without one together)."""
    groups: dict[str, dict[tuple[str, str], float]] = {}
    for (name, unit, by), value in pending.items():
        groups.setdefault(by, {})[(name, unit)] = value
    out = []
    stamp = int(time.time() * 1000)
    for by, values in sorted(groups.items()):
        dims = [["service"], ["service", "by"]] if by else [["service"]]
        doc: dict[str, Any] = {
            "_aws": {"Timestamp": stamp, "CloudWatchMetrics": [{
                "Namespace": NAMESPACE, "Dimensions": dims,
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in sorted(values)],
            }]},
            "service": SERVICE,
            **properties,
        }
        if by:
            doc["by"] = by
        doc.update({name: value for (name, _unit), value in values.items()})
        out.append(doc)
    return out


def flush(**properties: Any) -> int:
    """Write what the current unit of work counted (``properties``, e.g. the request id, ride
    along as searchable fields); returns the number of documents written."""
    pending = _pending.get()
    if not pending:
        return 0
    _pending.set(None)
    docs = documents(pending, **properties)
    sys.stdout.write("".join(json.dumps(d, separators=(",", ":"), default=str) + "\n" for d in docs))
    sys.stdout.flush()
    return len(docs)
