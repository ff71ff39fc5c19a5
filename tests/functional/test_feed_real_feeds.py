"""Every real-world feed in ../shared/feeds imports with offer counts justified from the file.

Each file goes through the import service on moto exactly as an S3 drop would; the expected
numbers come from reading the files (``SOURCES.md`` beside them and the notes below), not from
running the importer.

The search index is stubbed out here (``no_search_index``): it has its own tests, and indexing
every word of the petshop descriptions costs minutes on moto.
"""

from __future__ import annotations

import pytest
from feed_support import SHARED_FEEDS, Feeds, shared_feed

from chalicelib.domain.catalog import product_id


@pytest.fixture(autouse=True)
def no_search_index(monkeypatch):
    from chalicelib.services import feed_import

    monkeypatch.setattr(feed_import, "_index", lambda changes: None)


# file -> (status, created, rejected, why)
EXPECTED = {
    # YML: offer counts as SOURCES.md lists them (parsed with xml.etree), every one valid
    "yml/yandex-ecom-moscow-with-delivery.xml": ("succeeded", 36, 0, "36 simplified offers"),
    "yml/yandex-ecom-saint-petersburg-vendor-type.xml": ("succeeded", 36, 0, "36 vendor.model offers"),
    "yml/yandex-YML_sample-2019.xml": ("succeeded", 2, 0, "simple + vendor.model"),
    "yml/yandex-sample-2017-bestseller.xml": ("succeeded", 2, 0, "simple + vendor.model"),
    "yml/go-yml-example-alltypes.xml": ("succeeded", 7, 0, "7 offers of 6 types"),
    "yml/stefanitsky-valid_feed.xml": ("succeeded", 8, 0, "8 offers, currencies with CBRF/NBU rates"),
    "yml/petshop-admitad-real-truncated.xml": ("succeeded", 493, 0, "493 offers kept of 652"),
    "yml/islandgift-bom-crlf-real.xml": ("succeeded", 102, 0, "BOM + CRLF, 102 offers"),
    "yml/autopiter-unordered-real.xml": ("succeeded", 6, 0, "alphabetical element order"),
    "yml/sirian-currencies.xml": ("succeeded", 1, 0, "lowercase rur currency"),
    "yml/archives/woto-YML_sample.zip": ("succeeded", 2, 0, "zip holding YML_sample.xml (2 offers)"),
    "yml/archives/woto-wrong_content.zip": ("succeeded", 2, 0, "the __MACOSX/ resource fork is skipped"),
    # CSV: data records minus the rows that are not offers of their own
    "csv/magento2-sampledata-configurable-products.csv": (
        "succeeded", 1847, 0, "1994 records = 1847 simple + 147 configurable parents (no price of their own)"),
    "csv/shopify-template-2023-excel-mangled.csv": (
        "succeeded", 16, 0, "17 records: 3 products + 13 variant rows priced, 1 image-only row"),
    "csv/shopify-template-legacy.csv": ("succeeded", 3, 0, "1 product row + 2 variant rows, all priced"),
    "csv/woocommerce-8.3.1-sample_products.csv": (
        "succeeded", 22, 0, "25 records: 2 variable parents and 1 grouped product carry no price"),
    "csv/woocommerce-export-ptBR-bom.csv": (
        "succeeded", 6, 0, "11 records: 6 priced variations; 4 registration parents + 1 grouped unpriced"),
    "csv/prestashop14-products_import-semicolon-crlf.csv": ("succeeded", 2, 0, "2 products, trailing ;"),
    "csv/simpla-import-tires-utf8-mixed-eol.csv": (
        "partially_succeeded", 1093, 15, "1108 records, 15 priced 0.00 are rejected (price must be > 0)"),
    "csv/google-merchant-arabic-aed.tsv": (
        "failed", 0, 3, "3 offers priced in AED: a CSV has no rate to RUB, so no valid offer"),
    # file-level failures: nothing imported
    "csv/prestashop8-combinations_import-semicolon.csv": (
        "failed", 0, 0, "a combinations (variants) file: no name/price columns, not a product feed"),
    "yml/archives/woto-corrupted_archive.zip": ("failed", 0, 0, "0-byte .zip"),
    "yml/sirian-malformed.xml": ("failed", 0, 0, "not well-formed"),
    "yml/sirian-xxe.xml": ("failed", 0, 0, "declares an external entity"),
}


def test_every_shared_feed_has_an_expectation():
    if not SHARED_FEEDS.exists():
        pytest.skip(f"{SHARED_FEEDS} is not available")
    files = {p.relative_to(SHARED_FEEDS).as_posix() for p in SHARED_FEEDS.rglob("*")
             if p.is_file() and not p.name.endswith(".md")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_shared_feed_imports_with_expected_counts(api, aws, register, relative):
    status, created, rejected, why = EXPECTED[relative]
    path = shared_feed(relative)
    feeds = Feeds(api, aws, register)
    seller = feeds.shop_only()
    record = feeds.drop(seller, path.read_bytes(), path.name)
    assert record["status"] == status, (why, record.get("reason"), record["errors"][:3])
    assert record["counts"]["created"] == created, why
    assert record["counts"]["rejected"] == rejected, why
    listed = feeds.products(seller=seller, limit=100) if created and created <= 200 else None
    if listed is not None:
        assert len(listed) == created
    if status == "failed":
        assert record["reason"]
        assert feeds.products(seller=seller) == []


def test_yml_feed_keeps_what_the_file_says(api, aws, register):
    """yandex-YML_sample-2019.xml, offer 12346: name, price in kopecks, pictures, params."""
    path = shared_feed("yml/yandex-YML_sample-2019.xml")
    feeds = Feeds(api, aws, register)
    seller = feeds.shop_only()
    feeds.drop(seller, path.read_bytes(), path.name)
    items = feeds.products(seller=seller, sort="price")
    assert len(items) == 2
    page = api.http.get(f"/products/{items[0]['product_id']}").json_body
    assert page["price"]["currency"] == "RUB" and page["price"]["amount"] % 100 == 0
    assert page["pictures"] and page["category"]["name"]
    assert page["delivery_methods"] and page["seller"]["id"] == seller


def test_windows_1251_csv_with_decimal_commas(api, aws, register):
    feeds = Feeds(api, aws, register)
    seller = feeds.shop_only()
    data = "Артикул;Название;Цена;Категория\nA-1;Шина зимняя;1 250,50;Шины\n".encode("cp1251")
    record = feeds.drop(seller, data, "export.csv")
    assert record["status"] == "succeeded", record
    page = api.http.get(f"/products/{product_id(seller, 'A-1')}").json_body
    assert page["name"] == "Шина зимняя" and page["price"]["amount"] == 125050
    assert page["category"]["name"] == "Шины"
