"""The feed-fetch Lambda: every few minutes, fetch the sellers' feed URLs that are due.

On AWS ``chalice package`` turns the schedule into an EventBridge rule; the local stack
invokes the same function from a timer (``local/stack.py``). The work is
``services.feed_sources.fetch_due``; what it downloads goes into the feeds bucket and from
there through the usual S3 → SQS → import path. It also refreshes, once a day, the central
banks' currency rates YML feeds may name (``services/rates.py``) — first, so the imports it
starts find today's rates.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.events import names

bp = Blueprint(__name__)


@bp.schedule(Rate(names.FETCH_FEEDS_RATE_MINUTES, unit=Rate.MINUTES), name=names.FETCH_FEEDS_FUNCTION)
def fetch_feeds(event: Any) -> dict[str, int]:
    from chalicelib import metrics
    from chalicelib.services import rates
    from chalicelib.services.feed_sources import fetch_due

    metrics.scope.set(names.FETCH_FEEDS_FUNCTION)
    try:
        refreshed = rates.refresh()
        counts = fetch_due()
        counts["rates_fetched"] = refreshed["fetched"]
        metrics.count("FeedsFetched", counts.get("fetched", 0))
        return counts
    finally:
        metrics.flush(function=names.FETCH_FEEDS_FUNCTION)
