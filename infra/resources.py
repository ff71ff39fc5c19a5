"""The one definition of every AWS resource the system needs.

Both the deploy template (``infra/template.py`` merges these into ``chalice package``) and
the local stack (``local/bootstrap.py`` creates them in moto) read this module, so the two
can never drift apart. Shapes are CloudFormation ``Properties``; ``table_api_params``
turns a table definition into ``CreateTable`` arguments.

Each table belongs to one bounded context; its key grammar lives in ``chalicelib/store/keys.py``.
The environment variable named by ``env`` carries the physical table name to the Lambdas.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

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
    "AccountsTable": {"env": "ACCOUNTS_TABLE", "props": _table(gsis=1, ttl=True)},
    # products, categories, product listings per sort, feed imports and their reports
    "CatalogTable": {"env": "CATALOG_TABLE", "props": _table(gsis=4, ttl=True)},
    # the search index (terms -> products)
    "SearchTable": {"env": "SEARCH_TABLE", "props": _table(gsis=1)},
    # carts, orders, order timelines, action links, workflow task tokens
    "CommerceTable": {"env": "COMMERCE_TABLE", "props": _table(gsis=3, ttl=True)},
    # wallets, ledger transactions and entries, holds
    "LedgerTable": {"env": "LEDGER_TABLE", "props": _table(gsis=2)},
    # idempotency keys of money- and order-creating requests
    "IdempotencyTable": {"env": "IDEMPOTENCY_TABLE", "props": _table(gsis=0, ttl=True)},
}

FEEDS_PREFIX = "feeds/"
REPORTS_PREFIX = "reports/"
FEED_SUFFIXES = (".yml", ".xml", ".csv", ".tsv", ".txt", ".gz", ".zip")

ROLES = ("customer", "seller", "admin")

PASSWORD_POLICY = {
    "MinimumLength": 8,
    "RequireLowercase": True,
    "RequireUppercase": False,
    "RequireNumbers": True,
    "RequireSymbols": False,
}

USER_POOL_CLIENT_FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]

# Import queue: a failed import is retried, then parked in the dead-letter queue.
IMPORT_QUEUE_VISIBILITY_SECONDS = 900
IMPORT_QUEUE_MAX_RECEIVES = 3

STATE_MACHINE_FILE = "statemachines/order.asl.json"
STATE_MACHINE_NAME_SUFFIX = "order-workflow"


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
