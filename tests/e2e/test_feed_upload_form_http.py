"""A feed uploaded through its presigned POST form on the local stack (``python -m local``):
the form goes straight to the stack's S3, whose notification starts the import through the
real S3 → SQS → poller → import Lambda path, as a ``curl -F`` upload would."""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.test_catalog_http import _seller, _wait_for

pytestmark = pytest.mark.e2e

FEED = (b'<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><currencies><currency id="RUR" rate="1"/>'
        b'</currencies><categories><category id="1">A</category></categories><offers>'
        b'<offer id="p1" available="true"><name>Posted thing</name><price>77.70</price>'
        b"<currencyId>RUR</currencyId><categoryId>1</categoryId></offer></offers></shop></yml_catalog>")


def test_a_feed_posted_with_its_presigned_form_is_imported(stack):
    seller_id, token = _seller(stack)
    created = stack.post("/seller/feeds", token, json={"filename": "posted.yml"})
    assert created.status_code == 201, created.text
    form = created.json()
    assert form["upload_url"].startswith(stack.moto_url)  # straight to S3, not through the API
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, form["max_bytes"]] in policy["conditions"]

    # what `curl -F key=… -F policy=… … -F file=@posted.yml URL` sends: the fields, then the file
    upload = stack.http.post(form["upload_url"], data=form["fields"], files={"file": ("posted.yml", FEED)},
                             timeout=15)
    assert upload.status_code == 204, upload.text
    record = _wait_for(stack, token, form["feed_id"])
    assert record["status"] == "succeeded" and record["source"] == "upload", record
    items = stack.get(f"/products?seller={seller_id}").json()["items"]
    assert [(i["name"], i["price"]["amount"]) for i in items] == [("Posted thing", 7770)]
