"""Hostile and broken files through the import service on moto.

Given a seller whose catalog holds a good feed, when a bad file lands under its prefix, then
the import record says failed with a clear reason (or, for per-row problems, the rows are
rejected with one), no local file or URL is read, memory stays under a cap, and the catalog is
unchanged. The parser's own unit tests cover the parsing side; these prove the import does
not commit anything from such files.
"""

from __future__ import annotations

import gzip
import http.server
import io
import json
import threading
import tracemalloc
from pathlib import Path

import pytest
from feed_support import Feeds, offer, shared_feed, snapshot, yml

from chalicelib.domain.catalog import product_id

MEMORY_CAP = 64 * 1024 * 1024
GOOD = yml(offer("a", "Alpha", "10") + offer("b", "Beta", "20"))
MARKER = "s3cr3t-marker-7f1e"


@pytest.fixture(autouse=True)
def no_search_index(monkeypatch):
    from chalicelib.services import feed_import

    monkeypatch.setattr(feed_import, "_index", lambda changes: None)


@pytest.fixture
def feeds(api, aws, register):
    return Feeds(api, aws, register)


@pytest.fixture
def seller(feeds):
    seller_id = feeds.shop_only()
    assert feeds.drop(seller_id, GOOD)["status"] == "succeeded"
    return seller_id


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(MARKER)
    return path


@pytest.fixture
def http_trap():
    """A local URL that counts every request made to it."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(MARKER.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/evil.dtd", hits
    server.shutdown()


def import_bad(feeds, seller, data: bytes, filename: str) -> dict:
    """Import ``data`` and prove the catalog did not change and memory stayed capped."""
    before = snapshot(feeds.aws)
    tracemalloc.start()
    try:
        record = feeds.drop(seller, data, filename)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_CAP, f"import peaked at {peak / 1e6:.1f} MB"
    assert snapshot(feeds.aws) == before
    assert MARKER not in repr(snapshot(feeds.aws)) and MARKER not in repr(record)
    return record


def assert_failed(record: dict, *words: str) -> None:
    assert record["status"] == "failed", record
    reason = record["reason"].lower()
    assert any(w in reason for w in words), reason


def test_sirian_xxe_is_refused_and_reads_no_file(feeds, seller):
    path = shared_feed("yml/sirian-xxe.xml")
    record = import_bad(feeds, seller, path.read_bytes(), path.name)
    assert_failed(record, "entity")
    assert "root:" not in repr(snapshot(feeds.aws))


def test_sirian_malformed_is_refused(feeds, seller):
    path = shared_feed("yml/sirian-malformed.xml")
    assert_failed(import_bad(feeds, seller, path.read_bytes(), path.name), "well-formed", "xml")


def test_billion_laughs_is_refused(feeds, seller):
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    doc = (f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY lol0 "lol">{lol}]>'
           "<yml_catalog><shop><offers><offer id=\"1\"><name>&lol9;</name><price>1</price></offer>"
           "</offers></shop></yml_catalog>").encode()
    assert_failed(import_bad(feeds, seller, doc, "laughs.xml"), "entity", "dtd", "doctype")


def test_quadratic_blowup_is_refused(feeds, seller):
    big = "x" * 100_000
    doc = (f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY a "{big}">]><yml_catalog><shop><offers>'
           f'<offer id="1"><name>{"&a;" * 5000}</name><price>1</price></offer></offers></shop></yml_catalog>')
    assert_failed(import_bad(feeds, seller, doc.encode(), "quadratic.xml"), "entity", "dtd", "doctype")


def test_external_entity_pointing_at_a_file_is_refused(feeds, seller, secret_file):
    doc = (f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'
           '<yml_catalog><shop><offers><offer id="1"><name>&x;</name><price>1</price></offer>'
           "</offers></shop></yml_catalog>").encode()
    assert_failed(import_bad(feeds, seller, doc, "xxe-file.xml"), "entity", "dtd", "doctype")


def test_external_entity_pointing_at_a_url_is_refused_and_never_fetched(feeds, seller, http_trap):
    url, hits = http_trap
    doc = (f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY x SYSTEM "{url}">]>'
           '<yml_catalog><shop><offers><offer id="1"><name>&x;</name><price>1</price></offer>'
           "</offers></shop></yml_catalog>").encode()
    assert_failed(import_bad(feeds, seller, doc, "xxe-url.xml"), "entity", "dtd", "doctype")
    assert hits == []


@pytest.mark.parametrize("target", ["file", "url"])
def test_external_dtd_is_never_loaded(feeds, seller, secret_file, http_trap, target):
    url, hits = http_trap
    where = secret_file.as_uri() if target == "file" else url
    # the harmless legacy `SYSTEM "shops.dtd"` line must not make anything read, wherever it points
    doc = GOOD.replace(b"<yml_catalog", f'<!DOCTYPE yml_catalog SYSTEM "{where}">\n<yml_catalog'.encode(), 1)
    before = snapshot(feeds.aws)
    record = feeds.drop(seller, doc, f"dtd-{target}.xml")
    assert hits == []
    assert MARKER not in repr(snapshot(feeds.aws))
    if record["status"] == "failed":
        assert record["reason"] and snapshot(feeds.aws) == before
    else:  # the DOCTYPE was ignored: the same offers, nothing rewritten
        assert record["counts"]["unchanged"] == 2 and snapshot(feeds.aws) == before


def test_gzip_bomb_is_stopped_at_the_decompression_cap(feeds, seller, monkeypatch):
    from chalicelib.config import settings

    monkeypatch.setenv("FEED_MAX_BYTES", str(8 * 1024 * 1024))
    settings.cache_clear()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        gz.write(GOOD.split(b"<offers>")[0] + b"<offers><!--")  # a comment that never ends
        for _ in range(64):  # 64 MB inflated, ~70 KB on the wire
            gz.write(b"A" * (1024 * 1024))
    assert len(buf.getvalue()) < 200_000
    assert_failed(import_bad(feeds, seller, buf.getvalue(), "bomb.xml.gz"), "larger", "limit", "too large", "cap")


def test_deep_nesting_is_refused(feeds, seller):
    depth = 100_000
    doc = b'<?xml version="1.0"?><yml_catalog><shop>' + b"<a>" * depth + b"</a>" * depth + b"</shop></yml_catalog>"
    assert_failed(import_bad(feeds, seller, doc, "deep.xml"), "deep", "depth", "nest")


def test_invalid_utf8_changes_nothing(feeds, seller):
    doc = yml(offer("a", "Alpha changed", "11") + offer("b", "Beta", "20")).replace(b"changed", b"\xff\xfe\xc3")
    record = import_bad(feeds, seller, doc, "bad-utf8.xml")
    assert_failed(record, "utf-8", "encoding", "decode", "well-formed")


def test_invalid_utf8_in_csv_changes_nothing(feeds, seller):
    data = "id,name,price\na,Альфа,10\nb,Бета,20\n".encode() + b"c,bad\xff\xfe name,13\n"
    record = import_bad(feeds, seller, data, "bad-utf8.csv")
    assert_failed(record, "utf-8", "encoding", "decode", "mojibake")


def test_a_10mb_field_is_refused_within_the_memory_cap(feeds, seller):
    doc = yml(offer("a", "Alpha", "10", extra="<description>" + "x" * (10 * 1024 * 1024) + "</description>"))
    record = import_bad(feeds, seller, doc, "huge-field.xml")
    assert record["status"] == "failed"
    assert record["reason"] or record["errors"]


def test_a_10mb_csv_cell_is_refused_within_the_memory_cap(feeds, seller):
    data = b'id,name,price,description\na,Alpha,10,"' + b"y" * (10 * 1024 * 1024) + b'"\n'
    record = import_bad(feeds, seller, data, "huge-cell.csv")
    assert record["status"] == "failed" and record["reason"]


def test_empty_file_is_refused(feeds, seller):
    assert_failed(import_bad(feeds, seller, b"", "empty.yml"), "empty")


def test_empty_csv_is_refused(feeds, seller):
    assert_failed(import_bad(feeds, seller, b"", "empty.csv"), "empty")


def test_binary_file_named_csv_is_refused(feeds, seller):
    blob = bytes(range(256)) * 64 + b"\x00\x01\x02PK\x03\x04" + bytes(4096)
    assert_failed(import_bad(feeds, seller, blob, "export.csv"), "binary", "csv", "encoding", "header", "text")


def test_csv_cells_that_look_like_formulas_are_imported_as_data(feeds):
    seller = feeds.shop_only()
    data = (b"id,name,price,param:Exposure\n"
            b"ok,Plain name,10,\n"
            b'f1,"=HYPERLINK(""http://evil"",""x"")",10,\n'
            b"f2,Camera,10,+/-2 EV\n"
            b"f3,-20 C sleeping bag,10,\n")
    record = feeds.drop(seller, data, "formulas.csv")
    assert record["status"] == "succeeded"
    assert record["counts"]["created"] == 4 and record["counts"]["rejected"] == 0
    page = feeds.api.http.get(f"/products/{product_id(seller, 'f1')}")
    assert json.loads(page.body)["name"] == '=HYPERLINK("http://evil","x")'
    camera = json.loads(feeds.api.http.get(f"/products/{product_id(seller, 'f2')}").body)
    assert "+/-2 EV" in json.dumps(camera, ensure_ascii=False)


def test_prestashop_import_file_named_the_prestashop_way_imports(feeds):
    seller = feeds.shop_only()
    platforms = Path(__file__).parents[1] / "unit" / "feeds" / "platforms"
    data = (platforms / "prestashop17-products-import.csv").read_bytes()
    record = feeds.drop(seller, data, "products_import.csv")
    assert record["status"] == "succeeded", record
    assert record["counts"]["created"] == 2
