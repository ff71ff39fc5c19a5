"""The double-entry ledger's rules: accounts, balanced transactions, hold states. No IO.

Every movement of money is one ``Transaction`` of ``Entry`` legs whose amounts sum to zero.
The sign convention is "balance = sum of entries": a top-up credits the customer's
``available`` (+) and debits the provider's clearing account (−), so the clearing account's
balance is minus all the money that ever came in and the sum over *all* accounts is always 0.
The sum over customer and seller accounts therefore changes only by top-ups.

Accounts (ids are ``<owner kind>:<owner id>:<bucket>``):

| account | meaning | may go negative |
|---|---|---|
| ``customer:<id>:available`` | spendable wallet money | no |
| ``customer:<id>:held`` | money held for unpaid-out orders | no |
| ``seller:<id>:earnings`` | captured order money owed to the seller | no |
| ``provider:<name>:clearing:<shard>`` | money received from the card provider | yes |
| ``marketplace:promotions:expense:<shard>`` | what marketplace promo codes cost the marketplace | yes |

The clearing account is split into ``CLEARING_SHARDS`` sub-accounts so concurrent top-ups
do not all write one item; its balance is the sum of its shards.

Movements:

| kind | from (−) | to (+) | written by |
|---|---|---|---|
| topup | provider clearing | customer available | ``services.wallet.topup`` |
| hold | customer available | customer held | ``services.ledger.hold`` |
| capture | customer held (+ marketplace promotions) | seller earnings | ``services.ledger.capture`` |
| release | customer held | customer available | ``services.ledger.release`` |
| refund | seller earnings | customer available (+ marketplace promotions) | ``services.ledger.refund_capture`` |

Promo codes (``domain/promos.py``): the customer holds and pays the discounted total. A
seller's own code needs no leg of its own: the seller earns what the customer paid, so their
earnings are lower by the discount (the capture's ``seller_discount`` says by how much). A
marketplace code is the marketplace's expense: the capture takes the marketplace's part of the
discount from ``marketplace:promotions:expense`` (a third leg), so the seller earns the price
before that discount; a refund of the capture gives it back to the same account. The sum over
all accounts stays 0; customers' and sellers' money together now grows by top-ups *and*
marketplace promotions (minus the promotion account's balance).

A hold resolves at most once: ``held → captured`` or ``held → released``; a captured hold may
then be refunded once (``captured → refunded``: the seller cancelled after confirming, or did
not ship in time). Never back. A hold of zero (a free order) has the same states but moves no
money, so it has no transactions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

HELD, CAPTURED, RELEASED, REFUNDED = "held", "captured", "released", "refunded"
HOLD_STATES = (HELD, CAPTURED, RELEASED, REFUNDED)

TOPUP, HOLD, CAPTURE, RELEASE, REFUND = "topup", "hold", "capture", "release", "refund"

CLEARING_SHARDS = 16
# 10,000,000.00 in minor units: the largest single top-up.
MAX_TOPUP = 1_000_000_000
# The largest single movement (an order total): far below DynamoDB's 38 digits.
MAX_AMOUNT = 10**15

AVAILABLE, HELD_BUCKET, EARNINGS, CLEARING = "available", "held", "earnings", "clearing"
PROMOTIONS, EXPENSE = "promotions", "expense"
PROMOTION_SHARDS = 16


def customer_available(customer_id: str) -> str:
    return f"customer:{customer_id}:{AVAILABLE}"


def customer_held(customer_id: str) -> str:
    return f"customer:{customer_id}:{HELD_BUCKET}"


def seller_earnings(seller_id: str) -> str:
    return f"seller:{seller_id}:{EARNINGS}"


def provider_clearing(provider: str, shard: int) -> str:
    return f"provider:{provider}:{CLEARING}:{shard:02d}"


def marketplace_promotions(shard: int) -> str:
    return f"marketplace:{PROMOTIONS}:{EXPENSE}:{shard:02d}"


@dataclass(frozen=True)
class AccountRef:
    kind: str  # customer | seller | provider | marketplace
    owner: str
    bucket: str  # available | held | earnings | clearing | expense
    shard: int | None = None

    @property
    def may_go_negative(self) -> bool:
        return self.kind in ("provider", "marketplace")


def parse_account(account: str) -> AccountRef:
    parts = account.split(":")
    if len(parts) == 3 and parts[0] == "customer" and parts[2] in (AVAILABLE, HELD_BUCKET):
        return AccountRef("customer", parts[1], parts[2])
    if len(parts) == 3 and parts[0] == "seller" and parts[2] == EARNINGS:
        return AccountRef("seller", parts[1], parts[2])
    if len(parts) == 4 and parts[0] == "provider" and parts[2] == CLEARING and parts[3].isdigit():
        return AccountRef("provider", parts[1], parts[2], int(parts[3]))
    if (len(parts) == 4 and parts[0] == "marketplace" and parts[1] == PROMOTIONS and parts[2] == EXPENSE
            and parts[3].isdigit()):
        return AccountRef("marketplace", parts[1], parts[2], int(parts[3]))
    raise ValueError(f"unknown ledger account {account!r}")


def clearing_shard(txn_id: str) -> int:
    """Spread top-ups over the clearing shards, deterministically per transaction."""
    return int.from_bytes(hashlib.sha256(txn_id.encode()).digest()[:4], "big") % CLEARING_SHARDS


def now_iso() -> str:
    """Sortable UTC timestamps (microseconds) for transaction ordering."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int  # signed minor units: + credits the account's balance, − debits it


class Unbalanced(ValueError):
    """A transaction whose legs do not sum to zero: a programming error, never user input."""


@dataclass(frozen=True)
class Transaction:
    id: str
    kind: str
    currency: str
    amount: int
    entries: tuple[Entry, ...]
    created_at: str
    customer_id: str
    order_id: str | None = None
    seller_id: str | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.entries:
            raise Unbalanced("a transaction needs entries")
        if any(type(e.amount) is not int or e.amount == 0 for e in self.entries):
            raise Unbalanced("entry amounts are non-zero integers of minor units")
        if sum(e.amount for e in self.entries) != 0:
            raise Unbalanced(f"transaction {self.id} does not balance")
        if len({e.account for e in self.entries}) != len(self.entries):
            raise Unbalanced("an account appears twice in one transaction")
        for e in self.entries:
            parse_account(e.account)


def check_amount(amount: int, *, cap: int = MAX_AMOUNT, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if type(amount) is not int or not low <= amount <= cap:
        raise ValueError(f"amount must be an integer of minor units in {low}..{cap}")


def topup_txn(txn_id: str, customer_id: str, amount: int, currency: str, *, provider: str,
              charge_id: str, card_last4: str, created_at: str) -> Transaction:
    check_amount(amount, cap=MAX_TOPUP)
    return Transaction(
        id=txn_id,
        kind=TOPUP,
        currency=currency,
        amount=amount,
        entries=(
            Entry(provider_clearing(provider, clearing_shard(txn_id)), -amount),
            Entry(customer_available(customer_id), amount),
        ),
        created_at=created_at,
        customer_id=customer_id,
        meta={"provider": provider, "charge_id": charge_id, "card_last4": card_last4},
    )


def hold_txn_id(order_id: str) -> str:
    return f"{HOLD}:{order_id}"


def capture_txn_id(order_id: str) -> str:
    return f"{CAPTURE}:{order_id}"


def release_txn_id(order_id: str) -> str:
    return f"{RELEASE}:{order_id}"


def refund_txn_id(order_id: str) -> str:
    return f"{REFUND}:{order_id}"


def _order_movement(kind: str, txn_id: str, order_id: str, source: str, target: str, amount: int,
                    currency: str, created_at: str, customer_id: str, seller_id: str | None = None) -> Transaction:
    """One order step: ``amount`` leaves ``source`` and enters ``target`` (two balanced entries)."""
    check_amount(amount)
    return Transaction(
        id=txn_id,
        kind=kind,
        currency=currency,
        amount=amount,
        entries=(Entry(source, -amount), Entry(target, amount)),
        created_at=created_at,
        customer_id=customer_id,
        order_id=order_id,
        seller_id=seller_id,
    )


def hold_txn(order_id: str, customer_id: str, amount: int, currency: str, created_at: str) -> Transaction:
    return _order_movement(HOLD, hold_txn_id(order_id), order_id, customer_available(customer_id),
                           customer_held(customer_id), amount, currency, created_at, customer_id)


def capture_txn(order_id: str, customer_id: str, seller_id: str, amount: int, currency: str,
                created_at: str, promotion: int = 0, seller_discount: int = 0) -> Transaction:
    """The held ``amount`` (what the customer paid) to the seller, plus ``promotion`` (the
    marketplace's part of the order's discount) from the marketplace's promotion expense.
    The transaction's ``amount`` is, as for every movement, the sum of its credits: what the
    seller earns, ``amount + promotion``."""
    if not promotion:
        txn = _order_movement(CAPTURE, capture_txn_id(order_id), order_id, customer_held(customer_id),
                              seller_earnings(seller_id), amount, currency, created_at, customer_id, seller_id)
        return _with_discounts(txn, 0, seller_discount)
    check_amount(promotion)
    check_amount(amount, allow_zero=True)
    txn_id = capture_txn_id(order_id)
    entries = [Entry(customer_held(customer_id), -amount)] if amount else []
    entries += [Entry(marketplace_promotions(clearing_shard(txn_id)), -promotion),
                Entry(seller_earnings(seller_id), amount + promotion)]
    return _with_discounts(Transaction(id=txn_id, kind=CAPTURE, currency=currency, amount=amount + promotion,
                                       entries=tuple(entries), created_at=created_at, customer_id=customer_id,
                                       order_id=order_id, seller_id=seller_id), promotion, seller_discount)


def _with_discounts(txn: Transaction, promotion: int, seller_discount: int) -> Transaction:
    """Record the order's discounts on the transaction (the seller's statement shows them)."""
    meta = {**txn.meta}
    if promotion:
        meta["marketplace_discount"] = str(promotion)
    if seller_discount:
        meta["seller_discount"] = str(seller_discount)
    if meta == txn.meta:
        return txn
    return Transaction(id=txn.id, kind=txn.kind, currency=txn.currency, amount=txn.amount, entries=txn.entries,
                       created_at=txn.created_at, customer_id=txn.customer_id, order_id=txn.order_id,
                       seller_id=txn.seller_id, meta=meta)


def release_txn(order_id: str, customer_id: str, amount: int, currency: str, created_at: str) -> Transaction:
    return _order_movement(RELEASE, release_txn_id(order_id), order_id, customer_held(customer_id),
                           customer_available(customer_id), amount, currency, created_at, customer_id)


def refund_txn(order_id: str, customer_id: str, seller_id: str, amount: int, currency: str,
               created_at: str, promotion: int = 0) -> Transaction:
    """The reverse of ``capture_txn``, to the customer's *available* balance (the order is over,
    so nothing stays held): it shows on both the customer's and the seller's statements. The
    marketplace's ``promotion`` goes back to its promotion expense."""
    if not promotion:
        return _order_movement(REFUND, refund_txn_id(order_id), order_id, seller_earnings(seller_id),
                               customer_available(customer_id), amount, currency, created_at, customer_id,
                               seller_id)
    check_amount(promotion)
    check_amount(amount, allow_zero=True)
    txn_id = refund_txn_id(order_id)
    entries = [Entry(seller_earnings(seller_id), -(amount + promotion)),
               Entry(marketplace_promotions(clearing_shard(capture_txn_id(order_id))), promotion)]
    if amount:
        entries.append(Entry(customer_available(customer_id), amount))
    return _with_discounts(Transaction(id=txn_id, kind=REFUND, currency=currency, amount=amount + promotion,
                                       entries=tuple(entries), created_at=created_at, customer_id=customer_id,
                                       order_id=order_id, seller_id=seller_id), promotion, 0)
