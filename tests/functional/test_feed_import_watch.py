"""An import the seller can watch (SPEC "Seller feeds at scale"), on moto.

Given a seller with a shop, when a feed imports, then its status shows the rows read and written
while it runs, the seller gets one email when it ends (counts and the report link, in the shop's
language), the row report is also a CSV whose cells a spreadsheet cannot execute, and a dry run
reports the same problems without changing the catalog.
"""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
import requests
from feed_support import SHOP, Feeds, offer, snapshot, yml


@pytest.fixture
def feeds(api, aws, register):
    from local import patches

    patches.serialize_dynamodb()  # moto's DynamoDB is not atomic under concurrent requests
    return Feeds(api, aws, register)


def seller_with_mailbox(feeds, language="ru"):
    email = f"shop-{uuid.uuid4().hex[:8]}@example.com"
    user = feeds.seller({**SHOP, "contact_email": email, "language": language})
    user.shop_email = email
    return user


def mails(feeds, email, kind="feed_import_finished"):
    items = feeds.api.http.get(f"/local/emails?to={email}").json_body["items"]
    return [m for m in items if m["kind"] == kind]


BAD = yml(offer("a", "Alpha", "10") + offer("b", "Beta", "-5") + offer("=c", "=HYPERLINK(1)", "oops")
          + offer("a", "Alpha again", "11"))


def test_status_shows_rows_read_and_written_while_the_import_runs(feeds, monkeypatch):
    from chalicelib.services import feed_import
    from chalicelib.services import feeds as feed_service

    monkeypatch.setattr(feed_import, "PROGRESS_ROWS", 100)
    seller = seller_with_mailbox(feeds)
    seen = []
    real_flush = feed_import.FeedImport._flush

    def watching_flush(self, chunk):
        real_flush(self, chunk)  # the seller polls the status route between two chunks
        seen.append(feed_service.get_import(seller.id, self.feed_id)["progress"])

    monkeypatch.setattr(feed_import.FeedImport, "_flush", watching_flush)
    data = yml("".join(offer(f"o{i}", f"Offer {i}", "10") for i in range(350)))
    status = feeds.upload(seller, data)
    assert status["status"] == "succeeded"
    assert seen[0]["phase"] == "writing" and seen[0]["rows_read"] == 350
    written = [p["rows_written"] for p in seen]
    assert written == sorted(written) and 0 < written[0] < 350 and written[-1] >= 300
    assert status["progress"] == {"phase": "done", "rows_read": 350, "rows_written": 350}


def test_the_seller_gets_one_email_with_the_counts_and_the_report_link_in_their_language(feeds):
    seller = seller_with_mailbox(feeds, "ru")
    status = feeds.upload(seller, BAD)
    assert status["status"] == "partially_succeeded"
    [mail] = mails(feeds, seller.shop_email)
    assert "Фид загружен" in mail["subject"]
    assert "Создано: 1" in mail["text"] and "отклонено: 3" in mail["text"]
    assert any(link.endswith(f"/seller/feeds/{status['feed_id']}/report.csv") for link in mail["links"])

    english = seller_with_mailbox(feeds, "en")
    failed = feeds.upload(english, b"<yml_catalog><shop>", "broken.yml")
    assert failed["status"] == "failed"
    [mail] = mails(feeds, english.shop_email)
    assert mail["subject"].startswith("Feed import failed") and "Reason: file rejected" in mail["text"]


def test_the_report_is_also_a_csv_whose_cells_cannot_run_as_formulas(feeds):
    seller = seller_with_mailbox(feeds)
    status = feeds.upload(seller, BAD)
    resp = feeds.api.http.get(f"/seller/feeds/{status['feed_id']}/report.csv", headers=seller.headers)
    assert resp.status_code == 302
    assert f"/reports/{seller.id}/{status['feed_id']}.csv?" in resp.headers["Location"]
    download = requests.get(resp.headers["Location"], timeout=10)
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert [r["field"] for r in rows] == ["price", "price", "id"]
    assert {r["offer_id"] for r in rows} == {"b", "'=c", "a"}  # the seller's "=c", shown as text
    assert all(r["reason"] for r in rows)
    json_report = requests.get(status["report_url"], timeout=10).json()
    assert len(json_report["errors"]) == len(rows)


def test_a_strangers_csv_report_is_not_found(feeds):
    owner, other = seller_with_mailbox(feeds), seller_with_mailbox(feeds)
    status = feeds.upload(owner, BAD)
    resp = feeds.api.http.get(f"/seller/feeds/{status['feed_id']}/report.csv", headers=other.headers)
    assert resp.status_code == 404


def test_a_dry_run_reports_the_same_problems_and_changes_nothing(feeds, aws):
    seller = seller_with_mailbox(feeds)
    assert feeds.upload(seller, yml(offer("a", "Alpha", "10") + offer("z", "Zeta", "99")))["status"] == "succeeded"
    before = snapshot(aws)
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "check.yml", "dry_run": True}),
                               headers=seller.headers)
    assert resp.status_code == 201
    created = resp.json_body
    assert requests.post(created["upload_url"], data=created["fields"], files={"file": ("check.yml", BAD)},
                         timeout=10).status_code == 204
    feeds.import_key(f"feeds/{seller.id}/{created['feed_id']}/check.yml")
    status = feeds.api.http.get(f"/seller/feeds/{created['feed_id']}", headers=seller.headers).json_body
    assert status["dry_run"] is True and status["status"] == "partially_succeeded"
    assert status["counts"]["rows"] == 4 and status["counts"]["rejected"] == 3
    assert status["counts"]["created"] == status["counts"]["deactivated"] == 0
    assert {e["field"] for e in status["errors"]} == {"price", "id"}  # the duplicate is found too
    assert snapshot(aws) == before  # Zeta is still on sale, Alpha's price is the same
    [check] = [m for m in mails(feeds, seller.shop_email) if "проверка" in m["subject"].lower()]
    assert "не меняя каталог" in check["text"]
    # the next real import is not refused as "older" by a dry run, nor blocked by its lock
    assert feeds.upload(seller, yml(offer("a", "Alpha", "12")))["counts"]["updated"] == 1
