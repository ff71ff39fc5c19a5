"""A seller's feed by URL: set it, fetch now, scheduled fetches, and everything a URL can do
wrong. The feeds are served by a local HTTP server this module starts (loopback and plain
http are allowed on the local stage only, which the tests run as); host names that must
resolve to private or metadata addresses go through a fake resolver, so no test depends on
real DNS. A fetched file goes through the real import path (S3 object → notification)."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from typing import Any

import pytest
from feed_support import SHOP, Feeds, offer, snapshot, yml

from chalicelib.adapters import feed_fetch
from chalicelib.domain.catalog import product_id

FEED = yml(offer("a", "Alpha", "10") + offer("b", "Beta", "20"))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(2048)


class FeedServer:
    """Serves ``routes``: path -> (status, headers, body) or a callable(handler) that answers."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                server.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if callable(route):
                    route(self)
                    return
                status, headers, body = route
                if status == 200 and headers.get("ETag") and self.headers.get("If-None-Match") == headers["ETag"]:
                    status, body = 304, b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def server():
    srv = FeedServer()
    yield srv
    srv.httpd.shutdown()


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


@pytest.fixture
def seller(feeds):
    user = feeds.register("seller")
    shop = {**SHOP, "contact_email": f"shop-{uuid.uuid4().hex[:8]}@example.com"}
    resp = feeds.api.http.put("/seller/shop", body=json.dumps(shop), headers=user.headers)
    assert resp.status_code == 200, resp.body
    user.shop_email = shop["contact_email"]
    return user


@pytest.fixture
def fake_dns(monkeypatch):
    """Names the fake resolver answers; any other name is the system's business."""
    answers = {"feeds.example": ["127.0.0.1"]}
    monkeypatch.setattr("chalicelib.services.feed_sources._resolver",
                        lambda host, port: answers.get(host) or feed_fetch._system_resolver(host, port))
    return answers


def put_source(feeds, seller, url: str, schedule: str = "daily"):
    return feeds.api.http.put("/seller/feed-source", body=json.dumps({"url": url, "schedule": schedule}),
                              headers=seller.headers)


def fetch_now(feeds, seller) -> dict[str, Any]:
    """POST fetch → 202; deliver the import when a file was stored; the final import record."""
    from chalicelib.store import imports

    resp = feeds.api.http.post("/seller/feed-source/fetch", headers=seller.headers)
    assert resp.status_code == 202, resp.body
    feed_id = resp.json_body["feed_id"]
    record = imports.get(feed_id)
    if record.status == "queued":  # a file was stored: S3 notifies the import queue
        feeds.import_key(record.key)
    status = feeds.api.http.get(f"/seller/feeds/{feed_id}", headers=seller.headers)
    assert status.status_code == 200, status.body
    return status.json_body


def test_seller_sets_a_feed_url_and_fetch_now_imports_it(feeds, seller, server):
    server.routes["/shop/feed.yml"] = (200, {"ETag": '"v1"', "Content-Type": "application/xml"}, FEED)
    resp = put_source(feeds, seller, server.url("/shop/feed.yml"), "hourly")
    assert resp.status_code == 200, resp.body
    assert resp.json_body["schedule"] == "hourly" and resp.json_body["url"].endswith("/shop/feed.yml")

    record = fetch_now(feeds, seller)

    assert (record["status"], record["source"], record["counts"]["created"]) == ("succeeded", "url", 2)
    page = feeds.api.http.get(f"/products/{product_id(seller.id, 'a')}")
    assert page.status_code == 200 and page.json_body["name"] == "Alpha"
    source = feeds.api.http.get("/seller/feed-source", headers=seller.headers).json_body
    assert (source["last_status"], source["last_feed_id"], source["failures"]) == ("fetched", record["feed_id"], 0)


def test_unchanged_feed_is_not_imported_again(feeds, seller, server):
    server.routes["/etag/feed.yml"] = (200, {"ETag": '"e1"'}, FEED)
    server.routes["/plain/feed.yml"] = (200, {}, FEED)  # no validators: the content hash decides
    for path in ("/etag/feed.yml", "/plain/feed.yml"):
        put_source(feeds, seller, server.url(path))
        first = fetch_now(feeds, seller)
        assert first["status"] in ("succeeded", "unchanged")
        before = snapshot(feeds.aws)

        again = fetch_now(feeds, seller)

        assert again["status"] == "unchanged" and "nothing imported" in again["note"]
        assert snapshot(feeds.aws) == before
    conditional = [r for r in server.requests if r["path"] == "/etag/feed.yml"]
    assert conditional[-1].get("if-none-match") == '"e1"'


def test_changed_feed_is_imported_again(feeds, seller, server):
    server.routes["/changing.yml"] = (200, {"ETag": '"1"'}, FEED)
    put_source(feeds, seller, server.url("/changing.yml"))
    fetch_now(feeds, seller)
    server.routes["/changing.yml"] = (200, {"ETag": '"2"'}, yml(offer("a", "Alpha", "11") + offer("b", "Beta", "20")))

    record = fetch_now(feeds, seller)

    assert (record["status"], record["counts"]["updated"], record["counts"]["unchanged"]) == ("succeeded", 1, 1)


def test_error_on_urls_that_are_not_http(feeds, seller):
    for url in ("ftp://example.com/feed.yml", "file:///etc/passwd", "https://user:pw@example.com/f.yml"):
        resp = put_source(feeds, seller, url)
        assert resp.status_code == 422, (url, resp.body)
        assert resp.json_body["errors"][0]["field"] == "url"
    assert put_source(feeds, seller, "https://example.com/f.yml", "weekly").status_code == 422


@pytest.mark.parametrize(("answer", "why"), [
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"), ("100.64.0.1", "private"), ("0.0.0.0", "private"),
])
def test_error_on_a_name_that_resolves_to_an_internal_address(feeds, seller, fake_dns, answer, why):
    fake_dns["internal.example"] = [answer]
    put_source(feeds, seller, "http://internal.example/feed.yml")
    before = snapshot(feeds.aws)

    record = fetch_now(feeds, seller)

    assert record["status"] == "failed" and why in record["reason"], record
    assert snapshot(feeds.aws) == before  # nothing but the import record changed


def test_error_on_a_redirect_to_an_internal_address(feeds, seller, server, fake_dns):
    fake_dns["metadata.example"] = ["169.254.169.254"]
    server.routes["/to-metadata"] = (302, {"Location": "http://metadata.example/latest/meta-data/"}, b"")
    server.routes["/to-private"] = (301, {"Location": "http://10.0.0.7/feed.yml"}, b"")
    for path, why in (("/to-metadata", "metadata"), ("/to-private", "private")):
        put_source(feeds, seller, server.url(path))
        record = fetch_now(feeds, seller)
        assert record["status"] == "failed" and why in record["reason"], record


def test_a_redirect_to_a_public_feed_is_followed(feeds, seller, server, fake_dns):
    server.routes["/feed-final.yml"] = (200, {}, FEED)
    port = server.base.rsplit(":", 1)[1]
    server.routes["/moved"] = (302, {"Location": f"http://feeds.example:{port}/feed-final.yml"}, b"")
    put_source(feeds, seller, server.url("/moved"))
    assert fetch_now(feeds, seller)["status"] == "succeeded"


def test_a_file_that_is_not_a_feed_fails_its_import_and_changes_nothing(feeds, seller, server):
    server.routes["/image.png"] = (200, {"Content-Type": "image/png"}, PNG)
    put_source(feeds, seller, server.url("/image.png"))
    record = fetch_now(feeds, seller)
    assert record["status"] == "failed" and "unsupported file type" not in record["reason"]
    assert feeds.api.http.get(f"/products/{product_id(seller.id, 'a')}").status_code == 404


def test_http_errors_count_as_failures_and_the_third_one_in_a_row_emails_the_seller(feeds, seller, server):
    server.routes["/broken.yml"] = (500, {}, b"oops")
    put_source(feeds, seller, server.url("/broken.yml"))
    for attempt in range(1, 5):
        record = fetch_now(feeds, seller)
        assert record["status"] == "failed" and "HTTP 500" in record["reason"]
        source = feeds.api.http.get("/seller/feed-source", headers=seller.headers).json_body
        assert source["failures"] == attempt and source["last_status"] == "failed"
    mails = feeds.api.http.get(f"/local/emails?to={seller.shop_email}").json_body["items"]
    assert [m["kind"] for m in mails] == ["feed_fetch_failing"]  # once per streak, not every time

    server.routes["/broken.yml"] = (200, {}, FEED)
    assert fetch_now(feeds, seller)["status"] == "succeeded"
    assert feeds.api.http.get("/seller/feed-source", headers=seller.headers).json_body["failures"] == 0


def test_scheduled_fetch_takes_each_due_source_once(feeds, seller, server):
    from chalice.test import Client

    from app import app
    from chalicelib.store import imports

    server.routes["/scheduled.yml"] = (200, {}, FEED)
    put_source(feeds, seller, server.url("/scheduled.yml"), "hourly")
    with Client(app) as client:
        first = client.lambda_.invoke("fetch_feeds", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", resources=[], detail={})).payload
        second = client.lambda_.invoke("fetch_feeds", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", resources=[], detail={})).payload
    assert first["fetched"] >= 1 and second["fetched"] == 0
    source = feeds.api.http.get("/seller/feed-source", headers=seller.headers).json_body
    assert source["next_fetch_at"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3000))
    record = imports.get(source["last_feed_id"])
    feeds.import_key(record.key)  # the bucket notifies the import queue
    assert imports.get(source["last_feed_id"]).status == "succeeded"


def test_deleting_the_source_stops_it(feeds, seller, server):
    put_source(feeds, seller, server.url("/anything.yml"))
    assert feeds.api.http.delete("/seller/feed-source", headers=seller.headers).status_code == 204
    assert feeds.api.http.get("/seller/feed-source", headers=seller.headers).status_code == 404
    assert feeds.api.http.post("/seller/feed-source/fetch", headers=seller.headers).status_code == 404


# --- the fetcher's limits, straight against the adapter -------------------------------------------

LOCAL = feed_fetch.FetchPolicy(allow_http=True, allow_loopback=True, max_bytes=64 * 1024, read_timeout=1,
                               total_seconds=3)


def test_error_on_loopback_and_http_outside_the_local_stage(server):
    server.routes["/x.yml"] = (200, {}, FEED)
    with pytest.raises(feed_fetch.FetchRefused, match="https"):
        feed_fetch.fetch(server.url("/x.yml"), feed_fetch.FetchPolicy())
    with pytest.raises(feed_fetch.FetchRefused, match="loopback"):
        feed_fetch.fetch(server.url("/x.yml"), feed_fetch.FetchPolicy(allow_http=True))


def test_error_on_a_response_larger_than_the_limit_declared_or_endless(server):
    server.routes["/big.yml"] = (200, {}, b"x" * (LOCAL.max_bytes + 1))

    def endless(handler: Any) -> None:  # no Content-Length, bytes until the client gives up
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"<offer/>" * 1024)
        except OSError:
            return

    server.routes["/endless.yml"] = endless
    for path in ("/big.yml", "/endless.yml"):
        with pytest.raises(feed_fetch.FetchRefused, match="larger than"):
            feed_fetch.fetch(server.url(path), LOCAL)


def test_error_on_a_slow_server(server):
    def trickle(handler: Any) -> None:  # a byte at a time, each well within the read timeout
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        try:
            for _ in range(1000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            return

    def silent(handler: Any) -> None:
        time.sleep(3)

    server.routes["/trickle.yml"] = trickle
    server.routes["/silent.yml"] = silent
    with pytest.raises(feed_fetch.FetchRefused, match="longer than"):
        feed_fetch.fetch(server.url("/trickle.yml"), LOCAL)
    with pytest.raises(feed_fetch.FetchRefused, match="in time"):
        feed_fetch.fetch(server.url("/silent.yml"), LOCAL)


def test_error_on_a_body_shorter_than_announced(server):
    def cut(handler: Any) -> None:  # the file changed (or the server died) mid-transfer
        handler.send_response(200)
        handler.send_header("Content-Length", "5000")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(FEED[:100])
        handler.close_connection = True

    server.routes["/cut.yml"] = cut
    with pytest.raises(feed_fetch.FetchRefused, match="broke off"):
        feed_fetch.fetch(server.url("/cut.yml"), LOCAL)


def test_too_many_redirects(server):
    server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(feed_fetch.FetchRefused, match="redirects"):
        feed_fetch.fetch(server.url("/loop"), LOCAL)
