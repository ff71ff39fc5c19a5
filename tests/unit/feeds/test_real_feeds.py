"""Every real feed in ../shared/feeds imports with the counts its bytes justify."""

from __future__ import annotations

import pytest

from chalicelib.feeds import FeedFileError, read_feed

from .conftest import Parsed

# (file, offers, rejected rows, categories, kwargs); counts justified from the files:
REAL = [
    # `grep -c "<offer "` = 36/36/2/2; every offer has price, RUR, a name or vendor+model.
    ("yml/yandex-ecom-moscow-with-delivery.xml", 36, 0, 7, {}),
    ("yml/yandex-ecom-saint-petersburg-vendor-type.xml", 36, 0, 7, {}),
    ("yml/yandex-YML_sample-2019.xml", 2, 0, 3, {}),
    ("yml/yandex-sample-2017-bestseller.xml", 2, 0, 4, {}),
    # 7 offers, all in RUR (the CBRF/NBU/CB currencies are declared but unused); 19 categories.
    ("yml/go-yml-example-alltypes.xml", 7, 0, 19, {}),
    # 8 offers: 7 RUR + 1 RUB (`grep -o currencyId>...`), 7 categories.
    ("yml/stefanitsky-valid_feed.xml", 8, 0, 7, {}),
    # truncated on purpose after the 493rd </offer>; 346 categories; distinct ids.
    ("yml/petshop-admitad-real-truncated.xml", 493, 0, 346, {}),
    ("yml/islandgift-bom-crlf-real.xml", 102, 0, 10, {}),  # BOM + CRLF, 102 offers
    ("yml/autopiter-unordered-real.xml", 6, 0, 3, {}),  # shop children alphabetical
    ("yml/sirian-currencies.xml", 1, 0, 1, {}),  # one offer in lowercase `rur`
    ("yml/archives/woto-YML_sample.zip", 2, 0, 3, {}),  # zip of the 2019-style sample (2 offers)
    ("yml/archives/woto-wrong_content.zip", 2, 0, 3, {}),  # same + a __MACOSX/ entry (skipped)
    # 3 rows priced "352 AED" with sale_price "252 AED": imported in AED
    ("csv/google-merchant-arabic-aed.tsv", 3, 0, 0, {"target_currency": "AED"}),
    # 1994 rows = 1847 simple + 147 configurable parents (skipped: the children are the items)
    ("csv/magento2-sampledata-configurable-products.csv", 1847, 0, 0, {}),
    ("csv/prestashop14-products_import-semicolon-crlf.csv", 2, 0, 0, {}),  # 2 rows, trailing `;`
    # 17 rows: 12 shirt variants + 3 jeans variants + 1 jeans image-only row + 1 hat -> 16
    ("csv/shopify-template-2023-excel-mangled.csv", 16, 0, 0, {}),
    ("csv/shopify-template-legacy.csv", 3, 0, 0, {}),  # 3 variant rows of one handle
    # 1108 rows, unique `Адрес`; 15 rows priced 0.00 (docs/feed-formats.md #9) are rejected -> 1093
    ("csv/simpla-import-tires-utf8-mixed-eol.csv", 1093, 15, 0, {}),
    # 25 rows: 2 variable + 1 grouped parents are not offers -> 22
    ("csv/woocommerce-8.3.1-sample_products.csv", 22, 0, 0, {}),
    # 11 rows: 4 `registrations` parents (no price) + 1 grouped -> 6 variations
    ("csv/woocommerce-export-ptBR-bom.csv", 6, 0, 0, {}),
]

REJECTED_FILES = [
    ("yml/sirian-xxe.xml", "entity declarations"),
    ("yml/sirian-malformed.xml", "not well-formed"),
    ("yml/archives/woto-corrupted_archive.zip", "empty"),
    # a PrestaShop *combinations* file: variants only, no name/price columns
    ("csv/prestashop8-combinations_import-semicolon.csv", "name, price"),
]


@pytest.mark.parametrize(("path", "offers", "rejected", "categories", "kwargs"), REAL,
                         ids=[r[0] for r in REAL])
def test_can_import_real_feed(shared_feeds, path, offers, rejected, categories, kwargs):
    with (shared_feeds / path).open("rb") as stream:
        parsed = Parsed(list(read_feed(stream, path, **kwargs)))
    assert (len(parsed.offers), len(parsed.errors), len(parsed.categories)) == (offers, rejected, categories)
    assert all(o.price > 0 and o.name and o.offer_id for o in parsed.offers)


@pytest.mark.parametrize(("path", "reason"), REJECTED_FILES, ids=[r[0] for r in REJECTED_FILES])
def test_error_on_broken_or_hostile_real_file(shared_feeds, path, reason):
    with (shared_feeds / path).open("rb") as stream, pytest.raises(FeedFileError) as caught:
        list(read_feed(stream, path))
    assert reason in caught.value.reason


def test_simpla_rejects_zero_prices_naming_the_field(shared_feeds):
    path = "csv/simpla-import-tires-utf8-mixed-eol.csv"
    with (shared_feeds / path).open("rb") as stream:
        parsed = Parsed(list(read_feed(stream, path)))
    assert {(e.field, e.reason) for e in parsed.errors} == {("price", "price must be greater than zero")}


def test_google_merchant_in_foreign_currency_is_rejected_per_row_without_rates(shared_feeds):
    path = "csv/google-merchant-arabic-aed.tsv"
    with (shared_feeds / path).open("rb") as stream:
        parsed = Parsed(list(read_feed(stream, path)))
    assert not parsed.offers
    assert [e.field for e in parsed.errors] == ["currency"] * 3
    assert "AED" in parsed.errors[0].reason


def test_shopify_excel_mangled_barcodes_are_dropped_not_repaired(shared_feeds):
    path = "csv/shopify-template-2023-excel-mangled.csv"
    with (shared_feeds / path).open("rb") as stream:
        parsed = Parsed(list(read_feed(stream, path)))
    shirt = parsed.offer("SRT_COT_111")
    assert shirt.barcodes == ()
    assert shirt.name == "Example T-Shirt — Green / S"
    assert ("Color", None, "Green") in shirt.params
    jeans = parsed.offer("PNT_DEN_285")
    # the image-only row of the jeans adds its picture to every jeans variant
    assert "https://burst.shopifycdn.com/photos/fashion-model-walks-down-city-street.jpg?width=1500" in jeans.pictures
