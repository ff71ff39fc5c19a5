"""The SPEC's use cases that ``test_scenarios.py`` does not walk through, end to end on the local
stack, the way a new user meets the system: only HTTP, the S3 bucket (a seller's feed drop) and
the local mailbox (the HTML page a person reads, and its links).

1. feed import: a CSV dropped under the seller's S3 prefix becomes products customers can
   list, open and find by search; a bad row is reported and rejected alone; the same file again
   changes nothing; a later snapshot without an offer makes it unavailable;
4. search: words of a product name (another word form, the last word cut short) find it;
5. accounts: register, log in, profile, top up, balance and statement, order history, log out;
6. the customer cancels a paid order before the seller answers: money and stock come back,
   the seller's emailed link then refuses; an unpaid order expires and changes nothing.

(The purchase with confirmation, the seller's cancel and the seller timeout are in
``test_scenarios.py``.) Every wait polls with a deadline.
"""

from __future__ import annotations

import re
import time
import urllib.parse
import uuid
from html import unescape

import pytest

from tests.e2e.conftest import verify_email
from tests.e2e.workflow_support import (
    CARD,
    PASSWORD,
    Market,
    Person,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DONE = {"succeeded", "partially_succeeded", "failed"}
ADDRESS = {"recipient": "Анна Петрова", "phone": "+7 900 000-00-00", "country": "RU", "city": "Москва",
           "street": "Тверская 1, кв. 5", "postal_code": "125009"}
HEADER = "offer_id;name;price;currency;category;stock;vendor;description"
JACKET = "j-1;Зимняя куртка Аляска;7 499,00;RUB;Куртки;3;Nordic;Тёплая куртка"
BOOTS = "b-7;Waterproof hiking boots;5 200,50;RUB;Обувь;10;Trekker;Boots for the mountains"
BROKEN = "x-9;Сломанная строка;не цена;RUB;Куртки;1;;"


def feed(*rows: str) -> bytes:
    return ("\n".join((HEADER, *rows)) + "\n").encode("utf-8")


def new_seller(m: Market) -> Person:
    seller = m.register("seller")
    seller.shop_email = f"shop-{seller.id[:8]}@example.com"
    shop = {"name": f"Лавка {seller.id[:4]}", "contact_email": seller.shop_email, "language": "ru",
            "currency": "RUB", "delivery_methods": [{"id": "courier", "name": "Курьер", "price": 35000, "days": 2}]}
    resp = m.call("PUT", "/seller/shop", seller, json=shop)
    assert resp.status_code == 200, resp.text
    return seller


def drop(m: Market, seller: Person, body: bytes, name: str) -> dict:
    """Put a feed file under the seller's prefix, as a seller's script would, and wait for its import."""
    before = {f["feed_id"] for f in m.call("GET", "/seller/feeds", seller).json()["items"]}
    m.stack.client("s3").put_object(Bucket=m.stack.env["FEEDS_BUCKET"], Key=f"feeds/{seller.id}/{name}", Body=body)

    def finished():
        items = m.call("GET", "/seller/feeds", seller).json()["items"]
        fresh = [f for f in items if f["feed_id"] not in before]
        return fresh[0] if fresh and fresh[0]["status"] in DONE else None

    record = wait_until(finished, 60, f"the import of {name}")
    one = m.call("GET", f"/seller/feeds/{record['feed_id']}", seller)
    assert one.status_code == 200, one.text
    return one.json()


def products_of(m: Market, seller: Person) -> dict[str, dict]:
    page = m.call("GET", f"/products?seller={seller.id}&limit=50")
    assert page.status_code == 200, page.text
    return {p["name"]: p for p in page.json()["items"]}


def search(m: Market, q: str) -> list[str]:
    resp = m.call("GET", "/search", params={"q": q})
    assert resp.status_code == 200, resp.text
    return [hit["product_id"] for hit in resp.json()["items"]]


def catalog_seller(m: Market, *rows: str) -> tuple[Person, dict[str, dict]]:
    seller = new_seller(m)
    record = drop(m, seller, feed(*rows), "catalog.csv")
    assert record["status"] == "succeeded", record
    return seller, products_of(m, seller)


def checkout(m: Market, customer: Person, product_id: str, seller: Person, quantity: int = 1) -> dict:
    assert m.call("GET", f"/products/{product_id}").status_code == 200  # the product page
    added = m.call("POST", "/cart/items", customer, json={"product_id": product_id, "quantity": quantity})
    assert added.status_code in (200, 201), added.text
    body = {"delivery": {seller.id: "courier"}, "payment_method": "wallet", "address": ADDRESS}
    placed = m.call("POST", "/checkout", customer, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text
    (order,) = placed.json()["orders"]
    return order


def stock(m: Market, product_id: str) -> int:
    return m.call("GET", f"/products/{product_id}").json()["stock"]


def mailbox_links(m: Market, to: str, order_id: str) -> list[str]:
    """The action links of an order, read from the mailbox page a person opens in a browser."""
    page = m.call("GET", f"/local/mailbox?to={urllib.parse.quote(to)}")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html"), page.text[:300]
    assert order_id in page.text
    return [unescape(u) for u in re.findall(r'href="([^"]*/actions/[^"]+)"', page.text)]


# --- 1 + 4: feed import by S3 drop, browsing, search -------------------------------------------


def test_a_dropped_csv_feed_becomes_products_customers_can_list_open_and_find(stack):
    m = Market(stack)
    seller = new_seller(m)

    # the seller drops a CSV with a bad row into the bucket
    record = drop(m, seller, feed(JACKET, BOOTS, BROKEN), "catalog.csv")
    assert record["status"] == "partially_succeeded", record
    assert record["source"] == "drop"
    assert (record["counts"]["created"], record["counts"]["rejected"]) == (2, 1)
    (error,) = record["errors"]
    assert error["offer_id"] == "x-9" and error["field"] == "price", error
    report = stack.http.get(record["report_url"], timeout=10)
    assert report.status_code == 200 and report.json()["feed_id"] == record["feed_id"]

    # customers list and open the products, prices in minor units
    products = products_of(m, seller)
    assert set(products) == {"Зимняя куртка Аляска", "Waterproof hiking boots"}
    jacket = products["Зимняя куртка Аляска"]
    assert jacket["price"] == {"amount": 749_900, "currency": "RUB"}
    page = m.call("GET", f"/products/{jacket['product_id']}").json()
    assert (page["name"], page["stock"], page["vendor"]) == ("Зимняя куртка Аляска", 3, "Nordic")
    assert page["seller"]["id"] == seller.id and page["delivery_methods"][0]["id"] == "courier"
    assert m.call("GET", f"/sellers/{seller.id}").status_code == 200

    # search: another word form, the last word typed halfway, either language
    boots_id = products["Waterproof hiking boots"]["product_id"]
    assert wait_until(lambda: jacket["product_id"] in search(m, "куртки аляс"), 20, "the jacket to be searchable")
    assert boots_id in search(m, "hiking boot")
    assert jacket["product_id"] not in search(m, "hiking boot")
    assert search(m, f"zzqx{uuid.uuid4().hex[:6]}") == []

    # the same file again changes nothing (S3 may deliver it twice, sellers re-upload)
    again = drop(m, seller, feed(JACKET, BOOTS, BROKEN), "catalog-again.csv")
    assert (again["counts"]["created"], again["counts"]["updated"], again["counts"]["unchanged"]) == (0, 0, 2)
    assert products_of(m, seller)["Зимняя куртка Аляска"]["product_id"] == jacket["product_id"]

    # a later snapshot without the boots: they stay (orders point to them) but are unavailable
    later = drop(m, seller, feed(JACKET), "catalog-2.csv")
    assert later["status"] == "succeeded" and later["counts"]["deactivated"] == 1, later
    assert m.call("GET", f"/products/{boots_id}").json()["available"] is False
    assert wait_until(lambda: boots_id not in search(m, "hiking boot"), 20, "the boots to leave the search")


# --- 5: accounts ---------------------------------------------------------------------------------


def test_a_customer_registers_logs_in_tops_up_sees_history_and_logs_out(patient_stack):
    m = Market(patient_stack)
    email = f"new-{uuid.uuid4().hex[:10]}@example.com"
    reg = m.call("POST", "/auth/register", json={"email": email, "password": PASSWORD, "name": "Вера",
                                                 "role": "customer", "language": "ru"})
    assert reg.status_code == 201, reg.text
    # registering a taken address answers like a new one (no enumeration) and changes nothing
    again = m.call("POST", "/auth/register", json={"email": email, "password": PASSWORD, "name": "X"})
    assert again.status_code == 201 and again.json()["user_id"] != reg.json()["user_id"]
    verify_email(patient_stack, email)  # the owner follows the emailed link: checkout needs it
    assert m.call("POST", "/auth/login", json={"email": email, "password": "wrong-pass-1"}).status_code == 401
    login = m.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert {"access_token", "refresh_token", "expires_in"} <= set(login.json())
    me = Person(id=reg.json()["user_id"], email=email, token=login.json()["access_token"])

    # profile
    profile = m.call("GET", "/me", me).json()
    assert (profile["email"], profile["name"], profile["role"], profile["language"]) == (email, "Вера", "customer",
                                                                                          "ru")
    assert m.call("PATCH", "/me", me, json={"name": "Вера Н."}).json()["name"] == "Вера Н."
    assert m.call("PATCH", "/me", me, json={"role": "admin"}).status_code == 422  # server-owned

    # wallet: top up once (a retry with the same key replays), a declined card changes nothing
    assert m.wallet(me) == {"available": 0, "held": 0, "currency": "RUB"}
    key, body = uuid.uuid4().hex, {"amount": 1_000_000, "card": CARD}
    first = m.call("POST", "/wallet/topups", me, json=body, headers={"Idempotency-Key": key})
    replay = m.call("POST", "/wallet/topups", me, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == replay.status_code == 201 and first.json() == replay.json()
    bad_card = {**CARD, "number": "4000000000000002"}
    declined = m.call("POST", "/wallet/topups", me, json={"amount": 100, "card": bad_card},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    assert declined.status_code == 402
    assert m.wallet(me) == {"available": 1_000_000, "held": 0, "currency": "RUB"}

    # order history, and the statement of the money it holds
    seller, products = catalog_seller(m, JACKET)
    order = checkout(m, me, products["Зимняя куртка Аляска"]["product_id"], seller)
    assert order["total"] == {"amount": 749_900 + 35_000, "currency": "RUB"}  # money is {amount, currency}
    total = order["total"]["amount"]
    m.wait_status(me, order["order_id"], "PAID")
    history = m.call("GET", "/orders", me).json()["items"]
    assert [(o["order_id"], o["status"]) for o in history] == [(order["order_id"], "PAID")]
    assert m.call("GET", "/wallet", me).json() == {"available": {"amount": 1_000_000 - total, "currency": "RUB"},
                                                   "held": order["total"], "currency": "RUB"}
    lines = m.call("GET", "/wallet/transactions", me).json()["items"]
    assert [(t["kind"], t["amount"]) for t in lines] == [("hold", order["total"]),
                                                         ("topup", {"amount": 1_000_000, "currency": "RUB"})]

    # log out: the token stops working at once
    assert m.call("POST", "/auth/logout", me).status_code == 204
    assert m.call("GET", "/me", me).status_code == 401
    assert m.call("GET", "/orders", me).status_code == 401


# --- 6: the customer cancels; an unpaid order expires ------------------------------------------


def test_the_customer_cancels_a_paid_order_and_gets_money_and_stock_back(patient_stack):
    m = Market(patient_stack)
    seller, products = catalog_seller(m, JACKET)
    jacket = products["Зимняя куртка Аляска"]["product_id"]
    customer = m.register("customer")
    m.top_up(customer, 2_000_000)
    order = checkout(m, customer, jacket, seller, quantity=2)
    oid = order["order_id"]
    m.wait_status(customer, oid, "PAID")
    total = order["total"]["amount"]
    assert m.wallet(customer) == {"available": 2_000_000 - total, "held": total, "currency": "RUB"}
    assert stock(m, jacket) == 1
    m.wait_email(customer.email, "order_placed", oid)
    m.wait_email(seller.shop_email, "new_order", oid)
    confirm_link = next(u for u in mailbox_links(m, seller.shop_email, oid)  # the one whose page says Confirm
                        if 'value="confirm"' in m.call("GET", urllib.parse.urlsplit(u).path).text)

    cancelled = m.call("POST", f"/orders/{oid}/cancel", customer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"

    m.wait_email(customer.email, "refund_completed", oid)
    assert m.wallet(customer) == {"available": 2_000_000, "held": 0, "currency": "RUB"}
    wait_until(lambda: stock(m, jacket) == 3, 30, "the stock to return")
    assert m.earnings(seller) == 0
    timeline = [e["type"] for e in m.order(customer, oid)["timeline"]]
    assert "order_cancelled" in timeline and "refund_completed" in timeline
    seller_view = m.call("GET", f"/seller/orders/{oid}", seller).json()
    assert seller_view["status"] == "CANCELLED"

    # too late for the seller: the link's page and the API both refuse
    path = urllib.parse.urlsplit(confirm_link).path
    page = m.call("GET", path)
    assert page.status_code in (200, 409) and 'value="confirm"' not in page.text
    assert m.call("POST", path, data={"action": "confirm"}).status_code == 409
    assert m.call("POST", f"/seller/orders/{oid}/confirm", seller).status_code == 409
    assert m.call("POST", f"/orders/{oid}/cancel", customer).json()["status"] == "CANCELLED"  # repeat: same answer


def test_an_order_left_unpaid_expires_releases_its_stock_and_cannot_be_paid_late(stack):
    # the session's stack: a 5-second payment timeout
    m = Market(stack)
    seller, products = catalog_seller(m, JACKET)
    jacket = products["Зимняя куртка Аляска"]["product_id"]
    customer = m.register("customer")  # an empty wallet
    order = checkout(m, customer, jacket, seller, quantity=3)
    oid = order["order_id"]
    assert stock(m, jacket) == 0
    m.wait_email(customer.email, "payment_required", oid)

    m.wait_status(customer, oid, "CANCELLED", timeout=60)
    m.wait_email(customer.email, "payment_expired", oid, timeout=60)
    wait_until(lambda: stock(m, jacket) == 3, 30, "the stock to return")
    m.top_up(customer, 5_000_000)
    late = m.call("POST", f"/orders/{oid}/pay", customer)
    assert late.status_code == 409 and late.json()["current_status"] == "CANCELLED", late.text
    assert m.wallet(customer) == {"available": 5_000_000, "held": 0, "currency": "RUB"}
    assert not [mail for mail in m.emails(seller.shop_email) if mail["order_id"] == oid]  # never bothered
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:  # and nothing moves afterwards
        assert m.order(customer, oid)["status"] == "CANCELLED"
        time.sleep(0.2)
