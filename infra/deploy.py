"""Deploy the packaged template (``make package``) to AWS, LocalStack or any CloudFormation endpoint.

What ``sam deploy`` would do, with boto3 only: upload the Lambda zip and the template to an
artifacts bucket, point every function's ``CodeUri`` at the zip, create or update the stack
(the SAM transform runs server-side), wait, print the outputs.

The first deploy's chicken and egg: emailed links need the API's public URL, which exists only
once the stack does (and a function's environment cannot refer to the API that invokes it
without a cycle). Without ``--public-url`` the first deploy uses a placeholder, reads the
stack's ``EndpointURL`` and updates the one parameter; later deploys keep the stored value.
With a custom domain, pass ``--public-url https://shop.example``.

``make deploy STAGE=prod SENDER=no-reply@shop.example ALARM_TOPIC=arn:aws:sns:…`` (AWS), or
``python -m infra.deploy --endpoint http://localhost:4566 …`` (LocalStack). docs/runbook.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra import resources as res

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


def with_code_location(template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template with every function's local ``CodeUri`` replaced by the uploaded zip."""
    out = json.loads(json.dumps(template))
    for resource in out["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"
    return out


PENDING_URL = "https://pending.invalid"  # the first deploy's public URL, replaced by the API's own


def _artifacts_bucket(session: Any, s3: Any, stack: str, region: str, endpoint: str | None) -> str:
    """One bucket per stack, account and region (bucket names are global)."""
    account = session.client("sts", **({"endpoint_url": endpoint} if endpoint else {})).get_caller_identity()["Account"]
    bucket = f"{stack}-artifacts-{account}-{region}".lower()
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    return bucket


def parameters(args: argparse.Namespace, current: dict[str, str] | None) -> list[dict[str, Any]]:
    """The stack's parameters: given values win; on an update, what is not given is kept."""
    given = {"SenderEmail": args.sender, "PublicBaseUrl": args.public_url, "AlarmTopicArn": args.alarm_topic,
             "LogRetentionDays": str(args.log_retention_days) if args.log_retention_days else None}
    out = []
    for key, value in given.items():
        if value:
            out.append({"ParameterKey": key, "ParameterValue": value})
        elif current is not None and key in current:
            out.append({"ParameterKey": key, "UsePreviousValue": True})
        elif key == "PublicBaseUrl":
            out.append({"ParameterKey": key, "ParameterValue": PENDING_URL})
        elif key != "LogRetentionDays":
            raise SystemExit(f"the first deploy needs --{key_flag(key)}")
    return out


def key_flag(key: str) -> str:
    return {"SenderEmail": "sender", "AlarmTopicArn": "alarm-topic"}.get(key, key)


def _apply(cfn: Any, stack: str, url: str, params: list[dict[str, Any]], exists: bool) -> None:
    call = cfn.update_stack if exists else cfn.create_stack
    try:
        call(StackName=stack, TemplateURL=url, Parameters=params, Capabilities=CAPABILITIES)
    except ClientError as exc:
        if "No updates are to be performed" in str(exc):
            return
        raise
    waiter = cfn.get_waiter("stack_update_complete" if exists else "stack_create_complete")
    waiter.wait(StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 180})


def _stack(cfn: Any, stack: str) -> dict[str, Any] | None:
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError:
        return None


def deploy(args: argparse.Namespace) -> dict[str, str]:
    session = boto3.session.Session(region_name=args.region)
    kw = {"endpoint_url": args.endpoint} if args.endpoint else {}
    s3, cfn = session.client("s3", **kw), session.client("cloudformation", **kw)
    stack = f"{res.APP_NAME}-{args.stage}"
    bucket = _artifacts_bucket(session, s3, stack, args.region, args.endpoint or None)
    s3.upload_file(str(args.package), bucket, "deployment.zip")
    template = with_code_location(json.loads(args.template.read_text()), bucket, "deployment.zip")
    s3.put_object(Bucket=bucket, Key="sam.json", Body=json.dumps(template).encode())
    url = (f"{args.endpoint}/{bucket}/sam.json" if args.endpoint
           else f"https://{bucket}.s3.{args.region}.amazonaws.com/sam.json")
    existing = _stack(cfn, stack)
    current = {p["ParameterKey"]: p["ParameterValue"] for p in (existing or {}).get("Parameters", [])}
    _apply(cfn, stack, url, parameters(args, current if existing else None), exists=existing is not None)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (_stack(cfn, stack) or {}).get("Outputs", [])}
    stored = {p["ParameterKey"]: p["ParameterValue"] for p in (_stack(cfn, stack) or {}).get("Parameters", [])}
    if stored.get("PublicBaseUrl") == PENDING_URL and outputs.get("EndpointURL"):
        # second half of the first deploy: the emailed links point at the API's own URL
        args.public_url = outputs["EndpointURL"].rstrip("/")
        _apply(cfn, stack, url, parameters(args, stored), exists=True)
    return outputs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default="http://localhost:4566", help="CloudFormation endpoint ('' for AWS)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--stage", default="dev")
    p.add_argument("--template", type=Path, default=Path("build/package/sam.json"))
    p.add_argument("--package", type=Path, default=Path("build/package/deployment.zip"))
    p.add_argument("--sender", default="", help="the verified SES sender (required on the first deploy)")
    p.add_argument("--public-url", default="", help="the public base URL (default: the API's own URL)")
    p.add_argument("--alarm-topic", default="", help="SNS topic ARN for the alarms (required on the first deploy)")
    p.add_argument("--log-retention-days", type=int, default=0, help="days logs are kept (default 30)")
    args = p.parse_args(argv)
    for key, value in deploy(args).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
