"""Order states, the transitions between them, and the ids of checkouts and orders.

Pure rules, standard library only. The store (``chalicelib/store/orders.py``) makes every
transition a conditional write on the state it leaves; this module says which ones exist.

    AWAITING_PAYMENT ─▶ PAID ─▶ CONFIRMED ─▶ SHIPPED ─▶ DELIVERED
          │               │          │
          └───────────────┴──────────┴──▶ CANCELLED   (customer, seller or timeout)

``AWAITING_PAYMENT`` is where checkout leaves an order; the workflow holds the money and
moves it to ``PAID``. ``DELIVERED`` and ``CANCELLED`` are final.
"""

from __future__ import annotations

import base64
import hashlib
import re

AWAITING_PAYMENT = "AWAITING_PAYMENT"
PAID = "PAID"
CONFIRMED = "CONFIRMED"
SHIPPED = "SHIPPED"
DELIVERED = "DELIVERED"
CANCELLED = "CANCELLED"

STATUSES: tuple[str, ...] = (AWAITING_PAYMENT, PAID, CONFIRMED, SHIPPED, DELIVERED, CANCELLED)
INITIAL = AWAITING_PAYMENT

ALLOWED: dict[str, frozenset[str]] = {
    AWAITING_PAYMENT: frozenset({PAID, CANCELLED}),
    PAID: frozenset({CONFIRMED, CANCELLED}),
    CONFIRMED: frozenset({SHIPPED, CANCELLED}),
    SHIPPED: frozenset({DELIVERED}),
    DELIVERED: frozenset(),
    CANCELLED: frozenset(),
}

FINAL: frozenset[str] = frozenset(s for s, nxt in ALLOWED.items() if not nxt)

# Step Functions execution names: 1..80 characters of [A-Za-z0-9-_].
EXECUTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED.get(from_status, frozenset())


def sources_of(to_status: str) -> frozenset[str]:
    """Every status an order may leave to reach ``to_status``."""
    return frozenset(s for s, nxt in ALLOWED.items() if to_status in nxt)


def _digest(*parts: str, length: int) -> str:
    raw = hashlib.sha256("\x00".join(parts).encode()).digest()
    return base64.b32encode(raw).decode().rstrip("=").lower()[:length]


def checkout_id(customer_id: str, idempotency_key: str) -> str:
    """Deterministic: the same customer retrying with the same key gets the same checkout,
    so its record (written with ``attribute_not_exists``) can exist once only."""
    return "c" + _digest(customer_id, idempotency_key, length=26)


def order_id(checkout_id_: str, seller_id: str) -> str:
    """Deterministic per (checkout, seller): a retried checkout cannot mint a second order id,
    and the id doubles as the Step Functions execution name (27 chars of [a-z2-7])."""
    return "o" + _digest(checkout_id_, seller_id, length=26)
