"""Feed uploads through a presigned POST (``POST /seller/feeds``), on moto.

Given a seller with a shop, when they ask for an upload form, then the form's policy names
exactly their feed key and a size range of 1 to ``FEED_MAX_BYTES``, and posting a file with
the fields stores it where the import reads it.

Moto (5.2.5) does not evaluate POST policies: it stores a file larger than the policy allows
(``test_moto_does_not_enforce_the_size_condition`` proves it, so it fails once moto starts
enforcing, and this docstring and docs/api.md can then say so). What S3 enforces is therefore
checked in the signed policy document itself; the import refuses an over-size file anyway
(``test_import_bad_input.py``).
"""

from __future__ import annotations

import base64
import json

import boto3
import pytest
import requests
from feed_support import Feeds, offer, yml

LIMIT = 4096


@pytest.fixture
def feeds(api, aws, register, monkeypatch):
    from chalicelib.config import settings

    monkeypatch.setenv("FEED_MAX_BYTES", str(LIMIT))
    settings.cache_clear()
    yield Feeds(api, aws, register)
    settings.cache_clear()


def _form(feeds: Feeds, seller, filename: str = "feed.yml") -> dict:
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": filename}),
                               headers=seller.headers)
    assert resp.status_code == 201, resp.body
    return resp.json_body


def _policy(form: dict) -> dict:
    return json.loads(base64.b64decode(form["fields"]["policy"]))


def _post(form: dict, data: bytes, filename: str = "feed.yml") -> requests.Response:
    # the fields first, the file last: S3 ignores anything after the file
    return requests.post(form["upload_url"], data=form["fields"], files={"file": (filename, data)}, timeout=10)


def test_upload_form_fixes_the_sellers_key_and_bounds_the_size(feeds):
    seller = feeds.seller()
    form = _form(feeds, seller, "../My Feed.yml")
    key = f"feeds/{seller.id}/{form['feed_id']}/My_Feed.yml"
    assert form["method"] == "POST" and form["max_bytes"] == LIMIT
    assert form["fields"]["key"] == key
    conditions = _policy(form)["conditions"]
    assert ["content-length-range", 1, LIMIT] in conditions
    assert {"key": key} in conditions  # exactly this key: no starts-with, no other seller's prefix
    assert {"bucket": feeds.bucket} in conditions
    assert _policy(form)["expiration"].startswith(form["expires_at"][:10])


def test_a_file_posted_with_the_form_is_imported(feeds):
    seller = feeds.seller()
    form = _form(feeds, seller)
    data = yml(offer("a", "Alpha", "10.50"))
    assert len(data) < LIMIT
    assert _post(form, data).status_code == 204
    stored = boto3.client("s3").get_object(Bucket=feeds.bucket, Key=form["fields"]["key"])["Body"].read()
    assert stored == data
    feeds.deliver(form["fields"]["key"])
    status = feeds.api.http.get(f"/seller/feeds/{form['feed_id']}", headers=seller.headers).json_body
    assert status["status"] == "succeeded" and status["counts"]["created"] == 1
    assert [p["name"] for p in feeds.products()] == ["Alpha"]


def test_moto_does_not_enforce_the_size_condition(feeds):
    """Tried, not assumed: moto accepts an over-size file (S3 answers 400 EntityTooLarge). If
    this fails, moto enforces POST policies: assert the 400 here instead."""
    seller = feeds.seller()
    form = _form(feeds, seller)
    assert _post(form, b"x" * (LIMIT + 1)).status_code == 204


def test_the_form_is_the_default_and_the_unbounded_put_is_refused(feeds):
    seller = feeds.seller()
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "feed.yml"}), headers=seller.headers)
    assert resp.status_code == 201 and resp.json_body["method"] == "POST"
    assert ["content-length-range", 1, LIMIT] in _policy(resp.json_body)["conditions"]
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "feed.yml", "method": "PUT"}),
                               headers=seller.headers)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "method"
    assert "POST" in resp.json_body["errors"][0]["reason"]
    assert feeds.upload(seller, yml(offer("a", "Alpha", "1")))["status"] == "succeeded"


def test_error_on_an_upload_method_s3_has_no_presigned_form_for(feeds):
    seller = feeds.seller()
    resp = feeds.api.http.post("/seller/feeds", body=json.dumps({"filename": "feed.yml", "method": "PATCH"}),
                               headers=seller.headers)
    assert resp.status_code == 422
    assert resp.json_body["errors"][0]["field"] == "method"
