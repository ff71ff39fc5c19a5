"""Promo codes in the Commerce table: the codes, their use counters and redemptions.

Key grammar and access patterns: ``store/keys.py`` ("PROMO CODES"). Items::

    code:        {issuer, code, kind, value, currency, min_subtotal?, starts_at?, ends_at?,
                  max_uses?, max_uses_per_customer?, uses, version, ended, created_at, updated_at}
    customer:    {uses}                                  (this customer's uses of the code)
    redemption:  {issuer, code, checkout_id, customer_id, order_ids, open, given_back}
    text:        {issuers: set}                          (every issuer of a text)

Writes and their guards:

- ``create``: one TransactWriteItems: the code Put (``attribute_not_exists``: unique per
  issuer) and the text item's issuer set.
- ``update``: one conditional UpdateItem; every change bumps ``version``, which the checkout's
  redemption is conditional on, so a code changed between the quote and the checkout's write
  is refused (409), never applied on other terms than those shown.
- ``redemption_ops``: the checkout's operations (``store/orders.place`` adds them to its one
  TransactWriteItems): per code, ``uses + 1`` under ``uses < max_uses`` with the version, the
  validity window and "not ended"; the customer's ``uses + 1`` under ``uses <
  max_uses_per_customer``; the redemption Put. The limits hold under any concurrency because
  DynamoDB evaluates each condition on the item as it is at the write.
- ``release_ops`` / ``give_back``: a cancelled order's ``open − 1`` on its redemptions (in the
  same transaction as its stock release, which runs once), then — once ``open`` is 0 — the
  use back on the code and the customer counter, guarded by the redemption's ``given_back``
  flag: exactly once, and safe to retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.domain import promos as rules
from chalicelib.errors import AlreadyExists, NotFound, ValidationFailed
from chalicelib.store import keys
from chalicelib.store.toolkit import Op, TransactionCancelled, all_of, any_of, conditional, transact
from chalicelib.store.values import plain

_INTERNAL = ("PK", "SK")


def _table_name() -> str:
    return settings().commerce_table


def _table() -> Any:
    return clients.table(_table_name())


def _strip(item: dict[str, Any]) -> dict[str, Any]:
    return plain({k: v for k, v in item.items() if k not in _INTERNAL})


def create(code: dict[str, Any]) -> dict[str, Any]:
    issuer, text = code["issuer"], code["code"]
    item = {**keys.promo_code(issuer, text), **code, "uses": 0, "version": 1, "ended": False}
    try:
        transact([
            Op("code", {"Put": {"TableName": _table_name(), "Item": item,
                                "ConditionExpression": "attribute_not_exists(PK)"}}),
            Op("text", {"Update": {"TableName": _table_name(), "Key": keys.promo_text(text),
                                   "UpdateExpression": "ADD issuers :me",
                                   "ExpressionAttributeValues": {":me": {issuer}}}}),
        ])
    except TransactionCancelled as cancelled:
        if cancelled.failed("code"):
            raise AlreadyExists(f"you already have a code {text}", code=text) from cancelled
        raise
    return _strip(item)


def get(issuer: str, code: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.promo_code(issuer, code), ConsistentRead=True).get("Item")
    return _strip(item) if item else None


def list_codes(issuer: str, *, limit: int, start: dict[str, Any] | None
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    params: dict[str, Any] = {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
        "ExpressionAttributeValues": {":pk": keys.promo_issuer(issuer), ":sk": keys.PROMO_CODE_PREFIX},
        "Limit": limit,
    }
    if start:
        if (set(start) != {"PK", "SK"} or start["PK"] != keys.promo_issuer(issuer)
                or not str(start["SK"]).startswith(keys.PROMO_CODE_PREFIX)):
            # a signed cursor, but of another listing or issuer: refuse it before DynamoDB sees it
            raise ValidationFailed.one("cursor", "this cursor belongs to another listing")
        params["ExclusiveStartKey"] = start
    resp = _table().query(**params)
    return [_strip(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")


def update(issuer: str, code: str, changes: dict[str, Any], removals: Iterable[str], now_iso: str) -> dict[str, Any]:
    """Set ``changes``, remove ``removals``, bump the version; NotFound when there is no such code."""
    names: dict[str, str] = {"#v": "version", "#up": "updated_at"}
    values: dict[str, Any] = {":one": 1, ":now": now_iso}
    sets = ["#up = :now"]
    for i, (name, value) in enumerate(changes.items()):
        names[f"#c{i}"], values[f":c{i}"] = name, value
        sets.append(f"#c{i} = :c{i}")
    removes = []
    for i, name in enumerate(removals):
        names[f"#r{i}"] = name
        removes.append(f"#r{i}")
    expression = "SET " + ", ".join(sets) + " ADD #v :one" + (" REMOVE " + ", ".join(removes) if removes else "")
    done = conditional(_table().update_item, Key=keys.promo_code(issuer, code), UpdateExpression=expression,
                       ConditionExpression="attribute_exists(PK)", ExpressionAttributeNames=names,
                       ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
    if done is None:
        raise NotFound(f"you have no code {code}")
    return _strip(done["Attributes"])


# --- the checkout -------------------------------------------------------------------------------


def checkout_keys(texts: Iterable[str], issuers: Iterable[str], customer_id: str) -> list[dict[str, str]]:
    """The keys a checkout reads (in its one BatchGetItem) to evaluate the typed codes."""
    out = []
    for text in dict.fromkeys(rules.normalize(t) for t in texts):
        out.append(keys.promo_text(text))
        for issuer in [rules.MARKETPLACE, *dict.fromkeys(issuers)]:
            out += [keys.promo_code(issuer, text), keys.promo_customer(issuer, text, customer_id)]
    return out


def read_back(items: Iterable[dict[str, Any]]) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, set[str]],
                                                         dict[tuple[str, str], int]]:
    """The items ``checkout_keys`` found → (codes by (issuer, CODE), issuers by text, the
    customer's uses by (issuer, CODE))."""
    codes, issuers_of, uses = {}, {}, {}
    for item in items:
        pk, sk = str(item["PK"]), str(item["SK"])
        if pk.startswith("PROMOTEXT#"):
            issuers_of[pk.split("#", 1)[1]] = set(item.get("issuers") or ())
        elif sk.startswith(keys.PROMO_CODE_PREFIX):
            code = _strip(item)
            codes[(code["issuer"], code["code"])] = code
        elif sk.startswith("CUSTOMER#"):
            issuer = pk.split("#", 1)[1]
            text = sk.split("#")[1]
            uses[(issuer, text)] = int(item.get("uses", 0))
    return codes, issuers_of, uses


def redemption_label(issuer: str, code: str) -> str:
    return f"promo:{issuer}:{code}"


def customer_label(issuer: str, code: str) -> str:
    return f"promo-customer:{issuer}:{code}"


def redemption_ops(redemptions: list[dict[str, Any]], *, checkout_id: str, customer_id: str,
                   now_iso: str) -> list[Op]:
    """Three operations per redeemed code (module docstring), labelled by code."""
    ops = []
    table = _table_name()
    for r in redemptions:
        issuer, code = r["issuer"], r["code"]
        # The code as the customer was quoted it, still redeemable at this instant:
        # quoted → (PATCH bumps version | uses reach max_uses | ends_at passes | ended) → refused.
        same_terms = "version = :v"
        running = all_of("ended = :f", any_of("attribute_not_exists(starts_at)", "starts_at <= :now"),
                         any_of("attribute_not_exists(ends_at)", "ends_at > :now"))
        room = any_of("attribute_not_exists(max_uses)", "uses < max_uses")
        ops.append(Op(redemption_label(issuer, code), {"Update": {
            "TableName": table, "Key": keys.promo_code(issuer, code),
            "UpdateExpression": "SET uses = uses + :one",
            "ConditionExpression": all_of(same_terms, running, room),
            "ExpressionAttributeValues": {":v": r["version"], ":f": False, ":now": now_iso, ":one": 1},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}))
        limit = r.get("max_uses_per_customer")
        update = {"TableName": table, "Key": keys.promo_customer(issuer, code, customer_id),
                  "UpdateExpression": "SET uses = if_not_exists(uses, :zero) + :one",
                  "ExpressionAttributeValues": {":zero": 0, ":one": 1}}
        if limit is not None:
            update["ConditionExpression"] = any_of("attribute_not_exists(uses)", "uses < :limit")
            update["ExpressionAttributeValues"][":limit"] = int(limit)
        ops.append(Op(customer_label(issuer, code), {"Update": update}))
        ops.append(Op(f"redemption:{issuer}:{code}", {"Put": {
            "TableName": table,
            "Item": {**keys.promo_redemption(issuer, code, checkout_id), "issuer": issuer, "code": code,
                     "checkout_id": checkout_id, "customer_id": customer_id, "order_ids": r["order_ids"],
                     "open": len(r["order_ids"]), "given_back": False, "created_at": now_iso},
            "ConditionExpression": "attribute_not_exists(PK)",
        }}))
    return ops


def refused_reason(cancelled: TransactionCancelled, redemption: dict[str, Any], now_iso: str) -> str | None:
    """Why the checkout's write refused this code (None: it did not)."""
    issuer, code = redemption["issuer"], redemption["code"]
    if cancelled.failed(customer_label(issuer, code)):
        return rules.CUSTOMER_LIMIT
    if not cancelled.failed(redemption_label(issuer, code)):
        return None
    item = cancelled.item(redemption_label(issuer, code)) or {}
    return rules.refusal(item, now_iso, customer_uses=0) or "changed"


def release_ops(order: dict[str, Any]) -> list[Op]:
    """The cancelled order no longer holds its redemptions (``open − 1`` each); goes into the
    transaction that releases its stock, which runs once per order."""
    return [Op(f"redemption:{r['issuer']}:{r['code']}", {"Update": {
        "TableName": _table_name(),
        "Key": keys.promo_redemption(r["issuer"], r["code"], order["checkout_id"]),
        "UpdateExpression": "SET #open = #open - :one",
        "ConditionExpression": "#open > :zero",
        "ExpressionAttributeNames": {"#open": "open"},
        "ExpressionAttributeValues": {":one": 1, ":zero": 0},
    }}) for r in order.get("promo_redemptions") or []]


def give_back(order: dict[str, Any]) -> int:
    """Give back the uses of the order's redemptions that no order holds any more: once each
    (the redemption's ``given_back`` flag), whoever calls it and however often. Returns how
    many uses came back now."""
    returned = 0
    table = _table_name()
    for r in order.get("promo_redemptions") or []:
        issuer, code = r["issuer"], r["code"]
        try:
            transact([
                Op("redemption", {"Update": {
                    "TableName": table, "Key": keys.promo_redemption(issuer, code, order["checkout_id"]),
                    "UpdateExpression": "SET given_back = :t",
                    # every discounted order of the checkout is cancelled, and the use is not back yet
                    "ConditionExpression": "#open <= :zero AND given_back = :f",
                    "ExpressionAttributeNames": {"#open": "open"},
                    "ExpressionAttributeValues": {":t": True, ":f": False, ":zero": 0},
                }}),
                Op("code", {"Update": {"TableName": table, "Key": keys.promo_code(issuer, code),
                                       "UpdateExpression": "SET uses = uses - :one",
                                       "ExpressionAttributeValues": {":one": 1}}}),
                Op("customer", {"Update": {"TableName": table,
                                           "Key": keys.promo_customer(issuer, code, order["customer_id"]),
                                           "UpdateExpression": "SET uses = uses - :one",
                                           "ExpressionAttributeValues": {":one": 1}}}),
            ])
            returned += 1
        except TransactionCancelled as cancelled:
            if not cancelled.failed("redemption"):
                raise
    return returned
