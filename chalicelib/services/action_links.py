"""The seller's emailed action links: ``issue_links`` makes the confirm / cancel / ship links of
an order for the new-order email (``services/workflow/email_plans.py``).

A link is ``{PUBLIC_BASE_URL}/actions/{token}``: a signed, expiring token of
``notify/links.py`` naming a link record (``store.workflow.ensure_link``, one per order,
seller and action), never a task token. What the link opens is ``services/action_pages.py``.
"""

from __future__ import annotations

import time

from chalicelib.config import settings
from chalicelib.domain.orders import Order
from chalicelib.notify import links as link_tokens
from chalicelib.store import workflow as wf_store


def link_url(token: str) -> str:
    return f"{settings().public_base_url}/actions/{token}"


def issue_links(order: Order) -> dict[str, str]:
    """The seller's confirm / cancel / ship links for ``order`` (the same records when asked
    again: a retried step emails the same links)."""
    cfg = settings()
    expires_at = int(time.time()) + cfg.link_ttl_seconds
    out = {}
    records = wf_store.ensure_links(order.order_id, order.seller_id, ("confirm", "cancel", "ship"),
                                    expires_at=expires_at)
    for action, record in records.items():
        token = link_tokens.make_link_token(
            cfg.link_secret, link_id=record["link_id"], order_id=order.order_id, seller_id=order.seller_id,
            action=action, expires_at=int(record["expires_at"]),
        )
        out[action] = link_url(token)
    return out
