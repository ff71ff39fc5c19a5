"""The daily currency rates YML feeds name (``rate="CBRF"``, ``NBU``, ``NBK``, ``CB``).

``refresh`` runs in the scheduled feed fetcher (``events/feed_sources.py``: a schedule that
already runs every few minutes and already has network access, rather than a function, rule,
role and local timer of its own): a bank whose rates were not fetched yet today (UTC) is fetched
through the safe fetcher (``adapters/feed_fetch.py``: public addresses only, size and time
capped), parsed (``feeds/rates.py``) and stored (``store/rates.py``). On the local stage and in
tests the banks' documents are the fixtures in ``local/rates/`` (same formats, no network).
A bank that cannot be reached keeps its previous table; a table older than ``MAX_AGE_DAYS``
(banks do not publish on holidays) is not used: offers that need it are rejected with the
reason ("no CBRF rates are available today").

``named_rates()`` gives the import a ``feeds.rates.NamedRates`` that reads the table only when
a feed names a source.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from chalicelib import logs
from chalicelib.adapters import feed_fetch
from chalicelib.config import settings
from chalicelib.feeds.rates import PARSERS, SOURCES, NamedRates, Table
from chalicelib.store import rates as store

MAX_AGE_DAYS = 5
MAX_BYTES = 2 * 1024 * 1024
FETCH_SECONDS = 20.0
FIXTURES = Path(__file__).resolve().parents[2] / "local" / "rates"
URLS = {
    "CBRF": "https://www.cbr.ru/scripts/XML_daily.asp",
    "NBU": "https://bank.gov.ua/NBUStatService/v1/statdirectory/exchange?json",
    "NBK": "https://nationalbank.kz/rss/get_rates.cfm?fdate={day}",  # DD.MM.YYYY
}
FIXTURE_FILES = {"CBRF": "cbrf.xml", "NBU": "nbu.json", "NBK": "nbk.xml"}


def _now() -> datetime:
    return datetime.now(UTC)


def _download(source: str, now: datetime) -> bytes:
    if settings().local:
        return (FIXTURES / FIXTURE_FILES[source]).read_bytes()
    policy = feed_fetch.FetchPolicy(max_bytes=MAX_BYTES, total_seconds=FETCH_SECONDS)
    fetched = feed_fetch.fetch(URLS[source].format(day=now.strftime("%d.%m.%Y")), policy)
    if fetched.body is None:
        raise feed_fetch.FetchRefused("no body")
    try:
        return fetched.body.read()
    finally:
        fetched.body.close()


def refresh(now: datetime | None = None) -> dict[str, int]:
    """Fetch every bank not fetched yet today; ``{"fetched", "fresh", "failed"}``."""
    now = now or _now()
    today = now.date().isoformat()
    stored = store.every()
    counts = {"fetched": 0, "fresh": 0, "failed": 0}
    for source in SOURCES:
        if (stored.get(source) or {}).get("fetched_on") == today:
            counts["fresh"] += 1
            continue
        try:
            date, table = PARSERS[source](_download(source, now))
            if not table:
                raise ValueError("the document lists no rates")
        except (feed_fetch.FetchRefused, ValueError, SyntaxError, OSError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            logs.event("currency rates not refreshed", 40, source=source, reason=reason[:300])
            counts["failed"] += 1
            continue
        store.put(source, date, table, now.isoformat(timespec="seconds").replace("+00:00", "Z"))
        logs.event("currency rates refreshed", source=source, date=date, currencies=len(table))
        counts["fetched"] += 1
    return counts


def _tables(now: datetime) -> dict[str, Table]:
    oldest = (now - timedelta(days=MAX_AGE_DAYS)).date().isoformat()
    out: dict[str, Table] = {}
    for source, item in store.every().items():
        if str(item.get("fetched_on") or "") >= oldest:
            out[source] = {str(k): Decimal(str(v)) for k, v in (item.get("rates") or {}).items()}
    return out


def named_rates(now: datetime | None = None) -> NamedRates:
    """The banks' tables for one import (read on first use, then kept for both passes)."""
    at = now or _now()
    return NamedRates(lambda: _tables(at))


def current() -> dict[str, Any]:
    """What is stored, for operators and tests: ``{source: {date, fetched_at, currencies}}``."""
    return {s: {"date": i.get("date"), "fetched_at": i.get("fetched_at"), "currencies": len(i.get("rates") or {})}
            for s, i in store.every().items()}
