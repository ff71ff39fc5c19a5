"""Hostile and broken files: each is rejected as a whole (or imported without harm), quickly."""

from __future__ import annotations

import gzip
import io
import socket
import time
import tracemalloc
import zipfile
import zlib

import pytest

from chalicelib.feeds import FeedFileError, read_feed

from .conftest import offer, parse, yml


def _rejected(data: bytes | str, filename: str, **kwargs) -> str:
    with pytest.raises(FeedFileError) as caught:
        parse(data, filename, **kwargs)
    return caught.value.reason


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        pytest.fail(f"the feed reader opened a network connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_error_on_billion_laughs():
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY lol0 "lol">{lol}]>' + yml(
        offer(body="<name>&lol9;</name>"), head="")
    assert "entity declarations" in _rejected(data, "feed.xml")


def test_error_on_quadratic_blowup():
    data = f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY a "{"x" * 50_000}">]>' + yml(
        offer(body="<name>" + "&a;" * 50_000 + "</name>"), head="")
    assert "entity declarations" in _rejected(data, "feed.xml")


def test_local_file_entity_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    data = (f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            + yml(offer(body="<name>&xxe;</name>"), head=""))
    with pytest.raises(FeedFileError) as caught:
        items = list(read_feed(io.BytesIO(data.encode()), "feed.xml"))
        assert "TOP-SECRET-42" not in repr(items)
    assert "TOP-SECRET-42" not in caught.value.reason


def test_external_dtd_pointing_at_local_file_is_ignored_not_read(tmp_path):
    secret = tmp_path / "evil.dtd"
    secret.write_text('<!ENTITY leak "TOP-SECRET-42">')
    data = yml(offer(body="<name>Item &leak;</name>"),
               head=f'<?xml version="1.0"?><!DOCTYPE yml_catalog SYSTEM "file://{secret}">')
    parsed = parse(data, "feed.xml")
    assert "TOP-SECRET-42" not in repr(parsed.items)
    assert parsed.offers[0].name == "Item"


def test_parameter_entity_pulling_local_file_is_rejected(tmp_path):
    secret = tmp_path / "evil.dtd"
    secret.write_text('<!ENTITY leak "TOP-SECRET-42">')
    data = (f'<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY % ext SYSTEM "file://{secret}"> %ext;]>'
            + yml(offer(body="<name>&leak;</name>"), head=""))
    reason = _rejected(data, "feed.xml")
    assert "TOP-SECRET-42" not in reason


def test_external_dtd_and_entity_urls_open_no_socket(no_network):
    dtd_url = yml(offer(), head='<?xml version="1.0"?><!DOCTYPE yml_catalog SYSTEM "http://127.0.0.1:9/x.dtd">')
    assert len(parse(dtd_url, "feed.xml").offers) == 1
    entity_url = ('<?xml version="1.0"?><!DOCTYPE yml_catalog [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>'
                  + yml(offer(body="<name>&e;</name>"), head=""))
    assert "entity" in _rejected(entity_url, "feed.xml")


def test_legacy_shops_dtd_doctype_imports(no_network):
    data = yml(offer(), head='<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE yml_catalog SYSTEM "shops.dtd">')
    assert [o.offer_id for o in parse(data, "feed.yml").offers] == ["1"]


def _gzip_bomb(decompressed: int) -> bytes:
    # A valid YML prefix, then whitespace that never ends: legal XML a parser must keep reading.
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(yml(offer(), tail_after_offers="").split("</shop>")[0].encode())
        block = b" " * (1 << 20)
        for _ in range(decompressed >> 20):
            gz.write(block)
    return out.getvalue()


def test_error_on_gzip_bomb_quickly_and_in_little_memory():
    bomb = _gzip_bomb(96 << 20)
    assert len(bomb) < 200_000  # small compressed, ~100 MB decompressed
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FeedFileError) as caught:
            list(read_feed(io.BytesIO(bomb), "feed.yml.gz", max_decompressed_bytes=32 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "decompression" in caught.value.reason
    assert time.perf_counter() - started < 5
    assert peak < 8 << 20


def test_error_on_zip_bomb():
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("feed.xml", yml(offer()).split("</shop>")[0] + " " * (40 << 20))
    assert "decompression" in _rejected(raw.getvalue(), "feed.zip", max_decompressed_bytes=16 << 20)


def test_error_on_zip_with_two_feeds():
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.xml", yml(offer()))
        archive.writestr("b.xml", yml(offer()))
    assert "exactly one" in _rejected(raw.getvalue(), "feeds.zip")


def test_error_on_truncated_gzip():
    data = gzip.compress(yml(offer()).encode())[:-20]
    assert "corrupt" in _rejected(data, "feed.xml.gz")


def test_error_on_deep_nesting():
    depth = 100_000
    data = yml(offer(body="<name>x</name>" + "<a>" * depth + "</a>" * depth))
    started = time.perf_counter()
    assert "deeper" in _rejected(data, "feed.xml")
    assert time.perf_counter() - started < 2


def test_error_on_invalid_utf8_in_declared_utf8():
    data = yml(offer(body="<name>Item</name>")).encode().replace(b"Item", b"It\xff\xfem")
    assert "invalid UTF-8" in _rejected(data, "feed.xml")


def test_error_on_windows1251_declared_but_utf8_bytes():
    data = yml(offer(body="<name>Привет</name>"), head='<?xml version="1.0" encoding="windows-1251"?>')
    assert "windows-1251" in _rejected(data.encode("utf-8"), "feed.xml")


def test_error_on_ten_megabyte_field_in_yml():
    data = yml(offer(body="<name>x</name><description>" + "a" * (10 << 20) + "</description>"))
    parsed = parse(data, "feed.xml")
    assert parsed.offers == []
    (error,) = parsed.errors
    assert "longer than" in error.reason


def test_an_oversized_field_rejects_its_offer_alone_and_says_which():
    # a description of base64 pictures: the rest of the feed imports, memory stays bounded
    big = offer("ok") + "\n" + offer("big-1", body="<name>x</name>\n<description>" + "a" * 200_000 + "</description>")
    tracemalloc.start()
    parsed = parse(yml(big + "\n" + offer("after")), "feed.xml")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [o.offer_id for o in parsed.offers] == ["ok", "after"]
    (error,) = parsed.errors
    assert (error.offer_id, error.row, error.field) == ("big-1", 3, "description")
    assert "<description> text is longer than 131072 characters" in error.reason
    assert peak < 2_000_000  # the 200 KB text was not kept (one copy of the document is ~0.2 MB)


def test_error_on_ten_megabyte_field_in_csv():
    data = 'id,name,price\n1,"' + "a" * (10 << 20) + '",10\n'
    reason = _rejected(data, "feed.csv")
    assert "field larger" in reason or "longer than" in reason


def test_error_on_giant_comment_token():
    data = yml(offer()).replace("<offers>", "<offers><!--" + "x" * (20 << 20) + "-->")
    assert "larger than 16 MB" in _rejected(data, "feed.xml")


def test_error_on_empty_file():
    assert "empty" in _rejected(b"", "feed.csv")
    assert "empty" in _rejected(b"", "feed.yml")


def test_error_on_binary_file_named_csv():
    junk = bytes(range(256)) * 64
    assert "binary" in _rejected(junk, "feed.csv")
    png = b"\x89PNG\r\n\x1a\n" + zlib.compress(bytes(range(256)) * 8)
    assert "binary" in _rejected(png, "photo.csv")


def test_error_on_unsupported_extension():
    assert "unsupported file type" in _rejected(b"id,name,price\n1,a,2\n", "feed.xlsx")


def test_error_on_non_yml_xml():
    assert "not a YML feed" in _rejected(b"<?xml version='1.0'?><html><body/></html>", "feed.xml")


def test_csv_cells_that_look_like_formulas_are_kept_as_product_data():
    data = ("id,name,price,vendor,description,param:Exposure\n"
            "1,=HYPERLINK(\"http://x\"),10,Acme,ok,\n"
            "2,Good,10,@SUM(A1),ok,\n"
            "3,Good,10,Acme,+cmd|' /C calc'!A0,\n"
            "4,Lens,10,-2+3,ok,+/-2 EV\n"
            "6,Fine,-10,Acme,ok,\n")
    parsed = parse(data, "feed.csv")
    assert [(e.offer_id, e.field) for e in parsed.errors] == [("6", "price")]  # a negative price is no data
    assert parsed.offer("1").name == '=HYPERLINK("http://x")'
    assert parsed.offer("2").vendor == "@SUM(A1)"
    assert "+cmd" in parsed.offer("3").description
    assert parsed.offer("4").params == (("Exposure", None, "+/-2 EV"),)
