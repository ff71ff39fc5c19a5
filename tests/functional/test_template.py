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
        # never a literal: a dynamic reference resolved by CloudFormation
        assert env["LINK_SECRET"] == {"Fn::Sub": "{{resolve:secretsmanager:${LinkSecret}:SecretString}}"}
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


def test_state_machine_is_the_asl_file_with_every_placeholder_substituted(sam):
    machine = sam["Resources"]["OrderStateMachine"]["Properties"]
    assert machine["Definition"] == res.state_machine_definition()
    assert set(machine["DefinitionSubstitutions"]) == res.definition_placeholders(machine["Definition"])


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


def test_lambda_package_holds_the_app_and_no_tooling(package):
    names = zipfile.ZipFile(package / "deployment.zip").namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {"app.py", "chalicelib", "pydantic_core", "jwt", "aws_xray_sdk"} <= tops
    for dev_only in ("moto", "pytest", "boto3", "botocore", "cfnlint", "samtranslator", "infra", "local", "tests"):
        assert dev_only not in tops, dev_only
    assert "chalicelib/events/names.py" in names
    assert (package / "deployment.zip").stat().st_size < 20_000_000


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
    assert json.loads(missing["ResponseTemplates"]["application/json"]) == no_route_problem()
    for kind in ("MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"):
        assert responses[kind]["ResponseParameters"]["Headers"]["Content-Type"] == "'application/problem+json'"


def test_feeds_bucket_lets_browsers_put_to_presigned_urls(sam):
    rules = sam["Resources"]["FeedsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [(r["AllowedMethods"], r["AllowedOrigins"]) for r in rules] == [(["PUT"], ["*"])]

