"""The few places where the local stack bends moto (and X-Ray) to behave like AWS.

Each patch is idempotent, applied by ``python -m local`` at start, and guarded by a test in
``tests/functional/test_local_patches.py`` that fails when moto's hook moves (moto is pinned
exactly in ``requirements-dev.txt`` for that reason):

- ``run_lambdas_in_process``: moto runs Lambda code only in Docker. Every invocation path
  (Invoke, Step Functions ``lambda:invoke``, triggers) funnels through
  ``LambdaFunction._invoke_lambda``; the replacement imports the function's handler string
  (``module.attribute``, exactly what ``chalice package`` writes) and calls it in this
  process. An exception becomes a Lambda function error whose payload carries ``errorType``,
  so Step Functions ``Retry``/``Catch`` see the exception's class name, as on AWS.
- ``serialize_dynamodb``: moto's DynamoDB is not atomic under concurrent requests; one lock
  around ``DynamoHandler.call_action`` makes conditional writes and transactions behave.
- ``enable_stepfunctions_execution``: moto only records executions unless told to run them.
- ``silence_xray``: without a daemon every traced boto3 call logs errors.
- ``put_bodies_are_raw_bytes``: a PUT labelled as a form (``curl --data-binary``) is stored
  as its bytes, as S3 does (moto lost it, or hung on a non-UTF-8 one).
- ``unknown_paths_are_problem_404``: a path no route has gets a 404 problem document, as the
  deployed API's gateway responses give.
- ``callbacks_skip_starting_executions``: moto's task-token lookup crashes on an execution
  whose interpreter thread has not started yet.
- ``query_reads_one_partition``: moto answers every Query by sorting the whole table; a Query
  reads one partition (of the table, or of an index), as DynamoDB does.
- ``attribute_values_serialize_directly``: moto's response serializer walks the model for
  each DynamoDB attribute value; a value from its backend is already in wire form.
- ``attribute_values_parse_directly``: the other ends of the same walk: botocore parsed each
  attribute value of a DynamoDB answer, and moto each of a DynamoDB request, member by member
  through the model; the JSON read already is the parsed form (a binary value, which needs
  base64, still takes the walk).
- ``update_expressions_parse_once``: moto parsed each UpdateExpression twice per call (to
  check its placeholders, then to run it), a tokenizer and a parser each time, for the few
  fixed strings an application writes: one parse per string, shared read-only (validation
  works on its own copy).
- ``attribute_values_copy_directly``: moto deep-copies the whole item twice in every
  UpdateItem, each nested value through ``copy.deepcopy``'s dispatch and memo, and turns
  items to JSON by deep-copying each map or list again at every level below it (quadratic in
  the depth). Values are trees of strings, lists and maps: copied and converted directly.
- ``attribute_sizes_add_up_directly``: moto sums an item's size at every attribute it sets
  (the 400 KB limit), and a map's size re-wrapped each member in a new value first (a copy of
  its whole subtree): the same sum, without the copies.
- ``update_expressions_validate_in_linear_time``: moto's UpdateExpression validation rebuilt
  a table per node visited and recounted clauses at every nested node (quadratic).
- ``update_expressions_copy_directly``: moto deep-copied each parsed UpdateExpression through
  ``copy.deepcopy``'s generic machinery before validating it.
- ``actions_are_looked_up_once_per_class``: moto listed a handler class's functions at every
  call to find the action's method.
- ``server_knows_its_services``: moto's server lists its own package directory (``listdir``
  and ~180 ``stat`` calls) twice per request to route it; the list never changes.
- ``workflow_tasks_share_clients``: moto's Step Functions interpreter builds a new boto3
  client for every Task it runs; one per service and region serves them all.
- ``user_pools_share_their_signing_key``: moto parsed its one RSA key anew for each user pool.
- ``workflow_paths_parse_once``: moto's interpreter parsed each JSONPath anew at every use.
- ``in_process_failures_are_500s``: a moto bug the server answers with a 500 (which botocore
  retries) reached the app in-process as a bare exception; now it is the same 500.
- ``request_headers_parse_directly``: every request's headers went through the ``email``
  package's feed parser (a tenth of the stack's CPU under load); plain ``Name: value`` lines
  are read directly into the same message, anything else still goes to the feed parser.
- ``dynamodb_calls_skip_signing``: every in-process DynamoDB call was signed with SigV4
  (canonical request, four HMACs) for a moto that reads only the access key from it; the
  stack's key maps to moto's default account either way, and the region is in the URL.
- ``path_parameters_are_decoded``: API Gateway percent-decodes path parameters
  (``/wallet/transactions/topup%3Aab`` → ``topup:ab``); Chalice's local gateway passed them on
  encoded.

SQS is deliberately *not* wired through moto's event-source mapping (it would run the import
inside the ``PutObject`` that notified the queue): ``local/poller.py`` polls instead.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
from typing import Any

from chalicelib import logs

log = logging.getLogger("marketplace.local")

DYNAMODB_LOCK = threading.RLock()
_applied: set[str] = set()
_apply_lock = threading.Lock()


def _once(name: str) -> bool:
    """True the first time ``name`` is applied in this process."""
    with _apply_lock:
        if name in _applied:
            return False
        _applied.add(name)
        return True


# --- (a) Lambda: run the Chalice handlers in-process ------------------------------------


class LambdaContext:
    """The attributes of the Lambda context object the handlers may read."""

    def __init__(self, function: Any) -> None:
        self.function_name = function.function_name
        self.function_version = getattr(function, "version", "$LATEST")
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size or 128)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(function.timeout or 3)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def resolve_handler(handler: str) -> Any:
    """``"package.module.attribute"`` -> the object, as the Lambda runtime resolves it.

    ``app`` is imported first: it registers the blueprints, which wires Chalice's middleware
    into the blueprint handlers (on AWS the package's entry module does the same).
    """
    importlib.import_module("app")
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {handler!r} is not 'module.attribute'")
    return getattr(importlib.import_module(module_name), attribute)


def invoke_in_process(function: Any, event: Any = None) -> tuple[str, bool, str]:
    """What moto's ``_invoke_lambda`` returns: ``(payload JSON, errored, log text)``."""
    if isinstance(event, bytes | str):
        event = json.loads(event or "{}")
    if event is None:
        event = {}
    context = LambdaContext(function)
    token = logs.request_id.set(context.aws_request_id)
    started = time.perf_counter()
    try:
        return _call(function, event, context, started)
    finally:
        logs.request_id.reset(token)


def _call(function: Any, event: Any, context: LambdaContext, started: float) -> tuple[str, bool, str]:
    fields: dict[str, Any] = {"function": function.function_name}
    try:
        result = resolve_handler(function.handler)(event, context)
        payload = json.dumps(result, default=str)
    except Exception as exc:  # noqa: BLE001 - becomes a Lambda function error, as on AWS
        fields.update(ok=False, ms=round((time.perf_counter() - started) * 1000, 1),
                      error_type=type(exc).__name__, error=str(exc))
        log.warning("lambda error", extra={"fields": fields})
        body = {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_tb(exc.__traceback__)[1:],
        }
        return json.dumps(body), True, traceback.format_exc()
    fields.update(ok=True, ms=round((time.perf_counter() - started) * 1000, 1))
    log.info("lambda invoked", extra={"fields": fields})
    return payload, False, ""


def run_lambdas_in_process() -> None:
    from moto.awslambda.models import LambdaFunction

    if not _once("lambda"):
        return

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


# --- (c) DynamoDB: one request at a time ------------------------------------------------


def serialize_dynamodb() -> None:
    """Wrap ``DynamoHandler.call_action`` in ``DYNAMODB_LOCK`` (tests' in-process fixtures
    call this too: concurrency tests are meaningless without it)."""
    from moto.dynamodb.responses import DynamoHandler

    if not _once("dynamodb"):
        return
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with DYNAMODB_LOCK:
            return original(self)

    call_action.__wrapped__ = original  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


# --- (d) Step Functions: really execute -------------------------------------------------


def enable_stepfunctions_execution(moto_url: str) -> None:
    """Server mode: ask the moto server to run executions. Its interpreter calls
    ``http://localhost:$MOTO_PORT`` for Lambda and service integrations, so ``MOTO_PORT``
    must be this server's port (``ThreadedMotoServer`` does not set it)."""
    import requests

    port = moto_url.rstrip("/").rsplit(":", 1)[1]
    os.environ["MOTO_PORT"] = port
    resp = requests.post(
        f"{moto_url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
    )
    resp.raise_for_status()


# --- (e) X-Ray: silent locally, recordable in tests -------------------------------------


def silence_xray() -> None:
    """Must run before ``chalicelib.clients`` patches boto3 (it reads the switch per call,
    but the SDK also logs at patch time when no daemon answers)."""
    os.environ["AWS_XRAY_SDK_ENABLED"] = "false"
    from aws_xray_sdk import global_sdk_config

    global_sdk_config.set_sdk_enabled(False)


class RecordingEmitter:
    """An X-Ray emitter that keeps segments in memory instead of sending UDP to a daemon."""

    def __init__(self) -> None:
        self.segments: list[Any] = []
        self._lock = threading.Lock()

    def send_entity(self, entity: Any) -> None:
        with self._lock:
            self.segments.append(entity)

    def set_daemon_address(self, address: str | None) -> None:
        pass

    @property
    def ip(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return 0


def per_thread_current_request() -> None:
    """Make ``app.current_request`` belong to the thread serving the request.

    On AWS a Lambda container serves one request at a time, so Chalice keeps the request in
    one attribute of the app. Chalice's local server is threaded: without this, two
    concurrent requests could read each other's request — headers and identity included.
    """
    if not _once("current_request"):
        return
    from chalice import app as chalice_app

    state = threading.local()

    def _get(self: Any) -> Any:
        return getattr(state, f"r{id(self)}", None)

    def _set(self: Any, value: Any) -> None:
        setattr(state, f"r{id(self)}", value)

    chalice_app.Chalice.current_request = property(_get, _set)  # type: ignore[assignment]


def larger_listen_backlog() -> None:
    """The dev server inherits a listen backlog of 5: bursts of clients (the concurrency
    tests open 200 at once) would see refused connections that API Gateway never gives."""
    from chalice import local as chalice_local

    chalice_local.ThreadedHTTPServer.request_queue_size = 256
    chalice_local.ThreadedHTTPServer.daemon_threads = True


def item_level_transactions() -> None:
    """Replace moto's table-copying TransactWriteItems (see ``local/moto_transactions.py``)."""
    if not _once("item_level_transactions"):
        return
    from local import moto_transactions

    moto_transactions.apply()


def quiet_stepfunctions_interpreter() -> None:
    """moto's ASL interpreter logs every caught error — including the ``States.Timeout`` our
    waits end with by design — as a multi-kilobyte dump of the state's representation. The
    execution history and each order's timeline keep what happened; the dump is noise."""
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)


class _OnePartition:
    """The table as ``Table.query`` sees it, but ``all_items()`` yields only the candidates:
    the items of the queried partition (a table Query), or every item unsorted (an index
    Query: moto filters them by the index keys, then sorts by the full key itself)."""

    def __init__(self, table: Any, hash_key: Any, index_name: str | None) -> None:
        self._table, self._hash_key, self._index_name = table, hash_key, index_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Any]:
        items = self._table.items
        if self._index_name:
            if self._table.range_key_attr:
                return [item for partition in items.values() for item in partition.values()]
            return list(items.values())
        partition = items.get(self._hash_key)
        if partition is None:
            return []
        return list(partition.values()) if self._table.range_key_attr else [partition]


def query_reads_one_partition() -> None:
    """moto's ``Table.query`` starts from ``all_items()``: every item of the table, sorted by
    key — O(n log n) per Query, so a table that grows (the orders, the ledger) makes every
    Query slower; a checkout makes several. What it then keeps is the queried partition
    (table Query, sorted by range key) or the items carrying the index's keys (index Query,
    sorted again by the full index + table key, which is unique): the result does not depend
    on that first sort. The replacement hands ``query`` only the candidates; every other
    step (conditions, filters, limits, pagination, projections) is moto's own."""
    if not _once("query_reads_one_partition"):
        return
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # (hash_key, range_comparison, range_objs, limit, exclusive_start_key,
        #  scan_index_forward, projection_expressions, index_name, ...): moto passes them by position
        index_name = kwargs["index_name"] if "index_name" in kwargs else (args[6] if len(args) > 6 else None)
        return original(_OnePartition(self, hash_key, index_name), hash_key, *args, **kwargs)

    query.__wrapped__ = original  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


_SCALAR_TYPES = {"S": str, "N": str, "BOOL": bool, "NULL": bool}
_SET_TYPES = ("SS", "NS")


def _attribute_value_wire(value: Any) -> Any:
    """The wire form of one DynamoDB attribute value as moto's backend hands it over
    (``{"S": "x"}``, ``{"M": {...}}``, ...), or None when it holds anything but the plain
    types whose wire form is the value itself (binary, numbers as numbers, ...)."""
    if type(value) is not dict or len(value) != 1:
        return None
    (kind, inner), = value.items()
    scalar = _SCALAR_TYPES.get(kind)
    if scalar is not None:
        return value if type(inner) is scalar else None
    if kind in _SET_TYPES:
        return value if type(inner) is list and all(type(v) is str for v in inner) else None
    if kind == "M" and type(inner) is dict:
        wire_map = {}
        for name, member in inner.items():
            wire = _attribute_value_wire(member)
            if wire is None or type(name) is not str:
                return None
            wire_map[name] = wire
        return {"M": wire_map}
    if kind == "L" and type(inner) is list:
        wire_list = []
        for member in inner:
            wire = _attribute_value_wire(member)
            if wire is None:
                return None
            wire_list.append(wire)
        return {"L": wire_list}
    return None


def attribute_values_serialize_directly() -> None:
    """moto's response serializer writes each DynamoDB attribute value by walking the model's
    ``AttributeValue`` structure: for each of its ten members it asks five alias providers
    where the value may hide — about 1,000 Python calls for a small item, a third of the CPU
    of a checkout on the local stack. An attribute value from moto's backend already has its
    wire form (``{"S": "x"}``, ``{"N": "1"}``, ``{"M": {...}}``): the replacement writes it as
    is; anything else (a binary value, which needs base64) goes through moto's own walk."""
    if not _once("attribute_values_serialize_directly"):
        return
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and \
                self.operation_model.service_model.service_name == "dynamodb":
            wire = _attribute_value_wire(value)
            if wire is not None:
                serialized[key] = wire
                return
        original(self, serialized, value, shape, key)

    _serialize_type_structure.__wrapped__ = original  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure


def attribute_values_parse_directly() -> None:
    """botocore's JSON parser turns each ``AttributeValue`` of a DynamoDB answer into the same
    dict it read (``{"S": "x"}`` stays ``{"S": "x"}``) by walking the model's ten members, and
    moto's request parser does the same to each value of a request; a plain value is taken as
    it is read, anything else (binary) goes through the walk."""
    if not _once("attribute_values_parse_directly"):
        return
    from botocore.parsers import BaseJSONParser
    from moto.core import parse as moto_parse

    answers = BaseJSONParser._handle_structure

    def _handle_structure(self: Any, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue":
            wire = _attribute_value_wire(value)
            if wire is not None:
                return wire
        return answers(self, shape, value)

    _handle_structure.__wrapped__ = answers  # type: ignore[attr-defined]
    BaseJSONParser._handle_structure = _handle_structure

    requests = moto_parse.BaseJSONParser._parse_structure

    def _parse_structure(self: Any, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue" and self.MAP_TYPE is dict:
            wire = _attribute_value_wire(value)
            if wire is not None:
                return wire
        return requests(self, shape, value)

    _parse_structure.__wrapped__ = requests  # type: ignore[attr-defined]
    moto_parse.BaseJSONParser._parse_structure = _parse_structure


def update_expressions_parse_once() -> None:
    """One parse per UpdateExpression string (see the module docstring). moto reads the tree
    (its placeholders) and validates a copy of it (``update_expressions_copy_directly``, as
    its own ``deepcopy`` did): the cached tree is never changed."""
    if not _once("update_expressions_parse_once"):
        return
    import functools

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = UpdateExpressionParser.make.__func__
    parsed = functools.lru_cache(maxsize=1024)(functools.partial(original, UpdateExpressionParser))

    def make(cls: Any, expression_str: str) -> Any:
        return parsed(expression_str) if cls is UpdateExpressionParser else original(cls, expression_str)

    make.__wrapped__ = original  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(make)


def attribute_values_copy_directly() -> None:
    """``copy.deepcopy`` of a moto attribute value (see the module docstring): the same tree of
    new values holding the same strings, numbers and bytes (immutable), set members in a new
    list; anything unexpected inside still goes to ``copy.deepcopy``."""
    if not _once("attribute_values_copy_directly"):
        return
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoType.__deepcopy__
    new = object.__new__

    def copied(value: Any, memo: dict[int, Any]) -> Any:
        if type(value) is not DynamoType:
            return copy.deepcopy(value, memo)
        result = new(DynamoType)
        kind = result.type = value.type
        inner = value.value
        if kind == "L":
            result.value = [copied(v, memo) for v in inner]
        elif kind == "M":
            result.value = {k: copied(v, memo) for k, v in inner.items()}
        elif kind in ("SS", "NS", "BS"):
            result.value = list(inner)
        else:
            result.value = inner
        return result

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        return copied(self, memo)

    __deepcopy__.__wrapped__ = original  # type: ignore[attr-defined]
    DynamoType.__deepcopy__ = __deepcopy__

    import base64

    original_json = DynamoType.to_regular_json

    def regular(value: Any) -> Any:
        return to_regular_json(value) if type(value) is DynamoType else copy.deepcopy(value)

    def to_regular_json(self: Any) -> dict[str, Any]:
        inner = self.value
        if isinstance(inner, dict):
            out: Any = {k: regular(v) for k, v in inner.items()}
        elif isinstance(inner, list):
            out = [regular(v) for v in inner]
        else:
            out = copy.deepcopy(inner)
        if self.type == "B" and isinstance(out, str):
            out = base64.b64decode(out)
        return {self.type: out}

    to_regular_json.__wrapped__ = original_json  # type: ignore[attr-defined]
    DynamoType.to_regular_json = to_regular_json


def attribute_sizes_add_up_directly() -> None:
    """``DynamoType.size`` as moto sums it (numbers by their text, a set by its members as
    values of the member type, a map by its keys and members, booleans and NULL 1 byte, the
    rest by their UTF-8 or raw bytes), without building a new value per member."""
    if not _once("attribute_sizes_add_up_directly"):
        return
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = DynamoType.size

    def scalar(kind: str, value: Any) -> int:
        if kind == "N":
            return len(str(value))
        if isinstance(value, bool):
            return 1
        return len(value if isinstance(value, bytes) else value.encode("utf-8"))

    def size(self: Any) -> int:
        kind, value = self.type, self.value
        if kind in ("SS", "NS", "BS"):
            return sum(scalar(kind[0], v) for v in value)
        if kind == "L":
            return sum(v.size() for v in value)
        if kind == "M":
            return sum(len(k.encode("utf-8")) + (v.size() if type(v) is DynamoType else DynamoType(v).size())
                       for k, v in value.items())
        return scalar(kind, value)

    size.__wrapped__ = original  # type: ignore[attr-defined]
    DynamoType.size = size


def update_expressions_validate_in_linear_time() -> None:
    """moto validates an UpdateExpression by ten passes over its syntax tree; two costs grow
    faster than the tree. Each pass rebuilds its table of node types at every node visited
    (the table depends on the pass's class only: it is built once per class now, and the
    walk remembers which node classes it processes), and the
    clause-count check runs at every nested ``UpdateExpression`` node — a SET clause with n
    actions is n nested nodes — collecting the clauses below it again each time: quadratic
    in the actions (a checkout's order write has dozens). The replacement counts each node's
    clauses once from its children's counts, with the same rules (``find_clauses``: a child
    of the clause type counts, any other expression or function child is looked into) and
    raises the same error at the same node."""
    if not _once("update_expressions_validate_in_linear_time"):
        return
    from moto.dynamodb.exceptions import TooManyClauses
    from moto.dynamodb.parsing import ast_nodes
    from moto.dynamodb.parsing.validators import ActionCountValidator

    types_of: dict[type, tuple[type, ...]] = {}
    original_types = ast_nodes.DepthFirstTraverser.nodes_to_be_processed

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        cls = type(self)
        found = types_of.get(cls)
        if found is None:
            found = types_of[cls] = original_types(self)
        return found

    nodes_to_be_processed.__wrapped__ = original_types  # type: ignore[attr-defined]
    ast_nodes.DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed

    # moto's walk asks ``isinstance`` of abstract classes (a slow check) twice per node per
    # pass; the answers depend on the node's class (and the pass's) only: remembered.
    Node, base = ast_nodes.Node, ast_nodes.DepthFirstTraverser
    is_node: dict[type, bool] = {}
    to_process: dict[tuple[type, type], bool] = {}
    original_walk = base.traverse_node_recursively

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(node)
        known = is_node.get(kind)
        if known is None:
            known = is_node[kind] = isinstance(node, Node)
        if known:
            parent_node = node.parent
            if node.children is not None:
                hook = type(self).pre_processing_of_child is not base.pre_processing_of_child
                for i, child_node in enumerate(node.children):
                    if hook:
                        self.pre_processing_of_child(node, i)
                    traverse_node_recursively(self, child_node, i)
            key = (type(self), kind)
            wanted = to_process.get(key)
            if wanted is None:
                wanted = to_process[key] = isinstance(node, self.nodes_to_be_processed())
            if wanted:
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    traverse_node_recursively.__wrapped__ = original_walk  # type: ignore[attr-defined]
    base.traverse_node_recursively = traverse_node_recursively

    kinds = (ast_nodes.UpdateExpressionAddClause, ast_nodes.UpdateExpressionRemoveClause,
             ast_nodes.UpdateExpressionSetClause)
    looked_into = (ast_nodes.Expression, ast_nodes.UpdateExpressionFunction)
    original_verify = ActionCountValidator.verify_action_counts

    def counts(self: Any, node: Any) -> list[int]:
        memo = self.__dict__.setdefault("_clause_counts", {})
        hit = memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        total = [0, 0, 0]
        for child in node.children or []:
            below = counts(self, child) if isinstance(child, looked_into) else None
            for k, kind in enumerate(kinds):
                if type(child) is kind:
                    total[k] += 1
                elif below is not None:
                    total[k] += below[k]
        memo[id(node)] = (node, total)
        return total

    def verify_action_counts(self: Any, node: Any) -> Any:
        add, remove, set_ = counts(self, node)
        if add > 1:
            raise TooManyClauses("ADD")
        if remove > 1:
            raise TooManyClauses("REMOVE")
        if set_ > 1:
            raise TooManyClauses("SET")
        return node

    verify_action_counts.__wrapped__ = original_verify  # type: ignore[attr-defined]
    ActionCountValidator.verify_action_counts = verify_action_counts

    # The overlapping-paths pass checks at every node of the tree that is an UpdateExpression
    # (every clause, action, path and value is one), collecting the actions below it each
    # time: quadratic, and worse with its pairwise path comparison. The actions below any node
    # are a subset of the root's, so a clean root means a clean tree: the root is checked, and
    # only when it fails are the nodes checked in moto's order, to raise the same error.
    from moto.dynamodb.parsing.validators import OverlappingPathsValidator

    original_overlaps = OverlappingPathsValidator.check_for_overlapping_paths
    expression = ast_nodes.UpdateExpression

    def in_walk_order(node: Any) -> list[Any]:
        found: list[Any] = []

        def walk(current: Any) -> None:
            for child in current.children or []:
                if isinstance(child, Node):
                    walk(child)
            if isinstance(current, expression):
                found.append(current)

        walk(node)
        return found

    def check_for_overlapping_paths(self: Any, node: Any) -> Any:
        if node.parent is not None:
            return node
        try:
            return original_overlaps(self, node)
        except Exception:
            for inner in in_walk_order(node):
                original_overlaps(self, inner)
            raise

    check_for_overlapping_paths.__wrapped__ = original_overlaps  # type: ignore[attr-defined]
    OverlappingPathsValidator.check_for_overlapping_paths = check_for_overlapping_paths


def workflow_paths_parse_once() -> None:
    """moto's ASL interpreter parses every JSONPath (``$.order_id``, ``$.result``) with
    ``jsonpath_ng`` each time a state reads or writes one — a new PLY parser each time, for a
    handful of fixed strings per definition. A parsed path is immutable (``find`` and
    ``update`` only read it): one parse per path string serves every execution."""
    if not _once("workflow_paths_parse_once"):
        return
    import functools

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        original = module.parse
        cached = functools.lru_cache(maxsize=1024)(original)
        cached.__wrapped__ = original
        module.parse = cached


_IMMUTABLE = (str, int, float, bool, type(None))


class _NotATree(Exception):
    """The AST shares a node or points a parent elsewhere: ``deepcopy`` keeps such a graph."""


def copy_update_ast(node: Any) -> Any:
    """What ``copy.deepcopy`` makes of a parsed UpdateExpression (a tree of moto ``Node``s whose
    ``parent`` is the node holding them), made directly; any other graph goes to deepcopy."""
    import copy

    from moto.dynamodb.parsing.ast_nodes import Node

    seen: set[int] = set()

    def clone(old: Any, parent: Any) -> Any:
        if id(old) in seen:
            raise _NotATree
        seen.add(id(old))
        new = object.__new__(type(old))
        for name, value in old.__dict__.items():
            if name not in ("parent", "children"):
                value = value if type(value) in _IMMUTABLE else copy.deepcopy(value)
            new.__dict__[name] = value
        new.parent = parent
        if old.children is not None:
            children = []
            for child in old.children:
                if isinstance(child, Node):
                    if child.parent is not old:
                        raise _NotATree
                    child = clone(child, new)
                elif type(child) not in _IMMUTABLE:
                    child = copy.deepcopy(child)
                children.append(child)
            new.children = children
        return new

    if not isinstance(node, Node) or node.parent is not None:
        return copy.deepcopy(node)
    try:
        return clone(node, None)
    except _NotATree:
        return copy.deepcopy(node)


def update_expressions_copy_directly() -> None:
    """moto validates an UpdateExpression on a ``deepcopy`` of its parsed tree (the validation
    rewrites the tree, and a new item's update validates the same tree twice). ``deepcopy``
    walks every node through its generic machinery (a memo, ``__reduce_ex__``); the tree is
    plain — nodes, their children, strings — so it is copied directly, to the same tree."""
    if not _once("update_expressions_copy_directly"):
        return
    from moto.dynamodb.parsing.validators import Validator

    original = Validator.__init__

    def __init__(self: Any, expression: Any, expression_attribute_names: Any, expression_attribute_values: Any,
                 item: Any, table: Any) -> None:
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = copy_update_ast(expression)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    Validator.__init__ = __init__


def user_pools_share_their_signing_key() -> None:
    """moto gives every Cognito user pool the same RSA key (one JWK file in its package) and
    parses it with ``joserfc`` at each ``CreateUserPool`` — the private key's checks take
    ~80 ms, half of what creating the whole system's resources costs (``bootstrap.create_all``,
    once per test). The key is only read (to sign tokens): parsed once, shared by every pool."""
    if not _once("user_pools_share_their_signing_key"):
        return
    import types

    from moto.cognitoidp import models

    jwk = models.jwk
    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    class RSAKey:
        def __getattr__(self, name: str) -> Any:
            return getattr(jwk.RSAKey, name)

        @staticmethod
        def import_key(value: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs or not isinstance(value, dict):
                return jwk.RSAKey.import_key(value, *args, **kwargs)
            text = json.dumps(value, sort_keys=True)
            with lock:
                if text not in parsed:
                    parsed[text] = jwk.RSAKey.import_key(value)
                return parsed[text]

    shim = types.SimpleNamespace(**{name: getattr(jwk, name) for name in dir(jwk) if not name.startswith("__")})
    shim.RSAKey = RSAKey()
    shim.__wrapped__ = jwk
    models.jwk = shim


def actions_are_looked_up_once_per_class() -> None:
    """moto finds the method of each request's action by listing every function of the
    handler class (``inspect.getmembers``: a few hundred ``getattr`` calls and a sort) — at
    every call. A handler class's methods do not change while the process runs: the list is
    made once per class."""
    if not _once("actions_are_looked_up_once_per_class"):
        return
    from moto.core import responses

    original = responses.method_names_from_class
    names: dict[Any, frozenset[str]] = {}

    def method_names_from_class(clazz: Any) -> frozenset[str]:
        found = names.get(clazz)
        if found is None:
            found = names[clazz] = frozenset(original(clazz))
        return found

    method_names_from_class.__wrapped__ = original  # type: ignore[attr-defined]
    responses.method_names_from_class = method_names_from_class


def server_knows_its_services() -> None:
    """The moto server routes each request by asking ``list_of_moto_modules()`` whether the
    host names a service — a ``listdir`` of moto's package and a ``stat`` of each entry, twice
    per request. The package does not change while the server runs: list it once."""
    if not _once("server_knows_its_services"):
        return
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


def workflow_tasks_share_clients() -> None:
    """moto's ASL interpreter calls ``boto_client_for(region, service)`` for every Task —
    a new boto3 client each time (several ms of CPU: endpoint rules, the service model's
    handlers), for a call that takes a fraction of that. Its clients carry no per-execution
    state (fixed fake credentials and config; the execution's credentials are ignored), and
    boto3 clients are thread-safe: one per (region, service, in-process or server) serves
    every Task of every execution."""
    if not _once("workflow_tasks_share_clients"):
        return
    import sys

    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, bool], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, bool(botocore_stubber.enabled))
        with lock:
            if key not in cache:
                cache[key] = original(region=region, service=service, state_credentials=state_credentials)
            return cache[key]

    boto_client_for.__wrapped__ = original  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for
    # the interpreter's modules import the function by name: those imported already keep the old one
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.stepfunctions") and \
                getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for


def in_process_failures_are_500s() -> None:
    """The app calls moto in-process (``local/stack.py``). When moto itself fails — e.g. its
    Cognito iterating a dict of users that a concurrent registration grows — the server
    answers HTTP 500, which botocore's retry mode retries; in-process the exception would
    reach the app's handler raw and become an internal error of the API. The replacement
    answers such a failure as the server does: a 500 (logged), so the call is retried."""
    if not _once("in_process_failures_are_500s"):
        return
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        try:
            return original(self, request)
        except Exception as exc:  # noqa: BLE001 - what moto's server turns into a 500
            log.warning("moto failed in-process", extra={"fields": {
                "url": str(getattr(request, "url", ""))[:200], "error_type": type(exc).__name__,
                "error": str(exc)[:500]}})
            body = json.dumps({"__type": "InternalFailure", "message": f"{type(exc).__name__}: {exc}"})
            return 500, {"Content-Type": "application/x-amz-json-1.1"}, body

    process_request.__wrapped__ = original  # type: ignore[attr-defined]
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


def parse_each_definition_once() -> None:
    """moto parses a state machine's ASL with an ANTLR grammar at every ``StartExecution``:
    ~0.2 s of CPU for the order workflow, under the GIL of the one process that also serves the
    API — the largest cost of a checkout on the local stack (``bench/http_bench.py``). The
    parsed program keeps no execution state (each execution's state lives in its own
    ``Environment``; the workflow uses only Task, Choice, Succeed and Fail states), so one
    parse per definition serves every execution. AWS's service does not parse per execution
    either."""
    if not _once("parse_each_definition_once"):
        return
    import functools

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    parse = functools.lru_cache(maxsize=16)(AmazonStateLanguageParser.parse)
    parsing = threading.Lock()  # executions started together wait for one parse, not one each

    def _get_evaluation_entrypoint(self: Any) -> Any:
        with parsing:
            return parse(self._evaluation_details.state_machine_details.definition)[0]

    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint


def callbacks_skip_starting_executions() -> None:
    """moto answers ``SendTaskSuccess``/``SendTaskHeartbeat`` by asking every RUNNING execution
    whether it waits on the token, through its worker's environment — which a just-started
    execution has not built yet (``env`` is None until its thread runs). One such execution
    anywhere turns every callback into an ``AttributeError`` (a 500 from the server). An
    execution without an environment waits on nothing: the replacement leaves it out of the
    callback lookup, as AWS would."""
    if not _once("callbacks_skip_starting_executions"):
        return
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions

    def _get_executions(self: Any, execution_status: Any = None) -> list[Any]:
        found = original(self, execution_status)
        if execution_status != ExecutionStatus.RUNNING:
            return found
        return [e for e in found if getattr(getattr(e, "exec_worker", None), "env", None) is not None]

    StepFunctionsParserBackend._get_executions = _get_executions


def path_parameters_are_decoded() -> None:
    """A path parameter reaches the handler percent-decoded, as API Gateway passes it (a
    client may encode the ``:`` of a wallet transaction id; ids never contain ``%``)."""
    if not _once("path_parameters_are_decoded"):
        return
    import urllib.parse

    from chalice import local as chalice_local

    original = chalice_local.RouteMatcher.match_route

    def match_route(self: Any, url: str) -> Any:
        found = original(self, url)
        return found._replace(captured={k: urllib.parse.unquote(v) for k, v in found.captured.items()})

    chalice_local.RouteMatcher.match_route = match_route


def unknown_paths_are_problem_404() -> None:
    """Chalice's local gateway answers a path no route has as API Gateway does by default:
    403 ``Missing Authentication Token`` in plain JSON. The deployed API maps that gateway
    response to a 404 problem document; this does the same locally."""
    if not _once("unknown_paths_are_problem_404"):
        return
    from chalice import local as chalice_local

    from chalicelib.config import settings
    from chalicelib.errors import no_route_problem

    original = chalice_local.LocalGateway.handle_request

    def handle_request(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except chalice_local.ForbiddenError as exc:
            text = exc.body or b""
            if not (text.startswith(b'{"message": "Missing Authentication Token"')
                    or text.startswith(b'{"message": "Authorization header requires')):
                raise
            return {"statusCode": 404, "headers": {"Content-Type": "application/problem+json"},
                    "multiValueHeaders": {}, "body": json.dumps(no_route_problem(settings().public_base_url))}

    chalice_local.LocalGateway.handle_request = handle_request


_PLAIN_HEADER = re.compile(r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n")


def parse_headers_directly(fp: Any, _class: Any = None) -> Any:
    """What ``http.client.parse_headers`` returns, without the ``email`` feed parser when every
    line is a plain ``Name: value`` (no folding, no stray CR, no ``From `` line): the same
    message class holding the same ``(name, value)`` pairs (compat32: value left-stripped of
    blanks, line end dropped) and an empty body. Anything else goes to the original parser."""
    import http.client

    lines = http.client._read_headers(fp)
    cls = _class or http.client.HTTPMessage
    text = [line.decode("iso-8859-1") for line in lines]
    body = text[:-1] if text and text[-1] in ("\r\n", "\n", "") else None
    if body is None or not all(_PLAIN_HEADER.fullmatch(line) and not line.startswith("From ") for line in body):
        import email.parser

        return email.parser.Parser(_class=cls).parsestr("".join(text))
    message = cls()
    for line in body:
        name, value = line.split(":", 1)
        message._headers.append((name, value.lstrip(" \t").rstrip("\r\n")))
    message.set_payload("")
    return message


def request_headers_parse_directly() -> None:
    """The dev server (and any ``http.client`` response in this process) parses headers with
    ``parse_headers_directly``; guarded by ``tests/unit/test_local_moto_speedups.py``."""
    if not _once("request_headers_parse_directly"):
        return
    import http.client

    original = http.client.parse_headers
    parse_headers_directly.__wrapped__ = original  # type: ignore[attr-defined]
    http.client.parse_headers = parse_headers_directly


def dynamodb_calls_skip_signing() -> None:
    """The stack's own DynamoDB calls go to moto in this process unsigned (see the module
    docstring); calls from other processes to the moto server are signed as before."""
    if not _once("dynamodb_calls_skip_signing"):
        return
    from botocore.signers import RequestSigner

    original = RequestSigner.sign

    def sign(self: Any, operation_name: str, request: Any, *args: Any, **kwargs: Any) -> None:
        if self._service_id.hyphenize() == "dynamodb" and ".amazonaws.com" in request.url:
            return None  # in-process (a call to the moto server's URL carries its region in the signature)
        return original(self, operation_name, request, *args, **kwargs)

    sign.__wrapped__ = original  # type: ignore[attr-defined]
    RequestSigner.sign = sign


def put_bodies_are_raw_bytes() -> None:
    """``curl -X PUT --data-binary @feed.csv <presigned URL>`` labels the body
    ``application/x-www-form-urlencoded``. S3 stores a PUT's bytes whatever the label; moto's
    server parses them as a form instead — it stores nothing, and hangs on a body that is not
    UTF-8 (a windows-1251 feed). AWS's query APIs send forms with POST only, so a form PUT is
    handed to moto as ``application/octet-stream``."""
    if not _once("put_bodies_are_raw_bytes"):
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:  # noqa: N807 - the WSGI entry
        if environ.get("REQUEST_METHOD") == "PUT" and str(environ.get("CONTENT_TYPE", "")).startswith(
                "application/x-www-form-urlencoded"):
            environ["CONTENT_TYPE"] = "application/octet-stream"
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = __call__


def moto_speedups() -> None:
    """The patches that make moto faster without changing any answer it gives (checked
    against moto's own answers in ``tests/unit/test_local_moto_speedups.py``; transactions in
    ``tests/functional/test_local_patches.py``): the local stack applies them, and so does
    ``tests/conftest.py`` for every test's in-process moto."""
    item_level_transactions()
    parse_each_definition_once()
    query_reads_one_partition()
    attribute_values_serialize_directly()
    attribute_values_parse_directly()
    update_expressions_parse_once()
    attribute_values_copy_directly()
    attribute_sizes_add_up_directly()
    update_expressions_validate_in_linear_time()
    update_expressions_copy_directly()
    actions_are_looked_up_once_per_class()
    workflow_paths_parse_once()
    user_pools_share_their_signing_key()


def apply_in_process() -> None:
    """Every patch that needs no server: what ``python -m local`` applies first."""
    silence_xray()
    run_lambdas_in_process()
    serialize_dynamodb()
    per_thread_current_request()
    larger_listen_backlog()
    quiet_stepfunctions_interpreter()
    moto_speedups()
    server_knows_its_services()
    workflow_tasks_share_clients()
    in_process_failures_are_500s()
    callbacks_skip_starting_executions()
    unknown_paths_are_problem_404()
    path_parameters_are_decoded()
    put_bodies_are_raw_bytes()
    request_headers_parse_directly()
    dynamodb_calls_skip_signing()
