"""Order states, the transitions between them, and order ids.

Pure rules, standard library only. The store (``chalicelib/store/orders.py``) makes every
transition a conditional write on the state it leaves; this module says which ones exist.

    AWAITING_PAYMENT ─▶ PAID ─▶ CONFIRMED ─▶ SHIPPED ─▶ DELIVERED
          │               │          │
          └───────────────┴──────────┴──▶ CANCELLED   (customer, seller or timeout)

``AWAITING_PAYMENT`` is where checkout leaves an order; the workflow holds the money and
moves it to ``PAID``. ``DELIVERED`` and ``CANCELLED`` are final.

``WAITS`` names what the workflow waits for in each status; ``SELLER_MOVES``,
``CUSTOMER_CANCEL`` and ``RECEIVED`` are the decisions people make (``services/actions.py``
applies them): the statuses each leaves, the one it enters, and the waits it ends.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

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
PAID_OR_LATER: frozenset[str] = frozenset({PAID, CONFIRMED, SHIPPED, DELIVERED})
CONFIRMED_OR_LATER: frozenset[str] = frozenset({CONFIRMED, SHIPPED, DELIVERED})

# What the order workflow waits for (a wait kind) -> the status the order sits in meanwhile.
WAITS: dict[str, str] = {
    "payment": AWAITING_PAYMENT,
    "seller": PAID,
    "shipment": CONFIRMED,
    "receipt": SHIPPED,
}


@dataclass(frozen=True)
class Move:
    """A decision of a customer or a seller: one transition, then the waits it ends."""

    sources: frozenset[str]
    target: str
    wakes: tuple[str, ...]  # wait kinds (``WAITS``) to resume
    event: str  # timeline event type


SELLER_MOVES: dict[str, Move] = {
    "confirm": Move(frozenset({PAID}), CONFIRMED, ("seller",), "order_confirmed"),
    # Before SHIPPED the seller may still cancel (SPEC): once confirmed, the captured money is
    # refunded from their earnings. The new-order email's cancel link keeps working after the
    # confirm link was used (its own record, once, until it expires).
    "cancel": Move(frozenset({PAID, CONFIRMED}), CANCELLED, ("seller", "shipment"), "order_cancelled"),
    "ship": Move(frozenset({CONFIRMED}), SHIPPED, ("shipment",), "order_shipped"),
}
CUSTOMER_CANCEL = Move(frozenset({AWAITING_PAYMENT, PAID}), CANCELLED, ("payment", "seller"), "order_cancelled")
RECEIVED = Move(frozenset({SHIPPED}), DELIVERED, ("receipt",), "delivered")

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


def order_id(checkout_id_: str, seller_id: str, created_ms: int) -> str:
    """``o`` + creation time (12 hex digits of epoch ms) + 16 chars of sha256(checkout, seller).

    Sorts by creation time (the seller's per-status index relies on it), is the Step Functions
    execution name (29 chars of [0-9a-z]), and is fixed for a given checkout and seller.
    """
    return f"o{created_ms:012x}{_digest(checkout_id_, seller_id, length=16)}"
