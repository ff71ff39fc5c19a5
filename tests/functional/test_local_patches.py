"""Each patch of ``local/patches.py`` (and the SQS poller) does what the local stack relies on.

These run in-process under ``mock_aws``; each fails if moto moves the hook it patches.
(Step Functions executing in server mode is proven by ``tests/e2e/test_local_stack.py``.)
"""

from __future__ import annotations

import json
import threading
import time
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from infra import resources as res
from local import bootstrap, patches
from local.poller import ImportPoller

REGION = "us-east-1"


class BoomError(Exception):
    """The error a test handler raises; Step Functions must see this class name."""


CALLS: list[dict] = []


def failing_handler(event, context):
    CALLS.append(event)
    raise BoomError("the handler failed on purpose")


@pytest.fixture
def local_aws(monkeypatch):
    from chalicelib import clients
    from chalicelib.config import settings

    patches.apply_in_process()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        env = bootstrap.create_local_stack(prefix=f"p{uuid.uuid4().hex[:6]}")
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        settings.cache_clear()
        clients.reset()
        yield env
    settings.cache_clear()
    clients.reset()


def _client(service):
    return boto3.client(service, region_name=REGION)


def _wait_execution(sfn, arn, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.05)
    raise AssertionError("execution still running")


# --- (a) Lambda runs in-process ----------------------------------------------------------


def test_lambda_invoke_runs_the_chalice_handler_in_process(local_aws):
    resp = _client("lambda").invoke(FunctionName=local_aws["WORKFLOW_FUNCTION_NAME"], Payload=b'{"step": "health"}')
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == {"ok": True, "function": local_aws["WORKFLOW_FUNCTION_NAME"]}


def test_handler_exception_is_a_function_error_step_functions_retries_and_catches(local_aws):
    # Given a function whose handler raises BoomError, behind a Task with Retry and Catch
    lam, sfn = _client("lambda"), _client("stepfunctions")
    arn = lam.create_function(
        FunctionName="boom",
        Runtime=res.LAMBDA_RUNTIME,
        Role=local_aws["LAMBDA_ROLE_ARN"],
        Handler=f"{__name__}.failing_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )["FunctionArn"]
    direct = lam.invoke(FunctionName="boom", Payload=b"{}")
    assert direct["FunctionError"]
    assert json.loads(direct["Payload"].read())["errorType"] == "BoomError"
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload": {"n.$": "$.n"}},
                "Retry": [{"ErrorEquals": ["BoomError"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["BoomError"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    machine = sfn.create_state_machine(name="boom", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    CALLS.clear()

    # When it runs
    run = sfn.start_execution(stateMachineArn=machine, name="boom-1", input='{"n": 1}')
    done = _wait_execution(sfn, run["executionArn"])

    # Then the error was retried once, then caught by its class name
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["error"]["Error"] == "BoomError"
    assert CALLS == [{"n": 1}, {"n": 1}]


# --- (b) SQS -> poller -> import handler ---------------------------------------------------


@pytest.fixture
def feed_service(monkeypatch):
    """A stand-in for ``chalicelib.services.feed_import`` recording what the handler passes."""
    calls: list[tuple[str, str]] = []
    fake = types.ModuleType("chalicelib.services.feed_import")
    fake.fail = False

    def handle_s3_notification(bucket: str, key: str, event_id: str | None = None):
        calls.append((bucket, key))
        if fake.fail:
            raise RuntimeError("import failed")

    fake.handle_s3_notification = handle_s3_notification
    fake.calls = calls
    # the real chunk module first: it imports names of the real feed_import, and the handler
    # imports it before it reaches feed_import (whether an earlier test of this worker had
    # imported it decided whether this test passed)
    import chalicelib.services.feed_chunks  # noqa: F401

    monkeypatch.setitem(__import__("sys").modules, "chalicelib.services.feed_import", fake)
    return fake


def _poller(env, **kw):
    return ImportPoller(env["IMPORT_QUEUE_URL"], env["IMPORT_FUNCTION_NAME"], wait_seconds=0, **kw)


def _drain(poller, rounds=10):
    return sum(poller.poll_once() for _ in range(rounds))


def test_upload_returns_before_the_import_runs_and_the_poller_delivers_it(local_aws, feed_service):
    poller = _poller(local_aws)
    _drain(poller)  # the s3:TestEvent sent when the notification was configured
    assert feed_service.calls == []

    _client("s3").put_object(Bucket=local_aws["FEEDS_BUCKET"], Key="feeds/s1/my feed.yml", Body=b"x")
    _client("s3").put_object(Bucket=local_aws["FEEDS_BUCKET"], Key="reports/s1/r.json", Body=b"x")
    assert feed_service.calls == []  # asynchronous, as on AWS: nothing ran inside PutObject

    assert _drain(poller) == 1
    assert feed_service.calls == [(local_aws["FEEDS_BUCKET"], "feeds/s1/my feed.yml")]
    assert poller.delivered >= 1 and poller.failed == 0
    attrs = _client("sqs").get_queue_attributes(QueueUrl=local_aws["IMPORT_QUEUE_URL"], AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_failed_import_is_retried_then_parked_in_the_dead_letter_queue(local_aws, feed_service):
    poller = _poller(local_aws, retry_delay=0)
    _drain(poller)
    feed_service.fail = True

    _client("s3").put_object(Bucket=local_aws["FEEDS_BUCKET"], Key="feeds/s1/bad.yml", Body=b"x")
    _drain(poller, rounds=res.IMPORT_QUEUE_MAX_RECEIVES + 3)

    assert len(feed_service.calls) == res.IMPORT_QUEUE_MAX_RECEIVES
    parked = _client("sqs").receive_message(QueueUrl=local_aws["IMPORT_DLQ_URL"], MaxNumberOfMessages=10)
    assert [unquote_plus(json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"]) for m in parked["Messages"]] == [
        "feeds/s1/bad.yml"
    ]


# --- (c) DynamoDB serialized --------------------------------------------------------------


def test_dynamodb_requests_wait_for_the_lock(local_aws):
    ddb = _client("dynamodb")
    table = local_aws["CATALOG_TABLE"]
    done = threading.Event()

    def call():
        ddb.get_item(TableName=table, Key={"PK": {"S": "a"}, "SK": {"S": "b"}})
        done.set()

    with patches.DYNAMODB_LOCK:
        worker = threading.Thread(target=call)
        worker.start()
        assert not done.wait(0.5), "a DynamoDB request ran while the lock was held: the patch is not applied"
    assert done.wait(10)
    worker.join()


def test_concurrent_buyers_of_the_last_unit_have_exactly_one_winner(local_aws):
    ddb = _client("dynamodb")
    table = local_aws["CATALOG_TABLE"]

    def buy(pk: str) -> bool:
        try:
            ddb.update_item(
                TableName=table,
                Key={"PK": {"S": pk}, "SK": {"S": "STOCK"}},
                UpdateExpression="SET stock = stock - :one",
                ConditionExpression="stock >= :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            return True
        except ddb.exceptions.ConditionalCheckFailedException:
            return False

    with ThreadPoolExecutor(max_workers=20) as pool:
        for round_ in range(5):
            pk = f"P#{round_}"
            ddb.put_item(TableName=table, Item={"PK": {"S": pk}, "SK": {"S": "STOCK"}, "stock": {"N": "1"}})
            wins = sum(pool.map(buy, [pk] * 20))
            stock = ddb.get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": "STOCK"}})["Item"]["stock"]
            assert (wins, stock) == (1, {"N": "0"})


# --- (e) X-Ray: traced calls recorded in memory ------------------------------------------


def test_dynamodb_call_through_clients_records_an_xray_subsegment(local_aws, monkeypatch):
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder

    from chalicelib import clients

    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "true")
    global_sdk_config.set_sdk_enabled(True)
    # aws-xray-sdk skips patching while disabled (as in every other test): patch now
    monkeypatch.setattr(clients, "_patched", False)
    emitter = patches.RecordingEmitter()
    saved_emitter = xray_recorder._emitter
    xray_recorder.configure(emitter=emitter, sampling=False, context_missing="LOG_ERROR")
    clients.reset()
    try:
        segment = xray_recorder.begin_segment("test")
        clients.dynamodb().describe_table(TableName=local_aws["CATALOG_TABLE"])
        xray_recorder.end_segment()
    finally:
        monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
        global_sdk_config.set_sdk_enabled(False)
        xray_recorder._emitter = saved_emitter
        clients.reset()
    names = [sub.name for sub in segment.subsegments]
    assert "dynamodb" in names, names
    assert emitter.segments and emitter.segments[-1] is segment


def test_concurrent_requests_each_see_their_own_request():
    """Chalice keeps the request on the app; the threaded local server needs it per thread,
    or one customer's request could be served with another's Authorization header."""
    import threading

    from app import app
    from local import patches

    patches.per_thread_current_request()
    barrier = threading.Barrier(2)
    seen = {}

    def serve(name):
        app.current_request = name
        barrier.wait()  # both threads have now set "their" request
        seen[name] = app.current_request

    threads = [threading.Thread(target=serve, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"alice": "alice", "bob": "bob"}


def test_a_task_token_callback_is_answered_while_another_execution_is_starting(local_aws, monkeypatch):
    """Another order's execution that has been started but whose interpreter thread has not
    run yet must not turn a customer's or seller's action into a crash: the callback gets
    AWS's answer (here ``InvalidToken``: nothing waits on that token)."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    sfn = _client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"starting-{uuid.uuid4().hex[:6]}", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    monkeypatch.setattr(ExecutionWorker, "start", lambda self: None)  # started, thread not yet run
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    for call in (lambda: sfn.send_task_success(taskToken="no-such-token", output="{}"),
                 lambda: sfn.send_task_heartbeat(taskToken="no-such-token")):
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "InvalidToken"


def test_a_path_no_route_has_is_a_404_problem_document():
    from chalice.config import Config
    from chalice.local import LocalGateway

    from app import app
    from chalicelib.config import settings
    from chalicelib.errors import no_route_problem

    patches.unknown_paths_are_problem_404()
    gateway = LocalGateway(app, Config(chalice_stage="local"))
    for headers in ({}, {"Authorization": "Bearer x"}):
        resp = gateway.handle_request(method="GET", path="/no/such/route", headers=headers, body=b"")
        assert resp["statusCode"] == 404
        assert resp["headers"]["Content-Type"] == "application/problem+json"
        assert json.loads(resp["body"]) == no_route_problem(settings().public_base_url)
        assert json.loads(resp["body"])["type"] == settings().public_base_url + "/problems/not-found"


def test_path_parameters_reach_the_handler_decoded_as_on_api_gateway():
    from chalice.local import RouteMatcher

    patches.path_parameters_are_decoded()
    matcher = RouteMatcher(["/wallet/transactions/{transaction_id}", "/products/{product_id}"])
    found = matcher.match_route("/wallet/transactions/topup%3Aab%20c?limit=1")
    assert (found.route, found.captured) == ("/wallet/transactions/{transaction_id}", {"transaction_id": "topup:ab c"})
    assert matcher.match_route("/products/p1").captured == {"product_id": "p1"}


def test_local_server_accepts_bursts_of_connections():
    from chalice import local as chalice_local

    from local import patches

    patches.larger_listen_backlog()
    assert chalice_local.ThreadedHTTPServer.request_queue_size >= 200


def _txn_table():
    import boto3

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="txn", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
    ddb.put_item(TableName="txn", Item={"PK": {"S": "stock"}, "n": {"N": "1"}, "label": {"S": "x"}})
    return ddb


def test_transaction_with_a_failed_condition_writes_nothing():
    import pytest
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from local import patches

    patches.item_level_transactions()
    with mock_aws():
        ddb = _txn_table()
        with pytest.raises(ClientError) as err:
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "txn", "Item": {"PK": {"S": "order"}}}},
                {"Update": {"TableName": "txn", "Key": {"PK": {"S": "stock"}}, "UpdateExpression": "SET n = n - :q",
                            "ConditionExpression": "n >= :q", "ExpressionAttributeValues": {":q": {"N": "2"}}}},
            ])
        reasons = [r["Code"] for r in err.value.response["CancellationReasons"]]
        assert reasons == ["None", "ConditionalCheckFailed"]
        assert "Item" not in ddb.get_item(TableName="txn", Key={"PK": {"S": "order"}})
        assert ddb.get_item(TableName="txn", Key={"PK": {"S": "stock"}})["Item"]["n"] == {"N": "1"}


def test_transaction_failing_while_writing_rolls_back_what_it_wrote():
    import pytest
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from local import patches

    patches.item_level_transactions()
    with mock_aws():
        ddb = _txn_table()
        with pytest.raises(ClientError):
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "txn", "Item": {"PK": {"S": "order"}}}},
                # passes its (absent) condition, then fails to apply: label is a string
                {"Update": {"TableName": "txn", "Key": {"PK": {"S": "stock"}},
                            "UpdateExpression": "SET label = label + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ])
        assert "Item" not in ddb.get_item(TableName="txn", Key={"PK": {"S": "order"}})


def test_transactions_do_not_copy_tables(monkeypatch):
    import copy

    from moto import mock_aws
    from moto.dynamodb.models.table import Table

    from local import patches

    patches.item_level_transactions()
    copied = []
    real = copy.deepcopy

    def spy(obj, *a, **kw):
        if isinstance(obj, Table):
            copied.append(obj.name)
        return real(obj, *a, **kw)

    monkeypatch.setattr(copy, "deepcopy", spy)
    with mock_aws():
        ddb = _txn_table()
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "txn", "Key": {"PK": {"S": "stock"}}, "UpdateExpression": "SET n = n - :q",
                        "ConditionExpression": "n >= :q", "ExpressionAttributeValues": {":q": {"N": "1"}}}},
        ])
        assert ddb.get_item(TableName="txn", Key={"PK": {"S": "stock"}})["Item"]["n"] == {"N": "0"}
    assert copied == []


def test_a_put_labelled_as_a_form_is_stored_as_its_bytes():
    """``curl -X PUT --data-binary`` labels a feed as a form; S3 keeps the bytes (moto's
    server lost them, and waited forever for a body that is not UTF-8)."""
    import requests
    from moto.server import ThreadedMotoServer

    patches.put_bodies_are_raw_bytes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="feeds")
        body = "Артикул;Название\nA-1;Кроссовки & стельки=2\n".encode("cp1251")
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "feeds", "Key": "f.csv"}, ExpiresIn=60)
        resp = requests.put(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"},
                            timeout=10)
        assert resp.status_code == 200
        assert s3.get_object(Bucket="feeds", Key="f.csv")["Body"].read() == body
    finally:
        server.stop()
