"""Deploy the packaged template (``make package``) into LocalStack, or any CloudFormation endpoint.

What ``sam deploy`` would do, with boto3 only: upload the Lambda zip and the template to an
artifacts bucket, point every function's ``CodeUri`` at the zip, create or update the stack
(the SAM transform runs server-side), wait, print the outputs.

``python -m infra.deploy --endpoint http://localhost:4566 --template build/package/sam.json
--package build/package/deployment.zip --stage dev``
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


def deploy(args: argparse.Namespace) -> dict[str, str]:
    session = boto3.session.Session(region_name=args.region)
    kw = {"endpoint_url": args.endpoint} if args.endpoint else {}
    s3, cfn = session.client("s3", **kw), session.client("cloudformation", **kw)
    stack = f"{res.APP_NAME}-{args.stage}"
    bucket = f"{stack}-artifacts"
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.upload_file(str(args.package), bucket, "deployment.zip")
    template = with_code_location(json.loads(args.template.read_text()), bucket, "deployment.zip")
    s3.put_object(Bucket=bucket, Key="sam.json", Body=json.dumps(template).encode())
    url = f"{args.endpoint or 'https://s3.amazonaws.com'}/{bucket}/sam.json"
    params = [
        {"ParameterKey": "SenderEmail", "ParameterValue": args.sender},
        {"ParameterKey": "PublicBaseUrl", "ParameterValue": args.public_url},
    ]
    try:
        cfn.describe_stacks(StackName=stack)
        exists = True
    except ClientError:
        exists = False
    call = cfn.update_stack if exists else cfn.create_stack
    try:
        call(StackName=stack, TemplateURL=url, Parameters=params, Capabilities=CAPABILITIES)
    except ClientError as exc:
        if "No updates are to be performed" not in str(exc):
            raise
    waiter = cfn.get_waiter("stack_update_complete" if exists else "stack_create_complete")
    waiter.wait(StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default="http://localhost:4566", help="CloudFormation endpoint ('' for AWS)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--stage", default="dev")
    p.add_argument("--template", type=Path, default=Path("build/package/sam.json"))
    p.add_argument("--package", type=Path, default=Path("build/package/deployment.zip"))
    p.add_argument("--sender", default="no-reply@example.com")
    p.add_argument("--public-url", default="http://localhost:4566")
    args = p.parse_args(argv)
    for key, value in deploy(args).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
