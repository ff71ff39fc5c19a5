"""An import watched over HTTP on the local stack (``python -m local``): a seller uploads a feed
with some bad rows, follows its status to the end (progress on the way), gets the ending email
in the local mailbox, and downloads the CSV report through the link's route."""

from __future__ import annotations

import csv
import io
import time
import uuid

import pytest

from tests.e2e.conftest import verify_email
from tests.e2e.test_catalog_http import SHOP

pytestmark = pytest.mark.e2e

OFFERS = 3000


def feed() -> bytes:
    offers = "".join(f'<offer id="w{i}" available="true"><name>Watched {i}</name><price>{"-1" if i % 1000 == 7 else 10}'
                     f"</price><currencyId>RUR</currencyId><categoryId>1</categoryId></offer>" for i in range(OFFERS))
    return yml(offers)


def yml(offers: str) -> bytes:
    """A YML file of these ``<offer>`` elements, in roubles, in one category (id 1)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><currencies><currency id="RUR" rate="1"/>'
            f'</currencies><categories><category id="1">A</category></categories><offers>{offers}</offers>'
            f"</shop></yml_catalog>").encode()


def test_a_seller_watches_an_import_and_gets_the_ending_email_with_the_csv_report(stack):
    email, shop_email = f"seller-{uuid.uuid4().hex[:8]}@example.com", f"shop-{uuid.uuid4().hex[:8]}@example.com"
    reg = stack.post("/auth/register", json={"email": email, "password": "secret-pass-1", "name": "S",
                                             "role": "seller"})
    assert reg.status_code == 201, reg.text
    verify_email(stack, email)
    token = stack.post("/auth/login", json={"email": email, "password": "secret-pass-1"}).json()["access_token"]
    assert stack.put("/seller/shop", token, json={**SHOP, "contact_email": shop_email, "language": "en"}).ok

    created = stack.post("/seller/feeds", token, json={"filename": "watched.yml"}).json()
    assert stack.http.post(created["upload_url"], data=created["fields"], files={"file": ("watched.yml", feed())},
                           timeout=30).status_code == 204
    seen, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        record = stack.get(f"/seller/feeds/{created['feed_id']}", token).json()
        if record.get("progress"):
            seen.append(record["progress"])
        if record["status"] not in ("queued", "processing"):
            break
        time.sleep(0.1)
    assert record["status"] == "partially_succeeded", record
    assert record["counts"]["created"] == OFFERS - 3 and record["counts"]["rejected"] == 3
    assert record["progress"] == {"phase": "done", "rows_read": OFFERS, "rows_written": OFFERS - 3}
    assert all(p["rows_read"] <= OFFERS for p in seen)

    def ending_emails() -> list[dict]:
        return [m for m in stack.get(f"/local/emails?to={shop_email}").json()["items"]
                if m["kind"] == "feed_import_finished"]

    deadline = time.monotonic() + 20  # sent right after the record becomes final
    while not (mails := ending_emails()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(mails) == 1 and mails[0]["subject"].startswith("Feed imported")
    assert "Created: 2997" in mails[0]["text"] and "rejected: 3" in mails[0]["text"]
    link = next(u for u in mails[0]["links"] if u.endswith("/report.csv"))
    path = link.split("://", 1)[1].split("/", 1)[1]
    redirect = stack.get("/" + path, token, allow_redirects=False)
    assert redirect.status_code == 302
    report = stack.http.get(redirect.headers["Location"], timeout=10)
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert sorted(r["offer_id"] for r in rows) == ["w1007", "w2007", "w7"]
    assert {r["field"] for r in rows} == {"price"}
