"""The feed import reads exactly the object version its notification named: a key that arrives
URL-encoded is found, and a file replaced before it is read fails the import without a write."""

from __future__ import annotations

from chalicelib.domain.imports import ImportRecord
from chalicelib.services import feed_import
from chalicelib.services.feeds import now_iso

BUCKET = "marketplace-feeds"


def test_a_url_encoded_event_key_finds_its_object(feed_objects):
    obj = feed_objects.put(BUCKET, "feeds/seller-1/my feed.csv", b"id,name,price\n")

    assert feed_import._head(BUCKET, "feeds/seller-1/my+feed.csv") == obj
    assert feed_import._head(BUCKET, "feeds/seller-1/gone.csv") is None


def test_a_file_replaced_before_it_is_read_fails_the_import(feed_objects):
    seen = feed_objects.put(BUCKET, "feeds/seller-1/feed.csv", b"id,name,price\n1,Tea,100\n")
    feed_objects.put(BUCKET, "feeds/seller-1/feed.csv", b"id,name,price\n")  # the seller uploads again
    record = ImportRecord(feed_id="d0123456789abcdef", status="processing", seller_id="seller-1", created_at=now_iso())

    outcome = feed_import.FeedImport(record, seen, state={}).run()

    assert outcome.failed == "the file was replaced or deleted while it was being imported"
    assert outcome.counts.created == outcome.counts.updated == 0
