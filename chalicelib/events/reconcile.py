"""The reconciler Lambda: every minute, start the workflow of orders whose start was lost.

On AWS ``chalice package`` turns the schedule into an EventBridge rule; the local stack
invokes the same function from a timer (``local/stack.py``). The work is
``services.reconcile.reconcile``.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.events import names

bp = Blueprint(__name__)


@bp.schedule(Rate(names.RECONCILE_RATE_MINUTES, unit=Rate.MINUTES), name=names.RECONCILE_FUNCTION)
def reconcile_orders(event: Any) -> dict[str, int]:
    from chalicelib import metrics
    from chalicelib.services.reconcile import reconcile

    metrics.scope.set(names.RECONCILE_FUNCTION)
    try:
        counts = reconcile()
        metrics.count("OrdersReconciled", counts.get("started", 0) + counts.get("wound_up", 0))
        return counts
    finally:
        metrics.flush(function=names.RECONCILE_FUNCTION)
