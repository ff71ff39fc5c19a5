"""X-Ray annotations an operator searches by, and the trace id in every log line."""

from __future__ import annotations

import json
import logging

from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.context import Context

from chalicelib import logs, tracing

TRACE = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"


class Emitted:
    def __init__(self):
        self.entities = []

    def send_entity(self, entity):
        self.entities.append(entity)

    def set_daemon_address(self, address):
        pass


def test_a_unit_of_work_is_a_subsegment_annotated_with_the_ids(monkeypatch):
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "true")
    from aws_xray_sdk import global_sdk_config

    was_enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)  # (the local stack's tests turn the SDK off)
    saved = (xray_recorder._emitter, xray_recorder._context, xray_recorder.sampling)
    xray_recorder.configure(emitter=Emitted(), context=Context(), sampling=False, context_missing="LOG_ERROR")
    xray_recorder.begin_segment("api")
    try:
        with tracing.unit("POST /orders/{order_id}/cancel"):
            tracing.annotate(order_id="o01abc", seller_id="s-1", ignored="x", customer_id=None)
            sub = xray_recorder.current_subsegment()
            assert sub.annotations == {"order_id": "o01abc", "seller_id": "s-1"}
    finally:
        xray_recorder.end_segment()
        emitter, context, sampling = saved
        xray_recorder.configure(emitter=emitter, context=context, sampling=sampling)
        global_sdk_config.set_sdk_enabled(was_enabled)


def test_every_log_line_carries_the_trace_id(monkeypatch):
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    record = logging.makeLogRecord({"msg": "hello", "levelname": "WARNING", "name": "marketplace"})
    assert json.loads(logs.JsonFormatter().format(record))["trace_id"] == "1-67891233-abcdef012345678912345678"


def test_nothing_happens_where_x_ray_is_off(monkeypatch):
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    with tracing.unit("GET /products"):
        tracing.annotate(order_id="o01abc")  # no segment, no error
    assert tracing.trace_id() is None
