"""``/openapi.json`` (OpenAPI 3.1) and ``/docs``, generated from the route registry.

The same pydantic models that validate requests and shape responses produce the schemas,
so the document cannot drift from the code. Request models are described as they validate,
response models as they serialize, each once, under its class name (``api/models.py``,
"Schema names"); a name pydantic would have to qualify (a module path, ``-Input``) fails the
build of the document instead of reaching a client.

``/docs`` is Swagger UI, vendored from the ``openapi-ui-bundles`` package and served by the
API itself (``/docs/<file>``, one route per file in ``ASSETS``; nothing from a CDN): it reads
``/openapi.json`` and, after "Authorize" with an access token, sends the requests it shows to
the API that serves it (``docs.js``). Without JavaScript the page lists the operations with
their schemas.
"""

import json
import re
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import ROUTES, RouteSpec
from chalicelib.api.models import MONEY_RULE, Problem

_PARAM = re.compile(r"{([^}]+)}")
_READABLE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")

STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 302: "Found", 303: "See other", 304: "Not modified",
    400: "Malformed request",
    401: "Not authenticated", 402: "Payment declined", 403: "Not allowed", 404: "Not found", 409: "Conflict",
    410: "Gone", 413: "Payload too large", 415: "Unsupported media type", 422: "Invalid request",
    503: "Unavailable",
}
DESCRIPTION = (
    "Multi-seller marketplace: feeds, catalog, search, carts, orders, wallet.\n\n"
    f"**Money.** {MONEY_RULE}\n\n"
    "**Errors** are application/problem+json; each `type` is the URL of a page describing the problem "
    "(GET /problems lists them).\n\n"
    "**Created resources** (201) are named by the `Location` header (a checkout's: its first order; the body "
    "lists them all).\n\n"
    "**Public GETs** (catalog, search, sellers, this description) send `ETag` and `Cache-Control`; send the "
    "ETag back in `If-None-Match` to get 304 with no body while it is current.\n\n"
    "**Lists** are cursor-paginated (`limit`, `cursor` → `next_cursor`). Writes that create money or orders take "
    "an `Idempotency-Key`."
)


def _models() -> list[tuple[type[BaseModel], str]]:
    """Every documented model with the mode it is documented in: bodies and forms as they
    validate, answers as they serialize. (Query models become parameters, not schemas.)"""
    keyed: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for r in ROUTES:
        for m, mode in ((r.body, "validation"), (r.form, "validation"), (r.response, "serialization")):
            if m is not None:
                keyed[(m, mode)] = None
    return list(keyed)


def _check_names(schemas: dict[str, Any]) -> None:
    unreadable = sorted(name for name in schemas if not _READABLE_NAME.match(name))
    if unreadable:
        raise RuntimeError(f"schema names must be unique class names (rename the classes): {unreadable}")


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


_CACHE_HEADERS = {
    "ETag": {"description": "a weak validator of this answer (send it back in If-None-Match)",
             "schema": {"type": "string"}},
    "Cache-Control": {"description": "how long caches may keep the answer", "schema": {"type": "string"}},
}


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
    if r.cache:
        op["parameters"].append({
            "name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
            "description": "the ETag of an earlier answer: 304 with no body while it is still current",
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
    if r.status == 201:
        ok["headers"] = {"Location": {"description": "the absolute URL of the created resource",
                                      "schema": {"type": "string", "format": "uri"}}}
    if r.cache:
        ok["headers"] = _CACHE_HEADERS
        op["responses"]["304"] = {"description": STATUS_TEXT[304], "headers": _CACHE_HEADERS}
    if 300 <= r.status < 400:
        ok["headers"] = {"Location": {"description": "where the resource is", "schema": {"type": "string",
                                                                                         "format": "uri"}}}
    elif r.status != 204:
        if r.response is not None:
            ok["content"] = {r.content_type: {"schema": refs[(r.response, "serialization")]}}
        elif r.content_type == "text/html":
            ok["content"] = {"text/html": {"schema": {"type": "string"}}}
        else:
            ok["content"] = {r.content_type: {"schema": {}}}
        for alternate in r.alternates:
            ok.setdefault("content", {})[alternate] = {"schema": {"type": "string"}}
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
    if r.body is not None or r.form is not None:
        statuses |= {415}  # a body in another media type than the route's (the edge's _check_media_type)
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
    refs, top = models_json_schema(_models(), ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for r in ROUTES:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, refs, defs)
    _check_names(defs)
    spec = {
        "openapi": "3.1.0",
        "info": {
            "title": "Marketplace API",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    return json.dumps(spec, ensure_ascii=False)


# The vendored UI's files the page uses, and the page's own start-up script (``docs.js``).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "docs.js": "text/javascript",
}
# The page loads only its own assets and calls only the API that serves it; Swagger UI draws
# with inline styles and data: images.
DOCS_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# Relative URLs: under a stage path (https://…/api/docs) they stay under it.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marketplace API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" href="data:,">
<style>
body{margin:0}noscript{display:block;font:15px/1.45 system-ui,sans-serif;color:#1d2330;background:#f6f7f9}
noscript header{background:#1d2330;color:#fff;padding:16px 24px}noscript header a{color:#9cd}
noscript main{max-width:1100px;margin:0 auto;padding:16px 24px}
noscript details{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:6px 0}
noscript summary{cursor:pointer;padding:8px 12px;display:flex;gap:10px;align-items:center}
noscript .m{font:600 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;min-width:52px;text-align:center}
noscript .GET{background:#2f7d32}noscript .POST{background:#1565c0}noscript .PUT{background:#8e5b00}
noscript .PATCH{background:#6a1b9a}noscript .DELETE{background:#b71c1c}noscript .p{font-family:monospace}
noscript .lock{color:#8e5b00;font-size:12px}
noscript pre{background:#f1f3f6;padding:8px;overflow:auto;font-size:12px;margin:0 12px 12px}
noscript h3{margin:8px 12px 4px;font-size:13px}
</style></head><body>
<div id="swagger-ui"></div>
<noscript><header><b>Marketplace API</b> &middot; <a href="openapi.json">openapi.json</a> &middot;
<a href="problems">problem types</a> (turn JavaScript on to try requests)</header>
<main id="ops">__OPS__</main></noscript>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/docs.js"></script>
</body></html>"""


@lru_cache(maxsize=len(ASSETS))
def asset(name: str) -> str:
    """The text of one file the docs page loads (``ASSETS``; each has its route)."""
    if name == "docs.js":
        return (Path(__file__).parent / "docs.js").read_text(encoding="utf-8")
    from openapi_ui_bundles import swagger_ui  # the vendored Swagger UI (requirements.txt)

    return (Path(swagger_ui.static_path) / name).read_text(encoding="utf-8")


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
