"""Catalog table: the central banks' latest published rates (``PK=RATES``, one item per bank).

Each item: ``source``, ``date`` (the bank's own, as published), ``fetched_at``, ``fetched_on``
(the UTC day it was fetched) and ``rates`` (code → units of the bank's currency per 1 unit, as
decimal strings: no float ever holds a rate). One Query reads every bank's table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import Key


def _table() -> Any:
    return clients.table(settings().catalog_table)


def put(source: str, date: str, rates: dict[str, Decimal], fetched_at: str) -> None:
    _table().put_item(Item={**keys.currency_rates(source), "source": source, "date": date, "fetched_at": fetched_at,
                            "fetched_on": fetched_at[:10], "rates": {k: str(v) for k, v in sorted(rates.items())}})


def every() -> dict[str, dict[str, Any]]:
    """``{source: item}`` of every bank's latest rates."""
    resp = _table().query(KeyConditionExpression=Key("PK").eq(keys.RATES), ConsistentRead=True)
    return {i["source"]: i for i in resp.get("Items", [])}
