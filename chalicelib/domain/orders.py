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

``Order`` (with its ``OrderLine``s and ``Delivery``) is the order as a typed record, built
from the stored item at the store's boundary.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


# --- the order as a record -------------------------------------------------------------------

# Per-line return counters on the order item (``<prefix><line index>``): units claimed by
# returns asked for (a rejection gives them back), and units of accepted returns.
RETURNED_QTY, ACCEPTED_QTY = "returned_qty_", "accepted_qty_"


@dataclass(frozen=True)
class OrderLine:
    """One product of an order, at the price it was bought."""

    product_id: str
    name: str
    price: int
    quantity: int
    line_total: int
    reserved: bool = False  # the checkout took the units off the product's stock
    returned: int = 0  # units claimed by returns (``RETURNED_QTY``)
    accepted: int = 0  # units of accepted returns (``ACCEPTED_QTY``)


@dataclass(frozen=True)
class Delivery:
    method_id: str
    name: str
    price: int
    days: int | None = None


@dataclass(frozen=True)
class Order:
    """An order as stored (``store/orders.py`` draws the item and builds this from it): what the
    services and the views read of it, typed. Store bookkeeping (``stock_released``, the applied
    event ids, the index keys) stays in the store."""

    order_id: str
    customer_id: str
    seller_id: str
    status: str
    total: int
    currency: str
    items: tuple[OrderLine, ...] = ()
    checkout_id: str = ""
    seller_name: str = ""
    delivery: Delivery | None = None
    items_total: int = 0
    delivery_price: int = 0
    discount: int = 0  # what promo codes took off the items (``discounts`` itemizes it)
    payment_method: str = "wallet"
    marketplace_discount: int = 0  # the marketplace's promotion: it pays this part of the total
    seller_discount: int = 0
    fee_amount: int = 0  # the marketplace's fee, once captured
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    cancel_note: str | None = None  # what the canceller wrote (shown to the customer)
    tracking_number: str | None = None
    created_at: str = ""
    updated_at: str = ""
    timeline: tuple[Mapping[str, Any], ...] = ()  # {event_id, type, at, actor, detail, status?}, oldest first
    address: Mapping[str, Any] | None = None  # where it goes, as the customer wrote it
    discounts: tuple[Mapping[str, Any], ...] = ()  # {code, amount, funded_by}: the promo codes it redeemed

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Order:
        """The record of a stored order item (or of one a checkout is about to place)."""
        delivery = item.get("delivery")
        return cls(
            order_id=str(item["order_id"]), customer_id=str(item["customer_id"]), seller_id=str(item["seller_id"]),
            status=str(item["status"]), total=int(item["total"]), currency=str(item["currency"]),
            items=tuple(OrderLine(product_id=str(i["product_id"]), name=str(i.get("name", "")), price=int(i["price"]),
                                  quantity=int(i["quantity"]), line_total=int(i.get("line_total", 0)),
                                  reserved=bool(i.get("reserved", False)),
                                  returned=int(item.get(f"{RETURNED_QTY}{n}", 0)),
                                  accepted=int(item.get(f"{ACCEPTED_QTY}{n}", 0)))
                        for n, i in enumerate(item.get("items") or [])),
            checkout_id=str(item.get("checkout_id", "")), seller_name=str(item.get("seller_name") or ""),
            delivery=None if not delivery else Delivery(
                method_id=str(delivery["method_id"]), name=str(delivery.get("name", "")),
                price=int(delivery.get("price", 0)),
                days=None if delivery.get("days") is None else int(delivery["days"])),
            items_total=int(item.get("items_total", 0)), delivery_price=int(item.get("delivery_price", 0)),
            discount=int(item.get("discount", 0)),
            payment_method=str(item.get("payment_method") or "wallet"),
            marketplace_discount=int(item.get("marketplace_discount", 0)),
            seller_discount=int(item.get("seller_discount", 0)), fee_amount=int(item.get("fee_amount", 0)),
            cancelled_by=item.get("cancelled_by"), cancel_reason=item.get("cancel_reason"),
            cancel_note=item.get("cancel_note"), tracking_number=item.get("tracking_number"),
            created_at=str(item.get("created_at", "")), updated_at=str(item.get("updated_at", "")),
            timeline=tuple(item.get("timeline") or ()),
            address=item.get("address") or None, discounts=tuple(item.get("discounts") or ()),
        )
