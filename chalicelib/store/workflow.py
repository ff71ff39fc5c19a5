"""The workflows' own records in the Commerce table: parked task tokens (of the order's and
the return's executions), the order workflow's action links,
"email sent" markers and (local runs only) the outbox behind the mailbox page.

Key grammar and access patterns: ``store/keys.py`` (WORKFLOW). AWS errors stop here.

- **Task tokens** (``park_token`` / ``peek_token`` / ``drop_token``). A waiting step of a
  state machine parks its Step Functions task token under its wait (``order_wait``: order and
  wait kind; ``return_wait``: the return). Whoever resumes
  the execution reads it, answers it, and only then drops it (conditionally on that token):
  a wake-up that fails anywhere — including a lost reply after the answer went through —
  leaves the token for the next attempt, and a second answer to a used token is refused by
  Step Functions as over, harmlessly. A token is a bearer credential for ``SendTaskSuccess``:
  it is returned to ``services/workflow/wake.py`` only, never logged, and expires with the
  table's TTL.
- **Action links** (``ensure_link`` / ``claim_link``). One record per (order, seller,
  action) with a derived id, created with ``attribute_not_exists`` so a retried step issues
  the same link. "Works once" is ``claim_link``: ``used_at`` set only if absent.
- **Email markers** (``claim_email`` / ``mark_email_sent`` / ``drop_email_claim``). A send is
  claimed before SES is called and marked sent after; a retried step finds ``sent`` and
  sends nothing. A claim is a lease: a step that died mid-send is retried after it lapses
  (at-least-once then, the only safe choice when the crash hides whether SES got the mail).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from chalicelib import clients
from chalicelib.config import settings
from chalicelib.store import keys
from chalicelib.store.toolkit import Attr, Key, Op, TransactionCancelled, any_of, conditional, transact
from chalicelib.store.values import plain

TOKEN_GRACE_SECONDS = 24 * 3600  # a parked token outlives its wait by this much, then TTL removes it
OUTBOX_TTL_SECONDS = 24 * 3600
EMAIL_LEASE_SECONDS = 60

CLAIMED, SENT, BUSY = "claimed", "sent", "busy"


def _table() -> Any:
    return clients.table(settings().commerce_table)


# --- task tokens ----------------------------------------------------------------------------


def order_wait(order_id: str, kind: str) -> dict[str, str]:
    """Where the order's execution parks the token of its ``kind`` wait (payment, seller…)."""
    return keys.workflow_wait(order_id, kind)


def return_wait(return_id: str) -> dict[str, str]:
    """Where the return's execution parks the token of its wait for the seller's decision: an
    item of its own beside the return, so the token never travels with the return's reads."""
    return keys.return_wait(return_id)


def park_token(wait: dict[str, str], task_token: str, *, wait_seconds: int, step: str) -> None:
    """Keep the token of the step now waiting (a re-run of the step overwrites its own)."""
    now = int(time.time())
    _table().put_item(Item={**wait, "task_token": task_token, "step": step, "parked_at": now,
                            "ttl": now + int(wait_seconds) + TOKEN_GRACE_SECONDS})


def peek_token(wait: dict[str, str]) -> str | None:
    """The parked token (None when nothing waits), left in place: it is dropped only once the
    execution has been answered (``drop_token``), so a wake-up that fails at any point — even
    after its call went through but its reply was lost — leaves the token for the next one."""
    item = _table().get_item(Key=wait, ConsistentRead=True).get("Item")
    return None if not item else str(item["task_token"])


def drop_token(wait: dict[str, str], task_token: str) -> None:
    """Forget a token that was answered (or refused as over): only that very token, never a
    newer one the step parked since."""
    conditional(_table().delete_item, Key=wait, ConditionExpression="task_token = :t",
                ExpressionAttributeValues={":t": task_token})


def forget_token(wait: dict[str, str]) -> None:
    """The wait timed out: its token can answer nothing any more."""
    _table().delete_item(Key=wait)


def mark_wake_pending(order_id: str, kind: str, now_iso: str) -> bool:
    """A decision was recorded but waking the ``kind`` wait failed: put its parked token on the
    sparse "wake pending" index (GSI4) for the reconciler. False when nothing is parked. The
    mark lives on the token's item, so it goes when the token does (answered, or re-parked)."""
    return conditional(_table().update_item, Key=order_wait(order_id, kind),
                       UpdateExpression="SET GSI4PK = :pk, GSI4SK = :sk",
                       ConditionExpression="attribute_exists(task_token)",
                       ExpressionAttributeValues={":pk": keys.WAKE_PENDING,
                                                  ":sk": f"{now_iso}#{order_id}#{kind}"}) is not None


def wakes_pending(before_iso: str, limit: int) -> list[tuple[str, str]]:
    """(order id, wait kind) of the waits marked "wake pending" before ``before_iso``, oldest
    first (one Query of GSI4, eventually consistent: a wake-up repeated is harmless)."""
    resp = _table().query(IndexName="GSI4", Limit=limit, ProjectionExpression="PK, SK",
                          KeyConditionExpression=Key("GSI4PK").eq(keys.WAKE_PENDING) & Key("GSI4SK").lt(before_iso))
    return [(str(i["PK"]).removeprefix("ORDER#"), str(i["SK"]).removeprefix("WAIT#")) for i in resp.get("Items", [])]


def clear_wake_pending(order_id: str, kind: str) -> None:
    """Take the wait off the "wake pending" index (nothing to deliver: the order is still where
    the wait expects it). Idempotent; never creates an item."""
    conditional(_table().update_item, Key=order_wait(order_id, kind), UpdateExpression="REMOVE GSI4PK, GSI4SK",
                ConditionExpression="attribute_exists(PK)")


def has_token(wait: dict[str, str]) -> bool:
    return _table().get_item(Key=wait, ConsistentRead=True, ProjectionExpression="PK").get("Item") is not None


# --- action links ---------------------------------------------------------------------------


def link_id(order_id: str, seller_id: str, action: str) -> str:
    """Derived, so issuing the same link twice finds one record. Not a secret: the emailed token
    is HMAC-signed, and the id alone opens nothing."""
    raw = hashlib.sha256(f"link\x00{order_id}\x00{seller_id}\x00{action}".encode()).digest()
    return "l" + base64.b32encode(raw).decode().rstrip("=").lower()[:31]


def _link_item(order_id: str, seller_id: str, action: str, expires_at: int) -> dict[str, Any]:
    lid = link_id(order_id, seller_id, action)
    return {
        **keys.action_link(lid),
        "link_id": lid,
        "order_id": order_id,
        "seller_id": seller_id,
        "action": action,
        "expires_at": int(expires_at),
        "created_at": int(time.time()),
        "ttl": int(expires_at) + 7 * 24 * 3600,  # kept a week past expiry: "expired", not "invalid"
    }


def ensure_link(order_id: str, seller_id: str, action: str, *, expires_at: int) -> dict[str, Any]:
    """The link record of (order, seller, action), created now if it does not exist yet."""
    item = _link_item(order_id, seller_id, action, expires_at)
    if conditional(_table().put_item, Item=item, ConditionExpression="attribute_not_exists(PK)") is None:
        existing = get_link(item["link_id"])
        if existing is None:  # it existed a moment ago: expired and swept by TTL in between
            raise RuntimeError(f"action link {item['link_id']} vanished while it was issued; retry the step")
        return existing
    return _plain(item)


def ensure_links(order_id: str, seller_id: str, actions: tuple[str, ...], *, expires_at: int
                 ) -> dict[str, dict[str, Any]]:
    """``ensure_link`` for several actions: one transaction creating them all (the first time),
    else one by one (a retried step: some or all exist and are kept as they are)."""
    items = {action: _link_item(order_id, seller_id, action, expires_at) for action in actions}
    table = settings().commerce_table
    try:
        transact([Op(action, {"Put": {"TableName": table, "Item": item,
                                      "ConditionExpression": "attribute_not_exists(PK)"}})
                  for action, item in items.items()])
    except TransactionCancelled:
        return {action: ensure_link(order_id, seller_id, action, expires_at=expires_at) for action in actions}
    return {action: _plain(item) for action, item in items.items()}


def get_link(link_id_: str) -> dict[str, Any] | None:
    item = _table().get_item(Key=keys.action_link(link_id_), ConsistentRead=True).get("Item")
    return _plain(item) if item else None


def claim_link(link_id_: str, *, by: str) -> bool:
    """Mark the link used; False when it already was (the "works once" write)."""
    return conditional(
        _table().update_item,
        Key=keys.action_link(link_id_),
        UpdateExpression="SET used_at = :now, used_by = :by",
        ConditionExpression="attribute_exists(PK) AND attribute_not_exists(used_at)",
        ExpressionAttributeValues={":now": int(time.time()), ":by": by},
    ) is not None


def unclaim_link(link_id_: str) -> None:
    """Give a claimed link back when its action could not be done *yet* (e.g. ship before
    confirm), so the seller can use it later."""
    _table().update_item(Key=keys.action_link(link_id_), UpdateExpression="REMOVE used_at, used_by",
                         ConditionExpression="attribute_exists(PK)")


# --- email markers --------------------------------------------------------------------------


def claim_email(order_id: str, kind: str, *, lease_seconds: int = EMAIL_LEASE_SECONDS) -> str:
    """``claimed``: the caller sends now; ``sent``: already done; ``busy``: another attempt
    holds a live lease (retry later)."""
    now = int(time.time())
    # Timeline this guards: attempt 1 claims, SES fails -> drop_email_claim -> attempt 2
    # claims again (``never_claimed``). Attempt 1 dies after SES accepted -> the lease lapses ->
    # attempt 2 re-sends, at least once (``claim_lapsed``). Attempt 1 marks sent -> every later
    # attempt reads "sent".
    never_claimed = "attribute_not_exists(PK)"
    claim_lapsed = "#st = :sending AND lease_until < :now"
    claimed = conditional(
        _table().put_item,
        Item={**keys.email_sent(order_id, kind), "state": "sending", "lease_until": now + lease_seconds,
              "claimed_at": now},
        ConditionExpression=any_of(never_claimed, claim_lapsed),
        ExpressionAttributeNames={"#st": "state"},
        ExpressionAttributeValues={":sending": "sending", ":now": now},
    )
    if claimed is None:
        current = _table().get_item(Key=keys.email_sent(order_id, kind), ConsistentRead=True).get("Item") or {}
        return SENT if current.get("state") == "sent" else BUSY
    return CLAIMED


def mark_email_sent(order_id: str, kind: str, *, message_id: str, to: str, also: Op | None = None) -> bool:
    """Mark the send done; with ``also`` (another item's conditional write, e.g. the order's
    timeline entry) in the same transaction. False when ``also``'s condition failed: the mark
    is written alone then, and ``also`` is the caller's to explain."""
    update = {
        "Key": keys.email_sent(order_id, kind),
        "UpdateExpression": "SET #st = :sent, message_id = :mid, sent_at = :now, recipient = :to REMOVE lease_until",
        "ExpressionAttributeNames": {"#st": "state"},
        "ExpressionAttributeValues": {":sent": "sent", ":mid": message_id, ":now": int(time.time()), ":to": to},
    }
    if also is not None:
        try:
            transact([Op("sent", {"Update": {"TableName": settings().commerce_table, **update}}), also])
            return True
        except TransactionCancelled as cancelled:
            if not cancelled.failed(also.label):
                raise
    _table().update_item(**update)
    return also is None


def drop_email_claim(order_id: str, kind: str) -> None:
    """After a failed send: let the next attempt claim at once (only a claim, never a 'sent')."""
    conditional(_table().delete_item, Key=keys.email_sent(order_id, kind), ConditionExpression="#st = :sending",
                ExpressionAttributeNames={"#st": "state"}, ExpressionAttributeValues={":sending": "sending"})


# --- the local outbox -----------------------------------------------------------------------


def add_outbox(entry: dict[str, Any], *, sent_at: str, message_id: str) -> None:
    _table().put_item(Item={**keys.outbox_entry(sent_at, message_id), **entry,
                            "to_key": str(entry.get("to", "")).lower(), "ttl": int(time.time()) + OUTBOX_TTL_SECONDS})


_OUTBOX_INTERNAL = ("PK", "SK", "ttl", "to_key")


def list_outbox(limit: int = 100, *, to: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` emails (to ``to`` only, when given: a filter over the one local
    partition, read page by page — this exists in local runs only)."""
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("PK").eq(keys.OUTBOX_PK), "ScanIndexForward": False}
    if to:
        kwargs["FilterExpression"] = Attr("to_key").eq(to.lower())
    out: list[dict[str, Any]] = []
    while len(out) < limit:
        resp = _table().query(**kwargs)
        out += [_plain({k: v for k, v in i.items() if k not in _OUTBOX_INTERNAL}) for i in resp.get("Items", [])]
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return out[:limit]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return plain({k: v for k, v in item.items() if k not in ("PK", "SK")})
