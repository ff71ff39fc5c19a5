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
           "артикул", "id", "код", "product id", "product_id"],
    "name": ["name", "title", "product name", "product_name", "nome", "товар", "название",
             "наименование"],
    "price": ["price", "regular price", "preço", "цена", "variant price", "price tax excl.",
              "price tax incl.", "стоимость"],
    "sale_price": ["sale price", "sale_price", "preço promocional"],
    "old_price": ["old_price", "oldprice", "old price", "compare at price", "compare_at_price",
                  "variant compare at price", "старая цена"],
    "currency": ["currency", "currencyid", "currency_id", "валюта", "moeda"],
    "category": ["category", "categories", "categorias", "категория", "product_type",
                 "categories (x,y,z...)", "categories (x,y,z,...)"],
    "category_id": ["category_id", "categoryid", "category id"],
    "description": ["description", "body (html)", "body_html", "descrição", "описание"],
    "short_description": ["short description", "short_description", "descrição curta", "аннотация"],
    "pictures": ["picture", "pictures", "image", "images", "image src", "image_link",
                 "additional_image_link", "imagens", "изображения", "image urls (x,y,z...)",
                 "image urls (x,y,z,...)", "variant image", "base_image", "additional_images",
                 "image_url", "image url", "фото"],
    "vendor": ["vendor", "brand", "manufacturer", "бренд", "производитель", "marca"],
    "model": ["model", "модель"],
    "vendor_code": ["vendor_code", "vendorcode", "vendor code", "mpn", "supplier reference #",
                    "supplier reference"],
    "barcode": ["barcode", "gtin", "ean", "ean13", "upc", "variant barcode", "isbn", "штрихкод",
                "штрих-код"],
    "available": ["available", "availability", "in stock?", "em estoque?", "is_in_stock",
                  "active (0/1)", "в наличии", "наличие"],
    "stock": ["stock", "qty", "quantity", "variant inventory qty", "estoque", "склад", "остаток",
              "количество", "count", "stock quantity"],
    "url": ["url", "link", "product url", "product_url", "ссылка"],
    "group_id": ["item_group_id", "group_id"],
}

PROFILES: dict[str, dict[str, list[str]]] = {
    "shopify": {"handle": ["handle"], "category": ["type", "product category"],
                "id": ["variant sku"], "price": ["variant price"]},
    "woocommerce": {"type": ["type", "tipo"], "parent": ["parent", "produto ascendente"],
                    "id": ["sku", "ref", "id"]},
    "magento": {"type": ["product_type"], "store_view": ["store_view_code"], "id": ["sku"]},
    "prestashop": {},
    "google": {"category": ["product_type", "google_product_category"]},
    # Simpla: `Артикул` is often a maker's code shared by many products (663 distinct values in
    # 1108 rows of the real sample); `Адрес` (the product URL slug) is unique in Simpla's own DB.
    "simpla": {"id": ["адрес"], "vendor_code": ["артикул"], "variant": ["вариант"],
               "available": ["видим"], "url": []},
    "generic": {},
}
# Columns that are platform bookkeeping, not product facts: never copied into attributes.
IGNORED: dict[str, set[str]] = {
    "shopify": {"image position", "image alt text", "variant inventory tracker", "variant inventory policy",
                "variant fulfillment service", "variant requires shipping", "variant taxable",
                "gift card", "variant tax code", "status", "published", "seo title", "seo description"},
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
    return text.rstrip("*").strip()


@dataclass
class ColumnMap:
    profile: str
    headers: list[str]  # as written, for attribute names and error messages
    fields: dict[str, list[int]] = field(default_factory=dict)  # canonical -> column indexes
    params: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # column -> (name, unit)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (name column, value column) params
    other: list[int] = field(default_factory=list)  # columns that become attributes (or params)


def _profile(names: set[str]) -> str:
    if "handle" in names and ({"variant price", "variant sku"} & names):
        return "shopify"
    if {"sku", "product_type", "attribute_set_code"} <= names:
        return "magento"
    if ({"regular price", "preço"} & names) and ({"type", "tipo"} & names):
        return "woocommerce"
    if "товар" in names:
        return "simpla"
    if "price tax excl." in names or "active (0/1)" in names:
        return "prestashop"
    if "image_link" in names or {"title", "link", "availability"} <= names:
        return "google"
    return "generic"


_PARAM_RE = re.compile(r"^(?:param|параметр|feature|характеристика)\s*[:/]\s*(.+?)\s*(?:\(([^)]*)\))?$")
_PAIR_NAME_RE = re.compile(r"^(?:attribute (\d+) name|nome do atributo (\d+)|option(\d+) name)$")
_PAIR_VALUE_RE = re.compile(r"^(?:attribute (\d+) value\(s\)|valores do atributo (\d+)|option(\d+) value)$")


def map_columns(headers: list[str]) -> ColumnMap:
    normalized = [normalize_header(h) for h in headers]
    profile = _profile(set(normalized))
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
        if match := _PARAM_RE.match(n):
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
