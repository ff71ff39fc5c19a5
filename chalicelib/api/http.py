"""The edge of every HTTP route: one decorator does what every route needs.

``endpoint`` registers a Chalice route on a blueprint and wraps the handler so that it
- verifies the caller (``auth=`` roles; see ``api/security.py``),
- parses and validates the JSON body and the query string with pydantic models (a body nested
  deeper than ``MAX_JSON_DEPTH`` is a 400; no route reads ``current_request.json_body``, so
  this is the only place a request's JSON is parsed),
- runs the handler under an ``Idempotency-Key`` when ``idempotent=True``,
- serializes the result (pydantic model, dict, list, ``Reply`` or a raw Chalice ``Response``),
- on a 201 sends ``Location``: the created resource's absolute URL (``location=``, from the
  answer's body, under ``PUBLIC_BASE_URL``); every 201 route must say where (checked here),
- on a public GET marked ``cache=`` sends a weak ``ETag`` of the body and that
  ``Cache-Control``, and answers ``If-None-Match`` with the current ETag by a 304 with no body,
- turns every ``DomainError`` into ``application/problem+json`` — the one place errors map to HTTP
  (an error carrying ``retry_after`` also sends ``Retry-After``; an AWS error that may pass,
  ``clients.is_transient``, is a 503 ``Unavailable``); its ``type`` is the absolute URL of the
  page ``api/problems.py`` serves about it,
- counts the request against its rate limits (``limit=``, a group of ``settings().rate_limits``:
  per client address and per account — the caller, or a public route's body ``email``), once,
  here: one conditional UpdateItem per dimension (``store/limits.py``). Over a limit is a 429
  ``TooManyRequests`` with ``Retry-After``; every answer of a limited route sends
  ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (of the tightest limit),
- refuses an unverified account on a ``verified=True`` route (403 ``verification-required``),
- logs one JSON line per request with its request id, status and duration.

Every route is also recorded in ``ROUTES``; ``api/openapi.py`` builds ``/openapi.json`` from it
and the authorization-matrix test walks it, so a new route cannot be forgotten by either.
"""

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import Blueprint, CORSConfig, Response
from chalice.app import BadRequestError, Request
from pydantic import BaseModel, ValidationError

from chalicelib import clients, logs, metrics, tracing
from chalicelib.api.security import Principal, verify
from chalicelib.config import settings
from chalicelib.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    Internal,
    MethodNotAllowed,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
    field_error,
)

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 256 * 1024
# Levels of arrays/objects a JSON body may nest. The deepest real body (checkout: body ->
# delivery -> seller -> method) has 3; 64 leaves room for any future shape. Python's json parser
# recurses once per level and fails with RecursionError near 1,000 (a 500), and a 256 KiB body
# can nest 128 Ki levels, so depth is bounded here rather than left to the interpreter.
MAX_JSON_DEPTH = 64
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
ANY_USER = ("customer", "seller", "support", "catalog_operator", "admin")
# Browsers may call the API from any origin: it is authorized by a bearer token, never a cookie.
CORS = CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"],
                  expose_headers=["Idempotent-Replayed", "Allow", "WWW-Authenticate", "Location", "ETag",
                                  "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
                  max_age=600)
# ``cache=`` of public GETs: catalog data changes with every feed import and checkout, so caches
# keep it briefly; the API description changes only with a deployment; vendored assets never
# change under one name within a deployment.
CATALOG_CACHE = "public, max-age=30"
META_CACHE = "public, max-age=300"
ASSET_CACHE = "public, max-age=86400"


@dataclass
class Reply:
    """A handler result with a status and headers other than the route's default."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    request: Request
    request_id: str
    principal: Principal | None
    body: Any = None
    query: Any = None
    idempotency_key: str | None = None

    @property
    def user(self) -> Principal:
        if self.principal is None:  # only reachable on a route declared without auth
            raise Forbidden("this route needs a logged-in user")
        return self.principal

    @property
    def token(self) -> str:
        return (self.request.headers.get("authorization") or "").partition(" ")[2].strip()


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    name: str
    summary: str
    tags: tuple[str, ...]
    roles: tuple[str, ...] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    idempotent: bool
    content_type: str
    owner_scoped: bool
    form: type[BaseModel] | None = None  # documents an x-www-form-urlencoded body the handler reads itself
    body_required: bool = True  # False: an empty body is the model's defaults
    accepts: tuple[str, ...] = ("application/json",)  # request body media types
    location: Callable[[Any], str] | None = None  # 201: the created resource's path, from the answer's body
    cache: str | None = None  # a public GET's Cache-Control; it also gets an ETag and 304s
    limit: str | None = None  # a rate-limit group of ``settings().rate_limits``
    verified: bool = False  # the caller's email must be verified (403 verification-required)
    alternates: tuple[str, ...] = ()  # other media types the success may be (a CSV of the same data)


ROUTES: list[RouteSpec] = []

# Errors Chalice answers before any view runs (a method the path does not have) pass through
# this blueprint's middleware and leave as problem+json like every other error.
edge = Blueprint(__name__)


@edge.middleware("http")
def _chalice_errors_as_problems(event: Request, get_response: Callable[[Request], Response]) -> Response:
    response = get_response(event)
    if response.status_code == 405 and response.headers.get("Content-Type") != PROBLEM_JSON:
        allowed = response.headers.get("Allow", "")
        method = (event.method if event is not None else "") or "this method"
        problem = problem_response(MethodNotAllowed(f"{method} is not supported here; allowed: {allowed}"))
        problem.headers["Allow"] = allowed
        return problem
    return response


def problem_response(err: DomainError, request_id: str = "-") -> Response:
    body = err.problem(settings().public_base_url)
    body["instance"] = request_id
    headers = {"Content-Type": PROBLEM_JSON}
    if err.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="marketplace"'
    if err.retry_after is not None:  # 503 Unavailable, 409 idempotency-in-flight
        headers["Retry-After"] = str(int(err.retry_after))
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=err.status, headers=headers)


def _loc(loc: tuple[Any, ...], prefix: str) -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in loc]
    return ".".join(parts) or prefix


def validation_errors(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    errors = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        reason = e["msg"]
        if e["type"] == "extra_forbidden":
            reason = "unknown or server-owned field"
        errors.append(field_error(_loc(e["loc"], prefix), reason))
    detail = "; ".join(f"{x['field']}: {x['reason']}" for x in errors[:5])
    return ValidationFailed(detail, errors=errors)


def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise ValidationFailed.one("body", "a JSON object is required")
    try:
        data = json.loads(raw)
    except RecursionError as exc:  # the C parser's recursion guard: far deeper than MAX_JSON_DEPTH
        raise _too_deep() from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("body is not valid JSON", errors=[field_error("body", "malformed JSON")]) from exc
    if _nests_deeper_than(data, MAX_JSON_DEPTH):
        raise _too_deep()
    if not isinstance(data, dict):
        raise ValidationFailed.one("body", "must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_errors(exc) from exc


def _too_deep() -> BadRequest:
    return BadRequest(f"body is nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays and objects",
                      errors=[field_error("body", f"nested more than {MAX_JSON_DEPTH} levels deep")])


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """``value`` (parsed JSON) holds arrays/objects more than ``limit`` levels deep. A loop, not
    recursion: checking depth must not itself run out of stack."""
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _check_media_type(spec: RouteSpec, request: Request) -> None:
    if not request.raw_body:
        return
    sent = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if sent not in spec.accepts:
        raise UnsupportedMediaType(f"send the body as {' or '.join(spec.accepts)}, not {sent}",
                                   errors=[field_error("Content-Type", f"must be {' or '.join(spec.accepts)}")])


def _parse_query(request: Request, model: type[BaseModel] | None) -> BaseModel | None:
    params = dict(request.query_params or {})
    if model is None:
        if params:
            raise ValidationFailed.one(next(iter(params)), "unknown query parameter")
        return None
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise validation_errors(exc, "query") from exc


def _serialize(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_serialize(x) for x in result]
    return result


def _fingerprint(ctx: Ctx, spec: RouteSpec) -> str:
    canonical = json.dumps(ctx.body.model_dump(mode="json") if ctx.body is not None else None, sort_keys=True)
    raw = f"{spec.method} {ctx.request.context.get('resourcePath', spec.path)} {ctx.request.uri_params} {canonical}"
    return hashlib.sha256(raw.encode()).hexdigest()


def endpoint(
    bp: Blueprint,
    path: str,
    *,
    method: str = "GET",
    summary: str,
    auth: tuple[str, ...] | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    idempotent: bool = False,
    content_type: str = "application/json",
    content_types: tuple[str, ...] = ("application/json",),
    owner_scoped: bool = False,
    tags: tuple[str, ...] = (),
    form: type[BaseModel] | None = None,
    body_required: bool = True,
    location: Callable[[Any], str] | None = None,
    cache: str | None = None,
    limit: str | None = None,
    verified: bool = False,
    alternates: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``handler(ctx, **path_params)`` as ``method path``.

    ``auth``: None for a public route, else the roles allowed (``ANY_USER`` for any user).
    ``owner_scoped``: the route acts on an object that must belong to the caller (documented
    for the authorization matrix; the service enforces it and answers 404 to strangers).
    ``form``: documents the x-www-form-urlencoded body of a ``content_types`` form route (the
    handler parses it; only ``/openapi.json`` reads this).
    ``body_required=False``: a request with no body gets ``body()``'s defaults (a route that
    grew an optional body keeps answering the clients that send none).
    ``location``: required with ``status=201``: the created resource's path from the answer's
    (serialized) body, sent as the absolute ``Location``.
    ``cache``: a public GET's ``Cache-Control``; the answer also gets an ``ETag``, and a
    request whose ``If-None-Match`` holds it gets a 304 with no body.
    ``limit``: the rate-limit group (``config._LIMIT_DEFAULTS``) the route counts against.
    ``verified``: only accounts whose email is verified may call it (403 verification-required).
    ``alternates``: other media types the success answer may come as (``text/csv``), documented
    in ``/openapi.json`` beside ``content_type``; the handler chooses and returns a ``Response``.
    """
    if status == 201 and location is None:
        raise ValueError(f"{method} {path}: a 201 route must say where the created resource is (location=)")
    if cache is not None and (method != "GET" or auth is not None):
        raise ValueError(f"{method} {path}: only public GETs are cacheable")

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        spec = RouteSpec(
            path=path,
            method=method,
            name=handler.__name__,
            summary=summary,
            tags=tags or (bp.__class__.__name__,),
            roles=auth,
            body=body,
            query=query,
            response=response,
            status=status,
            errors=errors,
            idempotent=idempotent,
            content_type=content_type,
            owner_scoped=owner_scoped,
            form=form,
            body_required=body_required,
            accepts=tuple(t.lower() for t in content_types),
            location=location,
            cache=cache,
            limit=limit,
            verified=verified,
            alternates=alternates,
        )
        ROUTES.append(spec)

        def view(**params: str) -> Response:
            request: Request = bp.current_request
            request_id = (request.context or {}).get("requestId") or uuid.uuid4().hex
            token = logs.request_id.set(request_id)
            unit = metrics.scope.set(f"{method} {path}")
            started = time.perf_counter()
            try:
                with tracing.unit(f"{method} {path}"):
                    tracing.annotate(**params)  # order_id, feed_id … from the path
                    resp = _run(spec, handler, request, request_id, params)
                logs.event(
                    "request",
                    method=method,
                    path=path,
                    status=resp.status_code,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
                if resp.status_code >= 500:
                    metrics.count("ServerErrors", by=f"{method} {path}")
            finally:
                metrics.flush(route=f"{method} {path}", request_id=request_id)
                metrics.scope.reset(unit)
                logs.request_id.reset(token)
            return resp

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        # Chalice would answer a wrong Content-Type with its own (non-problem) 415; the edge
        # checks it instead (``_check_media_type``), so every error is problem+json.
        bp.route(path, methods=[method], content_types=["*/*"], cors=CORS)(view)
        return handler

    return register


def _run(spec: RouteSpec, handler: Callable[..., Any], request: Request, request_id: str,
         params: dict[str, str]) -> Response:
    limit_headers: dict[str, str] = {}
    try:
        principal = None
        if spec.roles is not None:
            principal = verify(request.headers.get("authorization"))
            tracing.annotate(**{("seller_id" if "seller" in principal.roles else "customer_id"): principal.user_id})
            if not set(principal.roles) & set(spec.roles) and "admin" not in principal.roles:
                raise Forbidden(f"this route is for: {', '.join(spec.roles)}")
        ctx = Ctx(request=request, request_id=request_id, principal=principal)
        _check_media_type(spec, request)
        ctx.query = _parse_query(request, spec.query)
        if spec.body is not None:
            empty = not (request.raw_body or b"").strip()
            ctx.body = spec.body() if empty and not spec.body_required else _parse_body(request, spec.body)
        if spec.limit is not None:
            limit_headers = _count_request(spec.limit, ctx)
        if spec.verified and principal is not None:
            from chalicelib.services import accounts  # a service; imported lazily like idempotency's

            accounts.require_verified(principal)
        if spec.idempotent:
            resp = _run_idempotent(spec, handler, ctx, params)
        else:
            resp = _cached(spec, request, _respond(spec, handler(ctx, **params)))
        resp.headers.update(limit_headers)
        return resp
    except DomainError as err:
        resp = problem_response(err, request_id)
        resp.headers.update(err.headers if isinstance(err, _LimitedError) else limit_headers)
        return resp
    except BadRequestError as err:  # Chalice's own parsing errors
        return problem_response(BadRequest(str(err)), request_id)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, answer 5xx
        if clients.is_transient(exc):
            return problem_response(Unavailable("a backing service is busy, retry shortly"), request_id)
        logs.log.exception("unhandled error", extra={"fields": {"path": spec.path, "method": spec.method}})
        return problem_response(Internal("an internal error occurred; it has been logged"), request_id)


def _respond(spec: RouteSpec, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    status, headers = spec.status, {"Content-Type": spec.content_type}
    if isinstance(result, Reply):
        status = result.status
        headers.update(result.headers)
        result = result.body
    if result is None and status in (200, 201):
        status = 204
    if status == 204:
        return Response(body="", status_code=204, headers={})
    data = result if isinstance(result, str) else _serialize(result)
    if status == 201 and spec.location is not None:
        headers["Location"] = settings().public_base_url + spec.location(data)
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return Response(body=body, status_code=status, headers=headers)


def _cached(spec: RouteSpec, request: Request, resp: Response) -> Response:
    """A public GET's 200 gets its ``Cache-Control`` and a weak ``ETag`` of the body (weak: a
    gateway may compress the bytes; the content is what it names); a request that already
    holds that ETag (``If-None-Match``) gets a 304 with no body."""
    if spec.cache is None or resp.status_code != 200:
        return resp
    raw = resp.body if isinstance(resp.body, bytes) else str(resp.body).encode()
    etag = f'W/"{hashlib.sha256(raw).hexdigest()[:32]}"'
    validators = {"ETag": etag, "Cache-Control": spec.cache}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(body="", status_code=304, headers=validators)
    resp.headers.update(validators)
    return resp


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of entity tags, compared weakly."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in (t.strip() for t in if_none_match.split(",")))


def client_address(request: Request) -> str:
    """The caller's address as API Gateway saw it (``sourceIp``; never a header a client sets)."""
    return str(((request.context or {}).get("identity") or {}).get("sourceIp") or "unknown")


def _count_request(group: str, ctx: Ctx) -> dict[str, str]:
    """Count the request against ``group``'s limits; its ``RateLimit-*`` headers, or
    ``TooManyRequests`` (carrying them) when a limit is spent."""
    from chalicelib.store import limits as counters

    rule = settings().rate_limits[group]
    account = ctx.principal.user_id if ctx.principal else getattr(ctx.body, "email", None)
    checks = [("ip", client_address(ctx.request), rule.per_ip)]
    if account:
        checks.append(("acct", counters.email_digest(account) if ctx.principal is None else account, rule.per_account))
    now = int(time.time())
    tightest = None
    for dimension, value, lim in checks:
        if lim is None:
            continue
        window = counters.hit(group, dimension, value, limit=lim.count, seconds=lim.seconds, now=now)
        if tightest is None or not window.allowed or (tightest.allowed and window.remaining < tightest.remaining):
            tightest = window
        if not window.allowed:
            break
    if tightest is None:
        return {}
    headers = {"RateLimit-Limit": str(tightest.limit), "RateLimit-Remaining": str(tightest.remaining),
               "RateLimit-Reset": str(max(1, tightest.reset_at - now))}
    if not tightest.allowed:
        err = TooManyRequests(f"too many requests; retry in {headers['RateLimit-Reset']} s",
                              retry_after=tightest.reset_at - now)
        raise _LimitedError(err, headers)
    return headers


class _LimitedError(TooManyRequests):
    """A ``TooManyRequests`` that brings its ``RateLimit-*`` headers to ``_run``."""

    def __init__(self, err: TooManyRequests, headers: dict[str, str]):
        super().__init__(err.detail, retry_after=err.retry_after)
        self.headers = headers


def _run_idempotent(spec: RouteSpec, handler: Callable[..., Any], ctx: Ctx, params: dict[str, str]) -> Response:
    from chalicelib.services import idempotency  # the wallet's store; imported lazily

    key = ctx.request.headers.get("idempotency-key")
    if key is None:
        raise ValidationFailed.one("Idempotency-Key", "header is required for this request")
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValidationFailed.one("Idempotency-Key", "must be 8-128 characters of letters, digits, . _ : -")
    ctx.idempotency_key = key
    owner = ctx.principal.user_id if ctx.principal else "anonymous"

    def execute() -> tuple[int, Any, dict[str, str]]:
        resp = _respond(spec, handler(ctx, **params))
        return resp.status_code, resp.body, dict(resp.headers)

    status, body, headers = idempotency.run(
        scope=f"{owner}:{spec.method}:{spec.path}",
        key=key,
        fingerprint=_fingerprint(ctx, spec),
        execute=execute,
    )
    return Response(body=body, status_code=status, headers=headers)
