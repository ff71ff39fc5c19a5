"""A seller or customer cannot use marketplace email to send a clickable link: a URL written
into a shop name, a product name, a delivery method, a customer name or an address arrives
defanged in the text and unlinked in the HTML (what SES was given, and the local mailbox),
while the Confirm/Cancel action links still work."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser

import pytest
from moto.backends import get_backend

from tests.support import factories as f

pytestmark = [pytest.mark.timeout(120), pytest.mark.module_stack]

EVIL = "https://evil.example/login"
DEFANGED = "hxxps://evil[.]example/login"
OUR_BASE = "http://127.0.0.1:8000/"


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")


def hrefs(html: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(html)
    return parser.hrefs


def ses_html_to(address: str) -> list[str]:
    """The HTML bodies SES took for ``address`` (moto keeps the HTML part of a Simple email)."""
    backend = get_backend("ses")["123456789012"]["us-east-1"]
    return [m.body for m in backend.sent_messages
            if address in (getattr(m, "destinations", {}) or {}).get("ToAddresses", [])]


@pytest.fixture
def hostile_order(flow):
    """A seller whose shop, delivery method and product carry a phishing URL, bought by a
    customer whose name and address carry more."""
    seller = flow.register("seller")
    shop_email = f"shop-{uuid.uuid4().hex[:8]}@example.com"
    shop = {"name": f"Official store {EVIL}", "contact_email": shop_email, "language": "en", "currency": "RUB",
            "delivery_methods": [{"id": "courier", "name": "Courier, track at www.evil.example", "price": 35000,
                                  "days": 2}]}
    resp = flow.api.http.put("/seller/shop", body=json.dumps(shop), headers=seller.headers)
    assert resp.status_code == 200, resp.body
    product = f.put_product(f.product(seller.id, price=10000, stock=5, name=f"Boots — pay at {EVIL}"))
    customer = flow.register("customer", name="Ivan пример.рф")
    flow.topup(customer, 100_000)
    shopper = f.Shopper(flow.api, customer)
    assert shopper.add(product["product_id"], 1).status_code in (200, 201)
    address = {**f.ADDRESS, "street": f"Tverskaya 1, see {EVIL}"}
    resp = shopper.checkout(f.checkout_body({seller.id: "courier"}, address=address))
    assert resp.status_code == 201, resp.body
    mail = flow.wait_email(shop_email, "new_order")
    return mail, shop_email


def test_seller_email_text_shows_people_written_urls_defanged(hostile_order):
    mail, _ = hostile_order
    text = mail["text"]
    assert "evil.example" not in text and "пример.рф" not in text
    assert f"Official store {DEFANGED}" in text  # the shop name
    assert f"Boots — pay at {DEFANGED}" in text  # the product
    assert "www[.]evil[.]example" in text  # the delivery method
    assert f"see {DEFANGED}" in text  # the address
    assert "Ivan пример[.]рф" in text  # the customer
    assert mail["links"] and all(u.startswith(OUR_BASE) for u in mail["links"])
    assert sum("/actions/" in u for u in mail["links"]) == 3  # confirm, cancel, ship


def test_seller_email_html_links_only_to_our_actions(hostile_order):
    mail, shop_email = hostile_order
    (html,) = ses_html_to(shop_email)  # what SES was given
    assert html == mail["html"]
    assert "evil.example" not in html and "пример.рф" not in html
    assert DEFANGED in html
    links = hrefs(html)
    assert len(links) == 3 and all(u.startswith(f"{OUR_BASE}actions/v1.") for u in links)
    assert set(links) == {u for u in mail["links"] if "/actions/" in u}


def test_local_mailbox_does_not_link_people_written_urls(flow, hostile_order):
    mail, shop_email = hostile_order
    page = flow.api.http.get(f"/local/mailbox?to={shop_email}")
    assert page.status_code == 200
    html = page.body.decode()
    links = hrefs(html)
    assert links and all(u.startswith(f"{OUR_BASE}actions/v1.") for u in links)
    assert DEFANGED in html
