"""Embedded metric format: what CloudWatch needs to turn a log line into metrics."""

from __future__ import annotations

import json

from chalicelib import metrics


def test_counts_of_a_unit_of_work_become_one_emf_document_per_dimension_set(monkeypatch, capsys):
    monkeypatch.setenv("METRICS_ENABLED", "true")
    metrics.count("OrdersPlaced")
    metrics.count("OrdersPlaced")
    metrics.count("OrdersCancelled", by="seller")
    metrics.count("ImportRowsRejected", 7)
    assert metrics.flush(request_id="r-1") == 2

    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    plain = next(d for d in docs if "by" not in d)
    spec = plain["_aws"]["CloudWatchMetrics"][0]
    assert spec["Namespace"] == "Marketplace" and spec["Dimensions"] == [["service"]]
    assert {m["Name"] for m in spec["Metrics"]} == {"OrdersPlaced", "ImportRowsRejected"}
    assert (plain["OrdersPlaced"], plain["ImportRowsRejected"], plain["service"]) == (2, 7, "marketplace")
    assert plain["request_id"] == "r-1" and isinstance(plain["_aws"]["Timestamp"], int)
    by_seller = next(d for d in docs if d.get("by") == "seller")
    assert by_seller["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["service", "by"]]
    assert by_seller["OrdersCancelled"] == 1
    # every metric a document names has its value at the top level, as EMF requires
    for doc in docs:
        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            assert isinstance(doc[m["Name"]], int | float)
    assert metrics.flush() == 0  # flushed: a new unit of work starts empty


def test_nothing_is_written_unless_enabled(monkeypatch, capsys):
    monkeypatch.delenv("METRICS_ENABLED", raising=False)
    metrics.count("OrdersPlaced")
    assert metrics.flush() == 0
    assert capsys.readouterr().out == ""
