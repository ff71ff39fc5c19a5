"""The ``--merge-template`` for ``chalice package``: every resource of ``infra/resources.py``.

``chalice package`` emits the functions and the API; this template adds what they use (tables,
user pool, feeds bucket → import queue → dead-letter queue, SES identity, link secret, the
order and return state machines) and deep-merges into each Chalice function its name, memory, timeout,
environment and its own least-privilege role. Rules it keeps (docs/architecture.md, "Deploying"):

- Only merge where Chalice has a literal (the role placeholder of ``.chalice/config.json``,
  the SQS event's queue ARN); never replace an intrinsic Chalice wrote.
- No cycles: the state machine needs the workflow function's ARN, and every function's
  environment needs the state machine's ARN, so that one is built with ``Fn::Sub`` from the
  machine's fixed name. Only the transformed template shows such a cycle: the tests lint both.
- IAM: no ``*`` action; ``*`` resources only for actions AWS cannot scope (the tests check
  this against cfn-lint's table of actions and resource types).

``python -m infra.template --stage dev --output build/merge-template.json``
"""

from __future__ import annotations

import argparse
import json
import sys
from copy import deepcopy
from pathlib import Path
from typing import Any

from chalicelib.errors import no_route_problem
from infra import operations as ops
from infra import resources as res

PARTITION_ARN = "arn:${AWS::Partition}"
SECRET_NAME_SUFFIX = "link-secret"
DYNAMODB_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
# DynamoDB transactions are no IAM actions: the item actions inside them are.
TRANSACTION_ACTIONS = {
    "TransactWriteItems": ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                           "dynamodb:ConditionCheckItem"),
    "TransactGetItems": ("dynamodb:GetItem",),
}
# Actions AWS authorizes only on "*" (no resource types; cfn-lint's policy table agrees).
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                "xray:GetSamplingTargets")
# Vended log delivery (Step Functions execution logs): AWS authorizes these only on "*".
LOG_DELIVERY_ACTIONS = ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")
TASK_TOKEN_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat")


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _getatt(logical_id: str, attr: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attr]}


def _allow(actions: Any, resources: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resources}


def _policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def _assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


class Names:
    """Physical names the template fixes, so that ARNs can be built without references."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.prefix = f"{res.APP_NAME}-{stage}"

    def function(self, chalice_name: str) -> str:
        return f"{self.prefix}-{chalice_name}"

    @property
    def state_machine(self) -> str:
        return res.state_machine_name(self.prefix)

    @property
    def state_machine_arn(self) -> dict[str, str]:
        return _sub(f"{PARTITION_ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{self.state_machine}")

    @property
    def state_machine_arn_text(self) -> str:
        """The ARN as ``Fn::Sub`` text, for use inside a larger substituted string."""
        return f"{PARTITION_ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{self.state_machine}"

    @property
    def return_state_machine(self) -> str:
        return res.return_state_machine_name(self.prefix)

    @property
    def return_state_machine_arn(self) -> dict[str, str]:
        return _sub(f"{PARTITION_ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:"
                    f"{self.return_state_machine}")

    @property
    def return_state_machine_arn_text(self) -> str:
        return (f"{PARTITION_ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:"
                f"{self.return_state_machine}")

    @property
    def return_executions_arn(self) -> dict[str, str]:
        return _sub(f"{PARTITION_ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:"
                    f"{self.return_state_machine}:*")

    @property
    def api_name(self) -> str:
        """The REST API's name: the ``ApiName`` dimension of its metrics (alarms, dashboard)."""
        return f"{self.prefix}-api"

    @property
    def configuration_set(self) -> str:
        """The SES configuration set every email is sent with (``operations.email_events``)."""
        return f"{self.prefix}-email"

    @property
    def configuration_set_arn(self) -> dict[str, str]:
        region_account = "${AWS::Region}:${AWS::AccountId}"
        return _sub(f"{PARTITION_ARN}:ses:{region_account}:configuration-set/{self.configuration_set}")

    @property
    def executions_arn(self) -> dict[str, str]:
        return _sub(f"{PARTITION_ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:{self.state_machine}:*")

    @property
    def bucket(self) -> dict[str, str]:
        # lowercase and unique per account and region; fixed so the queue policy can name it
        return _sub(f"{self.prefix}-feeds-${{AWS::AccountId}}-${{AWS::Region}}")

    def bucket_arn(self, suffix: str = "") -> dict[str, str]:
        return _sub(f"{PARTITION_ARN}:s3:::{self.prefix}-feeds-${{AWS::AccountId}}-${{AWS::Region}}{suffix}")

    def log_group_arn(self, chalice_name: str) -> dict[str, str]:
        return _sub(
            f"{PARTITION_ARN}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{self.function(chalice_name)}"
        )


SENDER_IDENTITY_ARN = _sub(f"{PARTITION_ARN}:ses:${{AWS::Region}}:${{AWS::AccountId}}:identity/${{SenderEmail}}")


def _table_arns(tables: tuple[str, ...]) -> list[Any]:
    arns: list[Any] = []
    for logical_id in tables:
        arns.append(_getatt(logical_id))
        arns.append(_sub(f"${{{logical_id}.Arn}}/index/*"))
    return arns


# --- the resources -----------------------------------------------------------------------


def tables(stage: str) -> dict[str, Any]:
    policy = "Retain" if stage == "prod" else "Delete"
    return {
        logical_id: {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
            "Properties": deepcopy(spec["props"]),
        }
        for logical_id, spec in res.TABLES.items()
    }


def _kept_in_prod(stage: str) -> dict[str, str]:
    """Deleting the stack must not delete every account or the key of every emailed link."""
    policy = "Retain" if stage == "prod" else "Delete"
    return {"DeletionPolicy": policy, "UpdateReplacePolicy": policy}


def user_pool(names: Names) -> dict[str, Any]:
    out: dict[str, Any] = {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            **_kept_in_prod(names.stage),
            "Properties": {
                "UserPoolName": f"{names.prefix}-users",
                "Policies": {"PasswordPolicy": res.PASSWORD_POLICY},
                "UsernameAttributes": ["email"],
                # accounts are made only through the API (its checks, limits, verification email):
                # the pool refuses SignUp from anyone holding the public client id
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "Schema": [{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
            },
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "ClientName": f"{names.prefix}-api",
                "ExplicitAuthFlows": res.USER_POOL_CLIENT_FLOWS,
                "GenerateSecret": False,
                # a wrong email and a wrong password get the same answer (no user enumeration)
                "PreventUserExistenceErrors": "ENABLED",
            },
        },
    }
    for role in res.ROLES:
        # logical ids are alphanumeric: catalog_operator -> CatalogOperatorGroup
        out[f"{''.join(part.capitalize() for part in role.split('_'))}Group"] = {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": {"Ref": "UserPool"}, "GroupName": role},
        }
    return out


def feeds(names: Names) -> dict[str, Any]:
    queue, dlq = res.IMPORT_QUEUE_ID, res.IMPORT_DLQ_ID
    return {
        dlq: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{names.prefix}-{res.IMPORT_QUEUE_SUFFIX}-dlq",
                **res.dead_letter_queue_properties(),
                "SqsManagedSseEnabled": True,
            },
        },
        queue: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{names.prefix}-{res.IMPORT_QUEUE_SUFFIX}",
                **res.import_queue_properties(_getatt(dlq)),
                "SqsManagedSseEnabled": True,
            },
        },
        f"{queue}Policy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": queue}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "FeedUploadsFromTheBucket",
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": _getatt(queue),
                            "Condition": {
                                "ArnEquals": {"aws:SourceArn": names.bucket_arn()},
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                            },
                        }
                    ],
                },
            },
        },
        "FeedsBucket": {
            "Type": "AWS::S3::Bucket",
            # S3 checks it may send to the queue when the notification is created
            "DependsOn": [f"{queue}Policy"],
            "Properties": {
                "BucketName": names.bucket,
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "CorsConfiguration": {"CorsRules": res.FEEDS_CORS_RULES},
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {
                            "Event": event,
                            "Queue": _getatt(queue),
                            "Filter": {
                                "S3Key": {"Rules": [{"Name": "prefix", "Value": res.FEEDS_NOTIFICATION_PREFIX}]}
                            },
                        }
                        for event in res.FEEDS_NOTIFICATION_EVENTS
                    ]
                },
            },
        },
    }


def email_and_secret(names: Names) -> dict[str, Any]:
    return {
        "SenderIdentity": {"Type": "AWS::SES::EmailIdentity", "Properties": {"EmailIdentity": {"Ref": "SenderEmail"}}},
        "LinkSecret": {
            "Type": "AWS::SecretsManager::Secret",
            **_kept_in_prod(names.stage),
            "Properties": {
                "Name": f"{names.prefix}-{SECRET_NAME_SUFFIX}",
                "Description": "Signs the action links in emails; the functions read it at run time (LINK_SECRET_ID).",
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            },
        },
    }


def _task_permissions(definition: dict[str, Any], function_arns: list[Any]) -> list[dict[str, Any]]:
    """IAM statements for every Task ``Resource`` of the definition (Map and Parallel too)."""
    actions: dict[str, set[str]] = {"lambda": set(), "dynamodb": set(), "ses": set()}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Type") == "Task" and isinstance(node.get("Resource"), str):
                _classify(node["Resource"], actions)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    statements = []
    if actions["lambda"]:
        resources = [*function_arns, *[_sub(f"${{{a['Fn::GetAtt'][0]}.Arn}}:*") for a in function_arns]]
        statements.append(_allow(sorted(actions["lambda"]), resources))
    if actions["dynamodb"]:
        statements.append(_allow(sorted(actions["dynamodb"]), _table_arns(tuple(res.TABLES))))
    if actions["ses"]:
        statements.append(_allow(sorted(actions["ses"]), SENDER_IDENTITY_ARN))
    return statements


def _classify(resource: str, actions: dict[str, set[str]]) -> None:
    base = resource.split(".waitForTaskToken")[0].split(".sync")[0]
    if base.startswith("arn:aws:lambda:") or base.startswith("${") or base == "arn:aws:states:::lambda:invoke":
        actions["lambda"].add("lambda:InvokeFunction")
        return
    tail = base.removeprefix("arn:aws:states:::").removeprefix("aws-sdk:")
    service, _, op = tail.partition(":")
    op = op[:1].upper() + op[1:]
    if service == "dynamodb" and op in TRANSACTION_ACTIONS:
        actions["dynamodb"].update(TRANSACTION_ACTIONS[op])
    elif service == "dynamodb" and op:
        actions["dynamodb"].add(f"dynamodb:{op}")
    elif service in ("ses", "sesv2") and op in ("SendEmail", "SendRawEmail", "SendTemplatedEmail"):
        actions["ses"].add(f"ses:{op}")
    else:
        raise ValueError(f"no IAM grant known for the state machine task resource {resource!r}: add one here")


def state_machine(names: Names) -> dict[str, Any]:
    """The order workflow and the return workflow: each its definition, its own role (invoke its
    function only), X-Ray tracing and an error log."""
    return {
        **_machine("Order", names.state_machine, res.state_machine_definition(), res.STATE_MACHINE_SUBSTITUTIONS,
                   "order-workflow", "WorkflowLogGroup"),
        **_machine("Return", names.return_state_machine, res.return_state_machine_definition(),
                   res.RETURN_STATE_MACHINE_SUBSTITUTIONS, "return-workflow", "ReturnStateMachineLogGroup"),
    }


def _machine(kind: str, name: str, definition: dict[str, Any], placeholders: dict[str, str], policy: str,
             log_group: str) -> dict[str, Any]:
    substitutions = {
        placeholder: _getatt(res.FUNCTIONS[fn]["logical_id"])
        for placeholder, fn in placeholders.items()
    }
    unknown = res.definition_placeholders(definition) - set(substitutions)
    if unknown:
        raise KeyError(f"state machine placeholders without a substitution: {sorted(unknown)}")
    statements = _task_permissions(definition, list(substitutions.values()))
    statements.append(_allow(XRAY_ACTIONS, "*"))
    statements.append(_allow(LOG_DELIVERY_ACTIONS, "*"))
    return {
        f"{kind}StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _assume("states.amazonaws.com"),
                "Policies": [_policy(policy, statements)],
            },
        },
        f"{kind}StateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": name,
                "StateMachineType": "STANDARD",
                "Definition": definition,
                "DefinitionSubstitutions": substitutions,
                "RoleArn": _getatt(f"{kind}StateMachineRole"),
                "TracingConfiguration": {"Enabled": True},
                "LoggingConfiguration": {
                    "Level": "ERROR",  # failed steps and executions; no order data in the logs
                    "IncludeExecutionData": False,
                    "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": _getatt(log_group)}}],
                },
            },
        },
    }


# --- the functions: environment, role, size ----------------------------------------------


def environment(names: Names) -> dict[str, Any]:
    env: dict[str, Any] = {**res.COMMON_SETTINGS, **res.STAGE_SETTINGS[names.stage]}
    env.update({spec["env"]: {"Ref": logical_id} for logical_id, spec in res.TABLES.items()})
    env.update(
        {
            "FEEDS_BUCKET": {"Ref": "FeedsBucket"},
            "USER_POOL_ID": {"Ref": "UserPool"},
            "USER_POOL_CLIENT_ID": {"Ref": "UserPoolClient"},
            "ORDER_STATE_MACHINE_ARN": names.state_machine_arn,
            "RETURN_STATE_MACHINE_ARN": names.return_state_machine_arn,
            "SES_SENDER": {"Ref": "SenderEmail"},
            "SES_CONFIGURATION_SET": {"Ref": "EmailConfigurationSet"},  # its name
            "PUBLIC_BASE_URL": {"Ref": "PublicBaseUrl"},
            # the secret's ARN, not its value: read at run time (adapters/secrets.py), so it is
            # never in the functions' configuration and a rotation needs no deploy
            "LINK_SECRET_ID": {"Ref": "LinkSecret"},
        }
    )
    return env


def _grants(names: Names, grant: str) -> list[dict[str, Any]]:
    feeds_objects = names.bucket_arn(f"/{res.FEEDS_PREFIX}*")
    reports_objects = names.bucket_arn(f"/{res.REPORTS_PREFIX}*")
    table = {
        "accounts": [
            _allow(
                [
                    "cognito-idp:AdminConfirmSignUp",
                    "cognito-idp:AdminCreateUser",
                    "cognito-idp:AdminSetUserPassword",
                    "cognito-idp:AdminAddUserToGroup",
                    "cognito-idp:AdminDeleteUser",
                    "cognito-idp:AdminGetUser",
                    "cognito-idp:AdminListGroupsForUser",
                    "cognito-idp:AdminUserGlobalSignOut",
                    # staff tools: role changes and blocks
                    "cognito-idp:AdminRemoveUserFromGroup",
                    "cognito-idp:AdminDisableUser",
                    "cognito-idp:AdminEnableUser",
                    "cognito-idp:ListUsersInGroup",
                ],
                _getatt("UserPool"),
            )
        ],
        "feed-uploads": [_allow(["s3:PutObject", "s3:GetObject"], [feeds_objects, reports_objects])],
        "feed-reads": [
            _allow(["s3:GetObject"], feeds_objects),
            # without it, HeadObject of a deleted feed answers 403 instead of 404
            _allow(["s3:ListBucket"], names.bucket_arn()),
            _allow(["s3:PutObject", "s3:GetObject"], reports_objects),
        ],
        "import-queue": [
            _allow(
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
                _getatt(res.IMPORT_QUEUE_ID),
            )
        ],
        # a big feed's chunk files, and its chunk messages on the import queue (services/feed_chunks.py)
        "import-chunks": [
            _allow(["s3:PutObject", "s3:GetObject"], names.bucket_arn(f"/{res.CHUNKS_PREFIX}*")),
            _allow(["sqs:SendMessage"], _getatt(res.IMPORT_QUEUE_ID)),
        ],
        # the row errors a split left for the report of a chunked import the reconciler fails
        "import-chunk-reads": [_allow(["s3:GetObject"], names.bucket_arn(f"/{res.CHUNKS_PREFIX}*"))],
        "workflow-control": [
            _allow(["states:StartExecution"], names.state_machine_arn),
            _allow(["states:DescribeExecution", "states:StopExecution", "states:GetExecutionHistory"],
                   names.executions_arn),
            # no resource types exist for these: the token itself is the authorization, and it
            # never leaves the server (docs/architecture.md, decision 3)
            _allow(TASK_TOKEN_ACTIONS, "*"),
        ],
        "return-workflow-control": [
            _allow(["states:StartExecution"], names.return_state_machine_arn),
            _allow(["states:DescribeExecution"], names.return_executions_arn),
            _allow(TASK_TOKEN_ACTIONS, "*"),  # as for the order workflow: the token is the authorization
        ],
        # SES authorizes a send on the identity and on the configuration set it names
        "email": [_allow(["ses:SendEmail", "ses:SendRawEmail"],
                         [SENDER_IDENTITY_ARN, names.configuration_set_arn])],
    }
    return table[grant]


def function_role(names: Names, chalice_name: str, spec: dict[str, Any]) -> dict[str, Any]:
    log_group = names.log_group_arn(chalice_name)
    statements = [
        _allow(["logs:CreateLogGroup"], log_group),
        _allow(["logs:CreateLogStream", "logs:PutLogEvents"], _sub(log_group["Fn::Sub"] + ":*")),
        _allow(XRAY_ACTIONS[:2], "*"),
        # (transactions are authorized by the item actions they contain)
        _allow(DYNAMODB_ACTIONS, _table_arns(tuple(spec["tables"]))),
    ]
    # every function signs or checks links, cursors or idempotency fingerprints
    statements.append(_allow(["secretsmanager:GetSecretValue"], {"Ref": "LinkSecret"}))
    for grant in spec["grants"]:
        statements += _grants(names, grant)
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _assume("lambda.amazonaws.com"),
            "Policies": [_policy(chalice_name, statements)],
        },
    }


def functions(names: Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    env = environment(names)
    for chalice_name, spec in res.FUNCTIONS.items():
        logical_id = spec["logical_id"]
        role_id = f"{logical_id}Role"
        out[role_id] = function_role(names, chalice_name, spec)
        props: dict[str, Any] = {
            "FunctionName": names.function(chalice_name),
            "Role": _getatt(role_id),
            "MemorySize": spec["memory"],
            "Timeout": spec["timeout"],
            "Environment": {"Variables": env},
            "Runtime": res.LAMBDA_RUNTIME,  # explicit, not whatever Python ran the build (runtime_check)
        }
        if chalice_name == res.IMPORT_FUNCTION:
            # Chalice wrote ``{"Fn::Sub": "arn:...:<decorator's queue name>"}``; a deep merge
            # cannot swap that intrinsic for another, so replace the Sub's string with one
            # naming this stack's queue (which also makes the function depend on it)
            queue_name = f"${{{res.IMPORT_QUEUE_ID}.QueueName}}"
            queue_arn = _sub(f"{PARTITION_ARN}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{queue_name}")
            props["Events"] = {f"{logical_id}SqsEventSource": {"Properties": {
                "Queue": queue_arn, "ScalingConfig": {"MaximumConcurrency": res.IMPORT_MAX_CONCURRENCY}}}}
            # the split sends the chunks of a big feed to this same queue
            props["Environment"] = {"Variables": {**env, "IMPORT_QUEUE_URL": {"Ref": res.IMPORT_QUEUE_ID},
                                                  "IMPORT_CHUNK_OFFERS": str(res.IMPORT_CHUNK_OFFERS)}}
        # the function must not create its own, never-expiring log group before ours exists
        out[logical_id] = {"DependsOn": [f"{logical_id}LogGroup"], "Properties": props}
    return out


def api_logging() -> dict[str, Any]:
    """API Gateway writes access logs only once the account has a CloudWatch role (an
    account-wide setting: one stack per account and region owns it; docs/runbook.md)."""
    return {
        "ApiGatewayLoggingRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _assume("apigateway.amazonaws.com"),
                "ManagedPolicyArns": [_sub(f"{PARTITION_ARN}:iam::aws:policy/service-role/"
                                           "AmazonAPIGatewayPushToCloudWatchLogs")],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": _getatt("ApiGatewayLoggingRole")},
        },
    }


def gateway_responses() -> dict[str, Any]:
    """What API Gateway itself answers (before any Lambda runs), as problem documents like the
    app's own errors: a path no route has (API Gateway's ``MISSING_AUTHENTICATION_TOKEN``) is a
    404, the same body the local stack gives (``local/patches.py``); throttling and other
    gateway refusals keep their status with a problem body."""
    def response(template: str, status: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ResponseParameters": {"Headers": {"Content-Type": "'application/problem+json'"}},
            "ResponseTemplates": {"application/json": {"Fn::Sub": template}},
        }
        if status is not None:
            out["StatusCode"] = str(status)
        return out

    # ``type`` is the page the API serves about the problem (``api/problems.py``), under the
    # stack's public base URL, which CloudFormation fills in (Fn::Sub).
    gateway = ('{"type": "${PublicBaseUrl}/problems/gateway", "title": "$context.error.responseType", '
               '"detail": $context.error.messageString, "instance": "$context.requestId"}')
    return {
        "MISSING_AUTHENTICATION_TOKEN": response(json.dumps(no_route_problem("${PublicBaseUrl}")), 404),
        "DEFAULT_4XX": response(gateway),
        "DEFAULT_5XX": response(gateway),
    }


def build(stage: str) -> dict[str, Any]:
    names = Names(stage)
    resources: dict[str, Any] = {}
    for part in (
        tables(stage),
        user_pool(names),
        feeds(names),
        email_and_secret(names),
        state_machine(names),
        functions(names),
        ops.resources(names),
        api_logging(),
    ):
        overlap = set(part) & set(resources)
        if overlap:
            raise ValueError(f"logical ids defined twice: {sorted(overlap)}")
        resources.update(part)
    # merged into the API that ``chalice package`` defines under this logical id
    resources["RestAPI"] = {
        "DependsOn": ["ApiGatewayAccount"],
        "Properties": {
            "Name": names.api_name,
            "GatewayResponses": gateway_responses(),
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": _getatt("ApiAccessLogGroup"), "Format": ops.API_LOG_FORMAT},
            # the gateway's own ceiling, before any Lambda runs; the per-client and per-account
            # limits are the app's (api/http.py, ``limit=``)
            "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*",
                                "ThrottlingRateLimit": res.API_THROTTLE_RATE,
                                "ThrottlingBurstLimit": res.API_THROTTLE_BURST}],
        },
    }
    resources["FeedsBucket"]["Properties"].update(ops.bucket_rules())
    return {
        "Description": f"{res.APP_NAME} ({stage}): Chalice app + the resources of infra/resources.py",
        "Parameters": {
            "SenderEmail": {
                "Type": "String",
                "Description": "The verified SES sender of every notification",
                "AllowedPattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            },
            "PublicBaseUrl": {
                "Type": "String",
                "Description": "The public base URL of the API (emailed links point here)",
                "AllowedPattern": r"^https?://\S+$",
            },
            **ops.PARAMETERS,
        },
        "Resources": resources,
        "Outputs": {
            "FeedsBucketName": {"Value": {"Ref": "FeedsBucket"}},
            "UserPoolId": {"Value": {"Ref": "UserPool"}},
            "UserPoolClientId": {"Value": {"Ref": "UserPoolClient"}},
            "OrderStateMachineArn": {"Value": {"Ref": "OrderStateMachine"}},
            "ReturnStateMachineArn": {"Value": {"Ref": "ReturnStateMachine"}},
            "ImportDeadLetterQueueUrl": {"Value": {"Ref": res.IMPORT_DLQ_ID}},
        },
    }


def runtime_check(build_python: tuple[int, int] | None = None) -> str | None:
    """Why this Python cannot build the package for ``res.LAMBDA_RUNTIME``, or None. Chalice
    vendors binary wheels for the runtime it derives from the build Python, so the two must agree."""
    major, minor = build_python or sys.version_info[:2]
    if f"python{major}.{minor}" == res.LAMBDA_RUNTIME:
        return None
    return (f"the functions run {res.LAMBDA_RUNTIME} but this is Python {major}.{minor}: chalice would package "
            f"wheels for python{major}.{minor}; build with {res.LAMBDA_RUNTIME} (make PYTHON=…, a fresh .venv) "
            "or change LAMBDA_RUNTIME in infra/resources.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.template", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    if problem := runtime_check():
        parser.error(problem)
    text = json.dumps(build(args.stage), indent=2, ensure_ascii=False)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
