"""``make run``'s demo data, as a newcomer meets it: the printed logins work, the demo catalog
is browsable, the customer's wallet is funded, and the demo admin can block a product."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.demo import ADMIN, CUSTOMER, DEMO_TOPUP, LOGINS, SELLER
from tests.e2e.conftest import Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("demo"), demo=True) as stack:
        finished = {"seller catalog feed", "customer wallet top-up", "admin group"}
        for step in finished:
            stack.wait_for_log(lambda e, step=step: e.get("msg") == "demo step done" and e.get("step") == step,
                               timeout=90)
        failed = [e for e in stack.logs() if e.get("msg") in ("demo step failed", "demo step skipped")]
        assert not failed, failed
        yield stack


def login(stack: Stack, who) -> str:
    resp = stack.post("/auth/login", json={"email": who.email, "password": who.password})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def test_the_banner_prints_every_demo_login(demo_stack):
    banner = demo_stack.output()
    for who in LOGINS:
        assert f"{who.label:<9}{who.email}  /  {who.password}" in banner


def test_demo_catalog_customer_and_seller_are_ready(demo_stack):
    customer, seller = login(demo_stack, CUSTOMER), login(demo_stack, SELLER)
    wallet = demo_stack.get("/wallet", customer).json()
    assert (wallet["available"], wallet["held"]) == ({"amount": DEMO_TOPUP, "currency": "RUB"},
                                                     {"amount": 0, "currency": "RUB"})
    shop = demo_stack.get("/seller/shop", seller).json()
    products = demo_stack.get(f"/products?seller={shop['seller_id']}&available=true&limit=100").json()["items"]
    assert len(products) >= 5
    feeds = demo_stack.get("/seller/feeds", seller).json()["items"]
    assert [f["status"] for f in feeds] == ["succeeded"]
    # every product is found by its whole name and by its first word alone, even when that
    # word is a stopword ("The Pragmatic Programmer": q=The)
    for product in products:
        name = product["name"]
        for q in (name, name.split()[0]):
            found = demo_stack.get("/search", params={"q": q, "limit": 100}).json()["items"]
            assert product["product_id"] in {i["product_id"] for i in found}, (q, found)
    the = demo_stack.get("/search", params={"q": "The"}).json()["items"]
    assert any(i["name"].startswith("The Pragmatic Programmer") for i in the), the


def test_demo_admin_blocks_and_unblocks_a_product(demo_stack):
    admin, customer = login(demo_stack, ADMIN), login(demo_stack, CUSTOMER)
    pid = demo_stack.get("/products?available=true&limit=1").json()["items"][0]["product_id"]
    assert demo_stack.put(f"/admin/products/{pid}/blocked", customer, json={"blocked": True}).status_code == 403
    resp = demo_stack.put(f"/admin/products/{pid}/blocked", admin, json={"blocked": True})
    assert resp.status_code == 200, resp.text
    assert demo_stack.get(f"/products/{pid}").status_code == 404
    assert demo_stack.put(f"/admin/products/{pid}/blocked", admin, json={"blocked": False}).status_code == 200
    assert demo_stack.get(f"/products/{pid}").status_code == 200
