"""CSV semantics: encodings, delimiters, decimal comma, quoted newlines, our own column set."""

from __future__ import annotations

from .conftest import parse


def test_can_read_our_column_set():
    data = ("id,name,price,currency,old_price,category,description,pictures,vendor,model,barcode,available,"
            "stock,url,param:Weight (kg),color\n"
            'A-1,Kettle,"1 490,50",RUR,2000,Home > Kitchen,<b>Hot</b>,"https://x/1.jpg, https://x/2.jpg",'
            "Acme,K1,4601234567893,yes,4,https://x/p,\"1,5\",red\n")
    o = parse(data, "feed.csv").offers[0]
    assert (o.offer_id, o.name, o.price, o.currency, o.old_price) == ("A-1", "Kettle", 149050, "RUB", 200000)
    assert (o.category_name, dict(o.attributes)["category_path"]) == ("Kitchen", "Home > Kitchen")
    assert o.pictures == ("https://x/1.jpg", "https://x/2.jpg")
    assert (o.vendor, o.model, o.barcodes, o.available, o.stock) == ("Acme", "K1", ("4601234567893",), True, 4)
    assert o.params == (("Weight", "kg", "1,5"),)
    assert ("color", "red") in o.attributes
    assert o.description == "<b>Hot</b>"


def test_can_sniff_semicolon_and_tab_and_decimal_comma():
    semicolon = "Id;Name;Price\n1;Чайник;1 250,99\n2;Кружка;10\n"
    assert [o.price for o in parse(semicolon, "feed.csv").offers] == [125099, 1000]
    tab = "id\tname\tprice\n1\tCup\t7.5\n"
    assert parse(tab, "feed.tsv").offers[0].price == 750
    assert parse(tab, "feed.txt").offers[0].price == 750


def test_can_read_windows1251_and_bom_variants():
    text = "id;Название;Цена\n1;Шина зимняя;4990,00\n"
    assert parse(text.encode("cp1251"), "feed.csv").offers[0].name == "Шина зимняя"
    assert parse(b"\xef\xbb\xbf" + text.encode(), "feed.csv").offers[0].offer_id == "1"
    assert parse(text.encode("utf-16"), "feed.csv").offers[0].price == 499000


def test_can_read_multiline_quoted_cells_with_mixed_line_endings():
    data = 'id,name,price,description\r\n1,Cup,5,"line one\nline two\r\nline three"\r\n2,Mug,6,x\r\n'
    parsed = parse(data, "feed.csv")
    assert parsed.offers[0].description == "line one<br>\nline two<br>\nline three"
    assert parsed.offers[1].offer_id == "2"


def test_row_numbers_point_at_the_record_start_line():
    data = 'id,name,price\n1,"multi\nline",5\n2,,6\n'
    parsed = parse(data, "feed.csv")
    assert (parsed.errors[0].row, parsed.errors[0].field) == (4, "name")


def test_missing_fields_duplicates_and_currency_in_price_cell():
    data = "id,name,price\n1,A,10\n,B,10\n3,C,\n1,D,10\n5,E,28.00 USD\n6,F,RUB 7\n"
    parsed = parse(data, "feed.csv")
    assert [(e.offer_id, e.field) for e in parsed.errors] == [(None, "id"), ("3", "price"), ("1", "id"),
                                                               ("5", "currency")]
    assert [(o.offer_id, o.price) for o in parsed.offers] == [("1", 1000), ("6", 700)]


def test_error_on_invalid_utf8_after_the_sample():
    import pytest

    from chalicelib.feeds import FeedFileError

    data = b"id,name,price\n" + b"1,ok,1\n" * 20_000 + b"2,\xff\xfe,1\n"
    with pytest.raises(FeedFileError) as caught:
        parse(data, "feed.csv")
    assert "utf-8" in caught.value.reason.lower()


def test_error_on_utf8_csv_with_one_invalid_byte():
    """Not a windows-1251 file: reading it as one would import every row as mojibake."""
    import io

    import pytest

    from chalicelib.feeds import FeedFileError, read_feed

    data = "id,name,price\na,Альфа,10\nb,Бета,20\n".encode() + b"c,bad\xff\xfe name,13\n"
    with pytest.raises(FeedFileError, match="invalid byte"):
        list(read_feed(io.BytesIO(data), "bad.csv"))


def test_windows_1251_csv_with_a_stray_utf8_like_pair_still_reads():
    import io

    from chalicelib.feeds import FeedOffer, read_feed

    data = "id,name,price\na,Ёлка «Ель»,10\nb,Бета,20\n".encode("cp1251")
    offers = [o for o in read_feed(io.BytesIO(data), "cp.csv") if isinstance(o, FeedOffer)]
    assert [o.name for o in offers] == ["Ёлка «Ель»", "Бета"]
