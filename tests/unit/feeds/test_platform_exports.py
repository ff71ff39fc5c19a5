"""CMS product exports, one file per platform in ``platforms/``, each written from the
platform's documented export (or import-template) header: the columns, their order and their
value formats (tax-included and tax-excluded prices, a currency code in the price cell,
variant rows). See chalicelib/feeds/README.md, "Platform exports"."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.domain.spreadsheet import csv_lines, safe_cell
from chalicelib.feeds import FeedFileError

from .conftest import parse

PLATFORMS = Path(__file__).parent / "platforms"


def read(name: str):
    return parse((PLATFORMS / name).read_bytes(), name)


def test_prestashop_17_to_8_import_file_with_price_tax_excluded_imports():
    # The reported failure: "Price tax excluded" refused the whole file ("lacks price").
    parsed = read("prestashop17-products-import.csv")
    assert not parsed.errors
    shirt = parsed.offer("demo_1")
    assert (shirt.name, shirt.price, shirt.vendor, shirt.stock) == ("Hummingbird printed t-shirt", 119000,
                                                                     "Studio Design", 300)
    assert shirt.category_name == "Men" and len(shirt.pictures) == 2
    assert "Wholesale price" not in dict(shirt.attributes)  # the seller's purchase price stays private
    assert parsed.offer("demo_8").available is False  # quantity 0


def test_prestashop_back_office_export_prefers_the_price_with_tax_and_reads_the_currency():
    parsed = read("prestashop8-catalog-export.csv")
    assert [(o.offer_id, o.price, o.currency) for o in parsed.offers] == [
        ("demo_1", 142800, "RUB"), ("demo_14", 138000, "RUB")]


def test_opencart_language_suffixed_headers():
    parsed = read("opencart-export-import-products.csv")
    htc = parsed.offer("28")
    assert (htc.name, htc.model, htc.vendor, htc.price, htc.stock) == ("HTC Touch HD", "Product 1", "HTC", 10000, 939)
    assert "HTC Touch" in htc.description
    assert parsed.offer("40").available is False
    assert "points" not in dict(htc.attributes)


def test_bitrix_windows1251_export_with_section_levels_and_base_price():
    parsed = read("bitrix-catalog-export-cp1251.csv")
    dress = parsed.offer("a1b2c3")
    assert (dress.name, dress.price, dress.currency, dress.stock) == ("Платье летнее", 249000, "RUB", 5)
    assert dress.category_name == "Платья"
    assert dict(dress.attributes)["category_path"] == "Одежда > Женская > Платья"
    assert parsed.offer("d4e5f6").available is False  # IE_ACTIVE = N
    assert parsed.offer("7g8h9i").price == 120000


def test_woocommerce_variations_inherit_from_their_variable_parent():
    parsed = read("woocommerce-variable-product.csv")
    assert [o.offer_id for o in parsed.offers] == ["woo-hoodie-blue", "woo-hoodie-green", "woo-cap"]
    green = parsed.offer("woo-hoodie-green")
    assert (green.price, green.old_price, green.category_name) == (190000, 250000, "Hoodies")
    assert green.pictures == ("https://example.com/hoodie.jpg",)


def test_shopify_2024_template_groups_variants_by_url_handle():
    parsed = read("shopify-2024-product-template.csv")
    assert not parsed.errors
    small, medium, box = parsed.offers
    assert (small.offer_id, small.name, small.price, small.old_price) == ("TS-S", "Classic T-shirt — S", 150000,
                                                                          200000)
    assert (medium.offer_id, medium.name, medium.vendor, medium.available) == ("TS-M", "Classic T-shirt — M",
                                                                               "Acme", False)
    assert (box.offer_id, box.name, box.price) == ("GB-1", "Gift box", 249000)
    assert "Cost per item" not in dict(small.attributes)


def test_magento2_export_uses_special_price_and_skips_configurable_parents():
    parsed = read("magento2-catalog-product-export.csv")
    assert [o.offer_id for o in parsed.offers] == ["MH01-XS-Black", "MH01-S-Black"]
    xs = parsed.offer("MH01-XS-Black")
    assert (xs.price, xs.old_price, xs.category_name, xs.stock) == (4500, 5200, "Hoodies & Sweatshirts", 100)


def test_tilda_variant_rows_become_offers_with_the_products_fields():
    parsed = read("tilda-store-export.csv")
    assert [o.offer_id for o in parsed.offers] == ["TS-R-M", "TS-B-L", "MUG-1"]
    red = parsed.offer("TS-R-M")
    assert (red.name, red.price, red.old_price, red.category_name, red.vendor) == (
        "Футболка — Красный / M", 150000, 200000, "Одежда", "Acme")
    assert red.params == (("Цвет", None, "Красный"), ("Размер", None, "M"))
    assert parsed.offer("TS-B-L").available is False


def test_ecwid_variations_replace_their_product_and_option_rows_are_skipped():
    parsed = read("ecwid-catalog-export.csv")
    assert [o.offer_id for o in parsed.offers] == ["SHIRT-S", "SHIRT-M", "MUG"]
    assert (parsed.offer("SHIRT-S").name, parsed.offer("SHIRT-S").price) == ("Shirt — S", 2500)
    assert (parsed.offer("SHIRT-M").price, parsed.offer("SHIRT-M").available) == (2700, False)
    assert parsed.offer("MUG").barcodes == ("012345678905",)


def test_insales_variant_rows_with_properties_and_sale_price():
    parsed = read("insales-products-export.csv")
    small = parsed.offer("9001")
    assert (small.name, small.price, small.old_price, small.category_name) == (
        "Платье — Красный / S", 299000, 349000, "Платья")
    assert ("Бренд", None, "Zarina") in small.params
    assert dict(small.attributes)["group_id"] == "5001"
    assert "Цена закупки" not in dict(small.attributes)
    assert parsed.offer("9003").price == 120000  # "1 200 руб."


def test_google_merchant_price_with_currency_code_and_item_groups():
    parsed = read("google-merchant-products.tsv")
    red = parsed.offer("SH-RED-M")
    assert (red.price, red.old_price, dict(red.attributes)["group_id"]) == (120000, 150000, "SH")
    assert parsed.offer("SH-RED-L").available is False
    assert [(e.offer_id, e.field) for e in parsed.errors] == [("IMPORT-1", "currency")]


def test_meta_catalog_feed():
    parsed = read("meta-catalog-feed.csv")
    small, medium = parsed.offers
    assert (small.price, small.stock, small.vendor) == (250000, 5, "Acme")
    assert (medium.price, medium.old_price, medium.available) == (199000, 250000, False)


def test_error_on_unknown_header_names_the_columns_seen_and_the_names_accepted():
    with pytest.raises(FeedFileError) as caught:
        parse("sku;label;amount\n1;Cup;10\n", "feed.csv").items  # noqa: B018
    reason = caught.value.reason
    assert "lacks required column(s): name, price" in reason
    assert "Columns seen: 'sku', 'label', 'amount'" in reason
    assert "price: price, regular price" in reason and "price tax excluded" in reason


def test_csv_the_system_writes_neutralizes_formula_looking_cells():
    assert safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert safe_cell("+/-2 EV") == "'+/-2 EV"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-5") == "-5" and safe_cell("+7.5") == "+7.5" and safe_cell("plain") == "plain"
    assert list(csv_lines(["a", "b"], [["-cmd", 1]])) == ["a,b\r\n", "'-cmd,1\r\n"]
