"""Every DynamoDB key of the system is built here, and nowhere else.

Grammar: ``<PREFIX>#<value>[#<PREFIX>#<value>...]``; prefixes are upper-case nouns. Each table
(``infra/resources.py``) has its section below with its access patterns:

| access pattern | table / index | key condition | example |
|---|---|---|---|

ACCOUNTS table
| user profile by id | Accounts | PK=USER#<sub>, SK=PROFILE | USER#5f1c…, PROFILE |
| seller's shop | Accounts | PK=SHOP#<seller>, SK=SHOP | SHOP#5f1c…, SHOP |
| revoked session (logout) | Accounts | PK=REVOKED#<origin_jti>, SK=REVOKED (ttl = token exp) | REVOKED#6e5a…, REVOKED |

Other tables add their sections below (catalog, search, commerce, ledger, idempotency).
"""

from __future__ import annotations


def user(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": "PROFILE"}


def shop(seller_id: str) -> dict[str, str]:
    return {"PK": f"SHOP#{seller_id}", "SK": "SHOP"}


def revoked(session_id: str) -> dict[str, str]:
    return {"PK": f"REVOKED#{session_id}", "SK": "REVOKED"}
