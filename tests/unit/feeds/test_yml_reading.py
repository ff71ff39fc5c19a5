"""YML semantics: offer types, currencies, encodings, order independence, cleaning."""

from __future__ import annotations

import pytest

from .conftest import offer, parse, yml


@pytest.mark.parametrize(("attrs", "body", "name"), [
    ("", "<name>Простой товар</name>", "Простой товар"),
    (' type="vendor.model"', "<typePrefix>Принтер</typePrefix><vendor>HP</vendor><model>3000</model>",
     "Принтер HP 3000"),
    (' type="vendor.model"', "<name>Корм</name><vendor>Royal</vendor>", "Корм"),
    (' type="book"', "<author>Маринина</author><name>Все не так</name><publisher>Эксмо</publisher>",
     "Маринина — Все не так"),
    (' type="audiobook"', "<author>Кунин</author><name>Иванов</name>", "Кунин — Иванов"),
    (' type="artist.title"', "<artist>Pink Floyd</artist><title>Dark Side</title>", "Pink Floyd — Dark Side"),
    (' type="artist.title"', "<title>Свадьба Мюриэл</title>", "Свадьба Мюриэл"),
    (' type="event-ticket"', "<name>Концерт</name><place>Дом музыки</place><date>2024-12-31</date>", "Концерт"),
    (' type="tour"', "<name>Hilton</name><days>7</days><included>all</included>", "Hilton"),
    (' type="medicine"', "<name>БАД Селен</name>", "БАД Селен"),
    (' type="alco"', "<name>Вино</name>", "Вино"),
])
def test_can_name_each_offer_type(attrs, body, name):
    parsed = parse(yml(offer(attrs=attrs, body=body)), "f.xml")
    assert parsed.offers[0].name == name
    assert parsed.offers[0].offer_type == (attrs.split('"')[1] if attrs else "simple")


def test_type_specific_fields_become_attributes():
    body = "<author>A</author><name>N</name><publisher>P</publisher><year>2009</year><age unit=\"year\">16</age>"
    attributes = dict(parse(yml(offer(attrs=' type="book" group_id="7"', body=body)), "f.xml").offers[0].attributes)
    assert attributes == {"group_id": "7", "author": "A", "publisher": "P", "year": "2009", "age": "16 year"}


def test_can_convert_currencies_with_numeric_rates_exactly():
    currencies = '<currency id="RUR" rate="1"/><currency id="USD" rate="90.5"/><currency id="EUR" rate="99,333"/>'
    offers = offer("1", "10.01", "USD") + offer("2", "0.005", "EUR") + offer("3", "1 250,50", "rur")
    parsed = parse(yml(offers, currencies=currencies), "f.xml")
    # 10.01 * 90.5 = 905.905 RUB -> 90591 kopecks (half-up); 0.005 * 99.333 = 0.496665 -> 50
    assert [(o.offer_id, o.price, o.currency) for o in parsed.offers] == [
        ("1", 90591, "RUB"), ("2", 50, "RUB"), ("3", 125050, "RUB")]


def test_can_convert_to_another_target_currency():
    currencies = '<currency id="RUB" rate="1"/><currency id="USD" rate="80"/>'
    parsed = parse(yml(offer("1", "800", "RUB") + offer("2", "5", "USD"), currencies=currencies), "f.xml",
                   target_currency="USD")
    assert [(o.price, o.currency) for o in parsed.offers] == [(1000, "USD"), (500, "USD")]


def test_error_on_named_rate_unless_currency_is_the_target():
    currencies = '<currency id="RUR" rate="1"/><currency id="USD" rate="CBRF" plus="3"/>'
    parsed = parse(yml(offer("1", "10", "USD") + offer("2", "10", "RUR"), currencies=currencies), "f.xml")
    assert [o.offer_id for o in parsed.offers] == ["2"]
    assert parsed.errors[0].field == "currencyId" and "CBRF" in parsed.errors[0].reason
    in_usd = parse(yml(offer("1", "10", "USD"), currencies=currencies), "f.xml", target_currency="USD")
    assert in_usd.offers[0].price == 1000


def test_error_on_undeclared_currency():
    parsed = parse(yml(offer("1", "10", "EUR")), "f.xml")
    assert (parsed.errors[0].field, parsed.errors[0].reason) == (
        "currencyId", "currency EUR is not declared in <currencies>")


def test_can_read_currencies_and_categories_after_offers():
    offers = offer("1", "2", "USD") + offer("2", "100", "RUB")
    data = ('<?xml version="1.0"?><yml_catalog date="2024-01-01"><shop><offers>' + offers + "</offers>"
            '<currencies><currency id="RUB" rate="1"/><currency id="USD" rate="90"/></currencies>'
            '<categories><category id="1">Root</category><category id="2" parentId="1">Leaf</category>'
            "</categories></shop></yml_catalog>")
    parsed = parse(data, "f.xml")
    assert sorted((o.offer_id, o.price) for o in parsed.offers) == [("1", 18000), ("2", 10000)]
    assert [(c.id, c.parent_id) for c in parsed.categories] == [("1", None), ("2", "1")]


def test_can_read_windows1251_and_bom_variants():
    text = yml(offer(body="<name>Чайник электрический</name>"), head='<?xml version="1.0" encoding="windows-1251"?>')
    assert parse(text.encode("cp1251"), "f.xml").offers[0].name == "Чайник электрический"
    utf8 = yml(offer(body="<name>Чайник</name>"), head="<?xml version='1.0' encoding='utf-8'?>")
    assert parse(b"\xef\xbb\xbf" + utf8.replace("\n", "\r\n").encode(), "f.yml").offers[0].name == "Чайник"
    no_prolog = yml(offer(body="<name>Чайник</name>"), head="")
    assert parse(no_prolog, "f.xml").offers[0].name == "Чайник"


def test_can_read_full_offer_and_sanitize_description():
    body = ("<name>  Вафельница\n First </name><vendor>First</vendor><vendorCode>A1</vendorCode>"
            "<picture>https://x.ru/1.jpg</picture><picture>javascript:alert(1)</picture>"
            "<picture>http://x.ru/2.jpg</picture><barcode>4601234567893</barcode><barcode>3.6E+11</barcode>"
            '<param name="Цвет">белый</param><param name="Вес" unit="кг">1,5</param>'
            "<description><![CDATA[ <p onclick='x()'>Hi<script>alert(1)</script></p> ]]></description>"
            "<oldprice>2000</oldprice><url>https://x.ru/p</url><count>3</count><sales_notes>Предоплата</sales_notes>"
            "<unknown_tag><deep>x</deep></unknown_tag>")
    o = parse(yml(offer(price="1 490.50", body=body, attrs=' available="false"')), "f.xml").offers[0]
    assert (o.name, o.price, o.old_price) == ("Вафельница First", 149050, 200000)
    assert (o.vendor, o.vendor_code) == ("First", "A1")
    assert o.pictures == ("https://x.ru/1.jpg", "http://x.ru/2.jpg")
    assert o.barcodes == ("4601234567893",)
    assert o.params == (("Цвет", None, "белый"), ("Вес", "кг", "1,5"))
    assert o.description == "<p>Hi</p>"
    assert (o.available, o.stock, o.url, o.category_id) == (False, 3, "https://x.ru/p", "1")
    assert ("sales_notes", "Предоплата") in o.attributes


def test_stock_from_outlets_and_zero_stock_means_unavailable():
    outlets = '<name>x</name><outlets><outlet id="1" instock="2"/><outlet id="2" instock="5"/></outlets>'
    parsed = parse(yml(offer("1", body=outlets) + offer("2", body="<name>y</name><stock>0</stock>")), "f.xml")
    assert [(o.stock, o.available) for o in parsed.offers] == [(7, True), (0, False)]


@pytest.mark.parametrize(("price", "reason"), [
    ("0", "greater than zero"), ("-5", "'-5' is negative"), ("−5", "negative"), ("abc", "not a number"),
    ("-", "not a number"), ("+5", "not a number"),
    ("3.6E+11", "not a number"), ("99999999999", "implausibly large"), ("", "missing"),
])
def test_error_on_bad_price(price, reason):
    parsed = parse(yml(offer(price=price)), "f.xml")
    assert parsed.errors[0].field == "price" and reason in parsed.errors[0].reason


def test_duplicate_offer_ids_first_wins():
    parsed = parse(yml(offer("A", "1") + offer("A", "2") + offer("B", "3")), "f.xml")
    assert [(o.offer_id, o.price) for o in parsed.offers] == [("A", 100), ("B", 300)]
    assert (parsed.errors[0].offer_id, parsed.errors[0].reason) == ("A", "duplicate offer id")
    assert parsed.errors[0].row == 2  # the line of the repeated <offer> (the prolog is line 1)


def test_missing_fields_are_named():
    parsed = parse(yml('<offer id="1"><price>1</price><currencyId>RUB</currencyId></offer>'
                       '<offer><price>1</price><currencyId>RUB</currencyId><name>n</name></offer>'
                       '<offer id="3"><currencyId>RUB</currencyId><name>n</name></offer>'), "f.xml")
    assert [(e.offer_id, e.field) for e in parsed.errors] == [("1", "name"), (None, "id"), ("3", "price")]


def test_can_read_gzip_and_zip_and_txt():
    import gzip
    import io
    import zipfile

    data = yml(offer()).encode()
    assert len(parse(gzip.compress(data), "feed.yml.gz").offers) == 1
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__MACOSX/._feed.xml", b"junk")
        archive.writestr("feed.xml", data)
    assert len(parse(raw.getvalue(), "upload.zip").offers) == 1
    assert len(parse(data, "feed.txt").offers) == 1
