"""The local stack over HTTP: what ``python -m local`` promises, proven through its real paths."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from urllib.parse import unquote_plus

import pytest

from infra.resources import IMPORT_QUEUE_MAX_RECEIVES
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def _queue_depth(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _parked_keys(stack) -> set[str]:
    """The S3 keys of the S3 events parked in the import dead-letter queue."""
    keys = set()
    for body in _dlq_bodies(stack):
        try:
            keys |= {unquote_plus(r["s3"]["object"]["key"]) for r in json.loads(body).get("Records", [])}
        except (ValueError, KeyError, AttributeError):
            continue
    return keys


def _dlq_bodies(stack) -> list[str]:
    """Everything parked in the import dead-letter queue (left there for other tests)."""
    sqs = stack.client("sqs")
    resp = sqs.receive_message(QueueUrl=stack.env["IMPORT_DLQ_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in resp.get("Messages", [])]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_can_answer_health_and_openapi(stack):
    health = stack.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    doc = stack.get("/openapi.json")
    assert doc.status_code == 200, doc.text[:500]
    assert "/health" in doc.json()["paths"]


def test_unknown_paths_and_methods_get_problem_documents(stack):
    for headers in ({}, {"Authorization": "Bearer whatever"}):
        resp = stack.get("/no/such/route", headers=headers)
        assert resp.status_code == 404, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert "openapi.json" in resp.json()["detail"]
    resp = stack.request("PATCH", "/wallet")
    assert (resp.status_code, resp.headers["Content-Type"]) == (405, "application/problem+json")
    assert resp.headers["Allow"] == "GET"


def test_a_browser_on_another_origin_may_call_the_api_and_upload_a_feed(stack):
    origin = {"Origin": "https://shop.example"}
    preflight = stack.request("OPTIONS", "/cart/items", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert preflight.status_code == 200
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(","))
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    for resp in (stack.get("/products?limit=1", headers=origin), stack.get("/wallet", headers=origin)):
        assert resp.headers["Access-Control-Allow-Origin"] == "*", resp.status_code  # answers and errors

    s3 = stack.client("s3")
    rules = s3.get_bucket_cors(Bucket=stack.env["FEEDS_BUCKET"])["CORSRules"]
    assert [(r["AllowedMethods"], r["AllowedOrigins"]) for r in rules] == [(["POST"], ["*"])]


def test_a_second_run_on_a_taken_port_says_so_and_stops(stack):
    port = stack.url.rsplit(":", 1)[1]
    done = subprocess.run([sys.executable, "-m", "local", "--port", port, "--no-demo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in done.stderr and "RUN_ARGS" in done.stderr
    assert stack.get("/health").status_code == 200  # the first one is untouched


def test_stack_runs_with_the_callers_short_timeouts(stack):
    assert stack.env["SELLER_TIMEOUT_SECONDS"] == "5"
    assert stack.env["MOTO_PORT"] == stack.moto_url.rsplit(":", 1)[1]
    assert stack.env["JWKS_URL"].startswith(stack.moto_url)


def test_feed_upload_reaches_import_handler_through_s3_sqs_and_lambda(stack):
    # Given a file dropped under the feeds prefix, as a seller's upload would
    key = f"feeds/e2e-{uuid.uuid4().hex[:8]}/probe feed.yml"
    stack.client("s3").put_object(Bucket=stack.env["FEEDS_BUCKET"], Key=key, Body=b"<yml_catalog/>")

    # Then the import handler runs in-process (S3 -> SQS -> poller -> Lambda Invoke -> hook)
    seen = stack.wait_for_log(lambda e: e.get("msg") == "feed notification" and e.get("key") == key)
    assert seen["bucket"] == stack.env["FEEDS_BUCKET"]

    def outcomes() -> list[dict]:
        ids = {e["request_id"] for e in stack.logs() if e.get("msg") == "feed notification" and e.get("key") == key}
        invocations = ("lambda invoked", "lambda error")
        return [e for e in stack.logs() if e.get("msg") in invocations and e["request_id"] in ids]

    # And the message ends: deleted once an invocation succeeds, or parked in the DLQ after
    # the queue's maxReceiveCount failed ones (the feed-import service decides which)
    in_dlq = lambda: key in _parked_keys(stack)  # noqa: E731
    _wait(lambda: any(o["ok"] for o in outcomes()) or in_dlq(), 40, "the import to succeed or be dead-lettered")
    results = outcomes()
    assert {o["function"] for o in results} == {stack.env["IMPORT_FUNCTION_NAME"]}
    if any(o["ok"] for o in results):
        _wait(lambda: _queue_depth(stack.client("sqs"), stack.env["IMPORT_QUEUE_URL"]) == 0, 10, "the queue to drain")
        assert not in_dlq()
    else:
        assert len(results) >= IMPORT_QUEUE_MAX_RECEIVES


def test_message_the_handler_rejects_is_retried_then_dead_lettered(stack):
    sqs = stack.client("sqs")
    marker = f"not an s3 event {uuid.uuid4().hex}"
    sqs.send_message(QueueUrl=stack.env["IMPORT_QUEUE_URL"], MessageBody=marker)

    _wait(lambda: any(marker in body for body in _dlq_bodies(stack)), 40, "the message in the dead-letter queue")
    failures = [e for e in stack.logs() if e.get("msg") == "import message failed, will be retried"]
    assert len({tuple(e["message_ids"]) for e in failures}) >= 1
    assert max(r for e in failures for r in e["receives"]) >= 3


def test_state_machine_runs_a_lambda_task_in_process(stack):
    # Given a one-task machine calling the real workflow function (its health step)
    lam, sfn = stack.client("lambda"), stack.client("stepfunctions")
    fn_arn = lam.get_function(FunctionName=stack.env["WORKFLOW_FUNCTION_NAME"])["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Ping",
        "States": {
            "Ping": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": fn_arn, "Payload": {"step": "health", "probe.$": "$.probe"}},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"e2e-ping-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/e2e",
    )["stateMachineArn"]

    # When it runs
    run = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps({"probe": 1}))

    # Then moto really executes it and the Chalice handler answers from this process
    done = _wait(
        lambda: (d := sfn.describe_execution(executionArn=run["executionArn"]))["status"] != "RUNNING" and d,
        30,
        "the execution to finish",
    )
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"ok": True, "function": stack.env["WORKFLOW_FUNCTION_NAME"]}


def test_order_state_machine_exists_with_the_workflow_function_substituted(stack):
    sfn = stack.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=stack.env["ORDER_STATE_MACHINE_ARN"])
    assert "${" not in described["definition"]
    assert stack.env["WORKFLOW_FUNCTION_NAME"] in described["definition"]
