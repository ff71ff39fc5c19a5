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
| ``seller:<id>:payout_in_flight`` | payouts requested, not yet paid or failed | no |
| ``seller:<id>:paid_out`` | payouts the provider paid: money that left the marketplace | no |
| ``provider:<name>:clearing:<shard>`` | money received from the card provider | yes |
| ``marketplace:promotions:expense:<shard>`` | what marketplace promo codes cost the marketplace | yes |
| ``marketplace:fees:revenue:<shard>`` | the marketplace fee taken at capture (``domain/fees.py``) | yes |

The clearing account is split into ``CLEARING_SHARDS`` sub-accounts so concurrent top-ups
do not all write one item; its balance is the sum of its shards.

Movements:

| kind | from (−) | to (+) | written by |
|---|---|---|---|
| topup | provider clearing | customer available | ``services.wallet.topup`` |
| hold | customer available | customer held | ``services.ledger.hold`` |
| capture | customer held (+ mkt promotions) | seller earnings (+ mkt fees) | ``services.ledger.capture`` |
| release | customer held | customer available | ``services.ledger.release`` |
| refund | seller earnings (+ mkt fees) | customer available (+ mkt promotions) | ``services.ledger.refund_capture`` |
| return | seller earnings (+ mkt fees) | customer available, or (card order) provider clearing | ``services.returns`` |
| | | (+ mkt promotions) | |

Payouts (``services/payouts.py``): ``payout`` moves earnings → payout in flight, then
``payout_paid`` in flight → paid out, or ``payout_failed`` in flight → earnings (the money is
available again). Since the sum over all accounts is 0: wallets + holds + seller earnings +
payouts in flight + fee revenue + promotion expense (negative) = top-ups − paid out.

The marketplace fee: a capture splits what the seller would earn into the seller's net (their
earnings) and the fee (the marketplace's revenue, its balance grows by fees); the transaction
records ``fee`` and ``fee_rate_bps`` (the seller's statement shows them). A refund of the
capture gives the fee back from the revenue, so the seller returns only the net they got.

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
PAYOUT, PAYOUT_PAID, PAYOUT_FAILED = "payout", "payout_paid", "payout_failed"
RETURN = "return"  # an accepted return: part (or the rest) of a capture back to the customer

CLEARING_SHARDS = 16
# 10,000,000.00 in minor units: the largest single top-up.
MAX_TOPUP = 1_000_000_000
# The largest single movement (an order total): far below DynamoDB's 38 digits.
MAX_AMOUNT = 10**15

AVAILABLE, HELD_BUCKET, EARNINGS, CLEARING = "available", "held", "earnings", "clearing"
PROMOTIONS, EXPENSE = "promotions", "expense"
FEES, REVENUE = "fees", "revenue"
IN_FLIGHT, PAID_OUT = "payout_in_flight", "paid_out"
SELLER_BUCKETS = (EARNINGS, IN_FLIGHT, PAID_OUT)
PROMOTION_SHARDS = 16


def customer_available(customer_id: str) -> str:
    return f"customer:{customer_id}:{AVAILABLE}"


def customer_held(customer_id: str) -> str:
    return f"customer:{customer_id}:{HELD_BUCKET}"


def seller_earnings(seller_id: str) -> str:
    return f"seller:{seller_id}:{EARNINGS}"


def seller_in_flight(seller_id: str) -> str:
    return f"seller:{seller_id}:{IN_FLIGHT}"


def seller_paid_out(seller_id: str) -> str:
    return f"seller:{seller_id}:{PAID_OUT}"


def provider_clearing(provider: str, shard: int) -> str:
    return f"provider:{provider}:{CLEARING}:{shard:02d}"


def marketplace_promotions(shard: int) -> str:
    return f"marketplace:{PROMOTIONS}:{EXPENSE}:{shard:02d}"


def marketplace_fees(shard: int) -> str:
    return f"marketplace:{FEES}:{REVENUE}:{shard:02d}"


@dataclass(frozen=True)
class AccountRef:
    kind: str  # customer | seller | provider | marketplace
    owner: str
    bucket: str  # available | held | earnings | clearing | expense
    shard: int | None = None

    @property
    def may_go_negative(self) -> bool:
        return self.kind in ("provider", "marketplace")


def account_of(ref: AccountRef) -> str:
    """The account id of ``ref`` (the inverse of ``parse_account``)."""
    base = f"{ref.kind}:{ref.owner}:{ref.bucket}"
    return base if ref.shard is None else f"{base}:{ref.shard:02d}"


def parse_account(account: str) -> AccountRef:
    parts = account.split(":")
    if len(parts) == 3 and parts[0] == "customer" and parts[2] in (AVAILABLE, HELD_BUCKET):
        return AccountRef("customer", parts[1], parts[2])
    if len(parts) == 3 and parts[0] == "seller" and parts[2] in SELLER_BUCKETS:
        return AccountRef("seller", parts[1], parts[2])
    if len(parts) == 4 and parts[0] == "provider" and parts[2] == CLEARING and parts[3].isdigit():
        return AccountRef("provider", parts[1], parts[2], int(parts[3]))
    if (len(parts) == 4 and parts[0] == "marketplace" and (parts[1], parts[2]) in ((PROMOTIONS, EXPENSE),
                                                                                    (FEES, REVENUE))
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
                created_at: str, promotion: int = 0, seller_discount: int = 0, fee: int = 0,
                fee_rate_bps: int | None = None) -> Transaction:
    """The held ``amount`` (what the customer paid) to the seller, plus ``promotion`` (the
    marketplace's part of the order's discount) from the marketplace's promotion expense, less
    ``fee`` to the marketplace's fee revenue. The transaction's ``amount`` is the sum of what the
    seller would earn before the fee, ``amount + promotion``; the seller earns that less ``fee``."""
    check_amount(amount, allow_zero=True)
    check_amount(promotion, allow_zero=True)
    check_amount(fee, allow_zero=True)
    gross = amount + promotion
    check_amount(gross)
    if fee > gross:
        raise Unbalanced(f"the fee of order {order_id} exceeds what the seller earns")
    txn_id = capture_txn_id(order_id)
    legs = [(customer_held(customer_id), -amount),
            (marketplace_promotions(clearing_shard(txn_id)), -promotion),
            (seller_earnings(seller_id), gross - fee),
            (marketplace_fees(clearing_shard(txn_id)), fee)]
    txn = Transaction(id=txn_id, kind=CAPTURE, currency=currency, amount=gross,
                      entries=tuple(Entry(a, v) for a, v in legs if v), created_at=created_at,
                      customer_id=customer_id, order_id=order_id, seller_id=seller_id,
                      meta=_fee_meta(fee, fee_rate_bps))
    return _with_discounts(txn, promotion, seller_discount)


def _fee_meta(fee: int, fee_rate_bps: int | None) -> dict[str, str]:
    meta = {"fee": str(fee)} if fee else {}
    if fee and fee_rate_bps is not None:
        meta["fee_rate_bps"] = str(fee_rate_bps)
    return meta


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


def card_hold_txn(order_id: str, customer_id: str, amount: int, currency: str, created_at: str, *,
                  provider: str, payment_id: str) -> Transaction:
    """A card order's authorization at the provider: the money comes from outside (the
    provider's clearing account, like a top-up) straight into the customer's held bucket, under
    the hold's own transaction id, so capture and release treat it as any hold."""
    txn_id = hold_txn_id(order_id)
    check_amount(amount)
    return Transaction(id=txn_id, kind=HOLD, currency=currency, amount=amount,
                       entries=(Entry(provider_clearing(provider, clearing_shard(txn_id)), -amount),
                                Entry(customer_held(customer_id), amount)),
                       created_at=created_at, customer_id=customer_id, order_id=order_id,
                       meta={"provider": provider, "charge_id": payment_id, "method": "card"})


def release_txn(order_id: str, customer_id: str, amount: int, currency: str, created_at: str,
                provider: str | None = None) -> Transaction:
    """Held → available; for a card order (``provider``) held → the provider's clearing (the
    authorization is voided: the money never was the wallet's)."""
    txn_id = release_txn_id(order_id)
    target = provider_clearing(provider, clearing_shard(txn_id)) if provider else customer_available(customer_id)
    return _order_movement(RELEASE, txn_id, order_id, customer_held(customer_id), target, amount, currency,
                           created_at, customer_id)


def refund_txn(order_id: str, customer_id: str, seller_id: str, amount: int, currency: str,
               created_at: str, promotion: int = 0, fee: int = 0, provider: str | None = None) -> Transaction:
    """The reverse of ``capture_txn``, to the customer's *available* balance (the order is over,
    so nothing stays held): it shows on both the customer's and the seller's statements. The
    marketplace's ``promotion`` goes back to its promotion expense, and the ``fee`` it took comes
    back out of its fee revenue, so the seller gives back only the net they earned. A card
    order's refund (``provider``) goes to the provider's clearing account: the card gets it."""
    return _give_back(refund_txn_id(order_id), REFUND, order_id, customer_id, seller_id, currency, created_at,
                      refund=amount, promotion=promotion, fee=fee, provider=provider, meta={},
                      too_much_fee=f"the fee of order {order_id} exceeds what the seller earned")


def _give_back(txn_id: str, kind: str, order_id: str, customer_id: str, seller_id: str, currency: str,
               created_at: str, *, refund: int, promotion: int, fee: int, provider: str | None,
               meta: dict[str, str], too_much_fee: str) -> Transaction:
    """Money of a captured order going back (a refund of the whole capture, or a return's share):
    the seller gives back ``refund + promotion − fee``, the customer (or, for a card order, the
    provider's clearing account) gets ``refund``, the marketplace's promotion expense gets
    ``promotion`` back and its fee revenue returns ``fee``. ``amount``: refund + promotion."""
    for value in (refund, promotion, fee):
        check_amount(value, allow_zero=True)
    gross = refund + promotion
    check_amount(gross)
    if fee > gross:
        raise Unbalanced(too_much_fee)
    shard = clearing_shard(capture_txn_id(order_id))
    legs = [(seller_earnings(seller_id), -(gross - fee)),
            (marketplace_fees(shard), -fee),
            (marketplace_promotions(shard), promotion),
            (provider_clearing(provider, shard) if provider else customer_available(customer_id), refund)]
    txn = Transaction(id=txn_id, kind=kind, currency=currency, amount=gross,
                      entries=tuple(Entry(a, v) for a, v in legs if v), created_at=created_at,
                      customer_id=customer_id, order_id=order_id, seller_id=seller_id,
                      meta={**meta, **_fee_meta(fee, None)})
    return _with_discounts(txn, promotion, 0)


# -- payouts ---------------------------------------------------------------------------------


def payout_txn_id(kind: str, payout_id: str) -> str:
    return f"{kind}:{payout_id}"


_PAYOUT_LEGS = {
    PAYOUT: (seller_earnings, seller_in_flight),
    PAYOUT_PAID: (seller_in_flight, seller_paid_out),
    PAYOUT_FAILED: (seller_in_flight, seller_earnings),
}


def payout_txn(kind: str, payout_id: str, seller_id: str, amount: int, currency: str, created_at: str
               ) -> Transaction:
    """One step of a payout (``PAYOUT``, ``PAYOUT_PAID``, ``PAYOUT_FAILED``) between the seller's
    own accounts; no customer is involved (``customer_id`` is empty)."""
    check_amount(amount)
    source, target = _PAYOUT_LEGS[kind]
    return Transaction(id=payout_txn_id(kind, payout_id), kind=kind, currency=currency, amount=amount,
                       entries=(Entry(source(seller_id), -amount), Entry(target(seller_id), amount)),
                       created_at=created_at, customer_id="", seller_id=seller_id, meta={"payout_id": payout_id})


def return_txn(return_id: str, order_id: str, customer_id: str, seller_id: str, currency: str, created_at: str,
               *, refund: int, promotion: int, fee: int, provider: str | None = None,
               refund_id: str | None = None) -> Transaction:
    """An accepted return (``domain/returns.py``): the money of its share of the order goes back
    as a refund's does (``refund_txn``). A card order's return (``provider``): the ``refund``
    goes to the provider's clearing account (the provider refunded the card: ``refund_id``),
    not to the wallet."""
    card = {"provider": provider, "charge_id": refund_id or "", "method": "card"} if provider else {}
    return _give_back(f"{RETURN}:{return_id}", RETURN, order_id, customer_id, seller_id, currency, created_at,
                      refund=refund, promotion=promotion, fee=fee, provider=provider,
                      meta={"return_id": return_id, **card},
                      too_much_fee=f"return {return_id} gives back more fee than its share")
