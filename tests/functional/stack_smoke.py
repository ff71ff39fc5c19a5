"""Deploying the packaged template into moto's CloudFormation, as far as moto can.

moto creates many resource types from their CloudFormation models but not all, and a
reference to a resource it skipped fails the whole stack. ``deployable`` therefore takes the
transformed template, removes the resources of types moto cannot create (``UNSUPPORTED``,
each checked another way: see docs/runbook.md, "What the smoke deployment proves") and puts a
recognisable stand-in wherever the rest of the template referred to them.
"""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any

ACCOUNT, REGION = "123456789012", "us-east-1"


# Types moto has a model for but cannot create from this template.
MOTO_CANNOT = {
    # its RestApi model ignores the OpenAPI body, so a deployment finds no methods and fails
    "AWS::ApiGateway::Deployment",
}


def unsupported(types: set[str]) -> set[str]:
    from moto.cloudformation.parsing import get_model_map

    models = get_model_map()
    return {t for t in types if t not in models or t in MOTO_CANNOT}


def stand_in(logical_id: str, attr: str | None = None) -> str:
    return f"arn:aws:smoke:{REGION}:{ACCOUNT}:{logical_id}" + (f"/{attr}" if attr else "")


def deployable(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the template moto can create, the removed resources by logical id)."""
    out = deepcopy(template)
    types = {r["Type"] for r in out["Resources"].values()}
    skip = unsupported(types)
    removed = {k: v for k, v in out["Resources"].items() if v["Type"] in skip}
    for k in removed:
        del out["Resources"][k]
    gone = set(removed)
    sub_ref = re.compile(r"\$\{(" + "|".join(map(re.escape, sorted(gone, key=len, reverse=True))) + r")(?:\.(\w+))?\}")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in gone:
                return stand_in(node["Ref"])
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in gone:
                return stand_in(node["Fn::GetAtt"][0], node["Fn::GetAtt"][1])
            if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str) and gone:
                return {"Fn::Sub": sub_ref.sub(lambda m: stand_in(m.group(1), m.group(2)), node["Fn::Sub"])}
            out_node = {}
            for key, value in node.items():
                if key == "DependsOn":
                    kept = [d for d in ([value] if isinstance(value, str) else value) if d not in gone]
                    if kept:
                        out_node[key] = kept
                    continue
                out_node[key] = walk(value)
            return out_node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out["Resources"] = walk(out["Resources"])
    out["Outputs"] = walk(out.get("Outputs", {}))
    return out, removed
