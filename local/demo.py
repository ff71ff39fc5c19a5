"""Demo data for a local run, created through the public HTTP API like a user would.

A demo seller with a shop and delivery methods, a demo customer, and the seller's catalog
imported from ``local/demo/demo-feed.yml`` through the real path (presigned upload → S3 →
SQS → import Lambda), and a demo admin (registered, then put in the admin group as an operator
would). A step that fails logs the response as an error and the others go on; no step is ever
reported done unless the API said so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from chalicelib.store import imports

log = logging.getLogger("marketplace.local.demo")

FEED_FILE = Path(__file__).resolve().parent / "demo" / "demo-feed.yml"


@dataclass(frozen=True)
class Login:
    email: str
    password: str
    name: str
    role: str  # registered as
    group: str | None = None  # then put in this Cognito group by the operator (admins)

    @property
    def label(self) -> str:
        return self.group or self.role


SELLER = Login("seller@demo.example.com", "demo-seller-1", "Демо Продавец", "seller")
DEMO_TOPUP = 5_000_000  # 50 000,00 RUB in kopecks
SANDBOX_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
CUSTOMER = Login("customer@demo.example.com", "demo-customer-1", "Демо Покупатель", "customer")
ADMIN = Login("admin@demo.example.com", "demo-admin-1", "Демо Админ", "customer", group="admin")
LOGINS = (SELLER, CUSTOMER, ADMIN)

SHOP = {
    "name": "Демо-лавка",
    "contact_email": SELLER.email,
    "language": "ru",
    "currency": "RUB",
    "delivery_methods": [
        {"id": "courier", "name": "Курьер", "price": 39000, "days": 2},
        {"id": "pickup", "name": "Самовывоз из пункта выдачи", "price": 0, "days": 4},
        {"id": "post", "name": "Почта России", "price": 25000, "days": 7},
    ],
}



def _check(resp: requests.Response, step: str, ok: tuple[int, ...]) -> Any:
    if resp.status_code in ok:
        return resp.json() if resp.content else None
    raise RuntimeError(f"{step}: HTTP {resp.status_code}: {resp.text[:500]}")


class Demo:
    def __init__(self, base_url: str, timeout: float = 30) -> None:
        self.base = base_url.rstrip("/")
        self.http = requests.Session()
        self.timeout = timeout

    def _call(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base + path, headers=headers, timeout=self.timeout, **kw)

    def account(self, who: Login) -> str:
        body = {"email": who.email, "password": who.password, "name": who.name, "role": who.role}
        resp = self._call("POST", "/auth/register", json=body)
        _check(resp, f"register {who.role}", (200, 201))  # an existing address answers the same
        self.verify(who.email)
        tokens = _check(self._call("POST", "/auth/login", json={"email": who.email, "password": who.password}),
                        f"log in {who.role}", (200,))
        return tokens["access_token"]

    def verify(self, email: str) -> None:
        """Follow the verification link of the local outbox, as the owner of the mailbox would
        (none: verified by an earlier run)."""
        emails = _check(self._call("GET", "/local/emails", params={"to": email}), "read the outbox", (200,))
        for mail in emails["items"]:
            if mail["kind"] == "account_verify":
                link = next(u for u in mail["links"] if "/auth/links/" in u)
                token = link.rsplit("/auth/links/", 1)[1]
                resp = self._call("POST", "/auth/verify", json={"token": token})
                if resp.status_code != 410:  # 410: verified by an earlier run
                    _check(resp, "verify the email", (204,))
                return

    def wallet(self, token: str) -> dict[str, Any]:
        """Fund the demo customer once (a fixed Idempotency-Key: a rerun replays, never doubles)."""
        _check(self._call("POST", "/wallet/topups", token, json={"amount": DEMO_TOPUP, "card": SANDBOX_CARD},
                          headers={"Idempotency-Key": "demo-customer-initial-topup"}), "top up the wallet",
               (200, 201))
        return _check(self._call("GET", "/wallet", token), "read the wallet", (200,))

    def shop(self, token: str) -> dict[str, Any]:
        return _check(self._call("PUT", "/seller/shop", token, json=SHOP), "create the shop", (200, 201))

    def feed(self, token: str, wait_seconds: float = 60) -> dict[str, Any]:
        created = _check(self._call("POST", "/seller/feeds", token, json={"filename": FEED_FILE.name}),
                         "start a feed upload", (200, 201))
        upload = self.http.post(created["upload_url"], data=created["fields"],
                                files={"file": (FEED_FILE.name, FEED_FILE.read_bytes())}, timeout=self.timeout)
        if upload.status_code not in (200, 201, 204):
            raise RuntimeError(f"upload the feed: HTTP {upload.status_code}: {upload.text[:300]}")
        feed_id = created["feed_id"]
        deadline = time.monotonic() + wait_seconds
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = _check(self._call("GET", f"/seller/feeds/{feed_id}", token), "read the import", (200,))
            if status.get("status") in imports.FINAL:
                return status
            time.sleep(0.5)
        raise RuntimeError(f"the demo feed import {feed_id} did not finish in {wait_seconds:.0f} s: {status}")


def run(base_url: str, promote: Callable[[str, str], None] | None = None) -> bool:
    """Create the demo data; True when every step that could run succeeded. ``promote(email,
    group)`` is the operator's hand: it puts the demo admin in the admin group (no API does)."""
    demo = Demo(base_url)
    ok = True

    def step(name: str, fn: Any, *args: Any) -> Any:
        nonlocal ok
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other steps
            ok = False
            log.error("demo step failed", extra={"fields": {"step": name, "error": str(exc)}})
            return None
        log.info("demo step done", extra={"fields": {"step": name}})
        return result

    seller_token = step("seller account", demo.account, SELLER)
    customer_token = step("customer account", demo.account, CUSTOMER)
    if customer_token:
        step("customer wallet top-up", demo.wallet, customer_token)
    if promote is not None and step("admin account", demo.account, ADMIN):
        step("admin group", promote, ADMIN.email, ADMIN.group)
    if seller_token:
        shop = step("seller shop", demo.shop, seller_token)
        if shop is not None:
            imported = step("seller catalog feed", demo.feed, seller_token)
            if imported is not None:
                log.info("demo feed imported", extra={"fields": {"import": imported}})
    return ok
