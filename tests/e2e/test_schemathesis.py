"""Property-based API testing with schemathesis against the running local stack.

Every operation of the served ``/openapi.json`` is called with requests generated from its own
schema, authenticated as the role the route is for (a customer, a seller, an admin; routes
for any user alternate customer and seller):

1. generated requests, positive (valid by the schema) and negative (deliberately broken);
2. the same with path ids that exist (the seller's product and feed, an order, a real action
   link), so the generated bodies and queries reach the code behind the 404;
3. where a valid request needs a state the generator cannot guess (an order waiting for the
   seller, a cart with something in it...), that state is prepared just before, and the
   operation is called with a valid body — so the 2xx answers are checked against the
   documented schemas too.

Every response must pass:

- ``not_a_server_error``: no 5xx, whatever the input;
- ``response_schema_conformance``: the body matches the documented schema of its status;
- ``status_code_conformance``: the status is one the operation documents;
- ``content_type_conformance``: the Content-Type is the documented one.

The test asserts that every operation of the document was exercised. The number of examples
is bounded (``SCHEMATHESIS_MAX_EXAMPLES`` per operation, mode and variant) and generation is
derandomized, so a CI run is repeatable and takes a few minutes.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import app  # noqa: F401 - importing the app registers every route in ROUTES
from chalicelib.api.http import ROUTES
from tests.e2e.conftest import verify_email
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
PASSWORD = "secret-pass-1"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
ADDRESS = {"recipient": "Fuzz", "phone": "+79990000000", "country": "RU", "city": "Moscow", "street": "1 Test st"}
SHOP = {"name": "Fuzz shop", "contact_email": "fuzz-shop@example.com", "language": "en", "currency": "RUB",
        "delivery_methods": [{"id": "courier", "name": "Courier", "price": 30000, "days": 2}]}
FEED = (b'<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><currencies><currency id="RUR" rate="1"/>'
        b'</currencies><categories><category id="1">Boots</category></categories><offers>'
        b'<offer id="fz1" available="true"><name>Fuzz boots</name><price>1500</price><currencyId>RUR</currencyId>'
        b"<categoryId>1</categoryId><stock_quantity>1000</stock_quantity></offer>"
        b'<offer id="fz2" available="true"><name>Fuzz hat</name><price>300</price><currencyId>RUR</currencyId>'
        b"<categoryId>1</categoryId></offer>"
        b'<offer id="fz3" available="true"><name>Fuzz piano</name><price>900000</price><currencyId>RUR</currencyId>'
        b"<categoryId>1</categoryId></offer>"
        b'<offer id="fz4" available="true"><name>Fuzz drum</name><price>7000</price><currencyId>RUR</currencyId>'
        b"<categoryId>1</categoryId></offer></offers></shop></yml_catalog>")
ROLES = {(r.method.upper(), r.path): r.roles for r in ROUTES}


class World:
    """The users and the objects the generated requests act on, made through the API."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.customer = self._user("customer")
        self.seller = self._user("seller")
        self.other_seller = self._user("seller")
        self.admin = self._user("customer", admin=True)
        s = stack
        for seller in (self.seller, self.other_seller):
            assert s.put("/seller/shop", seller["token"], json=SHOP).status_code == 200
        s.client("s3").put_object(Bucket=s.env["FEEDS_BUCKET"], Key=f"feeds/{self.seller['id']}/fuzz.yml", Body=FEED)
        self.feed = wait_until(lambda: next((f for f in s.get("/seller/feeds", self.seller["token"]).json()["items"]
                                        if f["status"] == "succeeded"), None), 60, "the feed import")
        products = {p["name"]: p["product_id"] for p in s.get(f"/products?seller={self.seller['id']}").json()["items"]}
        self.boots, self.hat, self.piano = products["Fuzz boots"], products["Fuzz hat"], products["Fuzz piano"]
        self.drum = products["Fuzz drum"]  # the one the admin operations may block
        self.topup(10_000_000)
        transaction = s.get("/wallet/transactions", self.customer["token"]).json()["items"][0]["id"]
        self.order = self.fresh_order("PAID")
        self.known = {"product_id": self.boots, "seller_id": self.seller["id"], "order_id": self.order,
                      "feed_id": self.feed["feed_id"], "token": self.link(self.order, "confirm"),
                      "transaction_id": transaction, "slug": "cart-changed"}

    # --- people

    def _user(self, role: str, *, admin: bool = False) -> dict[str, str]:
        email = f"fuzz-{role}-{uuid.uuid4().hex[:10]}@example.com"
        resp = self.stack.post("/auth/register", json={"email": email, "password": PASSWORD, "name": role,
                                                       "role": role})
        assert resp.status_code == 201, resp.text
        verify_email(self.stack, email)
        if admin:
            self.stack.client("cognito-idp").admin_add_user_to_group(
                UserPoolId=self.stack.env["USER_POOL_ID"], Username=email, GroupName="admin")
        user = {"email": email, "id": resp.json()["user_id"]}
        user.update(self.login(email))
        return user

    def login(self, email: str) -> dict[str, str]:
        resp = self.stack.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return {"token": resp.json()["access_token"], "refresh_token": resp.json()["refresh_token"]}

    def identities(self, method: str, path: str) -> list[str | None]:
        """The tokens to call an operation with: the roles it is for."""
        roles = ROLES[(method.upper(), path)]
        if roles is None:
            return [None]
        if set(roles) >= {"customer", "seller"}:
            return [self.customer["token"], self.seller["token"]]
        if "customer" in roles:
            return [self.customer["token"]]
        if "seller" in roles:
            return [self.seller["token"]]
        return [self.admin["token"]]

    # --- state the generator cannot guess

    def topup(self, amount: int) -> None:
        resp = self.stack.post("/wallet/topups", self.customer["token"], json={"amount": amount, "card": CARD},
                               headers={"Idempotency-Key": uuid.uuid4().hex})
        assert resp.status_code == 201, resp.text

    def fill_cart(self, product_id: str | None = None) -> None:
        resp = self.stack.post("/cart/items", self.customer["token"],
                               json={"product_id": product_id or self.hat, "quantity": 1})
        assert resp.status_code in (200, 201), resp.text

    def status(self, order_id: str) -> str:
        return self.stack.get(f"/orders/{order_id}", self.customer["token"]).json()["status"]

    def fresh_order(self, status: str) -> str:
        """A new order of the customer at the seller, brought to ``status``."""
        s, seller = self.stack, self.seller["token"]
        self.stack.delete("/cart", self.customer["token"])
        self.fill_cart(self.piano if status == "AWAITING_PAYMENT" else self.boots)
        placed = s.post("/checkout", self.customer["token"], json=self.checkout_body(),
                        headers={"Idempotency-Key": uuid.uuid4().hex})
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["orders"][0]["order_id"]
        first = "AWAITING_PAYMENT" if status == "AWAITING_PAYMENT" else "PAID"
        wait_until(lambda: self.status(order_id) == first, 30, f"order {order_id} to be {first}")
        if status in ("CONFIRMED", "SHIPPED"):
            assert s.post(f"/seller/orders/{order_id}/confirm", seller).status_code == 200
        if status == "SHIPPED":
            assert s.post(f"/seller/orders/{order_id}/ship", seller).status_code == 200
        return order_id

    def checkout_body(self) -> dict[str, Any]:
        return {"delivery": {self.seller["id"]: "courier"}, "payment_method": "wallet", "address": ADDRESS}

    def link(self, order_id: str, action: str) -> str:
        def find():
            emails = self.stack.get(f"/local/emails?to={SHOP['contact_email']}").json()["items"]
            return next((e for e in emails if e["kind"] == "new_order" and e["order_id"] == order_id), None)

        mail = wait_until(find, 30, f"the new-order email of {order_id}")
        urls = [u for u in mail["links"] if "/actions/" in u]
        # the email lists confirm, cancel, ship in that order
        return urls[("confirm", "cancel", "ship").index(action)].rsplit("/actions/", 1)[1]

    def awaiting_payment_with_funds(self) -> str:
        order_id = self.fresh_order("AWAITING_PAYMENT")
        self.topup(100_000_000)
        return order_id

    def valid(self, label: str) -> dict[str, Any] | None:
        """A valid request for ``label`` (path parameters and body), its state prepared now."""
        order = {
            "POST /orders/{order_id}/pay": self.awaiting_payment_with_funds,
            "POST /orders/{order_id}/cancel": lambda: self.fresh_order("PAID"),
            "POST /orders/{order_id}/received": lambda: self.fresh_order("SHIPPED"),
            "POST /seller/orders/{order_id}/confirm": lambda: self.fresh_order("PAID"),
            "POST /seller/orders/{order_id}/cancel": lambda: self.fresh_order("PAID"),
            "POST /seller/orders/{order_id}/ship": lambda: self.fresh_order("CONFIRMED"),
        }
        if label in order:
            return {"path_parameters": {"order_id": order[label]()}}
        if label in ("GET /actions/{token}", "HEAD /actions/{token}", "POST /actions/{token}"):
            body = {"body": {"action": "confirm"}} if label.startswith("POST") else {}
            return {"path_parameters": {"token": self.link(self.fresh_order("PAID"), "confirm")}, **body}
        if label == "POST /checkout":
            self.fill_cart()
            return {"body": self.checkout_body()}
        bodies: dict[str, dict[str, Any]] = {
            "POST /auth/register": {"email": f"fuzz-new-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
                                    "name": "New", "role": "customer"},
            "POST /auth/login": {"email": self.customer["email"], "password": PASSWORD},
            "POST /auth/refresh": {"refresh_token": self.customer["refresh_token"]},
            "PATCH /me": {"name": "Fuzzy", "language": "en"},
            "PUT /seller/shop": SHOP,
            "POST /seller/feeds": {"filename": "catalog.csv"},
            "POST /cart/items": {"product_id": self.hat, "quantity": 1},
            "PUT /cart/items/{product_id}": {"quantity": 2},
            "POST /wallet/topups": {"amount": 1000, "card": CARD},
            "PUT /admin/sellers/{seller_id}/blocked": {"blocked": False},
            "PUT /admin/products/{product_id}/blocked": {"blocked": False},
        }
        if label not in bodies:
            return None
        params = {"PUT /cart/items/{product_id}": {"product_id": self.hat},
                  "PUT /admin/sellers/{seller_id}/blocked": {"seller_id": self.other_seller["id"]},
                  "PUT /admin/products/{product_id}/blocked": {"product_id": self.drum}}
        return {"body": bodies[label], **({"path_parameters": params[label]} if label in params else {})}

    def known_parameters(self, operation) -> dict[str, str] | None:
        names = [p.name for p in operation.path_parameters]
        if not names or not all(n in self.known for n in names):
            return None
        known = {n: self.known[n] for n in names}
        if operation.path.startswith("/admin/"):  # never block what the other operations use
            known.update({k: v for k, v in (("seller_id", self.other_seller["id"]), ("product_id", self.drum))
                          if k in known})
        return known


class Run:
    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: Counter = Counter()
        self.successes: Counter = Counter()
        self.failures: list[str] = []

    def operation(self, operation, mode: GenerationMode, **fixed: Any) -> None:
        world, label = self.world, operation.label
        tokens = world.identities(operation.method, operation.path)
        session = requests.Session()
        logout = operation.path == "/auth/logout"  # it revokes the token: log in afresh for each call

        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            n = self.calls[label]
            self.calls[label] += 1
            token = world.login(world.customer["email"])["token"] if logout else tokens[n % len(tokens)]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                resp = case.call_and_validate(base_url=world.stack.url, session=session, headers=headers,
                                              checks=CHECKS, timeout=60)
                if resp.status_code < 300:
                    self.successes[label] += 1
            except FailureGroup as group:
                self.failures.append(f"{label} [{mode.value}, {sorted(fixed)}]: {group.message[:1500]}")

        try:
            run()
        except Unsatisfiable:  # a negative run with nothing left to break (all parameters fixed)
            assert mode is GenerationMode.NEGATIVE, label


# The operations are dealt to two halves (alternately, in the document's order), each a test of
# its own file, so that two test workers (``make test``) check them side by side; together they
# exercise every operation of the document, each asserting its own half.
HALVES = 2


def check_operations(stack, half: int) -> None:
    """What a client may send to the operations of ``half``, as the module docstring says."""
    world = World(stack)
    document = stack.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    labels = sorted(f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops)
    documented = set(labels[half::HALVES])
    run = Run(world)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label not in documented:
            continue
        known = world.known_parameters(operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.operation(operation, mode)
            if known:
                run.operation(operation, mode, path_parameters=known)
        valid = world.valid(operation.label)
        if valid is not None:
            run.operation(operation, GenerationMode.POSITIVE, **valid)

    never = sorted(label for label in run.calls if not run.successes[label])
    print(f"\nschemathesis: {len(run.calls)} operations, {sum(run.calls.values())} requests, "
          f"{len(run.failures)} failures; {len(run.calls) - len(never)} operations answered 2xx at least once "
          f"(never: {never})")
    assert not run.failures, f"{len(run.failures)} failing cases:\n\n" + "\n\n".join(run.failures[:20])
    assert set(run.calls) == documented, f"not exercised: {sorted(documented - set(run.calls))}"


def test_every_operation_answers_generated_requests_within_its_contract(stack):
    """The first half of the operations (``test_schemathesis_second_half.py``: the other)."""
    check_operations(stack, 0)
