"""Feeds and the catalog over HTTP on the local stack (``python -m local``): a seller's upload
and an S3 drop go through the real S3 → SQS → poller → import Lambda path; customers browse."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import verify_email

pytestmark = pytest.mark.e2e

DEMO_FEED = Path(__file__).resolve().parents[2] / "local" / "demo" / "demo-feed.yml"
SHOP = {"name": "E2E лавка", "contact_email": "e2e-shop@example.com", "language": "ru", "currency": "RUB",
        "delivery_methods": [{"id": "courier", "name": "Курьер", "price": 39000, "days": 2}]}
DONE = {"succeeded", "partially_succeeded", "failed"}


def _seller(stack) -> tuple[str, str]:
    email, password = f"seller-{uuid.uuid4().hex[:8]}@example.com", "secret-pass-1"
    reg = stack.post("/auth/register", json={"email": email, "password": password, "name": "S", "role": "seller"})
    assert reg.status_code == 201, reg.text
    verify_email(stack, email)
    token = stack.post("/auth/login", json={"email": email, "password": password}).json()["access_token"]
    assert stack.put("/seller/shop", token, json=SHOP).status_code == 200
    return reg.json()["user_id"], token


def _wait_for(stack, token: str, feed_id: str | None = None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if feed_id:
            record = stack.get(f"/seller/feeds/{feed_id}", token).json()
        else:
            items = stack.get("/seller/feeds", token).json()["items"]
            record = items[0] if items else {}
        if record.get("status") in DONE:
            return record
        time.sleep(0.3)
    raise AssertionError(f"import did not finish in {timeout} s")


def test_presigned_upload_imports_and_products_are_browsable(stack):
    if not DEMO_FEED.exists():
        pytest.skip("local/demo/demo-feed.yml is missing")
    seller_id, token = _seller(stack)
    created = stack.post("/seller/feeds", token, json={"filename": "demo-feed.yml"})
    assert created.status_code == 201, created.text
    form = created.json()
    upload = stack.http.post(form["upload_url"], data=form["fields"],
                             files={"file": ("demo-feed.yml", DEMO_FEED.read_bytes())}, timeout=30)
    assert upload.status_code == 204, upload.text
    record = _wait_for(stack, token, created.json()["feed_id"])
    assert record["status"] in ("succeeded", "partially_succeeded"), record
    assert record["counts"]["created"] > 0
    assert stack.http.get(record["report_url"], timeout=10).json()["feed_id"] == record["feed_id"]

    page = stack.get(f"/products?seller={seller_id}&sort=price&limit=3").json()
    assert len(page["items"]) == 3
    prices = [i["price"]["amount"] for i in page["items"]]
    assert prices == sorted(prices)
    product = stack.get(f"/products/{page['items'][0]['product_id']}").json()
    assert product["seller"]["id"] == seller_id and product["delivery_methods"][0]["id"] == "courier"
    cats = stack.get(f"/categories?seller={seller_id}").json()["items"]
    assert cats and cats[0]["categories"]


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/csv"])
def test_a_windows_1251_csv_posted_with_its_form_is_stored_byte_for_byte(stack, content_type):
    """``curl -F file=@feed.csv`` with whatever type the file part carries: the bytes, not UTF-8,
    reach the local S3 unchanged and import."""
    seller_id, token = _seller(stack)
    data = ("Артикул;Название;Цена;Остаток;Категория\n"
            "A-1;Кроссовки беговые Стрела;3 499,90;12;Обувь > Кроссовки\n"
            "A-2;Ботинки & стельки=2;5999;3;Обувь > Ботинки\n").encode("cp1251")
    created = stack.post("/seller/feeds", token, json={"filename": "ru.csv"}).json()
    part = ("ru.csv", data, content_type) if content_type else ("ru.csv", data)
    upload = stack.http.post(created["upload_url"], data=created["fields"], files={"file": part}, timeout=15)
    assert upload.status_code == 204, upload.text
    key = f"feeds/{seller_id}/{created['feed_id']}/ru.csv"
    assert stack.client("s3").get_object(Bucket=stack.env["FEEDS_BUCKET"], Key=key)["Body"].read() == data
    record = _wait_for(stack, token, created["feed_id"])
    assert record["status"] == "succeeded" and record["counts"]["created"] == 2, record
    items = stack.get(f"/products?seller={seller_id}&sort=price").json()["items"]
    assert [(i["name"], i["price"]["amount"]) for i in items] == [
        ("Кроссовки беговые Стрела", 349990), ("Ботинки & стельки=2", 599900)]


def test_s3_drop_under_the_sellers_prefix_imports(stack):
    seller_id, token = _seller(stack)
    feed = (b'<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><currencies><currency id="RUR" rate="1"/>'
            b'</currencies><categories><category id="1">A</category></categories><offers>'
            b'<offer id="x1" available="true"><name>Dropped thing</name><price>123.45</price>'
            b"<currencyId>RUR</currencyId><categoryId>1</categoryId></offer></offers></shop></yml_catalog>")
    stack.client("s3").put_object(Bucket=stack.env["FEEDS_BUCKET"], Key=f"feeds/{seller_id}/nightly.xml", Body=feed)
    record = _wait_for(stack, token)
    assert record["status"] == "succeeded" and record["source"] == "drop"
    items = stack.get(f"/products?seller={seller_id}").json()["items"]
    assert [(i["name"], i["price"]["amount"]) for i in items] == [("Dropped thing", 12345)]
