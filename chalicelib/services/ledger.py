"""The money primitives the order workflow calls, and the ledger's balances and statements.

``hold``, ``capture``, ``release`` and ``refund_capture`` each make exactly ONE DynamoDB write
call (one ``TransactWriteItems``: the balanced transaction, the balance projections and the
hold's state change) and no read before it when the caller passes what it already knows
(``customer_id``, ``amount`` and for a refund ``seller_id``, which the order carries). Without
those hints they read the hold first (one consistent ``GetItem``). Every transaction is
conditional, so:

- ``available`` and ``earnings`` never drop below zero (a debit carries ``balance >= amount``);
- a hold resolves at most once (``state = held`` is the condition of capture and release), and
  a capture is refunded at most once (``state = captured`` is the condition of the refund);
- a retry does nothing twice (transaction ids are ``<step>:<order>``, written only if absent).

When DynamoDB cancels a transaction its reasons (with the items as they were) say why, so
"insufficient funds", "already done" and "wrong state" are told apart without a read first.

| call | on success (a retry is a no-op success) | raises |
|---|---|---|
| ``hold(order, customer, amount, currency)`` | available → held | ``InsufficientFunds``; |
| | | ``InvalidTransition``: the order has a *different* hold |
| ``capture(order, seller)`` | held → seller earnings | ``InvalidTransition``: released, |
| | | captured for another seller, or never held |
| ``release(order)`` → bool | held → available; True (also if | ``InvalidTransition``: captured |
| | already released), False if never held | (``extra["hold_state"]`` says so) |
| ``refund_capture(order)`` | captured → refunded: seller earnings → | ``InvalidTransition``: never |
| | customer available | captured, another seller; |
| | | ``InsufficientEarnings`` |

Amounts are integer minor units, 0..10**15 (a free order's hold of 0 changes states and moves no
money). Currency: one wallet currency per deployment (``settings().default_currency``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.errors import (
    Conflict,
    InsufficientEarnings,
    InsufficientFunds,
    InvalidTransition,
    Unavailable,
    ValidationFailed,
)
from chalicelib.services.payments import Charge
from chalicelib.store import keys, seller_money
from chalicelib.store import ledger as store


def currency() -> str:
    return settings().default_currency


def check_currency(value: str | None, field: str = "currency") -> str:
    wanted = currency()
    if value is not None and value != wanted:
        raise ValidationFailed.one(field, f"the wallet holds {wanted} only")
    return wanted


# -- the workflow's primitives -----------------------------------------------------------------


def hold(order_id: str, customer_id: str, amount: int, currency: str) -> None:
    """Move ``amount`` of the customer's available money to held, for this order."""
    cur = check_currency(currency)
    dl.check_amount(amount, allow_zero=True)
    at = dl.now_iso()
    try:
        _write(dl.hold_txn, amount, (order_id, customer_id, amount, cur, at),
               store.create_hold_op(order_id, customer_id, amount, cur, at))
    except store.TransactionCancelled as cancelled:
        if cancelled.failed(store.HOLD) or cancelled.failed(store.TXN):
            existing = cancelled.item(store.HOLD) or store.get_hold(order_id)
            if existing and existing["customer_id"] == customer_id and existing["amount"] == amount:
                return  # a retry: the first call already held the money
            raise InvalidTransition(f"order {order_id} already has a different hold") from cancelled
        wallet_label = store.balance_label(dl.customer_available(customer_id))
        if cancelled.failed(wallet_label):
            before = cancelled.item(wallet_label) or {}
            raise InsufficientFunds(
                "the wallet's available balance does not cover this amount",
                available=int(before.get(dl.AVAILABLE, 0)), required=amount, currency=cur,
            ) from cancelled
        raise _unexpected(cancelled) from cancelled


def card_hold(order_id: str, customer_id: str, amount: int, currency: str, *, provider: str, payment_id: str
              ) -> None:
    """A card order's authorization: the provider's money → the customer's held bucket, with the
    order's hold (``capture``/``release`` then work as for a wallet hold). A retry is a no-op."""
    cur = check_currency(currency)
    at = dl.now_iso()
    try:
        store.post(dl.card_hold_txn(order_id, customer_id, amount, cur, at, provider=provider, payment_id=payment_id),
                   [store.create_hold_op(order_id, customer_id, amount, cur, at)])
    except store.TransactionCancelled as cancelled:
        if not (cancelled.failed(store.HOLD) or cancelled.failed(store.TXN)):
            raise _unexpected(cancelled) from cancelled
        existing = cancelled.item(store.HOLD) or store.get_hold(order_id)
        if existing and existing["customer_id"] == customer_id and existing["amount"] == amount:
            return
        raise InvalidTransition(f"order {order_id} already has a different hold") from cancelled


def capture(order_id: str, seller_id: str, *, customer_id: str | None = None, amount: int | None = None,
            promotion: int = 0, seller_discount: int = 0, fee: int = 0, fee_rate_bps: int | None = None,
            extra: tuple[store.Op, ...] = ()) -> dict[str, Any]:
    """Pay the held money to the seller. Pass ``customer_id`` and ``amount`` (from the order) to
    skip the read of the hold; they are checked by the write's condition, never trusted.
    ``promotion`` (the order's ``marketplace_discount``) is added from the marketplace's
    promotion expense, so the seller earns the price before a marketplace code;
    ``seller_discount`` (their own code's part) is recorded on the transaction; ``fee`` goes to
    the marketplace's fee revenue (the seller earns the rest). ``extra`` operations join the
    same transaction (the order's record of its fee).

    Returns what the capture took: ``{"fee", "fee_rate_bps"}`` — on a retry, what the first
    capture took (from the hold), whatever the caller computed this time."""
    if customer_id is None or amount is None:
        found = store.get_hold(order_id)
        if _resolved(order_id, found, dl.CAPTURED, seller_id):
            return _fee_of(found)
        assert found is not None
        customer_id, amount = found["customer_id"], found["amount"]
    at = dl.now_iso()
    op = store.resolve_hold_op(order_id, customer_id=customer_id, amount=amount, to_state=dl.CAPTURED, at=at,
                               seller_id=seller_id, promotion=promotion, fee=fee, fee_rate_bps=fee_rate_bps)
    try:
        _write(dl.capture_txn, amount + promotion,
               (order_id, customer_id, seller_id, amount, currency(), at, promotion, seller_discount, fee,
                fee_rate_bps), op, extra)
    except store.TransactionCancelled as cancelled:
        if not (cancelled.failed(store.HOLD) or cancelled.failed(store.TXN)):
            raise _unexpected(cancelled) from cancelled
        current = cancelled.item(store.HOLD) if cancelled.failed(store.HOLD) else store.get_hold(order_id)
        if _resolved(order_id, current, dl.CAPTURED, seller_id):
            return _fee_of(current)
        raise InvalidTransition(
            f"the hold of order {order_id} is for another customer or amount"
        ) from cancelled
    return {"fee": fee if amount + promotion else 0, "fee_rate_bps": fee_rate_bps}


def _fee_of(hold: dict[str, Any] | None) -> dict[str, Any]:
    hold = hold or {}
    rate = hold.get("fee_rate_bps")
    return {"fee": int(hold.get("fee", 0)), "fee_rate_bps": int(rate) if rate is not None else None}


def release(order_id: str, *, customer_id: str | None = None, amount: int | None = None,
            provider: str | None = None) -> bool:
    """Give the held money back to the customer's available balance (a card order's,
    ``provider``: back to the provider's clearing account — the authorization was voided).

    True when the money is released (by this call or an earlier one), False when the order
    never had a hold (nothing to give back). Hints as for ``capture``.
    """
    if customer_id is None or amount is None:
        found = store.get_hold(order_id)
        if found is None:
            return False
        if _resolved(order_id, found, dl.RELEASED):
            return True
        customer_id, amount = found["customer_id"], found["amount"]
    at = dl.now_iso()
    op = store.resolve_hold_op(order_id, customer_id=customer_id, amount=amount, to_state=dl.RELEASED, at=at)
    try:
        _write(dl.release_txn, amount, (order_id, customer_id, amount, currency(), at, provider), op)
    except store.TransactionCancelled as cancelled:
        if not (cancelled.failed(store.HOLD) or cancelled.failed(store.TXN)):
            raise _unexpected(cancelled) from cancelled
        current = cancelled.item(store.HOLD) if cancelled.failed(store.HOLD) else store.get_hold(order_id)
        if current is None:
            return False
        if _resolved(order_id, current, dl.RELEASED):
            return True
        raise InvalidTransition(
            f"the hold of order {order_id} is for another customer or amount"
        ) from cancelled
    return True


def refund_capture(order_id: str, *, customer_id: str | None = None, seller_id: str | None = None,
                   amount: int | None = None, currency: str | None = None, promotion: int | None = None,
                   fee: int | None = None, extra: tuple[store.Op, ...] = (), provider: str | None = None) -> None:
    """Give captured money back: the seller's earnings → the customer's available balance (a
    card order's, ``provider``: → the provider's clearing account, refunded to the card).

    For an order cancelled after the seller confirmed it (the seller cancels, or does not ship
    in time). Only a *captured* hold can be refunded, once; a retry is a no-op success. Pass
    ``customer_id``, ``seller_id`` and ``amount`` (from the order) to skip the read of the hold;
    they are checked by the write's condition, never trusted. The seller's earnings never go
    below zero: if they no longer cover the amount, ``InsufficientEarnings`` and nothing moves.
    The marketplace ``fee`` the capture took (the order's ``fee_amount``; read from the hold
    without hints) comes back from the fee revenue: the seller gives back only their net.
    """
    cur = check_currency(currency)
    if customer_id is None or seller_id is None or amount is None:
        found = store.get_hold(order_id)
        if _refunded(order_id, found, seller_id):
            return
        assert found is not None
        customer_id, seller_id, amount = found["customer_id"], found["seller_id"], found["amount"]
        promotion = int(found.get("promotion", 0))
        fee = int(found.get("fee", 0))
    promotion, fee = promotion or 0, fee or 0
    at = dl.now_iso()
    op = store.refund_hold_op(order_id, customer_id=customer_id, seller_id=seller_id, amount=amount, at=at, fee=fee)
    try:
        _write(dl.refund_txn, amount + promotion,
               (order_id, customer_id, seller_id, amount, cur, at, promotion, fee, provider), op, extra)
    except store.TransactionCancelled as cancelled:
        if cancelled.failed(store.HOLD) or cancelled.failed(store.TXN):
            current = cancelled.item(store.HOLD) if cancelled.failed(store.HOLD) else store.get_hold(order_id)
            if _refunded(order_id, current, seller_id):
                return  # a retry: the first call already gave the money back
            raise InvalidTransition(
                f"the capture of order {order_id} is for another customer or amount", hold_state=dl.CAPTURED,
            ) from cancelled
        earnings_label = store.balance_label(dl.seller_earnings(seller_id))
        if cancelled.failed(earnings_label):
            before = cancelled.item(earnings_label) or {}
            raise InsufficientEarnings(
                f"the seller's earnings do not cover the refund of order {order_id}",
                earnings=int(before.get(dl.EARNINGS, 0)), required=amount + promotion - fee, currency=cur,
            ) from cancelled
        raise _unexpected(cancelled) from cancelled


def _write(build: Callable[..., dl.Transaction], amount: int, args: tuple[Any, ...], hold_op: store.Op,
           extra: tuple[store.Op, ...] = ()) -> None:
    """The step's one TransactWriteItems: its transaction with the hold's state change, or the
    state change alone for a zero amount (a free order moves no money)."""
    if amount == 0:
        store.transact([hold_op, *extra])
    else:
        store.post(build(*args), [hold_op, *extra])


def _resolved(order_id: str, hold: dict[str, Any] | None, wanted: str, seller_id: str | None = None) -> bool:
    """True when ``hold`` already is in ``wanted`` (a retry); raise when it can never get there;
    False when it is still open."""
    if hold is None:
        raise InvalidTransition(f"order {order_id} has no held funds")
    state = hold.get("state")
    if state == dl.HELD:
        return False
    if state == wanted and (seller_id is None or hold.get("seller_id") == seller_id):
        return True
    if state == wanted:
        raise InvalidTransition(f"order {order_id} was captured for another seller", hold_state=state)
    raise InvalidTransition(f"the funds of order {order_id} were already {state}", hold_state=state)


def _refunded(order_id: str, hold: dict[str, Any] | None, seller_id: str | None) -> bool:
    """True when the capture was already refunded (a retry); False when it is captured and not
    refunded yet; raise when it cannot be refunded (never captured, or another seller's)."""
    if hold is None:
        raise InvalidTransition(f"order {order_id} has no held funds")
    state = hold.get("state")
    if state not in (dl.CAPTURED, dl.REFUNDED):
        raise InvalidTransition(f"the funds of order {order_id} are {state}, not captured", hold_state=state)
    if seller_id is not None and hold.get("seller_id") != seller_id:
        raise InvalidTransition(f"order {order_id} was captured for another seller", hold_state=state)
    return state == dl.REFUNDED


def _unexpected(cancelled: store.TransactionCancelled) -> Exception:
    codes = {r.code for r in cancelled.reasons.values()}
    if "TransactionConflict" in codes or "ThrottlingError" in codes:
        return Unavailable("the ledger is busy, retry shortly")
    # a balance condition failed where the journal says the money is there: never expected
    return RuntimeError(f"ledger transaction refused unexpectedly: {cancelled}")


def hold_state(order_id: str) -> str | None:
    """``held``, ``captured``, ``released``, ``refunded``, or None when the order has no hold."""
    found = store.get_hold(order_id)
    return found["state"] if found else None


# -- top-ups (the only way money enters) -------------------------------------------------------


def record_topup(txn_id: str, customer_id: str, amount: int, currency: str, charge: Charge) -> dict[str, Any]:
    """Credit a successful charge to the wallet, once per ``txn_id``; returns the transaction."""
    txn = dl.topup_txn(txn_id, customer_id, amount, check_currency(currency), provider=charge.provider,
                       charge_id=charge.id, card_last4=charge.last4, created_at=dl.now_iso())
    try:
        store.post(txn)
    except store.TransactionCancelled as cancelled:
        if not cancelled.failed(store.TXN):
            raise _unexpected(cancelled) from cancelled
        existing = store.get_txn(txn_id)
        if existing is None or existing["customer_id"] != customer_id or existing["amount"] != amount:
            raise Conflict("this top-up was already recorded with other details") from cancelled
        return txn_view(existing)  # a retry of a top-up that was recorded: answer as the first did
    return txn_view(store.txn_item(txn))


# -- balances and statements ---------------------------------------------------------------------


def wallet(customer_id: str) -> dict[str, Any]:
    item = store.get_wallet(customer_id) or {}
    return {"available": int(item.get(dl.AVAILABLE, 0)), "held": int(item.get(dl.HELD_BUCKET, 0)),
            "currency": item.get("currency", currency())}


def seller_balance(seller_id: str) -> dict[str, Any]:
    """``earnings`` (captured, not refunded, not paid out) = ``available`` + ``pending`` (the net
    of orders inside their return window, ``store/seller_money``); ``in_flight`` and
    ``paid_out``: payouts requested and paid (``services/payouts``)."""
    item = store.get_earnings(seller_id) or {}
    earnings = int(item.get(dl.EARNINGS, 0))
    pending = min(earnings, seller_money.pending_total(seller_id, dl.now_iso()))
    return {"earnings": earnings, "available": earnings - pending, "pending": pending,
            "in_flight": int(item.get(dl.IN_FLIGHT, 0)), "paid_out": int(item.get(dl.PAID_OUT, 0)),
            "currency": item.get("currency", currency())}


def customer_transactions(customer_id: str, *, limit: int, start: dict[str, Any] | None
                          ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, last = store.list_txns(index="GSI1", partition=keys.wallet_partition(customer_id), limit=limit,
                                  start=start)
    # an accepted return is, to the customer, a refund (of part of the order)
    return [{**txn_view(i), **({"kind": dl.REFUND} if i["kind"] == dl.RETURN else {})} for i in items], last


def seller_transactions(seller_id: str, *, limit: int, start: dict[str, Any] | None
                        ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, last = store.list_txns(index="GSI2", partition=keys.earnings_partition(seller_id), limit=limit,
                                  start=start)
    return [txn_view(i) for i in items], last


_TXN_FIELDS = ("txn_id", "kind", "amount", "currency", "entries", "created_at", "customer_id", "order_id",
               "seller_id", "provider", "charge_id", "card_last4")
_DISCOUNTS = ("seller_discount", "marketplace_discount",  # on captures and refunds of discounted orders
              "fee", "fee_rate_bps")  # the marketplace fee of a capture (and its refund)


def txn_view(item: dict[str, Any]) -> dict[str, Any]:
    view = {k: item[k] for k in _TXN_FIELDS if k in item}
    view.update({k: int(item[k]) for k in _DISCOUNTS if k in item})
    return view



def marketplace_revenue() -> int:
    """The marketplace's fee revenue: every fee captured, less the fees refunds gave back."""
    return store.marketplace_balance(dl.FEES, dl.CLEARING_SHARDS)
