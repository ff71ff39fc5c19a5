"""``/openapi.json`` (OpenAPI 3.1) and ``/docs``, generated from the route registry.

The same pydantic models that validate requests and shape responses produce the schemas,
so the document cannot drift from the code. ``/docs`` is one self-contained page (no CDN).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from html import escape
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import ROUTES, RouteSpec
from chalicelib.api.models import Problem

_PARAM = re.compile(r"{([^}]+)}")

STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 400: "Malformed request", 401: "Not authenticated",
    402: "Payment declined", 403: "Not allowed", 404: "Not found", 409: "Conflict", 410: "Gone",
    413: "Payload too large", 415: "Unsupported media type", 422: "Invalid request", 503: "Unavailable",
}


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {"Problem": Problem}
    for r in ROUTES:
        for m in (r.body, r.query, r.response, r.form):
            if m is not None:
                seen.setdefault(m.__name__, m)
    return list(seen.values())


def _query_parameters(model: type[BaseModel] | None, defs: dict[str, Any]) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    defs.update(schema.get("$defs", {}))
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        params.append({
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "title"},
            **({"description": prop["description"]} if "description" in prop else {}),
        })
    return params


def _operation(r: RouteSpec, refs: dict[tuple[str, str], Any], defs: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{r.name}_{r.method.lower()}",
        "summary": r.summary,
        "tags": list(r.tags),
        "parameters": [
            {"name": p, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 512}}
            for p in _PARAM.findall(r.path)
        ] + _query_parameters(r.query, defs),
        "responses": {},
    }
    if r.idempotent:
        op["parameters"].append({
            "name": "Idempotency-Key", "in": "header", "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{8,128}$"},
            "description": "same key and body: the first response is replayed; other body: 422",
        })
    if r.body is not None:
        op["requestBody"] = {
            "required": r.body_required,
            "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
        }
    if r.form is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": refs[(r.form, "validation")]}},
        }
    ok: dict[str, Any] = {"description": STATUS_TEXT.get(r.status, "OK")}
    if r.status != 204:
        if r.response is not None:
            ok["content"] = {r.content_type: {"schema": refs[(r.response, "serialization")]}}
        elif r.content_type == "text/html":
            ok["content"] = {"text/html": {"schema": {"type": "string"}}}
        else:
            ok["content"] = {r.content_type: {"schema": {}}}
    op["responses"][str(r.status)] = ok
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    statuses = set(r.errors) | {400, 422}
    if r.roles is not None:
        statuses |= {401, 403}
        op["security"] = [{"bearer": []}]
    if r.idempotent:
        statuses |= {409, 422}
    if r.body is not None:
        statuses |= {413}
    # An HTML route (the action-link pages) answers its own errors (r.errors) with an HTML page
    # for the person at the browser; the edge's errors (400, 422...) stay problem+json.
    html_problem = {"content": {**problem["content"], "text/html": {"schema": {"type": "string"}}}}
    for s in sorted(statuses):
        shape = html_problem if r.content_type == "text/html" and s in r.errors else problem
        op["responses"][str(s)] = {"description": STATUS_TEXT.get(s, "Error"), **shape}
    op["responses"]["503"] = {"description": STATUS_TEXT[503], **problem}
    return op


@lru_cache(maxsize=1)
def document() -> str:
    models = _models()
    keyed = [(m, "validation") for m in models] + [(m, "serialization") for m in models]
    refs, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for r in ROUTES:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, refs, defs)
    spec = {
        "openapi": "3.1.0",
        "info": {
            "title": "Marketplace API",
            "version": "1.0.0",
            "description": "Multi-seller marketplace: feeds, catalog, search, carts, orders, wallet. "
            "Errors are application/problem+json; lists are cursor-paginated; money is integer minor units.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    return json.dumps(spec, ensure_ascii=False)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marketplace API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 24px}header a{color:#9cd}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
details{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:6px 0}
summary{cursor:pointer;padding:8px 12px;display:flex;gap:10px;align-items:center}
.m{font:600 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;min-width:52px;text-align:center}
.GET{background:#2f7d32}.POST{background:#1565c0}.PUT{background:#8e5b00}.PATCH{background:#6a1b9a}
.DELETE{background:#b71c1c}.p{font-family:monospace}.lock{color:#8e5b00;font-size:12px}
pre{background:#f1f3f6;padding:8px;overflow:auto;font-size:12px;margin:0 12px 12px}
h3{margin:8px 12px 4px;font-size:13px}
</style></head><body>
<header><b>Marketplace API</b> &middot; <a href="/openapi.json">openapi.json</a></header>
<main id="ops">__OPS__</main></body></html>"""


@lru_cache(maxsize=1)
def docs_page() -> str:
    spec = json.loads(document())
    schemas = spec["components"]["schemas"]
    parts = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            m = method.upper()
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            blocks = []
            if op.get("parameters"):
                plist = "\n".join(
                    f"{p['name']} ({p['in']}{', required' if p.get('required') else ''})"
                    for p in op["parameters"]
                )
                blocks.append(f"<h3>Parameters</h3><pre>{escape(plist)}</pre>")
            if body:
                blocks.append(f"<h3>Request body</h3><pre>{escape(_show(body, schemas))}</pre>")
            for status, resp in op["responses"].items():
                content = resp.get("content", {})
                schema = next(iter(content.values()), {}).get("schema") if content else None
                if schema and status.startswith("2"):
                    blocks.append(f"<h3>{status} {escape(resp['description'])}</h3>"
                                  f"<pre>{escape(_show(schema, schemas))}</pre>")
            errs = ", ".join(s for s in op["responses"] if not s.startswith("2"))
            blocks.append(f"<h3>Errors (application/problem+json)</h3><pre>{escape(errs)}</pre>")
            lock = '<span class="lock">auth</span>' if op.get("security") else ""
            parts.append(
                f'<details><summary><span class="m {m}">{m}</span><span class="p">{escape(path)}</span>'
                f"<span>{escape(op.get('summary', ''))}</span>{lock}</summary>{''.join(blocks)}</details>"
            )
    return _PAGE.replace("__OPS__", "\n".join(parts))


def _show(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return f"{name}: " + json.dumps(schemas.get(name, {}), indent=1, ensure_ascii=False)[:4000]
    return json.dumps(schema, indent=1, ensure_ascii=False)[:4000]
