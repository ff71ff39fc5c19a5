"""Helpers for the purchase scenarios and the browser test on the local stack, over HTTP only
(plus one direct write: products are put into the catalog table, as the checkout e2e tests do
— the feed import has its own e2e tests; and one direct read: the sandbox provider's record of
a card payment). Its fixture (``patient_stack``) is registered in ``tests/conftest.py``.

``patient_stack``: a second local stack whose payment and seller timeouts are a minute, for the
scenarios where people click through at human-ish speed on a busy CI machine; the session's
``stack`` (5-second timeouts) serves the scenarios that wait for a timeout on purpose.
"""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from chalicelib.store import keys
from tests.e2e.conftest import Stack, _stop, start_stack, verify_email
from tests.support import factories as f
from tests.waiting import wait_until

PASSWORD = "secret-pass-1"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
PATIENT_TIMEOUTS = {"PAYMENT_TIMEOUT_SECONDS": "60", "SELLER_TIMEOUT_SECONDS": "60", "DELIVERY_AUTO_SECONDS": "60"}


_PATIENT: dict[str, Stack] = {}


@pytest.fixture(name="patient_stack")
def patient_stack_fixture(request, tmp_path_factory) -> Stack:
    """One patient stack for the whole session, however many modules use it; stopped at exit."""
    if "stack" not in _PATIENT:
        stack = start_stack(tmp_path_factory.mktemp("patient-stack"), timeouts=PATIENT_TIMEOUTS)
        request.config.add_cleanup(lambda: _stop(stack.process))
        _PATIENT["stack"] = stack
    stack = _PATIENT["stack"]
    if stack.process.poll() is not None:
        pytest.fail(f"the patient stack exited ({stack.process.returncode}):\n{stack.output()[-4000:]}")
    return stack


@dataclass
class Person:
    id: str
    email: str
    token: str
    shop_email: str = ""
    products: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Market:
    """A customer's and a seller's view of the local stack, through its HTTP API."""

    stack: Stack

    def call(self, method: str, path: str, who: Person | None = None, **kw: Any):
        return self.stack.request(method, path, who.token if who else None, **kw)

    def register(self, role: str, *, lang: str | None = None) -> Person:
        email = f"{role}-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": email, "password": PASSWORD, "name": f"E2E {role}", "role": role}
        if lang:
            body["language"] = lang
        resp = self.call("POST", "/auth/register", json=body)
        assert resp.status_code == 201, resp.text
        verify_email(self.stack, email)
        login = self.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return Person(id=resp.json()["user_id"], email=email, token=login.json()["access_token"])

    def seller(self, *, lang: str = "ru", stock: int = 5, price: int = 150_000, name: str = "Куртка") -> Person:
        seller = self.register("seller")
        seller.shop_email = f"shop-{seller.id[:8]}@example.com"
        shop = {"name": f"Магазин {seller.id[:4]}", "contact_email": seller.shop_email, "language": lang,
                "currency": "RUB", "delivery_methods": [{"id": "courier", "name": "Курьер", "price": 30000, "days": 2}]}
        resp = self.call("PUT", "/seller/shop", seller, json=shop)
        assert resp.status_code == 200, resp.text
        product = f.product(seller.id, price=price, stock=stock, name=name)
        self._catalog().put_item(Item={**keys.product(product["product_id"]), **product})
        seller.products.append(product)
        return seller

    def _table(self, env_name: str) -> Any:
        return boto3.resource("dynamodb", endpoint_url=self.stack.moto_url, region_name=self.stack.region,
                              aws_access_key_id="testing", aws_secret_access_key="testing"
                              ).Table(self.stack.env[env_name])

    def _catalog(self) -> Any:
        return self._table("CATALOG_TABLE")

    def _ledger(self) -> Any:
        return self._table("LEDGER_TABLE")

    def sandbox_payment(self, payment_id: str) -> dict[str, Any]:
        """The sandbox provider's record of a card payment (what it authorized, captured, refunded)."""
        return self._ledger().get_item(Key=keys.sandbox_payment(payment_id), ConsistentRead=True)["Item"]

    def stock(self, product_id: str) -> int:
        item = self._catalog().get_item(Key=keys.product(product_id), ConsistentRead=True)["Item"]
        return int(item["stock"])

    def top_up(self, customer: Person, amount: int) -> None:
        resp = self.call("POST", "/wallet/topups", customer, json={"amount": amount, "card": CARD},
                         headers={"Idempotency-Key": uuid.uuid4().hex})
        assert resp.status_code == 201, resp.text

    def wallet(self, customer: Person) -> dict[str, Any]:
        """The customer's balances as integers of minor units: the API's money objects (checked
        to be in the wallet's currency) read as their amounts."""
        resp = self.call("GET", "/wallet", customer)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["available"]["currency"] == body["held"]["currency"] == body["currency"], body
        return {"available": body["available"]["amount"], "held": body["held"]["amount"], "currency": body["currency"]}

    def earnings(self, seller: Person) -> int:
        resp = self.call("GET", "/seller/balance", seller)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["earnings"]["amount"])  # a money object in the seller's currency

    def add_to_cart(self, customer: Person, product: dict[str, Any], quantity: int = 1) -> None:
        page = self.call("GET", f"/products/{product['product_id']}")  # the product page
        assert page.status_code == 200, page.text
        resp = self.call("POST", "/cart/items", customer, json={"product_id": product["product_id"],
                                                                "quantity": quantity})
        assert resp.status_code in (200, 201), resp.text

    def checkout(self, customer: Person, sellers: list[Person]) -> list[dict[str, Any]]:
        cart = self.call("GET", "/cart", customer)
        assert cart.status_code == 200, cart.text
        body = f.checkout_body({s.id: "courier" for s in sellers})
        resp = self.call("POST", "/checkout", customer, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert resp.status_code == 201, resp.text
        return resp.json()["orders"]

    def order(self, customer: Person, order_id: str) -> dict[str, Any]:
        resp = self.call("GET", f"/orders/{order_id}", customer)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_status(self, customer: Person, order_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        return wait_until(lambda: (o := self.order(customer, order_id))["status"] == status and o, timeout,
                          f"order {order_id} to be {status}")

    def wait_event(self, customer: Person, order_id: str, type_: str, timeout: float = 30) -> dict[str, Any]:
        return wait_until(lambda: next((e for e in self.order(customer, order_id)["timeline"]
                                        if e["type"] == type_), None), timeout, f"{type_} of {order_id}")

    def emails(self, to: str) -> list[dict[str, Any]]:
        resp = self.call("GET", f"/local/emails?to={urllib.parse.quote(to)}")
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    def wait_email(self, to: str, kind: str, order_id: str, timeout: float = 30) -> dict[str, Any]:
        return wait_until(lambda: next((e for e in self.emails(to) if e["kind"] == kind and e["order_id"] == order_id),
                                       None), timeout, f"{kind} email of {order_id} to {to}")

    def action_link(self, seller: Person, order_id: str, action: str) -> str:
        """The link of ``action`` in the seller's new-order email, found by its line of text."""
        mail = self.wait_email(seller.shop_email, "new_order", order_id)
        labels = {"confirm": ("Подтвердить", "Confirm"), "cancel": ("Отменить", "Cancel"),
                  "ship": ("отправлен", "shipped")}[action]
        for line in mail["text"].splitlines():
            if "/actions/" in line and any(label in line for label in labels):
                return line[line.index("http"):].strip()
        raise AssertionError(f"no {action} link in:\n{mail['text']}")
