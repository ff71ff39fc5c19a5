"""Creates every resource of ``infra/resources.py`` in an AWS endpoint (moto, locally).

Used by the local stack and by the functional tests, so both run on the same definitions as
the deploy template. Returns the environment the Lambdas need to find what it created.

``create_all``: the data plane (tables, user pool, bucket, SES identity).
``create_local_stack``: that plus the wiring ``python -m local`` needs: the import queue and
its dead-letter queue, the bucket's notification to the queue, one moto Lambda function per
Chalice event handler (run in-process by ``local/patches.py``) and the order state machine.
Works against a moto server (``endpoint``) and in-process under ``mock_aws`` (``None``).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

from infra import resources as res


def _client(service: str, endpoint: str | None, region: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def create_tables(endpoint: str | None, region: str, prefix: str) -> dict[str, str]:
    ddb = _client("dynamodb", endpoint, region)
    env = {}
    for logical_id, spec in res.TABLES.items():
        name = f"{prefix}-{logical_id}"
        ddb.create_table(**res.table_api_params(logical_id, name))
        if res.has_ttl(logical_id):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": res.TTL_ATTRIBUTE, "Enabled": True}
            )
        env[spec["env"]] = name
    return env


def create_user_pool(endpoint: str | None, region: str, prefix: str) -> dict[str, str]:
    idp = _client("cognito-idp", endpoint, region)
    pool_id = idp.create_user_pool(
        PoolName=f"{prefix}-users",
        Policies={"PasswordPolicy": res.PASSWORD_POLICY},
        UsernameAttributes=["email"],
        Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{prefix}-api",
        ExplicitAuthFlows=res.USER_POOL_CLIENT_FLOWS,
        GenerateSecret=False,
    )["UserPoolClient"]["ClientId"]
    for role in res.ROLES:
        idp.create_group(UserPoolId=pool_id, GroupName=role)
    return {"USER_POOL_ID": pool_id, "USER_POOL_CLIENT_ID": client_id}


def create_bucket(endpoint: str | None, region: str, prefix: str) -> dict[str, str]:
    s3 = _client("s3", endpoint, region)
    name = f"{prefix}-feeds".lower()
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_cors(Bucket=name, CORSConfiguration=res.feeds_cors_api())
    return {"FEEDS_BUCKET": name}


def create_ses_identity(endpoint: str | None, region: str, sender: str) -> dict[str, str]:
    _client("ses", endpoint, region).verify_email_identity(EmailAddress=sender)
    _client("sesv2", endpoint, region).create_email_identity(EmailIdentity=sender)
    return {"SES_SENDER": sender}


def create_ses_configuration_set(endpoint: str | None, region: str, prefix: str) -> dict[str, str]:
    """The set every email names, as the template's ``EmailConfigurationSet`` (the emulator keeps
    no events: sends, bounces and complaints reach CloudWatch only on AWS)."""
    name = f"{prefix}-email"
    _client("sesv2", endpoint, region).create_configuration_set(ConfigurationSetName=name)
    return {"SES_CONFIGURATION_SET": name}


def create_all(endpoint: str | None = None, region: str = "us-east-1", prefix: str = "mp") -> dict[str, str]:
    """The data plane every test and the local run need (the local stack adds the queue,
    the notification, the functions and the state machine on top)."""
    env: dict[str, str] = {}
    env.update(create_tables(endpoint, region, prefix))
    env.update(create_user_pool(endpoint, region, prefix))
    env.update(create_bucket(endpoint, region, prefix))
    env.update(create_ses_identity(endpoint, region, res.SES_SENDER_LOCAL))
    env.update(create_ses_configuration_set(endpoint, region, prefix))
    return env


def create_import_queue(endpoint: str | None, region: str, prefix: str) -> dict[str, str]:
    sqs = _client("sqs", endpoint, region)
    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-{res.IMPORT_QUEUE_SUFFIX}-dlq",
        Attributes={k: str(v) for k, v in res.dead_letter_queue_properties().items()},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    props = res.import_queue_properties(dlq_arn)
    url = sqs.create_queue(
        QueueName=f"{prefix}-{res.IMPORT_QUEUE_SUFFIX}",
        Attributes={
            "VisibilityTimeout": str(props["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(props["RedrivePolicy"]),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"IMPORT_QUEUE_URL": url, "IMPORT_QUEUE_ARN": arn, "IMPORT_DLQ_URL": dlq_url}


def create_feed_notification(endpoint: str | None, region: str, bucket: str, queue_arn: str) -> None:
    """Uploads under ``feeds/`` notify the import queue (as the template's bucket does)."""
    _client("s3", endpoint, region).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": list(res.FEEDS_NOTIFICATION_EVENTS),
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": res.FEEDS_NOTIFICATION_PREFIX}]}},
                }
            ]
        },
    )


def _placeholder_zip() -> bytes:
    # moto needs code to create a function; the local stack never runs it (the handler
    # string is resolved in-process, see local/patches.py).
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "Runs in-process: see local/patches.py\n")
    return buf.getvalue()


def function_name(prefix: str, chalice_name: str) -> str:
    return f"{prefix}-{chalice_name}"


def create_functions(endpoint: str | None, region: str, prefix: str, env: dict[str, str]) -> dict[str, str]:
    """One moto function per Chalice event handler (the API handler is served by the dev
    server instead). Returns ``{chalice name: function ARN}``."""
    role = _client("iam", endpoint, region).create_role(
        RoleName=f"{prefix}-lambda",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    lam = _client("lambda", endpoint, region)
    code = _placeholder_zip()
    arns = {}
    for name, spec in res.FUNCTIONS.items():
        if name == res.API_FUNCTION:
            continue
        arns[name] = lam.create_function(
            FunctionName=function_name(prefix, name),
            Runtime=res.LAMBDA_RUNTIME,
            Role=role,
            Handler=spec["handler"],
            Code={"ZipFile": code},
            Timeout=spec["timeout"],
            MemorySize=spec["memory"],
            # informational: in one process the handlers read the process environment
            Environment={"Variables": env},
        )["FunctionArn"]
    return arns


def state_machine_arn(endpoint: str | None, region: str, prefix: str) -> str:
    """Known before the machine exists, as in the template (``Fn::Sub`` from a fixed name):
    the functions' environment needs it and the machine needs the functions' ARNs."""
    account = _client("sts", endpoint, region).get_caller_identity()["Account"]
    return f"arn:aws:states:{region}:{account}:stateMachine:{res.state_machine_name(prefix)}"


def return_state_machine_arn(endpoint: str | None, region: str, prefix: str) -> str:
    account = _client("sts", endpoint, region).get_caller_identity()["Account"]
    return f"arn:aws:states:{region}:{account}:stateMachine:{res.return_state_machine_name(prefix)}"


def create_return_state_machine(endpoint: str | None, region: str, prefix: str, function_arns: dict[str, str]
                                ) -> str:
    """The return workflow (``statemachines/return.asl.json``), as the template defines it."""
    values = {placeholder: function_arns[fn] for placeholder, fn in res.RETURN_STATE_MACHINE_SUBSTITUTIONS.items()}
    definition = res.substitute(res.return_state_machine_definition(), values)
    role = _states_role(endpoint, region, f"{prefix}-return-states")
    return _client("stepfunctions", endpoint, region).create_state_machine(
        name=res.return_state_machine_name(prefix), definition=json.dumps(definition), roleArn=role, type="STANDARD"
    )["stateMachineArn"]


def create_state_machine(endpoint: str | None, region: str, prefix: str, function_arns: dict[str, str]) -> str:
    values = {placeholder: function_arns[fn] for placeholder, fn in res.STATE_MACHINE_SUBSTITUTIONS.items()}
    definition = res.substitute(res.state_machine_definition(), values)
    role = _states_role(endpoint, region, f"{prefix}-states")
    return _client("stepfunctions", endpoint, region).create_state_machine(
        name=res.state_machine_name(prefix), definition=json.dumps(definition), roleArn=role, type="STANDARD"
    )["stateMachineArn"]


def _states_role(endpoint: str | None, region: str, name: str) -> str:
    iam = _client("iam", endpoint, region)
    return iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]


def create_local_stack(endpoint: str | None = None, region: str = "us-east-1", prefix: str = "mp") -> dict[str, str]:
    """Everything ``python -m local`` runs on. Returns the app's environment plus the names
    of the wiring (queue URLs, function names) under keys the app does not read."""
    env = create_all(endpoint, region, prefix)
    env["ORDER_STATE_MACHINE_ARN"] = state_machine_arn(endpoint, region, prefix)
    env["RETURN_STATE_MACHINE_ARN"] = return_state_machine_arn(endpoint, region, prefix)
    env.update(create_import_queue(endpoint, region, prefix))
    create_feed_notification(endpoint, region, env["FEEDS_BUCKET"], env["IMPORT_QUEUE_ARN"])
    arns = create_functions(endpoint, region, prefix, env)
    created = create_state_machine(endpoint, region, prefix, arns)
    if created != env["ORDER_STATE_MACHINE_ARN"]:
        raise RuntimeError(f"state machine ARN {created} differs from the precomputed {env['ORDER_STATE_MACHINE_ARN']}")
    created = create_return_state_machine(endpoint, region, prefix, arns)
    if created != env["RETURN_STATE_MACHINE_ARN"]:
        raise RuntimeError(f"return state machine ARN {created} differs from the precomputed "
                           f"{env['RETURN_STATE_MACHINE_ARN']}")
    env["LAMBDA_ROLE_ARN"] = _client("iam", endpoint, region).get_role(RoleName=f"{prefix}-lambda")["Role"]["Arn"]
    env["IMPORT_FUNCTION_NAME"] = function_name(prefix, res.IMPORT_FUNCTION)
    env["WORKFLOW_FUNCTION_NAME"] = function_name(prefix, res.WORKFLOW_FUNCTION)
    env["RETURN_WORKFLOW_FUNCTION_NAME"] = function_name(prefix, res.RETURN_WORKFLOW_FUNCTION)
    env["RECONCILE_FUNCTION_NAME"] = function_name(prefix, res.RECONCILE_FUNCTION)
    env["FETCH_FEEDS_FUNCTION_NAME"] = function_name(prefix, res.FETCH_FEEDS_FUNCTION)
    return env
