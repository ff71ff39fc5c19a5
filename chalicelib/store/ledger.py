"""Ledger table: posts balanced transactions with their balance projections, atomically.

``post`` turns one ``domain.ledger.Transaction`` into ONE ``TransactWriteItems`` call:

- ``Put TXN#<id>`` if it does not exist (a retried post does nothing twice),
- one ``Update`` per balance item the entries touch (a customer's available and held share
  the wallet item), each ``ADD``-ing its legs; a debit of an account that may not go negative
  carries ``<balance> >= <debit>`` — the condition that keeps wallets and earnings >= 0,
- the caller's extra operations (a hold's creation or its one-way state change:
  ``create_hold_op``, ``resolve_hold_op``, ``refund_hold_op``).

When DynamoDB cancels the transaction, ``TransactionCancelled`` says which labelled operation
failed and why (with the item as it was, from ``ReturnValuesOnConditionCheckFailure``), so the
service can tell "insufficient funds" from "already done" without reading first. Transaction
conflicts (another transaction on the same item in flight, AWS only) are retried by
``toolkit.transact``.

Reads: balances and holds with consistent ``GetItem``; transaction listings query GSI1
(customer) or GSI2 (seller), newest first. Key grammar: ``store/keys.py`` (LEDGER).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import ledger as dl
from chalicelib.errors import ValidationFailed
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import Op, transact
from chalicelib.store.toolkit import TransactionCancelled as TransactionCancelled  # what ``post`` raises
from chalicelib.store.values import plain


def _table_name() -> str:
    return settings().ledger_table


def _table() -> Any:
    return clients.table(_table_name())


# -- labels of the operations ``post`` builds itself ------------------------------------------

TXN = "txn"
HOLD = "hold"


def balance_label(account: str) -> str:
    ref = dl.parse_account(account)
    return f"{ref.kind}:{ref.owner}" if ref.shard is None else f"{ref.kind}:{ref.owner}:{ref.shard}"


# -- writes ------------------------------------------------------------------------------------


def _balance_item(ref: dl.AccountRef) -> dict[str, str]:
    if ref.kind == "customer":
        return keys.wallet(ref.owner)
    if ref.kind == "seller":
        return keys.earnings(ref.owner)
    if ref.kind == "marketplace":
        return keys.marketplace_account(ref.owner, ref.shard or 0)
    return keys.clearing(ref.owner, ref.shard or 0)


def _balance_ops(txn: dl.Transaction, floors: dict[str, int] | None = None) -> list[Op]:
    """One Update per balance item; legs on the same item (available + held) merge. ``floors``:
    what must stay on a debited account after the debit (a payout leaves pending earnings)."""
    grouped: dict[str, list[tuple[dl.AccountRef, int]]] = {}
    for e in txn.entries:
        grouped.setdefault(balance_label(e.account), []).append((dl.parse_account(e.account), e.amount))
    ops = []
    for label, legs in grouped.items():
        names = {"#cur": "currency", "#at": "updated_at"}
        values: dict[str, Any] = {":cur": txn.currency, ":at": txn.created_at}
        adds, conditions = [], ["(attribute_not_exists(#cur) OR #cur = :cur)"]
        for i, (ref, amount) in enumerate(legs):
            names[f"#b{i}"] = ref.bucket if ref.kind not in ("provider", "marketplace") else "balance"
            values[f":d{i}"] = amount
            adds.append(f"#b{i} :d{i}")
            if amount < 0 and not ref.may_go_negative:
                # the guard of "never below zero": a debit needs the money to be there now
                values[f":m{i}"] = -amount + (floors or {}).get(dl.account_of(ref), 0)
                conditions.append(f"#b{i} >= :m{i}")
        ops.append(Op(label, {"Update": {
            "TableName": _table_name(),
            "Key": _balance_item(legs[0][0]),
            "UpdateExpression": "SET #cur = if_not_exists(#cur, :cur), #at = :at ADD " + ", ".join(adds),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}))
    return ops


def txn_item(txn: dl.Transaction) -> dict[str, Any]:
    item: dict[str, Any] = {
        **keys.ledger_txn(txn.id),
        "txn_id": txn.id,
        "kind": txn.kind,
        "currency": txn.currency,
        "amount": txn.amount,
        "entries": [{"account": e.account, "amount": e.amount} for e in txn.entries],
        "created_at": txn.created_at,
        **txn.meta,
    }
    if txn.customer_id:  # a payout moves only the seller's money: not in any wallet's list
        item.update(customer_id=txn.customer_id, GSI1PK=keys.wallet_partition(txn.customer_id),
                    GSI1SK=keys.ledger_txn_sort(txn.created_at, txn.id))
    if txn.order_id:
        item["order_id"] = txn.order_id
    if txn.seller_id:
        item["seller_id"] = txn.seller_id
        item["GSI2PK"] = keys.earnings_partition(txn.seller_id)
        item["GSI2SK"] = keys.ledger_txn_sort(txn.created_at, txn.id)
    return item


def post(txn: dl.Transaction, extra: Iterable[Op] = (), floors: dict[str, int] | None = None) -> None:
    """Write ``txn``, its balance changes and ``extra`` in one TransactWriteItems.

    Raises ``TransactionCancelled`` when a condition fails (labels: ``txn``, the balance labels
    from ``balance_label``, and the extra ops' labels).
    """
    transact([
        Op(TXN, {"Put": {
            "TableName": _table_name(),
            "Item": txn_item(txn),
            "ConditionExpression": "attribute_not_exists(PK)",
        }}),
        *_balance_ops(txn, floors),
        *extra,
    ])


def create_hold_op(order_id: str, customer_id: str, amount: int, currency: str, created_at: str) -> Op:
    return Op(HOLD, {"Put": {
        "TableName": _table_name(),
        "Item": {
            **keys.hold(order_id),
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": amount,
            "currency": currency,
            "state": dl.HELD,
            "held_at": created_at,
        },
        "ConditionExpression": "attribute_not_exists(PK)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def resolve_hold_op(order_id: str, *, customer_id: str, amount: int, to_state: str, at: str,
                    seller_id: str | None = None, promotion: int = 0, fee: int = 0,
                    fee_rate_bps: int | None = None) -> Op:
    """held → captured | released, only from ``held`` and only for the hold we think it is."""
    names = {"#state": "state", "#amount": "amount", "#customer": "customer_id", "#at": "resolved_at"}
    values: dict[str, Any] = {":held": dl.HELD, ":to": to_state, ":amount": amount, ":customer": customer_id,
                              ":at": at}
    update = "SET #state = :to, #at = :at"
    if seller_id is not None:
        names["#seller"] = "seller_id"
        values[":seller"] = seller_id
        update += ", #seller = :seller"
    if promotion:  # the marketplace's part of the capture: a refund gives it back (refund_hold_op)
        names["#promo"] = "promotion"
        values[":promo"] = promotion
        update += ", #promo = :promo"
    if fee:  # the marketplace fee taken: a refund takes it back from the fee revenue
        names["#fee"] = "fee"
        values[":fee"] = fee
        update += ", #fee = :fee"
        if fee_rate_bps is not None:
            names["#rate"] = "fee_rate_bps"
            values[":rate"] = fee_rate_bps
            update += ", #rate = :rate"
    return Op(HOLD, {"Update": {
        "TableName": _table_name(),
        "Key": keys.hold(order_id),
        "UpdateExpression": update,
        # held (so it resolves once) AND it is the hold the caller meant (amount, customer)
        "ConditionExpression": "#state = :held AND #amount = :amount AND #customer = :customer",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


def refund_hold_op(order_id: str, *, customer_id: str, seller_id: str, amount: int, at: str, fee: int = 0) -> Op:
    """captured → refunded, only from ``captured`` and only for the capture we think it is
    (including the fee it took: a refund gives back exactly that fee)."""
    fee_matches = "#fee = :fee" if fee else "(attribute_not_exists(#fee) OR #fee = :fee)"
    return Op(HOLD, {"Update": {
        "TableName": _table_name(),
        "Key": keys.hold(order_id),
        "UpdateExpression": "SET #state = :to, #at = :at",
        # Timeline this guards: held → captured (confirm) → refunded (cancel after confirm), once.
        # A retry finds "refunded" and fails here together with the journal's Put of the same id;
        # a hold still held or released was never the seller's money, so there is nothing to
        # take back from them.
        "ConditionExpression": ("#state = :captured AND #amount = :amount AND #customer = :customer"
                                " AND #seller = :seller AND " + fee_matches +
                                # a capture partly returned is never refunded whole on top
                                " AND (attribute_not_exists(#ra) OR #ra = :zero)"),
        "ExpressionAttributeNames": {"#state": "state", "#amount": "amount", "#customer": "customer_id",
                                     "#seller": "seller_id", "#at": "refunded_at", "#fee": "fee",
                                     "#ra": "ret_amount"},
        "ExpressionAttributeValues": {":captured": dl.CAPTURED, ":to": dl.REFUNDED, ":amount": amount,
                                      ":customer": customer_id, ":seller": seller_id, ":at": at, ":fee": fee,
                                      ":zero": 0},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


REFUNDING, REFUNDING_AMOUNT = "refunding", "refunding_amount"  # a card return's refund in progress


def return_hold_op(order_id: str, *, seen: tuple[int, int, int], refund: int, promotion: int, fee: int,
                   return_id: str | None = None) -> Op:
    """An accepted return's part of the capture, counted on the hold: only while captured, and
    only if no other return was counted since ``seen`` (``ret_amount``, ``ret_promotion``,
    ``ret_fee`` as read) — so the refunds of an order never add up to more than its capture.
    A card order's return (``return_id``) also requires that no other return's card refund is
    in progress (``card_refund_op``) and ends its own."""
    names = {"#state": "state", "#ra": "ret_amount", "#rp": "ret_promotion", "#rf": "ret_fee", "#amount": "amount"}
    values: dict[str, Any] = {":captured": dl.CAPTURED, ":r": refund, ":p": promotion, ":f": fee,
                              ":sa": seen[0], ":max": -refund}
    unchanged = "(attribute_not_exists(#ra) OR #ra = :sa)" if seen[0] == 0 else "#ra = :sa"
    update, claim = "ADD #ra :r, #rp :p, #rf :f", ""
    if return_id is not None:
        names.update({"#rg": REFUNDING, "#rga": REFUNDING_AMOUNT})
        values[":rid"] = return_id
        update, claim = update + " REMOVE #rg, #rga", " AND (attribute_not_exists(#rg) OR #rg = :rid)"
    return Op(HOLD, {"Update": {
        "TableName": _table_name(),
        "Key": keys.hold(order_id),
        "UpdateExpression": update,
        "ConditionExpression": f"#state = :captured AND {unchanged} AND #amount >= :r{claim}",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {k: v for k, v in values.items() if k != ":max"},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }})


CLAIM, END, NOT_STARTED = "claim", "end", "not_started"  # what ``card_refund_op`` does with the mark


def card_refund_op(order_id: str, return_id: str, mark: str, *, amount: int = 0, seen: int = 0) -> Op:
    """The hold's card-refund mark (which return's refund is in progress at the provider, and how
    much), one conditional operation on it:

    - ``CLAIM``, before a card return's refund at the provider: mark the hold as refunding
      ``amount`` for this return, only while captured, no other return counted since ``seen``
      (``ret_amount``) and no other return's refund in progress (the same claim again holds).
      Until ``return_hold_op`` books the refund and ends the mark, the order's other returns wait
      (so the amount refunded is the amount booked) and this return cannot be rejected;
    - ``END``: this return's mark goes without booking (the provider refused: nothing moved);
    - ``NOT_STARTED``, a condition of rejecting a return: its card refund has not started.

    ``CLAIM`` and ``END`` run on their own (``toolkit.write_one``: True when the condition held);
    ``NOT_STARTED`` is a check inside the rejection's transaction."""
    names, values = {"#rg": REFUNDING}, {":rid": return_id}
    if mark == NOT_STARTED:
        return Op(HOLD, {"ConditionCheck": {
            "TableName": _table_name(), "Key": keys.hold(order_id),
            "ConditionExpression": "attribute_not_exists(#rg) OR #rg <> :rid",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }})
    names["#rga"] = REFUNDING_AMOUNT
    if mark == END:
        update, condition = "REMOVE #rg, #rga", "#rg = :rid"
    elif mark == CLAIM:
        names.update({"#state": "state", "#ra": "ret_amount"})
        values.update({":captured": dl.CAPTURED, ":sa": seen, ":amount": amount})
        unchanged = "(attribute_not_exists(#ra) OR #ra = :sa)" if seen == 0 else "#ra = :sa"
        update = "SET #rg = :rid, #rga = :amount"
        condition = f"#state = :captured AND {unchanged} AND (attribute_not_exists(#rg) OR " \
                    f"(#rg = :rid AND #rga = :amount))"
    else:
        raise ValueError(f"unknown card refund mark operation {mark!r}")
    return Op(HOLD, {"Update": {
        "TableName": _table_name(), "Key": keys.hold(order_id), "UpdateExpression": update,
        "ConditionExpression": condition, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
    }})


# -- reads -------------------------------------------------------------------------------------


def get_item(key: dict[str, str]) -> dict[str, Any] | None:
    item = _table().get_item(Key=key, ConsistentRead=True).get("Item")
    return plain(item) if item else None


def get_hold(order_id: str) -> dict[str, Any] | None:
    return get_item(keys.hold(order_id))


def get_txn(txn_id: str) -> dict[str, Any] | None:
    return get_item(keys.ledger_txn(txn_id))


def get_wallet(customer_id: str) -> dict[str, Any] | None:
    return get_item(keys.wallet(customer_id))


def get_earnings(seller_id: str) -> dict[str, Any] | None:
    return get_item(keys.earnings(seller_id))


def scan_all() -> Iterator[dict[str, Any]]:
    """Every item of the ledger table (the books' audit reads it all: an admin's rare request)."""
    start = None
    while True:
        page = _table().scan(ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        yield from (plain(i) for i in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def marketplace_balance(name: str, shards: int) -> int:
    """A marketplace account's balance: the sum of its shards (one BatchGetItem)."""
    found = toolkit.batch_get(_table_name(), [keys.marketplace_account(name, s) for s in range(shards)],
                              ConsistentRead=True)
    return sum(int(i.get("balance", 0)) for i in found)


def seller_txns_between(seller_id: str, start: str, end: str, *, cap: int) -> list[dict[str, Any]]:
    """A seller's transactions created in [start, end) (ISO times), oldest first, at most ``cap``."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "IndexName": "GSI2",
        "KeyConditionExpression": "GSI2PK = :pk AND GSI2SK BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":pk": keys.earnings_partition(seller_id), ":a": start, ":b": end},
    }
    while len(items) < cap:
        resp = _table().query(**params)
        items += [plain(i) for i in resp.get("Items", [])]
        if "LastEvaluatedKey" not in resp:
            break
        params["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return [i for i in items if i["created_at"] < end][:cap]


def list_txns(*, index: str, partition: str, limit: int, start: dict[str, Any] | None
              ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of an account owner's transactions, newest first (``index``: GSI1 | GSI2)."""
    pk = f"{index}PK"
    if start is not None and (start.get(pk) != partition or not {"PK", "SK", pk, f"{index}SK"} <= start.keys()):
        # a cursor from another list or another user: refuse it before DynamoDB sees it
        raise ValidationFailed.one("cursor", "this cursor belongs to another list")
    params: dict[str, Any] = {
        "IndexName": index,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": pk},
        "ExpressionAttributeValues": {":pk": partition},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start:
        params["ExclusiveStartKey"] = start
    resp = _table().query(**params)
    return [plain(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")
