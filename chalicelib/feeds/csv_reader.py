"""CSV/TSV reader: encoding and delimiter detection, platform column maps, variant rows.

Encoding is decided once, on the first 64 KiB: a UTF-8/UTF-16 BOM wins; else strict UTF-8 if the
sample decodes; a sample that is valid UTF-8 text up to a broken byte is rejected; else
windows-1251. Decoding of the rest stays strict, so a file that turns out
not to be UTF-8 later is rejected (FeedFileError) rather than imported as mojibake. NUL bytes or
many control characters in the sample mean a binary file. The delimiter is the most frequent of
TAB, `;`, `,` outside quotes in the header line (`csv.Sniffer` fails on real PrestaShop files).

Prices: decimal point or comma (see money.py); a currency may ride in the price cell
(`352 AED`, `$25`) or a currency column; otherwise the price is in the target currency. A CSV
carries no exchange rates, so a row in another currency is rejected, not converted.

Variant rows (documented choice): Shopify rows are grouped by `Handle` (consecutive, as Shopify
exports them); each row with a price/SKU/option is one offer, product fields (title, body,
vendor, type, tags) are forward-filled from the product's first row, option values are appended
to the name and kept as params, and image-only rows add their pictures to every variant of the
product. WooCommerce `variable`/`grouped` parents (no price of their own) are not offers; their
`variation` rows become offers and inherit description, categories, pictures and brand from the
parent (looked up by SKU or `id:<ID>`, last 2,000 parents kept). Magento `configurable` parents
and store-view translation rows are skipped: the simple children are the sellable items. Tilda and
Ecwid put variant rows right after their product (`Parent UID`; `type=product_variation`): a
product with variants is not an offer, each variant is, with the product's fields it lacks and
its options (Tilda `Editions`, Ecwid `product_variation_option_X`) appended to the name. InSales
writes one row per variant (`Свойство: X` options appended the same way); 1C-Bitrix section
levels `IC_GROUP0..n` form the category path.

`row` in a RowError is the physical line on which the record starts (the header is line 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from io import BufferedReader

from .columns import ColumnMap, accepted, map_columns
from .dedupe import OfferIdSet
from .model import (
    MAX_CSV_LINE_CHARS,
    MAX_FIELD_CHARS,
    MAX_GROUP_ROWS,
    MAX_OFFER_ID_CHARS,
    FeedFileError,
    FeedOffer,
    RowError,
    RowRejected,
)
from .money import normalize_currency, parse_amount, to_minor
from .sanitize import (
    clean_barcodes,
    clean_text,
    clean_url,
    parse_bool,
    parse_stock,
    sanitize_description,
    split_pictures,
)

_SAMPLE = 64 * 1024
_PRICE_RE = re.compile(
    r"^\s*(?P<pre>[A-Za-z]{3}|[$€£₽¥])?\s*(?P<num>[\d\s\u00a0\u202f.,']+?)\s*"
    r"(?P<post>[A-Za-z]{3}|₽|руб\.?|р\.?)?\s*$",
    re.IGNORECASE,
)
# PNG, JPEG, GIF, PDF, OLE2 (.xls/.doc), ELF, 7z, RAR, bzip2, xz
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\xd0\xcf\x11\xe0", b"\x7fELF",
                 b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
_FILLED_FROM_PARENT = ("description", "short_description", "category", "pictures", "vendor")
_MAX_PARENTS = 2_000

Record = dict  # canonical field -> list[str]; "_params", "_pairs", "_attrs" hold tuples


class _Prefixed(io.RawIOBase):
    """The sample already read for detection, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: BufferedReader) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._prefix:
            data, self._prefix = self._prefix[: len(buffer)], self._prefix[len(buffer) :]
        else:
            data = self._rest.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


_UTF8_EVIDENCE = 3  # valid multi-byte UTF-8 characters that make an invalid byte an error


def _choose_encoding(sample: bytes) -> str:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(_BINARY_MAGIC):
        raise FeedFileError("not a text file: binary content (an image, PDF or office document?)")
    if b"\x00" in sample:
        raise FeedFileError("not a text file: binary content (NUL bytes)")
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32 or b == 127)
    if controls > max(4, len(sample) // 200):
        raise FeedFileError("not a text file: binary content")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError as exc:
        # windows-1251 text almost never forms valid UTF-8 letters; if the part before the bad
        # byte already holds several, the file is UTF-8 with a broken byte — reading it as
        # windows-1251 would import every row as mojibake (docs/feed-formats.md #1).
        before = sample[: exc.start].decode("utf-8", errors="ignore")
        if sum(1 for ch in before if ord(ch) > 127) >= _UTF8_EVIDENCE:
            line = sample[: exc.start].count(b"\n") + 1
            raise FeedFileError(
                f"the file is UTF-8 but has an invalid byte at offset {exc.start} (line {line})"
            ) from exc
        return "cp1251"
    return "utf-8"


def _lines(text: io.TextIOWrapper) -> Iterator[str]:
    while True:
        line = text.readline(MAX_CSV_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_CSV_LINE_CHARS:
            raise FeedFileError(f"a CSV line is longer than {MAX_CSV_LINE_CHARS} characters")
        yield line


def _delimiter(header_line: str, filename: str) -> str:
    counts = {"\t": 0, ";": 0, ",": 0}
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    if filename.lower().endswith(".tsv") and counts["\t"]:
        return "\t"
    best = max(counts, key=lambda c: counts[c])  # ties keep dict order: TAB, then `;`, then `,`
    return best


def _long_text(value: str, field: str) -> str:
    return clean_text(value, field, max_chars=MAX_FIELD_CHARS) or value


def _first(record: Record, key: str) -> str | None:
    values = record.get(key)
    return values[0] if values else None


class CsvReader:
    def __init__(self, target_currency: str, filename: str) -> None:
        self.target = target_currency
        self.filename = filename
        self.offer_ids = OfferIdSet()

    def read(self, reader: BufferedReader) -> Iterator[FeedOffer | RowError]:
        sample = reader.read(_SAMPLE)
        encoding = _choose_encoding(sample)
        whole = io.BufferedReader(_Prefixed(sample, reader), buffer_size=_SAMPLE)
        text = io.TextIOWrapper(whole, encoding=encoding, errors="strict", newline="")
        lines = _lines(text)
        try:
            header_line = next(lines, None)
            while header_line is not None and not header_line.strip():
                header_line = next(lines, None)
            if header_line is None:
                raise FeedFileError("CSV has no header row")
            delimiter = _delimiter(header_line, self.filename)
            rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
            columns = map_columns(next(rows))
            missing = [f for f in ("name", "price") if f not in columns.fields]
            if "id" not in columns.fields and columns.profile != "shopify":
                missing.insert(0, "id")
            if missing:
                raise FeedFileError(_missing_columns(missing, columns))
            records = self._records(rows, columns)
            if columns.profile == "shopify":
                records = self._shopify(records)
            elif columns.profile == "woocommerce":
                records = self._woocommerce(records)
            elif columns.profile == "magento":
                records = (r for r in records if not self._magento_skip(r[1]))
            elif columns.profile in ("tilda", "ecwid"):
                records = _variant_groups(records, columns.profile)
            for line, record in records:
                yield self._emit(line, record, columns.profile)
        except UnicodeDecodeError as exc:
            raise FeedFileError(f"the file is not valid {encoding} text: {exc.reason}") from exc
        except csv.Error as exc:
            raise FeedFileError(f"CSV is malformed: {exc}") from exc

    # --- rows to records ---
    @staticmethod
    def _records(rows: Iterable[list[str]], columns: ColumnMap) -> Iterator[tuple[int, Record]]:
        previous_end = 1
        for cells in rows:
            line = previous_end + 1
            previous_end = rows.line_num  # type: ignore[attr-defined]
            if not any(c.strip() for c in cells):
                continue
            width = len(cells)

            def cell(i: int, cells: list[str] = cells, width: int = width) -> str:
                return cells[i].strip() if i < width else ""

            record: Record = {"_params": [], "_pairs": [], "_attrs": [], "_options": []}
            for canonical, indexes in columns.fields.items():
                values = [v for v in (cell(i) for i in indexes) if v]
                if values:
                    record[canonical] = values
            for i, (name, unit) in columns.params.items():
                if value := cell(i):
                    record["_params"].append((name, unit, value))
            for i, name in columns.options.items():
                if value := cell(i):
                    record["_options"].append((name, value))
            for name_index, value_index in columns.pairs:
                if value := cell(value_index):
                    record["_pairs"].append((cell(name_index), value))
            for i in columns.other:
                if value := cell(i):
                    if columns.profile == "simpla":
                        record["_params"].append((columns.headers[i], None, value))
                    else:
                        record["_attrs"].append((columns.headers[i], value))
            yield line, record

    def _shopify(self, records: Iterator[tuple[int, Record]]) -> Iterator[tuple[int, Record]]:
        group: list[tuple[int, Record]] = []
        handle: str | None = None
        for line, record in records:
            this = _first(record, "handle") or ""
            if group and this != handle:
                yield from self._shopify_group(group)
                group = []
            handle = this
            group.append((line, record))
            if len(group) > MAX_GROUP_ROWS:
                raise FeedFileError(f"Shopify product {this!r} has more than {MAX_GROUP_ROWS} rows")
        if group:
            yield from self._shopify_group(group)

    @staticmethod
    def _shopify_group(group: list[tuple[int, Record]]) -> Iterator[tuple[int, Record]]:
        product = next((r for _, r in group if r.get("name")), group[0][1])
        option_names = [name for name, _ in product["_pairs"]]
        images = [p for _, r in group for p in r.get("pictures", ())]
        variants = [(ln, r) for ln, r in group if r.get("price") or r.get("id") or r["_pairs"]]
        handle = _first(product, "handle") or ""
        for line, record in variants:
            merged: Record = dict(record)
            for key, values in product.items():
                if key not in merged and not key.startswith("_"):
                    merged[key] = values
            merged["_attrs"] = record["_attrs"] + [a for a in product["_attrs"] if a not in record["_attrs"]]
            options = []
            for i, (name, value) in enumerate(record["_pairs"]):
                name = name or (option_names[i] if i < len(option_names) else f"Option{i + 1}")
                if value.lower() != "default title":
                    options.append((name, value))
            merged["_pairs"] = options
            merged["pictures"] = record.get("pictures", []) + images
            if not record.get("id"):
                suffix = "/".join(v for _, v in options)
                merged["id"] = [handle if len(variants) == 1 or not suffix else f"{handle}/{suffix}"]
            if options and product.get("name"):
                merged["name"] = [f"{product['name'][0]} — {' / '.join(v for _, v in options)}"]
            yield line, merged

    def _woocommerce(self, records: Iterator[tuple[int, Record]]) -> Iterator[tuple[int, Record]]:
        parents: OrderedDict[str, Record] = OrderedDict()
        for line, record in records:
            kind = (_first(record, "type") or "simple").lower()
            priced = record.get("price") or record.get("sale_price")
            if "variable" in kind or "grouped" in kind or (not priced and "variation" not in kind
                                                            and "simple" not in kind and "external" not in kind):
                for key in record.get("id", []):
                    parents[key] = parents[f"id:{key}"] = record
                while len(parents) > _MAX_PARENTS:
                    parents.popitem(last=False)
                continue
            parent = parents.get(_first(record, "parent") or "")
            if parent is not None:
                for key in _FILLED_FROM_PARENT:
                    if key not in record and key in parent:
                        record[key] = parent[key]
            yield line, record

    @staticmethod
    def _magento_skip(record: Record) -> bool:
        return bool(record.get("store_view")) or (_first(record, "type") or "").lower() == "configurable"

    # --- record to offer ---
    def _emit(self, line: int, record: Record, profile: str) -> FeedOffer | RowError:
        offer_id = _first(record, "id")
        try:
            offer = self._build(record, profile, offer_id)
        except RowRejected as exc:
            return RowError(line, offer_id, exc.field, exc.reason)
        if not self.offer_ids.add(offer.offer_id):
            return RowError(line, offer.offer_id, "id", "duplicate offer id")
        return offer

    def _price(self, text: str, field: str) -> tuple[int, str]:
        match = _PRICE_RE.match(text)
        code_text = (match.group("pre") or match.group("post")) if match else None
        amount = parse_amount(match.group("num") if match else text, field)
        currency = normalize_currency(code_text) if code_text else None
        return amount, currency  # type: ignore[return-value]

    def _build(self, record: Record, profile: str, offer_id: str | None) -> FeedOffer:
        # Cells starting with = + - @ are kept as data (docs/feed-formats.md #13).
        if not offer_id:
            raise RowRejected("id", "id is missing")
        if len(offer_id) > MAX_OFFER_ID_CHARS:
            raise RowRejected("id", f"id is longer than {MAX_OFFER_ID_CHARS} characters")
        name = clean_text(_first(record, "name"), "name")
        if profile == "simpla" and (variant := clean_text(_first(record, "variant"), "name")):
            name = f"{name} {variant}" if name else None
            offer_id = f"{offer_id}/{variant}"
        if not name:
            raise RowRejected("name", "name is missing")
        if record["_options"]:  # a variant row (InSales, Ecwid, Tilda): "Name — Red / M"
            name = clean_text(f"{name} — {' / '.join(v for _, v in record['_options'])}", "name") or name

        price_text = _first(record, "price") or _first(record, "sale_price")
        if not price_text:
            raise RowRejected("price", "price is missing")
        amount, cell_currency = self._price(price_text, "price")
        currency_text = _first(record, "currency")
        currency = normalize_currency(currency_text) if currency_text else (cell_currency or self.target)
        if currency != self.target:
            raise RowRejected(
                "currency", f"price is in {currency}; a CSV feed has no exchange rate to {self.target}"
            )
        price = to_minor(amount, currency)
        old_price = None
        sale_text = _first(record, "sale_price") if record.get("price") else None
        try:
            if sale_text:
                sale = to_minor(self._price(sale_text, "sale_price")[0], currency, "sale_price")
                if sale < price:
                    price, old_price = sale, price
            if old_price is None and (old_text := _first(record, "old_price")):
                old_price = to_minor(self._price(old_text, "old_price")[0], currency, "old_price")
        except RowRejected:
            pass  # a broken sale/old price only loses the discount label
        if old_price is not None and old_price <= price:
            old_price = None

        attributes = [(k, v) for k, v in record["_attrs"]]
        category_name = None
        category_text = _first(record, "category")
        if profile == "bitrix" and record.get("category"):  # IC_GROUP0, IC_GROUP1…: one level each
            category_text = " > ".join(record["category"])
        if category_text:
            path = self._category_path(category_text, profile)
            if path:
                category_name = clean_text(path[-1], "category")
                if len(path) > 1:
                    attributes.append(("category_path", " > ".join(path)))
        if group_id := _first(record, "group_id"):
            attributes.append(("group_id", group_id))
        if profile in ("shopify", "woocommerce") and (parent := _first(record, "parent") or _first(record, "handle")):
            attributes.append(("group_id", parent))
        params = [(n, u, v) for n, u, v in record["_params"]]
        params += [(n, None, v) for n, v in record["_pairs"] + record["_options"] if n]

        stock = parse_stock(_first(record, "stock"))
        available = parse_bool(_first(record, "available"))
        description = _first(record, "description") or _first(record, "short_description")
        return FeedOffer(
            offer_id=offer_id,
            name=name,
            offer_type="simple",
            price=price,
            currency=currency,
            old_price=old_price,
            category_id=_first(record, "category_id"),
            category_name=category_name,
            pictures=split_pictures(record.get("pictures", [])),
            vendor=clean_text(_first(record, "vendor"), "vendor"),
            model=clean_text(_first(record, "model"), "model"),
            vendor_code=clean_text(_first(record, "vendor_code"), "vendor_code"),
            barcodes=clean_barcodes(record.get("barcode", [])),
            params=tuple((clean_text(n, "param") or n, u, _long_text(v, n)) for n, u, v in params),
            description=sanitize_description(description),
            available=(available is not False) and (stock is None or stock > 0),
            stock=stock,
            url=clean_url(_first(record, "url")),
            attributes=tuple((k, _long_text(v, k)) for k, v in attributes),
        )

    @staticmethod
    def _category_path(text: str, profile: str) -> list[str]:
        """The most specific category: the longest path of a comma list, ties -> the last one."""
        candidates = text.split(",") if profile in ("woocommerce", "magento", "prestashop") else [text]
        separator = r"\s*/\s*" if profile in ("magento", "insales") else r"\s*(?:>|»|\|)\s*"
        best: list[str] = []
        for candidate in candidates:
            path = [p.strip() for p in re.split(separator, candidate) if p.strip()]
            if path and len(path) >= len(best):
                best = path
        return best


def _missing_columns(missing: list[str], columns: ColumnMap) -> str:
    """A header the importer does not know: what it saw and the names it accepts."""
    seen = ", ".join(repr(h[:60]) for h in columns.headers[:40]) + (" …" if len(columns.headers) > 40 else "")
    names = "; ".join(f"{f}: " + ", ".join(accepted(columns.profile, f)) for f in missing)
    platform = "" if columns.profile == "generic" else f" (read as a {columns.profile} export)"
    return (f"CSV header lacks required column(s): {', '.join(missing)}{platform}. Columns seen: {seen}. "
            f"Accepted names — {names}")


_INHERITED = ("name", "description", "short_description", "category", "pictures", "vendor", "price", "currency",
              "old_price", "barcode")


def _variant_groups(records: Iterator[tuple[int, Record]], profile: str) -> Iterator[tuple[int, Record]]:
    """Tilda and Ecwid put a product's variants right after it: a product with variants is not
    an offer itself; each variant is, with the product's fields where it has none of its own."""
    group: list[tuple[int, Record]] = []
    for line, record in records:
        if "id" not in record and "uid" in record:
            record["id"] = record["uid"]  # a Tilda product without SKU: its Tilda UID
        kind = (_first(record, "type") or "").lower()
        if profile == "ecwid" and kind == "product_option":
            continue  # the option's definition; its values ride on the variation rows
        child = kind == "product_variation" if profile == "ecwid" else bool(record.get("parent"))
        if child and group and (profile == "ecwid" or _first(record, "parent") == _first(group[0][1], "uid")):
            group.append((line, record))
            if len(group) > MAX_GROUP_ROWS:
                raise FeedFileError(f"a product has more than {MAX_GROUP_ROWS} variant rows")
            continue
        yield from _emit_group(group)
        group = [(line, record)]
    yield from _emit_group(group)


def _emit_group(group: list[tuple[int, Record]]) -> Iterator[tuple[int, Record]]:
    if len(group) <= 1:
        yield from group
        return
    _, product = group[0]
    product_id = _first(product, "id") or _first(product, "uid") or ""
    for line, record in group[1:]:
        for text in record.get("editions", ()):  # Tilda: "Цвет:Красный;Размер:M"
            for piece in text.split(";"):
                option, _, value = piece.partition(":")
                if value.strip():
                    record["_options"].append((option.strip(), value.strip()))
        for key in _INHERITED:
            if key not in record and key in product:
                record[key] = product[key]
        own = record.get("id") if record.get("id") != product.get("id") else None
        if not own:
            suffix = "/".join(v for _, v in record["_options"]) or str(line)
            record["id"] = [f"{product_id}/{suffix}"]
        record["_attrs"] = [*record["_attrs"], ("group_id", product_id)]
        yield line, record
