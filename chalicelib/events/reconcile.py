"""The reconciler Lambda: every minute, start the workflow of orders whose start was lost,
remove the accounts left unverified for a week (``services.accounts.purge_unverified``),
start the workflow of an overdue return whose start was lost (``services.returns.sweep_overdue``),
expire the top-ups a payment provider never reported on (``services.wallet.expire_topups``), and
fail (and undo) a chunked feed import whose chunks stopped moving (``services.feed_chunks.sweep_stalled``).

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
    from chalicelib.services.accounts import purge_unverified
    from chalicelib.services.reconcile import reconcile

    metrics.scope.set(names.RECONCILE_FUNCTION)
    try:
        counts = reconcile()
        # Unverified accounts a week old go too. Here rather than in a function of their own:
        # one more Query of a sparse index on a schedule that already runs, no second rule,
        # role and local timer to keep in step (a TTL could drop the profile but not the
        # Cognito identity, which is what holds the address).
        counts["unverified_removed"] = purge_unverified()
        # A backstop for returns whose workflow never started (services/returns.py says why).
        from chalicelib.services.returns import sweep_overdue

        counts["returns_overdue"] = sweep_overdue()
        # Top-ups the provider never reported on expire (services/wallet.py).
        from chalicelib.services.wallet import expire_topups

        counts["topups_expired"] = expire_topups()
        # Chunked feed imports whose chunks stopped moving are failed and undone (services/feed_chunks.py).
        from chalicelib.services.feed_chunks import sweep_stalled

        counts["imports_stalled"] = sweep_stalled()
        metrics.count("OrdersReconciled", counts.get("started", 0) + counts.get("wound_up", 0))
        return counts
    finally:
        metrics.flush(function=names.RECONCILE_FUNCTION)
