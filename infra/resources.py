"""The one definition of every AWS resource the system needs.

Both the deploy template (``infra/template.py`` merges these into ``chalice package``) and
the local stack (``local/bootstrap.py`` creates them in moto) read this module, so the two
can never drift apart. Shapes are CloudFormation ``Properties``; ``table_api_params``
turns a table definition into ``CreateTable`` arguments.

Each table belongs to one bounded context; its key grammar lives in ``chalicelib/store/keys.py``.
The environment variable named by ``env`` carries the physical table name to the Lambdas.
"""

from __future__ import annotations

import json
import re
from copy import deepcopy
from pathlib import Path
from typing import Any

from chalicelib.events import names as _names  # the Lambda package's copy of shared names

TTL_ATTRIBUTE = "ttl"


def _table(*, gsis: int, ttl: bool = False, stream: bool = False) -> dict[str, Any]:
    """A pay-per-request table keyed by (PK, SK) with ``gsis`` generic string GSIs.

    Generic index names (GSI1..GSIn, keys GSInPK/GSInSK) keep every access pattern in the
    keys module instead of in the infrastructure: a new pattern reuses an index.
    """
    attrs = [{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}]
    indexes = []
    for n in range(1, gsis + 1):
        attrs += [
            {"AttributeName": f"GSI{n}PK", "AttributeType": "S"},
            {"AttributeName": f"GSI{n}SK", "AttributeType": "S"},
        ]
        indexes.append(
            {
                "IndexName": f"GSI{n}",
                "KeySchema": [
                    {"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                    {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    props: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": attrs,
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if indexes:
        props["GlobalSecondaryIndexes"] = indexes
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    if stream:
        props["StreamSpecification"] = {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    return props


# logical id -> (environment variable, CloudFormation properties)
TABLES: dict[str, dict[str, Any]] = {
    # users' profiles, seller shops, revoked sessions
    "AccountsTable": {"env": "ACCOUNTS_TABLE", "props": _table(gsis=2, ttl=True)},
    # products, categories, product listings per sort, feed imports and their reports
    "CatalogTable": {"env": "CATALOG_TABLE", "props": _table(gsis=4, ttl=True)},
    # the search index (terms -> products)
    "SearchTable": {"env": "SEARCH_TABLE", "props": _table(gsis=1)},
    # carts, orders, order timelines, action links, workflow task tokens
    "CommerceTable": {"env": "COMMERCE_TABLE", "props": _table(gsis=5, ttl=True)},
    # wallets, ledger transactions and entries, holds
    "LedgerTable": {"env": "LEDGER_TABLE", "props": _table(gsis=2)},
    # idempotency keys of money- and order-creating requests
    "IdempotencyTable": {"env": "IDEMPOTENCY_TABLE", "props": _table(gsis=0, ttl=True)},
}

FEEDS_PREFIX = "feeds/"
REPORTS_PREFIX = "reports/"
CHUNKS_PREFIX = "chunks/"  # a big feed's chunk files (services/feed_chunks.py)
FEED_SUFFIXES = (".yml", ".xml", ".csv", ".tsv", ".txt", ".gz", ".zip")

ROLES = ("customer", "seller", "support", "catalog_operator", "admin")

PASSWORD_POLICY = {
    "MinimumLength": 8,
    "RequireLowercase": True,
    "RequireUppercase": False,
    "RequireNumbers": True,
    "RequireSymbols": False,
}

USER_POOL_CLIENT_FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
# API Gateway stage throttling (requests per second, steady and burst), across all clients
API_THROTTLE_RATE = 200
API_THROTTLE_BURST = 400

# Import queue: a failed import is retried, then parked in the dead-letter queue.
IMPORT_QUEUE_VISIBILITY_SECONDS = 900
IMPORT_QUEUE_MAX_RECEIVES = 3
# Chunks of one big feed (and other imports) the queue's event-source mapping runs at once: the
# write budget of docs/feed-formats.md ("Feeds beyond one function run") — one seller's
# listing partition takes ~1,000 write units/s, so more workers only queue on it
IMPORT_MAX_CONCURRENCY = 5
IMPORT_CHUNK_OFFERS = 50_000  # a feed with more valid offers is split into chunks of this many

STATE_MACHINE_FILE = "statemachines/order.asl.json"
STATE_MACHINE_NAME_SUFFIX = "order-workflow"
# A return's life is a state machine of its own (``services/return_workflow.py`` says why)
RETURN_STATE_MACHINE_FILE = "statemachines/return.asl.json"
RETURN_STATE_MACHINE_NAME_SUFFIX = "return-workflow"


def table_api_params(logical_id: str, name: str) -> dict[str, Any]:
    """``CreateTable`` arguments for one table of ``TABLES`` (TTL is a separate call)."""
    props = deepcopy(TABLES[logical_id]["props"])
    props.pop("TimeToLiveSpecification", None)
    props.pop("PointInTimeRecoverySpecification", None)
    sse = props.pop("SSESpecification", None)
    params: dict[str, Any] = {"TableName": name, **props}
    if sse:
        params["SSESpecification"] = {"Enabled": True}
    stream = params.pop("StreamSpecification", None)
    if stream:
        params["StreamSpecification"] = {"StreamEnabled": True, **stream}
    return params


def has_ttl(logical_id: str) -> bool:
    return "TimeToLiveSpecification" in TABLES[logical_id]["props"]


# --- the application, its functions and the wiring between them -------------------------

APP_NAME = "marketplace"
API_FUNCTION = _names.API_FUNCTION
IMPORT_FUNCTION = _names.IMPORT_FUNCTION
WORKFLOW_FUNCTION = _names.WORKFLOW_FUNCTION
RETURN_WORKFLOW_FUNCTION = _names.RETURN_WORKFLOW_FUNCTION
RECONCILE_FUNCTION = _names.RECONCILE_FUNCTION
RECONCILE_RATE_MINUTES = _names.RECONCILE_RATE_MINUTES
FETCH_FEEDS_FUNCTION = _names.FETCH_FEEDS_FUNCTION
FETCH_FEEDS_RATE_MINUTES = _names.FETCH_FEEDS_RATE_MINUTES
IMPORT_QUEUE_NAME = _names.IMPORT_QUEUE_NAME

ALL_TABLES = tuple(TABLES)

# Chalice function name -> how it is wired. ``logical_id`` is the resource ``chalice package``
# emits for it; ``handler`` is its Lambda handler string (``module.attribute``), which the
# local stack registers in moto and ``local/patches.py`` resolves in-process; ``tables`` are
# the tables its IAM role may read and write and ``grants`` the other permissions it has
# (named in ``infra/template.py``). Least privilege: add a table or grant here when a function
# starts using it, or AWS denies the call while the local run does not.
FUNCTIONS: dict[str, dict[str, Any]] = {
    API_FUNCTION: {
        "logical_id": "APIHandler",
        "handler": "app.app",
        "tables": ALL_TABLES,
        "grants": ("accounts", "feed-uploads", "workflow-control", "return-workflow-control", "email"),
        "memory": 512,
        "timeout": 30,
    },
    IMPORT_FUNCTION: {
        "logical_id": "ImportFeed",
        "handler": "chalicelib.events.imports.import_feed",
        "tables": ("AccountsTable", "CatalogTable", "SearchTable"),
        "grants": ("feed-reads", "import-queue", "import-chunks"),
        "memory": 1024,
        "timeout": 900,
    },
    WORKFLOW_FUNCTION: {
        "logical_id": "OrderWorkflow",
        "handler": "chalicelib.events.workflow.order_workflow",
        "tables": ("AccountsTable", "CatalogTable", "CommerceTable", "LedgerTable"),
        "grants": ("email", "workflow-control"),
        "memory": 512,
        "timeout": 60,
    },
    RETURN_WORKFLOW_FUNCTION: {
        "logical_id": "ReturnWorkflow",
        "handler": "chalicelib.events.workflow.return_workflow",
        # emails the shop and the customer, and accepts at the deadline: the ledger's return
        # transaction (wallets, hold, seller money), the order's counts, the restock
        "tables": ("AccountsTable", "CatalogTable", "CommerceTable", "LedgerTable"),
        "grants": ("email", "return-workflow-control"),
        "memory": 512,
        "timeout": 60,
    },
    RECONCILE_FUNCTION: {
        "logical_id": "ReconcileOrders",
        "handler": "chalicelib.events.reconcile.reconcile_orders",
        # it winds up an order whose execution ended early with the workflow's compensation,
        # and removes unverified accounts a week old (identity included: "accounts")
        # and fails a chunked feed import that stopped moving: it undoes the products (search
        # postings too), reads the chunk files' row errors, writes the report (services/feed_chunks.py)
        "tables": ("AccountsTable", "CatalogTable", "CommerceTable", "LedgerTable", "SearchTable"),
        # and starts the workflow of a return whose start was lost (services/returns.py)
        "grants": ("accounts", "email", "workflow-control", "return-workflow-control", "feed-reads",
                   "import-chunk-reads"),
        "memory": 256,
        "timeout": 900,  # a stalled import's undo; the orders' pass takes seconds
    },
    FETCH_FEEDS_FUNCTION: {
        "logical_id": "FetchFeeds",
        "handler": "chalicelib.events.feed_sources.fetch_feeds",
        # reads the shop (email), writes the source and the import record, puts the fetched
        # file in the feeds bucket (the import queue takes it from there), emails failures;
        # stores the central banks' daily rates (services/rates.py) in the catalog table
        "tables": ("AccountsTable", "CatalogTable"),
        "grants": ("feed-uploads", "email"),
        "memory": 512,
        "timeout": 900,
    },
}
# Declared on every function by the merge template (``infra/template.py``). Chalice 1.34 knows
# python3.10 to python3.14 (python3.15 for anything newer) but always packages for the Python
# that runs it: the vendored binary wheels (pydantic-core) are built for that version, so the
# runtime must be the build Python's. ``make template`` refuses a mismatch (``runtime_check``).
# Moving up (python3.14, the newest Chalice supports) = building and testing with that Python.
LAMBDA_RUNTIME = "python3.11"

# The import queue and its dead-letter queue (logical ids; properties as CloudFormation).
IMPORT_QUEUE_ID = "ImportQueue"
IMPORT_QUEUE_SUFFIX = "feed-imports"  # local queue name: <prefix>-feed-imports (+ "-dlq")
IMPORT_DLQ_ID = "ImportDeadLetterQueue"
IMPORT_DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# S3 -> queue: which uploads start an import.
FEEDS_NOTIFICATION_EVENTS = ("s3:ObjectCreated:*",)
FEEDS_NOTIFICATION_PREFIX = FEEDS_PREFIX
# A seller's browser may PUT a feed to its presigned URL, or POST it with its presigned form,
# from any origin (the URL or the signed form is the credential). CloudFormation's shape;
# ``feeds_cors_api`` gives PutBucketCors's.
FEEDS_CORS_RULES = [{"AllowedMethods": ["POST"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*"],
                     "ExposedHeaders": ["ETag"], "MaxAge": 3600}]


def feeds_cors_api() -> dict[str, Any]:
    return {"CORSRules": [{"AllowedMethods": r["AllowedMethods"], "AllowedOrigins": r["AllowedOrigins"],
                           "AllowedHeaders": r["AllowedHeaders"], "ExposeHeaders": r["ExposedHeaders"],
                           "MaxAgeSeconds": r["MaxAge"]} for r in FEEDS_CORS_RULES]}

# The state machine definition's ``${Name}`` placeholders -> the Chalice function whose ARN
# replaces it (CloudFormation ``DefinitionSubstitutions`` / ``local/bootstrap.py``).
STATE_MACHINE_SUBSTITUTIONS: dict[str, str] = {"OrderWorkflowFunctionArn": WORKFLOW_FUNCTION}
RETURN_STATE_MACHINE_SUBSTITUTIONS: dict[str, str] = {"ReturnWorkflowFunctionArn": RETURN_WORKFLOW_FUNCTION}

# Per-stage settings of the functions' environment (seconds for the timeouts). They live here,
# not in ``.chalice/config.json``: ``chalice.test.Client`` would swap a stage's variables into
# ``os.environ`` during every test request. The template sets them per stage; the local stack
# uses "local" and lets the caller's environment override each (tests set a few seconds).
STAGE_SETTINGS: dict[str, dict[str, str]] = {
    "local": {
        "STAGE": "local",
        "RECONCILE_GRACE_SECONDS": "10",
        "PAYMENT_TIMEOUT_SECONDS": str(15 * 60),
        "SELLER_TIMEOUT_SECONDS": str(30 * 60),
        "SHIPMENT_TIMEOUT_SECONDS": str(60 * 60),
        "DELIVERY_AUTO_SECONDS": str(60 * 60),
    },
    "dev": {
        "STAGE": "dev",
        "METRICS_ENABLED": "true",
        "PAYMENT_TIMEOUT_SECONDS": str(30 * 60),
        "SELLER_TIMEOUT_SECONDS": str(2 * 3600),
        "SHIPMENT_TIMEOUT_SECONDS": str(24 * 3600),
        "DELIVERY_AUTO_SECONDS": str(24 * 3600),
    },
    "prod": {
        "STAGE": "prod",
        "METRICS_ENABLED": "true",
        "PAYMENT_TIMEOUT_SECONDS": str(30 * 60),
        "SELLER_TIMEOUT_SECONDS": str(48 * 3600),
        "SHIPMENT_TIMEOUT_SECONDS": str(7 * 24 * 3600),
        "DELIVERY_AUTO_SECONDS": str(14 * 24 * 3600),
    },
}
COMMON_SETTINGS = {"DEFAULT_LANG": "ru", "DEFAULT_CURRENCY": "RUB", "LINK_TTL_SECONDS": str(72 * 3600)}

SES_SENDER_LOCAL = "no-reply@marketplace.local"


def import_queue_properties(dlq_arn: Any) -> dict[str, Any]:
    """The import queue: visible again after the import function's timeout, parked after
    ``IMPORT_QUEUE_MAX_RECEIVES`` failed receives."""
    return {
        "VisibilityTimeout": IMPORT_QUEUE_VISIBILITY_SECONDS,
        "RedrivePolicy": {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": IMPORT_QUEUE_MAX_RECEIVES},
    }


def dead_letter_queue_properties() -> dict[str, Any]:
    return {"MessageRetentionPeriod": IMPORT_DLQ_RETENTION_SECONDS}


def state_machine_name(prefix: str) -> str:
    return f"{prefix}-{STATE_MACHINE_NAME_SUFFIX}"


def return_state_machine_name(prefix: str) -> str:
    return f"{prefix}-{RETURN_STATE_MACHINE_NAME_SUFFIX}"


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")


def state_machine_definition(root: Path | None = None, *, file: str = STATE_MACHINE_FILE) -> dict[str, Any]:
    """The ASL document, placeholders untouched (as the template embeds it)."""
    base = root or Path(__file__).resolve().parents[1]
    return json.loads((base / file).read_text(encoding="utf-8"))


def return_state_machine_definition(root: Path | None = None) -> dict[str, Any]:
    return state_machine_definition(root, file=RETURN_STATE_MACHINE_FILE)


def definition_placeholders(definition: dict[str, Any]) -> set[str]:
    return set(_PLACEHOLDER.findall(json.dumps(definition)))


def substitute(definition: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """Replace every ``${Name}`` in the definition; an unknown placeholder is an error, so a
    new one cannot reach moto or AWS unresolved."""
    missing = definition_placeholders(definition) - set(values)
    if missing:
        raise KeyError(f"no value for state machine placeholder(s): {', '.join(sorted(missing))}")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
        return node

    return walk(definition)
