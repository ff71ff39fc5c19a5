"""Accounts table: user profiles, seller shops and revoked sessions."""

from __future__ import annotations

import time
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys, toolkit
from chalicelib.store.toolkit import all_of, conditional


def _table() -> Any:
    return clients.table(settings().accounts_table)


def _strip(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    hidden = ("PK", "SK", "GSI1PK", "GSI1SK", "ttl", "verify_nonce", "reset_nonce")
    return {k: v for k, v in item.items() if k not in hidden}


def put_profile(user_id: str, profile: dict[str, Any]) -> None:
    _table().put_item(Item={**keys.user(user_id), **profile})


def get_profile(user_id: str) -> dict[str, Any] | None:
    return _strip(_table().get_item(Key=keys.user(user_id), ConsistentRead=True).get("Item"))


def update_profile(user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply ``changes`` to an existing profile; None when there is no profile."""
    names = {f"#f{i}": k for i, k in enumerate(changes)}
    values = {f":v{i}": v for i, v in enumerate(changes.values())}
    done = conditional(
        _table().update_item,
        Key=keys.user(user_id),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )
    return None if done is None else _strip(done["Attributes"])


def put_shop(seller_id: str, shop: dict[str, Any]) -> dict[str, Any]:
    item = {**keys.shop(seller_id), **shop}
    _table().put_item(Item=item)
    return _strip(item) or {}


def get_shop(seller_id: str) -> dict[str, Any] | None:
    return _strip(_table().get_item(Key=keys.shop(seller_id)).get("Item"))


def get_shops(seller_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Shops by seller id in one BatchGetItem round trip per 100 ids."""
    items = toolkit.batch_get(settings().accounts_table, [keys.shop(s) for s in seller_ids])
    return {item["PK"].split("#", 1)[1]: _strip(item) or {} for item in items}


def revoke(session_id: str, expires_at: int) -> None:
    # Kept until the token would have expired anyway; TTL removes it after that.
    _table().put_item(Item={**keys.revoked(session_id), "ttl": int(expires_at) + 60, "at": int(time.time())})


def is_revoked(session_id: str) -> bool:
    return "Item" in _table().get_item(Key=keys.revoked(session_id), ProjectionExpression="PK")


# --- email verification, password resets, sessions ------------------------------------------
# A profile's emailed links are one-time through a nonce kept on the profile: the link carries
# it, and using the link is one conditional write that requires it and removes it. A new link
# (resend, another "forgot password") replaces the nonce, so only the newest link works.


def put_unverified_profile(user_id: str, profile: dict[str, Any], *, verify_nonce: str) -> None:
    """A new profile, not verified, in the sparse "unverified" index (the purge reads it)."""
    _table().put_item(Item={**keys.user(user_id), **keys.unverified(profile["created_at"], user_id), **profile,
                            "verified": False, "verify_nonce": verify_nonce})


def set_nonce(user_id: str, purpose: str, nonce: str) -> bool:
    """Replace the ``purpose`` ("verify" or "reset") nonce; False when there is no profile
    (or, for "verify", it is verified already)."""
    condition = "attribute_exists(PK)"
    if purpose == "verify":
        condition = all_of(condition, "verified = :no")
    done = conditional(
        _table().update_item, Key=keys.user(user_id),
        UpdateExpression="SET #n = :nonce", ConditionExpression=condition,
        ExpressionAttributeNames={"#n": f"{purpose}_nonce"},
        ExpressionAttributeValues={":nonce": nonce, **({":no": False} if purpose == "verify" else {})},
    )
    return done is not None


def use_nonce(user_id: str, purpose: str, nonce: str, *, verified_at: str | None = None) -> bool:
    """Consume the link's nonce (once). For "verify" this also marks the profile verified and
    takes it out of the unverified index. False: wrong, replaced or already used."""
    update = "REMOVE #n"
    values: dict[str, Any] = {":nonce": nonce}
    if purpose == "verify":
        update = "SET verified = :yes, verified_at = :at REMOVE #n, GSI1PK, GSI1SK"
        values |= {":yes": True, ":at": verified_at}
    done = conditional(
        _table().update_item, Key=keys.user(user_id), UpdateExpression=update,
        ConditionExpression="#n = :nonce", ExpressionAttributeNames={"#n": f"{purpose}_nonce"},
        ExpressionAttributeValues=values,
    )
    return done is not None


def is_verified(user_id: str) -> bool:
    """Profiles made before verification existed carry no flag: they count as verified."""
    item = _table().get_item(Key=keys.user(user_id), ProjectionExpression="verified", ConsistentRead=True).get("Item")
    return item is not None and item.get("verified", True) is not False


def revoke_sessions_before(user_id: str, at: int) -> None:
    """Every access token of ``user_id`` issued before ``at`` stops working (password reset)."""
    _table().put_item(Item={**keys.user_sessions(user_id), "not_before": int(at)})


def session_state(session_id: str, user_id: str) -> tuple[bool, int]:
    """(the session was logged out, tokens issued before this epoch second are revoked): one
    BatchGetItem, the authorizer's only read."""
    found = list(toolkit.batch_get(settings().accounts_table,
                                   [keys.revoked(session_id), keys.user_sessions(user_id)], ConsistentRead=True))
    revoked = any(item["SK"] == keys.revoked(session_id)["SK"] for item in found)
    not_before = next((int(item.get("not_before", 0)) for item in found
                       if item["SK"] == keys.user_sessions(user_id)["SK"]), 0)
    return revoked, not_before


def unverified_before(created_before: str, limit: int = 100) -> list[dict[str, Any]]:
    """Profiles still unverified that were created before ``created_before`` (ISO), oldest first."""
    resp = _table().query(
        IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :before",
        ExpressionAttributeValues={":pk": keys.UNVERIFIED, ":before": created_before}, Limit=limit)
    return [_strip(item) or {} for item in resp.get("Items", [])]


def delete_unverified(user_id: str) -> bool:
    """Delete the profile if it is still unverified (a verification racing the purge wins)."""
    done = conditional(_table().delete_item, Key=keys.user(user_id), ConditionExpression="verified = :no",
                       ExpressionAttributeValues={":no": False})
    return done is not None


def mark_verified(user_id: str, at: str) -> None:
    conditional(_table().update_item, Key=keys.user(user_id),
                UpdateExpression="SET verified = :yes, verified_at = if_not_exists(verified_at, :at) "
                                 "REMOVE verify_nonce, GSI1PK, GSI1SK",
                ConditionExpression="attribute_exists(PK)", ExpressionAttributeValues={":yes": True, ":at": at})
