"""The deploy template: what ``make package`` builds is valid, least-privilege and the same
infrastructure as ``infra/resources.py`` (and so as the local stack).

The package is built once per test session (``chalice package`` with the generated merge
template), then linted as written and after the SAM transform: only the transformed template
shows dependency cycles (docs/architecture.md, "Deploying").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from copy import deepcopy
from pathlib import Path

import pytest

from infra import resources as res
from infra import template as tpl

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"


@pytest.fixture(scope="session")
def package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package")
    merge = out / "merge-template.json"
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    made = subprocess.run([sys.executable, "-m", "infra.template", "--stage", STAGE, "--output", str(merge)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(
        [str(chalice), "package", "--pkg-format", "cloudformation", "--merge-template", str(merge),
         "--stage", STAGE, str(out / "package")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    subprocess.run([sys.executable, "-m", "infra.slim", str(out / "package" / "deployment.zip")],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return out / "package"


@pytest.fixture(scope="session")
def sam(package) -> dict:
    return json.loads((package / "sam.json").read_text())


@pytest.fixture(scope="session")
def transformed(sam, monkeypatch_session) -> dict:
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    template = deepcopy(sam)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/deployment.zip"  # the translator needs S3
    return transform(template, {}, NoManagedPolicies())


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield mp
    mp.undo()


def _lint(template: dict) -> list[str]:
    from cfnlint.api import lint

    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
            for m in lint(json.dumps(template), regions=["us-east-1"])]


def test_sam_template_passes_cfn_lint(sam):
    assert _lint(sam) == []


def test_transformed_template_passes_cfn_lint(transformed):
    # includes E3004: no circular dependency (function env <-> state machine)
    assert _lint(transformed) == []


def _resources(template: dict, type_: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _statements(template: dict):
    for name, role in _resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, policy in _resources(template, "AWS::SQS::QueuePolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_iam_statement_allows_every_action_or_any_resource_it_could_scope(transformed):
    from cfnlint.data.AdditionalSpecs import __file__ as specs

    policies = json.loads((Path(specs).parent / "Policies.json").read_text())
    seen = 0
    for role, statement in _statements(transformed):
        seen += 1
        actions = _as_list(statement["Action"])
        assert all(a != "*" and not a.endswith(":*") for a in actions), (role, actions)
        if "*" in _as_list(statement["Resource"]):
            for action in actions:
                service, _, name = action.partition(":")
                scopable = policies[service]["Actions"][name.lower()].get("Resources", [])
                assert not scopable, f"{role}: {action} can be scoped to {scopable}, not '*'"
    assert seen > 10


def test_every_function_runs_with_its_own_role_and_this_stacks_resources(sam):
    functions = _resources(sam, "AWS::Serverless::Function")
    assert {spec["logical_id"] for spec in res.FUNCTIONS.values()} == set(functions)
    for chalice_name, spec in res.FUNCTIONS.items():
        props = functions[spec["logical_id"]]["Properties"]
        assert props["Role"] == {"Fn::GetAtt": [f"{spec['logical_id']}Role", "Arn"]}
        assert props["FunctionName"] == f"{res.APP_NAME}-{STAGE}-{chalice_name}"
        env = props["Environment"]["Variables"]
        assert env["STAGE"] == STAGE
        for logical_id, table in res.TABLES.items():
            assert env[table["env"]] == {"Ref": logical_id}
        # never the value, not even resolved at deploy time: the secret's ARN, read at run time
        assert env["LINK_SECRET_ID"] == {"Ref": "LinkSecret"} and "LINK_SECRET" not in env
        role = sam["Resources"][f"{spec['logical_id']}Role"]["Properties"]["Policies"][0]["PolicyDocument"]
        assert {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": {"Ref": "LinkSecret"}} \
            in role["Statement"]
        machine = sam["Resources"]["OrderStateMachine"]["Properties"]["StateMachineName"]
        assert env["ORDER_STATE_MACHINE_ARN"]["Fn::Sub"].endswith(f":stateMachine:{machine}")
    queue = functions["ImportFeed"]["Properties"]["Events"]["ImportFeedSqsEventSource"]["Properties"]["Queue"]
    assert list(queue) == ["Fn::Sub"] and "${ImportQueue.QueueName}" in queue["Fn::Sub"]


def test_every_table_is_in_the_template_with_the_same_keys_and_indexes(sam):
    tables = _resources(sam, "AWS::DynamoDB::Table")
    assert set(tables) == set(res.TABLES)
    for logical_id, spec in res.TABLES.items():
        props = tables[logical_id]["Properties"]
        assert props["KeySchema"] == spec["props"]["KeySchema"]
        assert props.get("GlobalSecondaryIndexes", []) == spec["props"].get("GlobalSecondaryIndexes", [])
        assert props.get("TimeToLiveSpecification") == spec["props"].get("TimeToLiveSpecification")


def test_uploads_under_the_feeds_prefix_notify_the_import_queue_with_a_dead_letter_queue(sam):
    bucket = sam["Resources"]["FeedsBucket"]
    (notification,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": [res.IMPORT_QUEUE_ID, "Arn"]}
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": res.FEEDS_PREFIX}]
    queue = sam["Resources"][res.IMPORT_QUEUE_ID]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == res.IMPORT_QUEUE_MAX_RECEIVES
    assert queue["VisibilityTimeout"] >= res.FUNCTIONS[res.IMPORT_FUNCTION]["timeout"]
    assert f"{res.IMPORT_QUEUE_ID}Policy" in bucket["DependsOn"]


def test_the_import_function_sends_a_big_feeds_chunks_to_its_own_queue_and_runs_them_in_parallel(sam):
    from chalicelib.services import feed_chunks

    function = sam["Resources"]["ImportFeed"]["Properties"]
    env = function["Environment"]["Variables"]
    assert env["IMPORT_QUEUE_URL"] == {"Ref": res.IMPORT_QUEUE_ID}
    assert int(env["IMPORT_CHUNK_OFFERS"]) == res.IMPORT_CHUNK_OFFERS > 0
    source = function["Events"]["ImportFeedSqsEventSource"]["Properties"]
    assert source["ScalingConfig"]["MaximumConcurrency"] >= 2  # chunks run at once
    statements = [s for name, s in _statements(sam) if name == "ImportFeedRole"]
    assert any(s["Action"] == ["sqs:SendMessage"] and s["Resource"] == {"Fn::GetAtt": [res.IMPORT_QUEUE_ID, "Arn"]}
               for s in statements)
    chunk_objects = [s for s in statements if "s3:PutObject" in s["Action"]
                     and json.dumps(s["Resource"]).endswith(f'/{res.CHUNKS_PREFIX}*"}}')]
    assert chunk_objects and res.CHUNKS_PREFIX == feed_chunks.CHUNKS_PREFIX
    # a failed chunk is retried, and fails the import before the queue parks its message
    assert feed_chunks.CHUNK_ATTEMPTS < res.IMPORT_QUEUE_MAX_RECEIVES
    rules = {r["Prefix"]: r for r in sam["Resources"]["FeedsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules[res.CHUNKS_PREFIX]["ExpirationInDays"] >= 1
    for name, spec in res.FUNCTIONS.items():  # no other function gets the queue
        if name != res.IMPORT_FUNCTION:
            assert "IMPORT_QUEUE_URL" not in sam["Resources"][spec["logical_id"]]["Properties"]["Environment"][
                "Variables"]


def test_state_machine_is_the_asl_file_with_every_placeholder_substituted(sam):
    machine = sam["Resources"]["OrderStateMachine"]["Properties"]
    assert machine["Definition"] == res.state_machine_definition()
    assert set(machine["DefinitionSubstitutions"]) == res.definition_placeholders(machine["Definition"])


def test_return_state_machine_is_its_asl_file_traced_logged_and_alarmed(sam):
    machine = sam["Resources"]["ReturnStateMachine"]["Properties"]
    assert machine["Definition"] == res.return_state_machine_definition()
    function = {"Fn::GetAtt": ["ReturnWorkflow", "Arn"]}
    assert machine["DefinitionSubstitutions"] == {"ReturnWorkflowFunctionArn": function}
    assert machine["StateMachineType"] == "STANDARD" and machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["RoleArn"] == {"Fn::GetAtt": ["ReturnStateMachineRole", "Arn"]}
    logging = machine["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False
    group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert sam["Resources"][group]["Properties"]["LogGroupName"].endswith(machine["StateMachineName"])
    role = sam["Resources"]["ReturnStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert [s for s in role["Statement"] if "lambda:InvokeFunction" in s["Action"]] == [{
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunction"],
        "Resource": [{"Fn::GetAtt": ["ReturnWorkflow", "Arn"]}, {"Fn::Sub": "${ReturnWorkflow.Arn}:*"}],
    }]
    alarm = sam["Resources"]["ReturnWorkflowFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"][0]["Value"]["Fn::Sub"].endswith(f":stateMachine:{machine['StateMachineName']}")
    # whoever starts or wakes a return's execution may do so on that machine only
    for chalice_name in (res.API_FUNCTION, res.RETURN_WORKFLOW_FUNCTION, res.RECONCILE_FUNCTION):
        fn = sam["Resources"][res.FUNCTIONS[chalice_name]["logical_id"]]["Properties"]
        assert fn["Environment"]["Variables"]["RETURN_STATE_MACHINE_ARN"]["Fn::Sub"].endswith(
            f":stateMachine:{machine['StateMachineName']}")
        logical_id = res.FUNCTIONS[chalice_name]["logical_id"]
        statements = sam["Resources"][f"{logical_id}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        starts = [st["Resource"]["Fn::Sub"] for st in statements if st["Action"] == ["states:StartExecution"]]
        assert any(arn.endswith(f":stateMachine:{machine['StateMachineName']}") for arn in starts), chalice_name


def _check_states(scope: dict, where: str) -> list[str]:
    problems = []
    states = scope.get("States", {})
    if scope.get("StartAt") not in states:
        problems.append(f"{where}: StartAt {scope.get('StartAt')!r} is not a state")
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        targets += [c.get("Next") for c in state.get("Catch", [])]
        for target in filter(None, targets):
            if target not in states:
                problems.append(f"{where}.{name}: transition to unknown state {target!r}")
        terminal = state.get("End") or state["Type"] in ("Choice", "Succeed", "Fail")
        if not terminal and not state.get("Next"):
            problems.append(f"{where}.{name}: neither Next nor End")
        for i, branch in enumerate(state.get("Branches", [])):
            problems += _check_states(branch, f"{where}.{name}.Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                problems += _check_states(state[key], f"{where}.{name}.{key}")
    return problems


def test_every_state_machine_transition_target_exists():
    assert _check_states(res.state_machine_definition(), "order") == []
    assert _check_states(res.return_state_machine_definition(), "return") == []


def test_transition_check_finds_a_dangling_target():
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}
    assert _check_states(broken, "x") == ["x.A: transition to unknown state 'B'"]


def test_state_machine_role_may_invoke_only_the_workflow_function(sam):
    role = sam["Resources"]["OrderStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    invoke = [s for s in role["Statement"] if "lambda:InvokeFunction" in s["Action"]]
    assert invoke == [{
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunction"],
        "Resource": [{"Fn::GetAtt": ["OrderWorkflow", "Arn"]}, {"Fn::Sub": "${OrderWorkflow.Arn}:*"}],
    }]


def test_unknown_task_resource_is_an_error_not_a_silent_grant():
    with pytest.raises(ValueError, match="no IAM grant"):
        tpl._classify("arn:aws:states:::aws-sdk:s3:deleteBucket", {"lambda": set(), "dynamodb": set(), "ses": set()})


PACKAGE_GOAL_BYTES = 6_000_000  # the package goal (docs/architecture.md)


def test_lambda_package_holds_the_app_and_no_tooling(package):
    names = zipfile.ZipFile(package / "deployment.zip").namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {"app.py", "chalicelib", "pydantic_core", "jwt", "aws_xray_sdk"} <= tops
    for dev_only in ("moto", "pytest", "boto3", "botocore", "cfnlint", "samtranslator", "infra", "local", "tests",
                     "cryptography", "cffi", "pycparser"):
        assert dev_only not in tops, dev_only
    assert not [n for n in names if ".dist-info/" in n or "__pycache__" in n or n.endswith((".pyc", ".pyi"))]
    assert "chalicelib/events/names.py" in names
    size = (package / "deployment.zip").stat().st_size
    print(f"\nLambda package: {size / 1e6:.2f} MB zipped (goal {PACKAGE_GOAL_BYTES / 1e6:.0f} MB)")
    assert size <= PACKAGE_GOAL_BYTES


def test_the_package_alone_imports_the_app_serves_the_docs_and_verifies_tokens(package, tmp_path):
    """The zip with only what the Lambda runtime adds (boto3 and its tree), no site-packages:
    everything a request needs is in it — no cryptography for the tokens, Swagger UI for /docs."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.slim import RUNTIME_PROVIDED

    code = tmp_path / "code"
    zipfile.ZipFile(package / "deployment.zip").extractall(code)
    runtime = tmp_path / "runtime"  # what the Lambda Python runtime provides
    runtime.mkdir()
    site = Path(jwt.__file__).parents[1]
    for name in RUNTIME_PROVIDED:
        for candidate in (site / name, site / f"{name}.py"):
            if candidate.exists():
                (runtime / candidate.name).symlink_to(candidate)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    now = int(time.time())
    token = jwt.encode({"sub": "u", "iss": "i", "iat": now, "exp": now + 60}, key, algorithm="RS256")
    script = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('cryptography') is None\n"
        "import app\n"
        "from chalicelib.api import openapi, rs256\n"
        "assert 'SwaggerUIBundle' in openapi.asset('swagger-ui-bundle.js') and openapi.asset('swagger-ui.css')\n"
        "assert '/seller/feeds' in openapi.document()\n"
        "key = rs256.PublicKey(int(sys.argv[1]), int(sys.argv[2]))\n"
        "print(rs256.decoder().decode(sys.argv[3], key, algorithms=['RS256'], issuer='i')['sub'])\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{code}{os.pathsep}{runtime}",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_XRAY_SDK_ENABLED": "false", "MARKETPLACE_LOCAL": "1"}
    done = subprocess.run([sys.executable, "-S", "-c", script, str(numbers.n), str(numbers.e), token],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "u"


def test_every_function_declares_the_runtime_its_vendored_wheels_were_built_for(sam, package):
    """Chalice packages for the Python running it; the template says the runtime explicitly,
    and a package built by another Python is refused before it exists (``runtime_check``)."""
    from chalice.config import Config

    functions = _resources(sam, "AWS::Serverless::Function")
    assert {f["Properties"]["Runtime"] for f in functions.values()} == {res.LAMBDA_RUNTIME}
    assert Config().lambda_python_version == res.LAMBDA_RUNTIME  # what chalice vendored wheels for
    abi = "cpython-" + res.LAMBDA_RUNTIME.removeprefix("python").replace(".", "")
    binaries = [n for n in zipfile.ZipFile(package / "deployment.zip").namelist() if n.endswith(".so")]
    assert any(abi in n for n in binaries if n.startswith("pydantic_core/")), binaries
    assert f"PYTHON ?= {res.LAMBDA_RUNTIME}" in (ROOT / "Makefile").read_text()
    assert tpl.runtime_check(tuple(map(int, res.LAMBDA_RUNTIME.removeprefix("python").split(".")))) is None
    assert "python3.14" in (tpl.runtime_check((3, 14)) or "")


def test_stages_configure_their_timeouts_and_prod_waits_48_hours_for_the_seller():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert set(config["stages"]) == {"local", "dev", "prod"} == set(res.STAGE_SETTINGS)
    prod = tpl.environment(tpl.Names("prod"))
    assert prod["SELLER_TIMEOUT_SECONDS"] == str(48 * 3600)
    assert prod["STAGE"] == "prod"
    # chalice.test.Client swaps a stage's environment_variables into os.environ per request
    assert "environment_variables" not in json.dumps(config)
    assert "LINK_SECRET" not in json.dumps(config)


def test_deploy_points_every_function_at_the_uploaded_zip(sam):
    from infra.deploy import with_code_location

    out = with_code_location(sam, "artifacts", "deployment.zip")
    uris = {r["Properties"]["CodeUri"] for r in _resources(out, "AWS::Serverless::Function").values()}
    assert uris == {"s3://artifacts/deployment.zip"}
    assert sam["Resources"]["APIHandler"]["Properties"]["CodeUri"] == "./deployment.zip"  # input untouched


def test_gateway_answers_unknown_paths_with_the_local_stacks_404_problem(sam):
    from chalicelib.errors import no_route_problem

    api = sam["Resources"]["RestAPI"]
    assert api["Type"] == "AWS::Serverless::Api"  # chalice's API, with our responses merged in
    responses = api["Properties"]["GatewayResponses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    # the problem's type is its page under the stack's public base URL, filled in by CloudFormation
    body = missing["ResponseTemplates"]["application/json"]["Fn::Sub"]
    assert json.loads(body) == no_route_problem("${PublicBaseUrl}")
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"):
        assert responses[kind]["ResponseParameters"]["Headers"]["Content-Type"] == "'application/problem+json'"
        template = responses[kind]["ResponseTemplates"]["application/json"]["Fn::Sub"]
        assert '"type": "${PublicBaseUrl}/problems/' in template


def test_feeds_bucket_lets_browsers_post_presigned_forms_and_nothing_else(sam):
    rules = sam["Resources"]["FeedsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [(r["AllowedMethods"], r["AllowedOrigins"]) for r in rules] == [(["POST"], ["*"])]



# --- operating it: logs, alarms, dashboard, email events, data safety ----------------------------


def test_every_alarm_of_the_table_notifies_the_on_call_topic(sam):
    from infra import operations as ops

    alarms = _resources(sam, "AWS::CloudWatch::Alarm")
    expected = ops.alarms(tpl.Names(STAGE))
    assert set(alarms) == set(expected)
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopicArn"}], name
        assert props["Threshold"] == expected[name].threshold
        assert props["AlarmDescription"]
    per_function = {f"{spec['logical_id']}{kind}Alarm" for spec in res.FUNCTIONS.values()
                    for kind in ("Errors", "Throttles")}
    assert per_function <= set(alarms)
    assert {"ImportDeadLettersAlarm", "Api5xxRateAlarm", "ApiLatencyP99Alarm", "WorkflowFailedAlarm",
            "WorkflowTimedOutAlarm", "EmailBounceRateAlarm", "EmailComplaintRateAlarm"} <= set(alarms)
    assert alarms["ApiLatencyP99Alarm"]["Properties"]["ExtendedStatistic"] == "p99"
    dlq = alarms["ImportDeadLettersAlarm"]["Properties"]["Dimensions"][0]["Value"]
    assert dlq == sam["Resources"][res.IMPORT_DLQ_ID]["Properties"]["QueueName"]
    api = alarms["Api5xxRateAlarm"]["Properties"]["Dimensions"][0]["Value"]
    assert api == sam["Resources"]["RestAPI"]["Properties"]["Name"]


def test_every_log_group_is_kept_only_as_long_as_the_parameter_says(sam):
    groups = _resources(sam, "AWS::Logs::LogGroup")
    functions = _resources(sam, "AWS::Serverless::Function")
    for logical_id, fn in functions.items():
        group = groups[f"{logical_id}LogGroup"]["Properties"]
        assert group["LogGroupName"] == f"/aws/lambda/{fn['Properties']['FunctionName']}"
        assert f"{logical_id}LogGroup" in fn["DependsOn"]  # created before the function can make its own
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    api = sam["Resources"]["RestAPI"]["Properties"]
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in api["AccessLogSetting"]["Format"]
    logging = sam["Resources"]["OrderStateMachine"]["Properties"]["LoggingConfiguration"]
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["WorkflowLogGroup", "Arn"]}
    assert logging["IncludeExecutionData"] is False  # no addresses or names in the logs


def test_email_events_feed_the_reputation_alarms_and_a_dashboard_exists(sam):
    destination = sam["Resources"]["EmailEventsToCloudWatch"]["Properties"]
    assert destination["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    assert {"bounce", "complaint"} <= set(destination["EventDestination"]["MatchingEventTypes"])
    # every function sends with the set (its name), and may: SES authorizes the set too
    name = sam["Resources"]["EmailConfigurationSet"]["Properties"]["Name"]
    for fn in _resources(sam, "AWS::Serverless::Function").values():
        assert fn["Properties"]["Environment"]["Variables"]["SES_CONFIGURATION_SET"] == {"Ref": "EmailConfigurationSet"}
    senders = [s for _, s in _statements(sam) if "ses:SendEmail" in _as_list(s["Action"])]
    assert senders and all(any(f"configuration-set/{name}" in json.dumps(r) for r in _as_list(s["Resource"]))
                           for s in senders)
    (board,) = _resources(sam, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(board["Properties"]["DashboardBody"]["Fn::Sub"])
    titles = {w["properties"]["title"] for w in body["widgets"]}
    assert {"Orders", "API", "Order workflow", "Email", "Import dead letters"} <= titles


def test_feeds_bucket_refuses_plain_http_and_forgets_old_files(sam):
    policy = sam["Resources"]["FeedsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = {r["Prefix"]: r for r in sam["Resources"]["FeedsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules[res.FEEDS_PREFIX]["ExpirationInDays"] > 0 and rules[res.REPORTS_PREFIX]["ExpirationInDays"] > 0


def test_prod_keeps_accounts_and_the_link_secret_when_the_stack_goes():
    prod, dev = tpl.build("prod")["Resources"], tpl.build("dev")["Resources"]
    for logical_id in ("UserPool", "LinkSecret"):
        assert prod[logical_id]["DeletionPolicy"] == "Retain"
        assert dev[logical_id]["DeletionPolicy"] == "Delete"


# --- the smoke deployment: the transformed template created in moto's CloudFormation -------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:on-call"


@pytest.fixture(scope="module")
def deployed(package, transformed):
    """The stack moto creates from the package (its zip uploaded to a moto bucket), and the
    resources it had to leave out (``tests/functional/stack_smoke.py``)."""
    import boto3
    from moto import mock_aws

    from tests.functional.stack_smoke import deployable

    template = deepcopy(transformed)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Code"] = {"S3Bucket": "deploys", "S3Key": "deployment.zip"}
    template, removed = deployable(template)
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for k in ("AWS_ENDPOINT_URL",):
            mp.delenv(k, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="deploys")
        s3.put_object(Bucket="deploys", Key="deployment.zip", Body=(package / "deployment.zip").read_bytes())
        cf = boto3.client("cloudformation", region_name="us-east-1")
        cf.create_stack(StackName="marketplace-dev", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"],
                        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (
                            ("SenderEmail", "no-reply@shop.example"), ("PublicBaseUrl", "https://shop.example"),
                            ("AlarmTopicArn", TOPIC))])
        yield {"cf": cf, "template": template, "removed": removed,
               "client": lambda service: boto3.client(service, region_name="us-east-1")}


def test_smoke_deployment_creates_every_resource_moto_supports(deployed):
    cf = deployed["cf"]
    stack = cf.describe_stacks(StackName="marketplace-dev")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    created = {r["LogicalResourceId"]: r for r in cf.list_stack_resources(StackName="marketplace-dev")
               ["StackResourceSummaries"]}
    assert set(created) == set(deployed["template"]["Resources"])
    assert {r["ResourceStatus"] for r in created.values()} == {"CREATE_COMPLETE"}
    from tests.functional.stack_smoke import MOTO_CANNOT

    documented = (ROOT / "docs" / "runbook.md").read_text()
    for type_ in {r["Type"] for r in deployed["removed"].values()} | MOTO_CANNOT:
        assert f"`{type_}`" in documented, f"{type_} is not created by moto: say in the runbook how it is checked"


def test_smoke_deployment_wires_tables_queues_functions_and_the_workflow(deployed):
    client = deployed["client"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               deployed["cf"].describe_stacks(StackName="marketplace-dev")["Stacks"][0]["Outputs"]}
    ddb = client("dynamodb")
    tables = {logical_id: name for name in ddb.list_tables()["TableNames"] for logical_id in res.TABLES
              if f"-{logical_id}-" in name}
    for logical_id, spec in res.TABLES.items():
        table = ddb.describe_table(TableName=tables[logical_id])["Table"]
        want = {i["IndexName"] for i in spec["props"].get("GlobalSecondaryIndexes", [])}
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == want, logical_id
    sqs = client("sqs")
    queue_url = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith(res.IMPORT_QUEUE_SUFFIX))
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f"{res.IMPORT_QUEUE_SUFFIX}-dlq")
    assert outputs["ImportDeadLetterQueueUrl"].endswith(f"{res.IMPORT_QUEUE_SUFFIX}-dlq")
    lam = client("lambda")
    functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    names = tpl.Names(STAGE)
    machine_arn = outputs["OrderStateMachineArn"]
    for chalice_name in res.FUNCTIONS:
        fn = functions[names.function(chalice_name)]
        env = fn["Environment"]["Variables"]
        assert env["ORDER_STATE_MACHINE_ARN"] == machine_arn
        assert env["COMMERCE_TABLE"] == tables["CommerceTable"]
        assert env["FEEDS_BUCKET"] == outputs["FeedsBucketName"]
    (mapping,) = lam.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["FunctionArn"].endswith(names.function(res.IMPORT_FUNCTION))
    machine = client("stepfunctions").describe_state_machine(stateMachineArn=machine_arn)
    # (moto's model reads only DefinitionString, so the substituted definition is checked by
    # test_state_machine_is_the_asl_file_with_every_placeholder_substituted instead)
    assert machine["roleArn"].startswith("arn:aws:iam::") and machine["type"] == "STANDARD"
    events = client("events")
    schedules = {}
    for rule in events.list_rules()["Rules"]:
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        schedules[target["Arn"]] = rule["ScheduleExpression"]
    assert schedules == {
        functions[names.function(res.RECONCILE_FUNCTION)]["FunctionArn"]: "rate(1 minute)",
        functions[names.function(res.FETCH_FEEDS_FUNCTION)]["FunctionArn"]: "rate(5 minutes)",
    }
    groups = {g["logGroupName"]: g for g in client("logs").describe_log_groups()["logGroups"]}
    for chalice_name in res.FUNCTIONS:
        assert groups[f"/aws/lambda/{names.function(chalice_name)}"]["retentionInDays"] == 30
    assert "OperationsDashboard" not in deployed["removed"]


def test_every_alarm_is_accepted_by_cloudwatch(deployed):
    """moto's CloudFormation has no alarm model: each alarm's properties go through
    PutMetricAlarm instead (the API the resource calls), with the stack's values filled in."""
    cw = deployed["client"]("cloudwatch")
    alarms = {k: v for k, v in deployed["removed"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms

    def resolve(value):
        if isinstance(value, dict) and value == {"Ref": "AlarmTopicArn"}:
            return TOPIC
        if isinstance(value, dict) and "Fn::Sub" in value:
            return (value["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "us-east-1")
                    .replace("${AWS::AccountId}", "123456789012"))
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    for name, alarm in alarms.items():
        props = resolve(alarm["Properties"])
        cw.put_metric_alarm(AlarmName=name, **props)
    found = {a["AlarmName"]: a for a in cw.describe_alarms(MaxRecords=100)["MetricAlarms"]}
    assert set(found) == set(alarms)
    assert all(a["AlarmActions"] == [TOPIC] for a in found.values())
