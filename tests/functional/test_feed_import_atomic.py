"""All or nothing (SPEC "Seller feeds at scale"): an import that fails part-way leaves the
previous catalog exactly as it was — prices, availability, stock, listings, search — and the
retried delivery of the same file finishes the job. On moto.

The crash is a write that raises (DynamoDB gone, the function's time running out), at the k-th
write the import makes, for several k: products, their listings and search postings, the
"no longer in the feed" pass.
"""

from __future__ import annotations

import boto3
import pytest
from feed_support import Feeds, offer, snapshot, yml
from test_feed_import_crash import search_snapshot

from chalicelib.domain.catalog import product_id
from chalicelib.store import keys


@pytest.fixture
def feeds(api, aws, register, monkeypatch):
    from local import patches

    patches.serialize_dynamodb()  # moto's DynamoDB is not atomic under concurrent requests
    return Feeds(api, aws, register)


def stock(n: int) -> str:
    return f"<count>{n}</count>"


N = 150  # two chunks of products
OLD = yml("".join(offer(f"o{i}", f"Палатка {i}", "100", extra=stock(5) if i % 10 == 1 else "") for i in range(N))
          + offer("gone", "Котелок", "50", extra=stock(3)),
          '<category id="1">Все</category><category id="2">Палатки</category>')
NEW = yml("".join(offer(f"o{i}", f"Палатка {i}", "120", category="2" if i % 3 else "1",
                        extra=stock(7) if i % 10 == 1 else "") for i in range(N))
          + offer("fresh", "Горелка газовая", "900"),
          '<category id="1">Все</category><category id="2">Палатки</category>')


class CrashAt:
    """Raise at the k-th write call of the import (catalog batches, guarded transactions,
    search batches); every other call goes through."""

    def __init__(self, monkeypatch, k: int) -> None:
        from chalicelib.search import store as search_store
        from chalicelib.store import catalog as store

        self.k, self.calls, self.crashed = k, 0, False
        for module, name in ((store, "batch_write"), (store, "write_guarded"), (search_store, "batch_write")):
            monkeypatch.setattr(module, name, self.wrap(getattr(module, name)))

    def wrap(self, real):
        def write(*args, **kwargs):
            self.calls += 1
            if self.calls == self.k and not self.crashed:
                self.crashed = True
                raise RuntimeError(f"crash at write {self.k}")
            return real(*args, **kwargs)

        return write


def count_writes(feeds, aws, monkeypatch) -> int:
    seller = feeds.shop_only()
    feeds.drop(seller, OLD)
    counter = CrashAt(monkeypatch, 10**9)
    feeds.drop(seller, NEW)
    return counter.calls


def test_the_import_makes_enough_writes_for_the_crash_points_below(feeds, aws, monkeypatch):
    # per chunk: its products, the guarded (stock-counted) ones, its search postings; then the
    # "no longer in the feed" pass: the deactivated product and its postings
    assert count_writes(feeds, aws, monkeypatch) == len(CRASH_POINTS)


CRASH_POINTS = range(1, 10)


@pytest.mark.parametrize("k", CRASH_POINTS)
def test_a_crash_at_any_write_leaves_the_previous_catalog_and_the_retry_finishes(feeds, aws, monkeypatch, k):
    seller = feeds.shop_only()
    assert feeds.drop(seller, OLD)["status"] == "succeeded"
    catalog_before, search_before = snapshot(aws), search_snapshot(aws)
    key = feeds.put(f"feeds/{seller}/next/feed.yml", NEW)
    crash = CrashAt(monkeypatch, k)

    from chalicelib.services import feed_import

    with pytest.raises(RuntimeError, match=f"crash at write {k}"):
        feed_import.handle_s3_notification(feeds.bucket, key)
    assert crash.crashed
    assert snapshot(aws) == catalog_before
    assert search_snapshot(aws) == search_before

    record = feeds.import_key(key)  # SQS delivers the message again
    assert record["status"] == "succeeded", record
    assert record["counts"]["deactivated"] == 1
    products = {p["product_id"]: p for p in feeds.products(seller=seller)}
    assert products[product_id(seller, "o1")]["price"]["amount"] == 12000
    assert products[product_id(seller, "fresh")]["available"] is True
    assert products[product_id(seller, "gone")]["available"] is False
    hits = feeds.api.http.get("/search?q=горелка").json_body["items"]
    assert [h["product_id"] for h in hits] == [product_id(seller, "fresh")]


def test_a_crash_keeps_the_units_a_checkout_reserved_meanwhile(feeds, aws, monkeypatch):
    """A checkout lands between the import's write and its roll-back: its reservation stays,
    the rest of the product is the previous feed's."""
    from chalicelib.services import feed_import
    from chalicelib.store import catalog as store

    seller = feeds.shop_only()
    feeds.drop(seller, OLD)
    pid = product_id(seller, "o1")
    table = boto3.resource("dynamodb").Table(aws["CATALOG_TABLE"])
    key = feeds.put(f"feeds/{seller}/next/feed.yml", NEW)
    real_write_guarded = store.write_guarded
    crashed = []

    def write_then_checkout_then_crash(entries):
        conflicted = real_write_guarded(entries)
        if not crashed and any(p["product_id"] == pid for p, _, _ in entries):
            crashed.append(True)
            table.update_item(Key=keys.product(pid),
                              UpdateExpression="SET stock = stock - :q, reserved = if_not_exists(reserved, :z) + :q",
                              ExpressionAttributeValues={":q": 2, ":z": 0})
            raise RuntimeError("crash after the checkout")
        return conflicted

    monkeypatch.setattr(store, "write_guarded", write_then_checkout_then_crash)
    with pytest.raises(RuntimeError):
        feed_import.handle_s3_notification(feeds.bucket, key)
    item = store.get_product(pid)
    assert (item["price"], item["stock"], item["reserved"]) == (10000, 3, 2)  # the old feed's 5, less 2 sold
