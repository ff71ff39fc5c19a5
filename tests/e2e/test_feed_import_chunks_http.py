"""A feed above the chunk threshold on the local stack (``python -m local`` with
``IMPORT_CHUNK_OFFERS=400``): the import function splits it into chunk messages on the import
queue, the poller's two workers import them at once, the last one commits — and the seller
sees one import, with one report and one email, as for a small feed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Stack, running_stack, verify_email
from tests.e2e.test_catalog_http import SHOP
from tests.e2e.test_feed_import_watch_http import yml

pytestmark = pytest.mark.e2e

OFFERS = 2000
CHUNK_OFFERS = 400


@pytest.fixture(scope="module")
def chunking_stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("chunks"), settings={"IMPORT_CHUNK_OFFERS": str(CHUNK_OFFERS)}) as s:
        yield s


def feed() -> bytes:
    offers = "".join(f'<offer id="c{i}" available="true"><name>Chunked {i}</name><price>{10 + i % 7}</price>'
                     f"<currencyId>RUR</currencyId><categoryId>1</categoryId></offer>" for i in range(OFFERS))
    return yml(offers)


def test_a_feed_above_the_threshold_is_imported_in_chunks_with_one_report(chunking_stack):
    stack = chunking_stack
    email, shop_email = f"seller-{uuid.uuid4().hex[:8]}@example.com", f"shop-{uuid.uuid4().hex[:8]}@example.com"
    assert stack.post("/auth/register", json={"email": email, "password": "secret-pass-1", "name": "S",
                                              "role": "seller"}).status_code == 201
    verify_email(stack, email)
    token = stack.post("/auth/login", json={"email": email, "password": "secret-pass-1"}).json()["access_token"]
    assert stack.put("/seller/shop", token, json={**SHOP, "contact_email": shop_email, "language": "en"}).ok

    created = stack.post("/seller/feeds", token, json={"filename": "big.yml"}).json()
    assert stack.http.post(created["upload_url"], data=created["fields"], files={"file": ("big.yml", feed())},
                           timeout=30).status_code == 204
    phases, deadline = set(), time.monotonic() + 300
    while time.monotonic() < deadline:
        record = stack.get(f"/seller/feeds/{created['feed_id']}", token).json()
        phases.add((record.get("progress") or {}).get("phase"))
        if record["status"] not in ("queued", "processing"):
            break
        time.sleep(0.2)
    assert record["status"] == "succeeded", record
    assert record["counts"] == {"rows": OFFERS, "created": OFFERS, "updated": 0, "unchanged": 0, "rejected": 0,
                                "deactivated": 0}
    assert record["progress"] == {"phase": "done", "rows_read": OFFERS, "rows_written": OFFERS}
    assert "writing" in phases  # the chunks' phase was seen on the way
    chunked = [line for line in stack.logs() if line.get("msg") == "feed chunk imported"
               and line.get("feed_id") == created["feed_id"]]
    assert len(chunked) == OFFERS // CHUNK_OFFERS  # the import did go through the chunks

    mails = [m for m in stack.get(f"/local/emails?to={shop_email}").json()["items"]
             if m["kind"] == "feed_import_finished"]
    assert len(mails) == 1 and f"Created: {OFFERS}" in mails[0]["text"]
    found = stack.get("/search?q=Chunked%201999").json()
    assert [i["name"] for i in found["items"]][:1] == ["Chunked 1999"]
