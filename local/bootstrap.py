"""Creates every resource of ``infra/resources.py`` in an AWS endpoint (moto, locally).

Used by the local stack and by the functional tests, so both run on the same definitions as
the deploy template. Returns the environment the Lambdas need to find what it created.
"""

from __future__ import annotations

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
    return {"FEEDS_BUCKET": name}


def create_ses_identity(endpoint: str | None, region: str, sender: str) -> dict[str, str]:
    _client("ses", endpoint, region).verify_email_identity(EmailAddress=sender)
    _client("sesv2", endpoint, region).create_email_identity(EmailIdentity=sender)
    return {"SES_SENDER": sender}


def create_all(endpoint: str | None = None, region: str = "us-east-1", prefix: str = "mp") -> dict[str, str]:
    """The data plane every test and the local run need (the local stack adds the queue,
    the notification, the functions and the state machine on top)."""
    env: dict[str, str] = {}
    env.update(create_tables(endpoint, region, prefix))
    env.update(create_user_pool(endpoint, region, prefix))
    env.update(create_bucket(endpoint, region, prefix))
    env.update(create_ses_identity(endpoint, region, "no-reply@marketplace.local"))
    return env
