"""Helpers of the feed-import and catalog tests (not a test module).

``Feeds`` drives imports the way production does: a file is put in the feeds bucket and the
import Lambda's SQS handler receives the S3 notification (built as S3 builds it); ``snapshot``
reads every catalog item except import records, to prove a failed import changed nothing.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

SHARED_FEEDS = Path(__file__).resolve().parents[3] / "shared" / "feeds"

SHOP = {
    "name": "Тестовая лавка",
    "contact_email": "shop@example.com",
    "language": "ru",
    "currency": "RUB",
    "delivery_methods": [
        {"id": "courier", "name": "Курьер", "price": 35000, "days": 2},
        {"id": "pickup", "name": "Самовывоз", "price": 0, "days": 1},
    ],
}


def shared_feed(relative: str) -> Path:
    path = SHARED_FEEDS / relative
    if not path.exists():
        pytest.skip(f"shared feed {path} is not available")
    return path


def s3_event(bucket: str, key: str, etag: str = "x") -> str:
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "eTag": etag, "sequencer": "01"}},
    }]})


class Feeds:
    def __init__(self, api: Any, aws: dict[str, str], register: Any) -> None:
        self.api, self.aws, self.register = api, aws, register
        self.bucket = aws["FEEDS_BUCKET"]
        self.s3 = boto3.client("s3")

    def seller(self, shop: dict[str, Any] | None = None) -> Any:
        user = self.register("seller")
        resp = self.api.http.put("/seller/shop", body=json.dumps(shop or SHOP), headers=user.headers)
        assert resp.status_code == 200, resp.body
        return user

    def shop_only(self, seller_id: str | None = None) -> str:
        """A seller id with a shop, without a login (imports only need the shop)."""
        from chalicelib.store import accounts

        seller_id = seller_id or f"s-{uuid.uuid4().hex[:12]}"
        accounts.put_shop(seller_id, {**SHOP, "seller_id": seller_id})
        return seller_id

    def put(self, key: str, data: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def deliver(self, key: str, bucket: str | None = None) -> None:
        """The import Lambda receives the bucket's notification through SQS."""
        from chalice.test import Client

        from app import app

        body = s3_event(bucket or self.bucket, key)
        with Client(app) as client:
            client.lambda_.invoke("import_feed", client.events.generate_sqs_event(message_bodies=[body],
                                                                                   queue_name="imports"))

    def drop(self, seller_id: str, data: bytes, filename: str = "feed.yml") -> dict[str, Any]:
        """An S3 feed drop: the file lands under the seller's prefix and gets imported."""
        key = self.put(f"feeds/{seller_id}/{uuid.uuid4().hex[:8]}/{filename}", data)
        return self.import_key(key)

    def import_key(self, key: str) -> dict[str, Any]:
        """The S3 notification of ``key`` delivered once: the import record as stored, in full."""
        from chalicelib.services.feed_import import handle_s3_notification

        record = handle_s3_notification(self.bucket, key)
        assert record is not None
        return dict(record.item)

    def upload(self, seller: Any, data: bytes, filename: str = "feed.yml") -> dict[str, Any]:
        """The seller's path: POST /seller/feeds, the file posted with its presigned form (as
        ``curl -F`` does), the S3 notification, the status."""
        import requests

        resp = self.api.http.post("/seller/feeds", body=json.dumps({"filename": filename}), headers=seller.headers)
        assert resp.status_code == 201, resp.body
        created = resp.json_body
        posted = requests.post(created["upload_url"], data=created["fields"], files={"file": (filename, data)},
                               timeout=10)
        assert posted.status_code == 204, posted.text
        key = created["fields"]["key"]
        self.deliver(key)
        status = self.api.http.get(f"/seller/feeds/{created['feed_id']}", headers=seller.headers)
        assert status.status_code == 200, status.body
        return status.json_body

    def products(self, **query: Any) -> list[dict[str, Any]]:
        """Every page of GET /products."""
        items, cursor = [], None
        while True:
            params = {**query, **({"cursor": cursor} if cursor else {})}
            qs = "&".join(f"{k}={quote_plus(str(v))}" for k, v in params.items())
            resp = self.api.http.get(f"/products?{qs}")
            assert resp.status_code == 200, resp.body
            items += resp.json_body["items"]
            cursor = resp.json_body.get("next_cursor")
            if not cursor:
                return items


def snapshot(aws: dict[str, str]) -> list[dict[str, Any]]:
    """Every catalog item but import records, the import lock and feed URL sources (their
    fetch bookkeeping changes with every fetch; a test may Scan)."""
    table = boto3.resource("dynamodb").Table(aws["CATALOG_TABLE"])
    items, kwargs = [], {}
    while True:
        resp = table.scan(**kwargs)
        items += [i for i in resp["Items"] if not i["PK"].startswith("IMPORT#") and i["SK"] != "IMPORT_STATE"
                  and i["PK"] != "FEEDSOURCES"]
        if "LastEvaluatedKey" not in resp:
            return sorted(items, key=lambda i: (i["PK"], i["SK"]))
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def yml(offers: str, categories: str = '<category id="1">Все</category>') -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<yml_catalog date="2025-01-01T10:00:00+03:00"><shop><name>T</name><company>T</company><url>https://t.example</url>
<currencies><currency id="RUR" rate="1"/></currencies><categories>{categories}</categories>
<offers>{offers}</offers></shop></yml_catalog>""".encode()


def offer(oid: str, name: str, price: str = "100", *, available: str = "true", category: str = "1",
          extra: str = "") -> str:
    return (f'<offer id="{oid}" available="{available}"><name>{name}</name><price>{price}</price>'
            f"<currencyId>RUR</currencyId><categoryId>{category}</categoryId>{extra}</offer>")


class CallLog:
    """Every DynamoDB / S3 call the app's clients make, with its API parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, params))

    def named(self, *names: str) -> list[dict[str, Any]]:
        return [p for n, p in self.calls if n in names]

    def clear(self) -> None:
        self.calls.clear()


def record_calls(service: str = "dynamodb") -> CallLog:
    from chalicelib import clients

    log = CallLog()
    clients._session().events.register(f"before-parameter-build.{service}", log)
    # botocore clients copy the session's handlers when they are made: make them again
    clients.client.cache_clear()
    clients.table.cache_clear()
    clients.dynamodb_resource.cache_clear()
    return log


def product_writes(log: CallLog) -> int:
    """Items written or deleted in the catalog by BatchWriteItem / PutItem / UpdateItem,
    import records and the seller's import lock excepted."""
    count = 0
    for name, params in log.calls:
        if name == "BatchWriteItem":
            count += sum(len(v) for t, v in params["RequestItems"].items() if "Catalog" in t)
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            key = params.get("Item") or params.get("Key") or {}
            pk = key.get("PK", {}).get("S", "") if isinstance(key.get("PK"), dict) else key.get("PK", "")
            sk = key.get("SK", {}).get("S", "") if isinstance(key.get("SK"), dict) else key.get("SK", "")
            if not pk.startswith("IMPORT#") and sk != "IMPORT_STATE" and "Catalog" in params.get("TableName", ""):
                count += 1
    return count
