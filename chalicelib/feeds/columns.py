"""CSV header recognition: our own column set plus the exports of common shop platforms.

Headers are compared after lower-casing, trimming, collapsing spaces and dropping a trailing
`*` (PrestaShop marks required columns `Name*`). Each canonical field lists the headers that
feed it, in priority order; for a row the first non-empty one wins (WooCommerce: `SKU`, then
`ID` when the SKU is blank). A platform is recognised by a signature of headers; its table adds
to (and, for ambiguous words such as `type`, overrides) the generic one. Unmapped columns
become offer attributes - or params for Simpla (whose extra columns are product features).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GENERIC: dict[str, list[str]] = {
    "id": ["offer_id", "offer id", "offerid", "sku", "variant sku", "ref", "reference #", "reference",
           "артикул", "id", "код", "product id", "product_id", "product_sku", "product_internal_id"],
    "name": ["name", "title", "product name", "product_name", "nome", "товар", "название",
             "наименование", "название товара или услуги", "название товара"],
    # With and without tax: the price a customer pays (tax included) wins when both are given;
    # PrestaShop's "tax excluded" is used when it is the only one (its tax rule is shop setup).
    "price": ["price", "regular price", "preço", "цена", "цена продажи", "розничная цена", "variant price",
              "price tax included", "price (tax incl.)", "price tax incl.", "final price (tax incl.)",
              "retail price", "price tax excluded", "price (tax excl.)", "price tax excl.", "product_price",
              "стоимость"],
    "sale_price": ["sale price", "sale_price", "preço promocional", "special_price"],
    "old_price": ["old_price", "oldprice", "old price", "compare at price", "compare_at_price",
                  "variant compare at price", "compare-at price", "старая цена", "price old",
                  "product_compare_to_price"],
    "currency": ["currency", "currencyid", "currency_id", "валюта", "moeda"],
    "category": ["category", "categories", "categorias", "категория", "product_type",
                 "categories (x,y,z...)", "categories (x,y,z,...)", "product_category_1"],
    "category_id": ["category_id", "categoryid", "category id"],
    "description": ["description", "body (html)", "body_html", "descrição", "описание", "полное описание",
                    "product_description"],
    "short_description": ["short description", "short_description", "descrição curta", "аннотация",
                          "краткое описание"],
    "pictures": ["picture", "pictures", "image", "images", "image src", "image_link",
                 "additional_image_link", "imagens", "изображения", "image urls (x,y,z...)",
                 "image urls (x,y,z,...)", "variant image", "base_image", "additional_images",
                 "image_url", "image url", "фото", "product image url", "variant image url",
                 "product_media_main_image_url", "product_media_gallery_image_url_1"],
    "vendor": ["vendor", "brand", "manufacturer", "бренд", "производитель", "marca", "product_brand"],
    "model": ["model", "модель"],
    "vendor_code": ["vendor_code", "vendorcode", "vendor code", "mpn", "supplier reference #",
                    "supplier reference"],
    # ISBN is not here: written with hyphens it is no barcode; it stays an attribute and becomes
    # the product's ``isbn`` (domain/catalog.book_fields), found by search like a barcode.
    "barcode": ["barcode", "gtin", "ean", "ean13", "upc", "variant barcode", "штрихкод",
                "штрих-код", "product_upc"],
    "available": ["available", "availability", "in stock?", "em estoque?", "is_in_stock",
                  "active (0/1)", "в наличии", "наличие"],
    "stock": ["stock", "qty", "quantity", "variant inventory qty", "estoque", "склад", "остаток",
              "количество", "count", "stock quantity", "inventory quantity", "product_quantity",
              "quantity_to_sell_on_facebook", "inventory"],
    "url": ["url", "link", "product url", "product_url", "ссылка"],
    "group_id": ["item_group_id", "group_id"],
}

PROFILES: dict[str, dict[str, list[str]]] = {
    # Shopify's 2024 template renamed Handle -> URL handle, Variant Price -> Price, Variant SKU -> SKU.
    "shopify": {"handle": ["handle", "url handle"], "category": ["type", "product category"],
                "id": ["variant sku", "sku"], "price": ["variant price", "price"]},
    "woocommerce": {"type": ["type", "tipo"], "parent": ["parent", "produto ascendente"],
                    "id": ["sku", "ref", "id"]},
    "magento": {"type": ["product_type"], "store_view": ["store_view_code"], "id": ["sku"]},
    "prestashop": {},
    "google": {"category": ["product_type", "google_product_category"]},
    # Simpla: `Артикул` is often a maker's code shared by many products (663 distinct values in
    # 1108 rows of the real sample); `Адрес` (the product URL slug) is unique in Simpla's own DB.
    "simpla": {"id": ["адрес"], "vendor_code": ["артикул"], "variant": ["вариант"],
               "available": ["видим"], "url": []},
    # 1C-Bitrix catalog export: IE_* element fields, IC_GROUPn section levels, CV_PRICE_1/CV_CURRENCY_1
    # the base price type, CP_QUANTITY the stock, IP_PROPn properties (kept as attributes).
    "bitrix": {"id": ["ie_xml_id", "ie_id"], "name": ["ie_name"], "price": ["cv_price_1"],
               "currency": ["cv_currency_1"], "stock": ["cp_quantity"], "available": ["ie_active"],
               "description": ["ie_detail_text"], "short_description": ["ie_preview_text"],
               "pictures": ["ie_detail_picture", "ie_preview_picture"],
               "category": [f"ic_group{i}" for i in range(10)]},
    # InSales: one row per variant; `ID товара` groups them, `Свойство: X` columns are the options.
    "insales": {"id": ["id варианта", "артикул"], "vendor_code": ["артикул"], "group_id": ["id товара"],
                "category": ["размещение на сайте", "категория"]},
    # Tilda: variant rows carry `Parent UID` and `Editions` ("Цвет:Красный;Размер:M").
    "tilda": {"uid": ["tilda uid"], "id": ["sku", "external id"], "parent": ["parent uid"],
              "editions": ["editions"], "description": ["text", "description"],
              "short_description": ["description"], "vendor": ["brand"], "pictures": ["photo"]},
    # Ecwid (catalog format since 2023): `type` is product | product_option | product_variation.
    "ecwid": {"type": ["type"], "id": ["product_variation_sku", "product_sku", "product_internal_id"]},
    # OpenCart (Export/Import tool): language-suffixed headers `name(en-gb)`; `model` is the product code.
    "opencart": {"id": ["product_id"], "vendor_code": ["sku", "mpn"], "available": ["status"], "category": []},
    "generic": {},
}
# Columns that are platform bookkeeping, not product facts: never copied into attributes.
IGNORED: dict[str, set[str]] = {
    "shopify": {"image position", "image alt text", "variant inventory tracker", "variant inventory policy",
                "variant fulfillment service", "variant requires shipping", "variant taxable",
                "gift card", "variant tax code", "status", "published", "seo title", "seo description",
                "cost per item", "charge tax", "tax code", "published on online store", "inventory tracker",
                "continue selling when out of stock", "requires shipping", "fulfillment service"},
    # Purchase prices and tax bookkeeping are the seller's business, never product attributes.
    "prestashop": {"wholesale price", "tax rules id", "ecotax"},
    "insales": {"цена закупки", "видимость на витрине"},
    "bitrix": {"ie_code"},
    "opencart": {"points", "tax_class_id", "store_ids", "layout", "sort_order", "subtract", "minimum",
                 "stock_status_id", "shipping", "date_added", "date_modified", "date_available", "image_name"},
    "ecwid": {"product_option_name", "product_option_type", "product_option_value", "product_is_inventory_tracked"},
    "woocommerce": {"position", "published", "is featured?", "visibility in catalog", "tax status",
                    "tax class", "backorders allowed?", "sold individually?", "allow customer reviews?",
                    "purchase note", "download limit", "download expiry days", "button text",
                    "date sale price starts", "date sale price ends", "grouped products", "upsells",
                    "cross-sells", "shipping class", "publicado", "em destaque?", "posição"},
    "magento": {"attribute_set_code", "product_websites", "tax_class_name", "visibility", "product_online",
                "base_image_label", "small_image", "small_image_label", "thumbnail_image",
                "thumbnail_image_label", "created_at", "updated_at", "display_product_options_in",
                "gift_message_available", "page_layout", "product_options_container",
                "msrp_display_actual_price_type", "website_id", "configurable_variations",
                "configurable_variation_prices", "configurable_variation_labels", "additional_attributes"},
}


def normalize_header(header: str) -> str:
    text = re.sub(r"\s+", " ", header.replace("\ufeff", "")).strip().lower()
    text = text.rstrip("*").strip()
    # OpenCart suffixes translated columns with the language: `name(en-gb)`, `description(ru-ru)`.
    return re.sub(r"\s*\([a-z]{2}-[a-z]{2}\)$", "", text)


def accepted(profile: str, canonical: str) -> list[str]:
    """The header names that feed ``canonical`` under ``profile`` (for error messages)."""
    return PROFILES.get(profile, {}).get(canonical) or GENERIC.get(canonical, [])


@dataclass
class ColumnMap:
    profile: str
    headers: list[str]  # as written, for attribute names and error messages
    fields: dict[str, list[int]] = field(default_factory=dict)  # canonical -> column indexes
    params: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # column -> (name, unit)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (name column, value column) params
    other: list[int] = field(default_factory=list)  # columns that become attributes (or params)
    options: dict[int, str] = field(default_factory=dict)  # column -> option name of a variant


def _profile(names: set[str], raw: list[str]) -> str:
    if ({"handle", "url handle"} & names) and ({"variant price", "variant sku", "price", "sku"} & names):
        return "shopify"
    if "ie_name" in names or any(n.startswith("cv_price_") for n in names):
        return "bitrix"
    if "tilda uid" in names:
        return "tilda"
    if "type" in names and ({"product_name", "product_sku", "product_internal_id"} & names):
        return "ecwid"
    if "название товара или услуги" in names or "id варианта" in names:
        return "insales"
    if "product_id" in names and any(re.search(r"\([a-z]{2}-[a-z]{2}\)$", h.strip().lower()) for h in raw):
        return "opencart"
    if {"sku", "product_type", "attribute_set_code"} <= names:
        return "magento"
    if ({"regular price", "preço"} & names) and ({"type", "tipo"} & names):
        return "woocommerce"
    if "товар" in names:
        return "simpla"
    if ({"price tax excl.", "price tax excluded", "price (tax excl.)", "price tax included",
         "price (tax incl.)", "active (0/1)"} & names):
        return "prestashop"
    if "image_link" in names or {"title", "link", "availability"} <= names:
        return "google"
    return "generic"


_PARAM_RE = re.compile(r"^(?:param|параметр|feature|характеристика)\s*[:/]\s*(.+?)\s*(?:\(([^)]*)\))?$")
# A variant's option, one column per option name (InSales `Свойство: Цвет`, Ecwid
# `product_variation_option_Color`): kept as a param and appended to the variant's name.
_OPTION_RE = re.compile(r"^(?:свойство\s*:\s*|product_variation_option_)(.+)$")
_PAIR_NAME_RE = re.compile(r"^(?:attribute (\d+) name|nome do atributo (\d+)|option(\d+) name)$")
_PAIR_VALUE_RE = re.compile(r"^(?:attribute (\d+) value\(s\)|valores do atributo (\d+)|option(\d+) value)$")


def map_columns(headers: list[str]) -> ColumnMap:
    normalized = [normalize_header(h) for h in headers]
    profile = _profile(set(normalized), headers)
    # Platform entries first, so they claim ambiguous headers (Magento's `product_type` is the
    # product kind, Google's is the seller's category) before the generic table sees them.
    table = {**PROFILES[profile], **{k: v for k, v in GENERIC.items() if k not in PROFILES[profile]}}
    result = ColumnMap(profile, [h.replace("\ufeff", "").strip() for h in headers])
    taken: set[int] = set()
    for canonical, synonyms in table.items():
        indexes = [i for synonym in synonyms for i, n in enumerate(normalized) if n == synonym and i not in taken]
        if indexes:
            result.fields[canonical] = indexes
            taken.update(indexes)
    names: dict[str, int] = {}
    values: dict[str, int] = {}
    for i, n in enumerate(normalized):
        if i in taken or not n:
            continue
        if match := _OPTION_RE.match(n):
            result.options[i] = re.sub(r"^(?:[^:]*:\s*|product_variation_option_)", "", result.headers[i]).strip()
        elif match := _PARAM_RE.match(n):
            original = re.sub(r"^[^:/]*[:/]\s*", "", result.headers[i])
            original = re.sub(r"\s*\([^)]*\)\s*$", "", original).strip()
            result.params[i] = (original or match.group(1), match.group(2))
        elif match := _PAIR_NAME_RE.match(n):
            names[next(g for g in match.groups() if g)] = i
        elif match := _PAIR_VALUE_RE.match(n):
            values[next(g for g in match.groups() if g)] = i
        elif n not in IGNORED.get(profile, ()) and not re.match(r"^(attribute \d+ (visible|global)|"
                                                                  r"visibilidade do atributo \d+|"
                                                                  r"atributo global \d+)$", n):
            result.other.append(i)
    for key, name_index in names.items():
        if key in values:
            result.pairs.append((name_index, values[key]))
    return result
