"""Accounts table: user profiles, seller shops, revoked sessions, each account's access record
(role set by an admin, blocked), staff membership, and the staff listings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.errors import Conflict
from chalicelib.store import audit, keys, toolkit
from chalicelib.store.toolkit import Attr, Key, all_of, conditional


def _table() -> Any:
    return clients.table(settings().accounts_table)


def _strip(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    hidden = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "ttl", "verify_nonce", "reset_nonce")
    return {k: v for k, v in item.items() if k not in hidden}


def put_profile(user_id: str, profile: dict[str, Any]) -> None:
    _table().put_item(Item={**keys.user(user_id), **keys.user_listing(profile.get("created_at") or "", user_id),
                            **profile})


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


def put_shop(seller_id: str, shop: dict[str, Any], *, audit_item: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the shop; with ``audit_item`` (a staff action) the entry is written in the same
    transaction."""
    item = {**keys.shop(seller_id), **keys.shop_listing(shop.get("created_at") or "", seller_id), **shop}
    if audit_item is None:
        _table().put_item(Item=item)
    else:
        toolkit.transact([toolkit.Op("shop", {"Put": {"TableName": settings().accounts_table, "Item": item}}),
                          toolkit.Op("audit", audit.put_op(audit_item))])
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
    _table().put_item(Item={**keys.user(user_id), **keys.unverified(profile["created_at"], user_id),
                            **keys.user_listing(profile["created_at"], user_id), **profile,
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
    return _verified(_table().get_item(Key=keys.user(user_id), ProjectionExpression="verified",
                                       ConsistentRead=True).get("Item"))


def _verified(profile: dict[str, Any] | None) -> bool:
    return profile is not None and profile.get("verified", True) is not False


def revoke_sessions_before(user_id: str, at: int) -> None:
    """Every access token of ``user_id`` issued before ``at`` stops working (password reset)."""
    # an update: the same item holds the access record (role, blocked)
    _table().update_item(Key=keys.user_sessions(user_id), UpdateExpression="SET not_before = :at",
                         ExpressionAttributeValues={":at": int(at)})


@dataclass(frozen=True)
class SessionState:
    """What the authorizer learns from its one read: the session was logged out; tokens issued
    before ``not_before`` (epoch s) are revoked; the account's role set by an admin (None: the
    token's groups stand); the account is blocked; its email address is verified."""

    revoked: bool = False
    not_before: int = 0
    role: str | None = None
    blocked: bool = False
    verified: bool | None = None


def session_state(session_id: str, user_id: str) -> SessionState:
    """One consistent BatchGetItem of the session's revocation record, the account's access
    record and its profile's verified flag: the authorizer's only read, so a logout, a reset, a
    role change or a block takes effect on the very next request."""
    wanted = [keys.revoked(session_id), keys.user_sessions(user_id), keys.user(user_id)]
    found = {(item["PK"], item["SK"]): item for item in toolkit.batch_get(
        settings().accounts_table, wanted, ConsistentRead=True,
        ProjectionExpression="PK, SK, not_before, #role, blocked, verified",
        ExpressionAttributeNames={"#role": "role"})}
    revoked, access, profile = (found.get((k["PK"], k["SK"])) for k in wanted)
    access = access or {}
    return SessionState(revoked=revoked is not None, not_before=int(access.get("not_before", 0)),
                        role=access.get("role"), blocked=bool(access.get("blocked", False)),
                        verified=_verified(profile))


def access_records(user_ids: list[str]) -> dict[str, SessionState]:
    """The access records of ``user_ids`` (absent ones are the default state)."""
    items = toolkit.batch_get(settings().accounts_table, [keys.user_sessions(u) for u in user_ids],
                              ConsistentRead=True)
    out = {item["PK"].split("#", 1)[1]: SessionState(role=item.get("role"), blocked=bool(item.get("blocked", False)))
           for item in items}
    return {u: out.get(u, SessionState()) for u in user_ids}


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


def stop_purging(user_id: str) -> None:
    """Take a still unverified profile off the purge's index (it holds money: kept for good)."""
    conditional(_table().update_item, Key=keys.user(user_id), UpdateExpression="REMOVE GSI1PK, GSI1SK",
                ConditionExpression="verified = :no", ExpressionAttributeValues={":no": False})


def mark_verified(user_id: str, at: str) -> None:
    conditional(_table().update_item, Key=keys.user(user_id),
                UpdateExpression="SET verified = :yes, verified_at = if_not_exists(verified_at, :at) "
                                 "REMOVE verify_nonce, GSI1PK, GSI1SK",
                ConditionExpression="attribute_exists(PK)", ExpressionAttributeValues={":yes": True, ":at": at})


# --- staff: roles, blocks, listings --------------------------------------------------------------
# A role change or a block is one TransactWriteItems: the profile (what lists show), the access
# record (what the authorizer reads), staff membership, the audit entry and, when the set of
# admins shrinks, the admins' guard: a version the caller read before counting the admins, so
# two admins demoting each other at once cannot both succeed (one meets a changed version).

STAFF_ROLES = ("support", "catalog_operator", "admin")


def _op(label: str, kind: str, **params: Any) -> toolkit.Op:
    return toolkit.Op(label, {kind: {"TableName": settings().accounts_table, **params}})


def admins_version() -> int:
    item = _table().get_item(Key=keys.admins_guard(), ConsistentRead=True).get("Item") or {}
    return int(item.get("version", 0))


def staff_ids(role: str) -> list[str]:
    """Every member of a staff role (a few items; a consistent Query of the base table)."""
    ids: list[str] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(keys.staff_partition(role)),
                              "ConsistentRead": True, "ProjectionExpression": "user_id"}
    while True:
        resp = _table().query(**kwargs)
        ids += [str(item["user_id"]) for item in resp.get("Items", [])]
        if "LastEvaluatedKey" not in resp:
            return ids
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def _guard_op(version: int) -> toolkit.Op:
    return _op("guard", "Update", Key=keys.admins_guard(), UpdateExpression="SET version = :next",
               ConditionExpression="attribute_not_exists(version) OR version = :v",
               ExpressionAttributeValues={":v": version, ":next": version + 1})


def _staff_write(ops: list[toolkit.Op]) -> bool:
    """Run a staff transaction; False when the profile is gone. A changed admin set: Conflict."""
    try:
        toolkit.transact(ops)
    except toolkit.TransactionCancelled as cancelled:
        if cancelled.failed("profile"):
            return False
        if cancelled.failed("guard"):
            raise Conflict("the set of admins changed meanwhile; nothing was changed, retry") from cancelled
        raise
    return True


def change_role(user_id: str, *, old_role: str, new_role: str, audit_item: dict[str, Any],
                guard_version: int | None, at: str) -> bool:
    """Give ``user_id`` the role ``new_role`` (profile, access record, staff membership, audit
    entry) in one transaction; False when there is no such profile (nothing written)."""
    ops = [
        _op("profile", "Update", Key=keys.user(user_id), UpdateExpression="SET #r = :r, updated_at = :at",
            ConditionExpression="attribute_exists(PK)", ExpressionAttributeNames={"#r": "role"},
            ExpressionAttributeValues={":r": new_role, ":at": at}),
        _op("access", "Update", Key=keys.user_sessions(user_id), UpdateExpression="SET #r = :r",
            ExpressionAttributeNames={"#r": "role"}, ExpressionAttributeValues={":r": new_role}),
        toolkit.Op("audit", audit.put_op(audit_item)),
    ]
    if old_role in STAFF_ROLES:
        ops.append(_op("leave", "Delete", Key=keys.staff_member(old_role, user_id)))
    if new_role in STAFF_ROLES:
        ops.append(_op("join", "Put", Item={**keys.staff_member(new_role, user_id), "user_id": user_id, "since": at}))
    if guard_version is not None:
        ops.append(_guard_op(guard_version))
    return _staff_write(ops)


def change_blocked(user_id: str, blocked: bool, *, audit_item: dict[str, Any], guard_version: int | None,
                   at: str) -> bool:
    """Block or unblock ``user_id`` (profile, access record, audit entry) in one transaction;
    False when there is no such profile (nothing written)."""
    ops = [
        _op("profile", "Update", Key=keys.user(user_id), UpdateExpression="SET blocked = :b, updated_at = :at",
            ConditionExpression="attribute_exists(PK)", ExpressionAttributeValues={":b": blocked, ":at": at}),
        _op("access", "Update", Key=keys.user_sessions(user_id), UpdateExpression="SET blocked = :b",
            ExpressionAttributeValues={":b": blocked}),
        toolkit.Op("audit", audit.put_op(audit_item)),
    ]
    if guard_version is not None:
        ops.append(_guard_op(guard_version))
    return _staff_write(ops)


def _page(kwargs: dict[str, Any], start_key: dict[str, Any] | None
          ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    if start_key:
        kwargs["ExclusiveStartKey"] = start_key
    resp = _table().query(**kwargs)
    return [_strip(item) or {} for item in resp.get("Items", [])], resp.get("LastEvaluatedKey")


def _blocked_filter(blocked: bool | None) -> Any:
    return None if blocked is None else (Attr("blocked").eq(True) if blocked else Attr("blocked").ne(True))


def list_users(*, role: str | None, blocked: bool | None, limit: int, start_key: dict[str, Any] | None
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Profiles, newest first (GSI2 USERS), or the members of a staff role (their partition,
    then one BatchGetItem of the profiles). A filtered page may hold fewer than ``limit``."""
    flt = _blocked_filter(blocked)
    if role in STAFF_ROLES:
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(keys.staff_partition(role)),
                                  "Limit": limit, "ProjectionExpression": "PK, SK, user_id"}
        members, next_key = _page(kwargs, start_key)
        ids = [m["user_id"] for m in members]
        found = {p["user_id"]: p for p in (_strip(i) or {} for i in
                                             toolkit.batch_get(settings().accounts_table,
                                                               [keys.user(u) for u in ids]))}
        profiles = [found[u] for u in ids if u in found]
        if blocked is not None:
            profiles = [p for p in profiles if bool(p.get("blocked", False)) is blocked]
        return profiles, next_key
    kwargs = {"IndexName": "GSI2", "KeyConditionExpression": Key("GSI2PK").eq(keys.USERS),
              "ScanIndexForward": False, "Limit": limit}
    if role is not None:
        flt = Attr("role").eq(role) if flt is None else Attr("role").eq(role) & flt
    if flt is not None:
        kwargs["FilterExpression"] = flt
    return _page(kwargs, start_key)


def list_shops(*, blocked: bool | None, limit: int, start_key: dict[str, Any] | None
               ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Shops, newest first (GSI2 SHOPS)."""
    kwargs: dict[str, Any] = {"IndexName": "GSI2", "KeyConditionExpression": Key("GSI2PK").eq(keys.SHOPS),
                              "ScanIndexForward": False, "Limit": limit}
    flt = _blocked_filter(blocked)
    if flt is not None:
        kwargs["FilterExpression"] = flt
    return _page(kwargs, start_key)
