"""Feed import semantics through the import service and the import Lambda, on moto.

Given a seller with a shop, when files land in the feeds bucket, then the catalog follows the
SPEC: a feed is a full snapshot, re-imports and duplicate deliveries write nothing, bad rows are
reported while the rest imports, a file-level error changes nothing.
"""

from __future__ import annotations

import json

import boto3
import pytest
import requests
from feed_support import Feeds, offer, product_writes, record_calls, snapshot, yml

from chalicelib.domain.catalog import product_id


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


THREE = yml(offer("a", "Alpha", "10.50") + offer("b", "Beta", "20") + offer("c", "Gamma", "30,00"))


def test_can_import_through_presigned_upload_and_follow_progress(feeds):
    seller = feeds.seller()
    status = feeds.upload(seller, THREE)
    assert status["status"] == "succeeded"
    assert status["source"] == "upload"
    assert status["counts"] == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0, "rejected": 0,
                                "deactivated": 0}
    listed = feeds.api.http.get("/seller/feeds", headers=seller.headers).json_body["items"]
    assert [i["feed_id"] for i in listed] == [status["feed_id"]]
    report = requests.get(status["report_url"], timeout=10).json()
    assert report["status"] == "succeeded" and report["errors"] == []
    prices = {p["name"]: p["price"] for p in feeds.products()}
    assert prices == {"Alpha": {"amount": 1050, "currency": "RUB"}, "Beta": {"amount": 2000, "currency": "RUB"},
                      "Gamma": {"amount": 3000, "currency": "RUB"}}


def test_upload_form_is_under_the_sellers_own_prefix(feeds):
    seller = feeds.seller()
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "../../etc/My Feed.xml"}),
                               headers=seller.headers)
    assert resp.status_code == 201
    assert resp.json_body["fields"]["key"] == f"feeds/{seller.id}/{resp.json_body['feed_id']}/My_Feed.xml"
    assert resp.json_body["expires_at"]


@pytest.mark.parametrize("content_type", ["text/csv", "application/octet-stream", "application/x-www-form-urlencoded"])
def test_upload_form_lets_the_uploader_send_any_content_type(feeds, content_type):
    """The form's policy names no Content-Type: a browser's ``text/csv`` or what a script sends
    are all stored byte for byte."""
    import base64

    import boto3
    import requests

    seller = feeds.seller()
    form = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "feed.csv"}),
                               headers=seller.headers).json_body
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert not [c for c in policy["conditions"] if "content-type" in json.dumps(c).lower()]
    data = "id;name;price\nA-1;Кроссовки;3 499,90\n".encode("cp1251")
    posted = requests.post(form["upload_url"], data=form["fields"], files={"file": ("feed.csv", data, content_type)},
                           timeout=10)
    assert posted.status_code == 204, posted.text
    assert boto3.client("s3").get_object(Bucket=feeds.bucket, Key=form["fields"]["key"])["Body"].read() == data


@pytest.mark.parametrize("filename", ["feed.exe", "feed", ".csv"])
def test_error_on_upload_of_unsupported_file_type(feeds, filename):
    seller = feeds.seller()
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": filename}), headers=seller.headers)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "filename"


def test_error_on_upload_before_the_shop_exists(feeds):
    seller = feeds.register("seller")
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "f.yml"}), headers=seller.headers)
    assert resp.status_code == 409


def test_customers_cannot_upload_and_sellers_see_only_their_imports(feeds):
    owner, other = feeds.seller(), feeds.seller()
    customer = feeds.register("customer")
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "f.yml"}), headers=customer.headers)
    assert resp.status_code == 403
    status = feeds.upload(owner, THREE)
    assert feeds.api.http.get(f"/seller/feeds/{status['feed_id']}", headers=other.headers).status_code == 404
    assert feeds.api.http.get("/seller/feeds", headers=other.headers).json_body["items"] == []


def test_can_import_an_s3_drop_through_the_queue_handler(feeds, aws):
    seller = feeds.seller()
    key = feeds.put(f"feeds/{seller.id}/daily export.xml", THREE)
    feeds.deliver(key)  # the key arrives URL-encoded, as S3 sends it
    listed = feeds.api.http.get("/seller/feeds", headers=seller.headers).json_body["items"]
    assert len(listed) == 1 and listed[0]["status"] == "succeeded" and listed[0]["source"] == "drop"
    assert len(feeds.products(seller=seller.id)) == 3


def test_same_file_twice_writes_no_product_the_second_time(feeds):
    seller = feeds.seller()
    log = record_calls()
    first = feeds.drop(seller.id, THREE)
    # each product: its item, a seller and a category listing item; and the category tree
    assert product_writes(log) == 3 * 3 + 1
    before = snapshot(feeds.aws)
    log.clear()
    second = feeds.drop(seller.id, THREE)
    assert second["feed_id"] != first["feed_id"]
    assert second["counts"] == {"rows": 3, "created": 0, "updated": 0, "unchanged": 3, "rejected": 0,
                                "deactivated": 0}
    assert product_writes(log) == 0
    assert log.named("Scan") == []
    assert snapshot(feeds.aws) == before


def test_duplicate_delivery_of_one_s3_event_is_harmless(feeds):
    seller = feeds.seller()
    key = feeds.put(f"feeds/{seller.id}/feed.yml", THREE)
    feeds.deliver(key)
    log = record_calls()
    feeds.deliver(key)
    from chalicelib.services.feed_import import handle_s3_notification

    assert handle_s3_notification(feeds.bucket, key) is None
    assert product_writes(log) == 0
    items = feeds.api.http.get("/seller/feeds", headers=seller.headers).json_body["items"]
    assert len(items) == 1 and items[0]["counts"]["created"] == 3


def test_reuploading_other_bytes_to_the_same_key_imports_again(feeds):
    seller = feeds.seller()
    key = feeds.put(f"feeds/{seller.id}/feed.yml", THREE)
    feeds.import_key(key)
    feeds.put(key, yml(offer("a", "Alpha", "11")))
    record = feeds.import_key(key)
    assert record["counts"]["updated"] == 1 and record["counts"]["deactivated"] == 2


def test_offers_missing_from_a_later_feed_become_unavailable(feeds):
    seller = feeds.seller()
    feeds.drop(seller.id, THREE)
    record = feeds.drop(seller.id, yml(offer("a", "Alpha", "10.50") + offer("b", "Beta", "25")))
    assert record["counts"] == {"rows": 2, "created": 0, "updated": 1, "unchanged": 1, "rejected": 0,
                                "deactivated": 1}
    available = {p["name"] for p in feeds.products(available="true")}
    assert available == {"Alpha", "Beta"}
    gone = feeds.api.http.get(f"/products/{product_id(seller.id, 'c')}").json_body
    assert gone["available"] is False  # kept, not deleted: orders still point to it
    assert {p["name"] for p in feeds.products(available="false")} == {"Gamma"}
    back = feeds.drop(seller.id, THREE)
    assert back["counts"]["updated"] == 2  # Gamma is back, Beta's price went back
    assert {p["name"] for p in feeds.products(available="true")} == {"Alpha", "Beta", "Gamma"}


def test_snapshot_leaves_other_sellers_alone(feeds):
    one, two = feeds.seller(), feeds.seller()
    feeds.drop(one.id, THREE)
    feeds.drop(two.id, yml(offer("x", "Xeno")))
    feeds.drop(one.id, yml(offer("a", "Alpha", "10.50")))
    assert {p["name"] for p in feeds.products(available="true")} == {"Alpha", "Xeno"}


def test_bad_rows_are_rejected_and_reported_while_the_rest_imports(feeds):
    seller = feeds.seller()
    csv = (b"id;name;price;description\n"
           b"1;Good one;100,50;<p>ok<script>alert(1)</script></p>\n"
           b"2;Bad price;abc;x\n"
           b"3;;10;no name\n"
           b"4;Another;5;fine\n")
    record = feeds.drop(seller.id, csv, "prices.csv")
    assert record["status"] == "partially_succeeded"
    assert record["counts"]["created"] == 2 and record["counts"]["rejected"] == 2 and record["counts"]["rows"] == 4
    fields = {(e.get("offer_id"), e.get("field")) for e in record["errors"]}
    assert ("2", "price") in fields
    assert all(e["reason"] for e in record["errors"])
    page = feeds.api.http.get(f"/products/{product_id(seller.id, '1')}").json_body
    assert page["price"] == {"amount": 10050, "currency": "RUB"}
    assert "<script" not in page["description"] and "ok" in page["description"]
    status = feeds.api.http.get(f"/seller/feeds/{record['feed_id']}", headers=seller.headers).json_body
    report = requests.get(status["report_url"], timeout=10).json()
    assert len(report["errors"]) == 2 and report["counts"]["rejected"] == 2


def test_full_report_holds_every_error_while_the_record_holds_the_first(feeds):
    seller = feeds.seller()
    rows = "".join(f"{i};Item {i};{'bad' if i % 2 else '10'}\n" for i in range(60))
    record = feeds.drop(seller.id, f"id;name;price\n{rows}".encode(), "many.csv")
    assert record["counts"]["rejected"] == 30 and len(record["errors"]) == 20
    status = feeds.api.http.get(f"/seller/feeds/{record['feed_id']}", headers=seller.headers).json_body
    assert len(requests.get(status["report_url"], timeout=10).json()["errors"]) == 30


def test_duplicate_offer_ids_first_wins_rest_reported(feeds):
    seller = feeds.seller()
    record = feeds.drop(seller.id, yml(offer("a", "First") + offer("a", "Second") + offer("b", "Other")))
    assert record["counts"]["created"] == 2 and record["counts"]["rejected"] == 1
    assert record["errors"][0]["offer_id"] == "a"
    assert feeds.api.http.get(f"/products/{product_id(seller.id, 'a')}").json_body["name"] == "First"


def test_file_level_error_changes_nothing(feeds):
    seller = feeds.seller()
    feeds.drop(seller.id, THREE)
    before = snapshot(feeds.aws)
    # valid offers first, then the file breaks: nothing of it may be committed
    broken = yml(offer("a", "Changed", "1") + offer("z", "New")).replace(b"</offers>", b"<offer></offers>")
    record = feeds.drop(seller.id, broken)
    assert record["status"] == "failed" and record["reason"].startswith("file rejected")
    assert snapshot(feeds.aws) == before


def test_a_file_with_no_valid_offer_fails_and_deactivates_nothing(feeds):
    seller = feeds.seller()
    feeds.drop(seller.id, THREE)
    before = snapshot(feeds.aws)
    record = feeds.drop(seller.id, b"id;name;price\n1;x;bad\n", "f.csv")
    assert record["status"] == "failed" and "no valid offers" in record["reason"]
    assert record["counts"]["rejected"] == 1
    assert snapshot(feeds.aws) == before


@pytest.mark.parametrize(("key", "reason"), [
    ("feeds/nobody-here/feed.yml", "unknown seller"),
    ("uploads/feed.yml", "outside feeds/<seller_id>/"),
    ("feeds/feed.yml", "outside feeds/<seller_id>/"),
])
def test_key_outside_a_known_sellers_prefix_is_a_failed_import(feeds, key, reason):
    feeds.put(key, THREE)
    before = snapshot(feeds.aws)
    record = feeds.import_key(key)
    assert record["status"] == "failed" and reason in record["reason"]
    assert "seller_id" not in record
    assert snapshot(feeds.aws) == before


def test_unsupported_extension_is_a_failed_import_the_seller_can_see(feeds):
    seller = feeds.seller()
    key = feeds.put(f"feeds/{seller.id}/catalog.pdf", THREE)
    record = feeds.import_key(key)
    assert record["status"] == "failed" and "unsupported file type" in record["reason"]
    listed = feeds.api.http.get("/seller/feeds", headers=seller.headers).json_body["items"]
    assert listed[0]["status"] == "failed"
    assert snapshot(feeds.aws) == []


def test_changed_price_and_category_update_listings(feeds):
    seller = feeds.seller()
    cats = '<category id="1">Phones</category><category id="2">Cases</category>'
    feeds.drop(seller.id, yml(offer("a", "Alpha", "10", category="1"), cats))
    record = feeds.drop(seller.id, yml(offer("a", "Alpha", "12", category="2"), cats))
    assert record["counts"]["updated"] == 1
    tree = feeds.api.http.get(f"/categories?seller={seller.id}").json_body["items"][0]["categories"]
    ids = {c["feed_id"]: c["id"] for c in tree}
    assert feeds.products(category=ids["1"]) == []
    [moved] = feeds.products(category=ids["2"])
    assert moved["price"]["amount"] == 1200 and moved["category"]["name"] == "Cases"


def test_import_hands_changes_to_the_search_index(feeds, monkeypatch):
    seen = []
    import chalicelib.search.indexer as indexer

    monkeypatch.setattr(indexer, "apply_changes", lambda changes: seen.extend(changes))
    seller = feeds.seller()
    feeds.drop(seller.id, THREE)
    assert [(old, new["name"]) for old, new in seen] == [(None, "Alpha"), (None, "Beta"), (None, "Gamma")]
    seen.clear()
    feeds.drop(seller.id, THREE)
    assert seen == []  # nothing searchable changed
    feeds.drop(seller.id, yml(offer("a", "Alpha", "10.50")))
    assert sorted((old["name"], new["available"]) for old, new in seen) == [("Beta", False), ("Gamma", False)]


def test_an_older_file_delivered_late_does_not_overwrite_a_newer_import(feeds):
    seller = feeds.seller()
    old_key = feeds.put(f"feeds/{seller.id}/old.yml", THREE)
    import time

    time.sleep(1.1)  # S3 LastModified has one-second resolution
    feeds.drop(seller.id, yml(offer("a", "Alpha", "99")))
    record = feeds.import_key(old_key)
    assert record["status"] == "failed" and "newer file" in record["reason"]
    assert {p["name"] for p in feeds.products(available="true")} == {"Alpha"}


def test_another_import_of_the_seller_running_makes_the_message_come_back(feeds):
    from chalicelib.services import feed_import
    from chalicelib.store import catalog as store

    seller = feeds.seller()
    store.acquire_import_lock(seller.id, "someone-else", "2000-01-01", 600)
    key = feeds.put(f"feeds/{seller.id}/feed.yml", THREE)
    with pytest.raises(feed_import.RetryLater):
        feed_import.handle_s3_notification(feeds.bucket, key)
    store.release_import_lock(seller.id, "someone-else")
    record = feeds.import_key(key)  # the redelivered message
    assert record["status"] == "succeeded"


def test_report_object_lives_under_the_sellers_reports_prefix(feeds):
    seller = feeds.seller()
    record = feeds.drop(seller.id, THREE)
    body = boto3.client("s3").get_object(Bucket=feeds.bucket, Key=f"reports/{seller.id}/{record['feed_id']}.json")
    assert json.loads(body["Body"].read())["feed_id"] == record["feed_id"]


def test_unprocessed_batch_items_are_retried(feeds, monkeypatch):
    from chalicelib.store import toolkit

    class Throttled:
        """DynamoDB under pressure: the first BatchWriteItem takes one item, returns the rest."""

        calls = 0

        def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's name
            Throttled.calls += 1
            ((table, requests_),) = RequestItems.items()
            if Throttled.calls == 1 and len(requests_) > 1:
                real.batch_write_item(RequestItems={table: requests_[:1]})
                return {"UnprocessedItems": {table: requests_[1:]}}
            return real.batch_write_item(RequestItems=RequestItems)

        def __getattr__(self, name):
            return getattr(real, name)

    real = toolkit._client()
    monkeypatch.setattr(toolkit, "_client", lambda: Throttled())
    monkeypatch.setattr(toolkit.time, "sleep", lambda seconds: None)
    seller = feeds.shop_only()
    record = feeds.drop(seller, THREE)
    assert record["counts"]["created"] == 3 and Throttled.calls >= 2
    assert len(feeds.products(seller=seller)) == 3


def test_an_import_that_crashes_is_taken_over_by_the_redelivery(feeds, monkeypatch):
    from chalicelib.services import feed_import
    from chalicelib.store import catalog as store

    seller = feeds.shop_only()
    key = feeds.put(f"feeds/{seller}/feed.yml", THREE)
    real = store.batch_write

    def crash(*args, **kwargs):
        raise RuntimeError("Lambda ran out of luck")

    monkeypatch.setattr(store, "batch_write", crash)
    with pytest.raises(RuntimeError):
        feed_import.handle_s3_notification(feeds.bucket, key)
    monkeypatch.setattr(store, "batch_write", real)
    record = feeds.import_key(key)  # SQS delivers the message again
    assert record["status"] == "succeeded" and record["counts"]["created"] == 3
    assert len(feeds.products(seller=seller)) == 3
