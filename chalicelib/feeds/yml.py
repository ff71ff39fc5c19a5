"""YML (Yandex Market Language) reader: a streaming expat parser with its DTD machinery off.

Why expat directly and not ElementTree/defusedxml: we need handlers on the raw parser to refuse
entity declarations and external references, to count depth and field sizes as bytes arrive,
and to build only the small subtrees we use (`offer`, `category`, `currency`) - nothing else of
the document is kept, so memory does not grow with the feed.

Security: parameter-entity parsing is off (an external DTD subset such as the legacy
`<!DOCTYPE yml_catalog SYSTEM "shops.dtd">` is accepted and never read), any `<!ENTITY>`
declaration rejects the file (billion laughs, quadratic blowup, XXE), an external entity
reference rejects the file, depth is capped, a captured text over MAX_FIELD_CHARS is dropped as it
arrives and rejects its offer alone, and a single token
that grows beyond 16 MB without producing an event (a giant comment or tag) rejects the file.

Order: categories and offers are yielded as they close. An offer priced in a currency other
than the target currency needs `<currencies>`; if that element has not been seen yet the offer
is held back (at most MAX_PENDING_OFFERS of them, else FeedFileError) and resolved when
`</currencies>` arrives or at the end of the document (then: "currency not declared").
`row` in a RowError is the line of the `<offer>` / `<category>` start tag.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from decimal import Decimal
from io import BufferedReader
from xml.parsers import expat

from .dedupe import OfferIdSet
from .model import (
    MAX_ATTR_CHARS,
    MAX_FIELD_CHARS,
    MAX_OFFER_ID_CHARS,
    MAX_PENDING_OFFERS,
    MAX_XML_DEPTH,
    FeedCategory,
    FeedFileError,
    FeedOffer,
    RowError,
    RowRejected,
)
from .money import normalize_currency, parse_amount, parse_rate, to_minor
from .rates import NamedRates, parse_plus
from .sanitize import (
    clean_barcodes,
    clean_text,
    clean_url,
    parse_bool,
    parse_stock,
    sanitize_description,
    split_pictures,
)

_CHUNK = 16 * 1024  # small: the offers completed by one Parse() call are held until yielded
_MAX_SILENT_BYTES = 16 * 1024 * 1024
_MAX_CHILDREN = 10_000
_PROLOG_ENCODING_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ROOTS = {"yml_catalog", "torg_price"}
# Offer children turned into FeedOffer fields; every other leaf becomes an attribute.
_CONSUMED = {"name", "price", "oldprice", "currencyId", "categoryId", "picture", "vendor", "model",
             "vendorCode", "barcode", "param", "description", "url", "count", "stock", "quantity",
             "stock_quantity", "outlets", "typePrefix", "available", "id"}
_SKIPPED_OFFER_ATTRS = {"id", "type", "available", "bid", "cbid", "fee", "sbid"}
_WAIT = object()
_CAPTURED = {("offer", "offers"), ("category", "categories"), ("currency", "currencies")}


class _Node:
    __slots__ = ("tag", "attrs", "text", "size", "children", "line")

    def __init__(self, tag: str, attrs: dict[str, str], line: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text: list[str] = []
        self.size = 0
        self.children: list[_Node] = []
        self.line = line

    def value(self) -> str:
        if self.size > MAX_FIELD_CHARS:  # its text was dropped as it arrived: the offer is rejected alone
            raise RowRejected(self.tag, f"<{self.tag}> text is longer than {MAX_FIELD_CHARS} characters")
        return "".join(self.text)


def _declared_encoding(head: bytes) -> str:
    body = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    match = _PROLOG_ENCODING_RE.match(body[:512])
    if not match:
        return "utf-8"
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError as exc:
        raise FeedFileError(f"unsupported XML encoding {match.group(1).decode('ascii', 'replace')!r}") from exc


def _looks_like_utf8(sample: bytes) -> bool:
    """True when a sample with non-ASCII bytes is valid UTF-8 (cp1251 Cyrillic practically never is)."""
    if sample.isascii():
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


class _YmlParser:
    def __init__(self, target_currency: str) -> None:
        self.target = target_currency
        self.parser = expat.ParserCreate()
        p = self.parser
        p.buffer_text = True
        p.buffer_size = 65536
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._data
        p.EntityDeclHandler = self._entity_decl
        p.UnparsedEntityDeclHandler = self._unparsed_entity_decl
        p.ExternalEntityRefHandler = self._external_ref
        self.depth = 0
        self.events = 0
        self.root: str | None = None
        self.stack: list[str] = []
        self.capture: list[_Node] = []
        self.ready: list[tuple[str, _Node | None]] = []

    # --- expat handlers (hot path: keep them short) ---
    def _entity_decl(self, *args: object) -> None:
        raise FeedFileError("XML entity declarations are not allowed")

    def _unparsed_entity_decl(self, *args: object) -> None:
        raise FeedFileError("XML entity declarations are not allowed")

    def _external_ref(self, *args: object) -> int:
        raise FeedFileError("external XML entities and DTDs are not allowed")

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self.events += 1
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise FeedFileError(f"XML is nested deeper than {MAX_XML_DEPTH} levels")
        for value in attrs.values():
            if len(value) > MAX_ATTR_CHARS:
                raise FeedFileError(f"an attribute of <{tag}> is longer than {MAX_ATTR_CHARS} characters")
        capture = self.capture
        if capture:
            parent = capture[-1]
            if len(parent.children) >= _MAX_CHILDREN:
                raise FeedFileError(f"<{parent.tag}> has more than {_MAX_CHILDREN} children")
            node = _Node(tag, attrs, 0)
            parent.children.append(node)
            capture.append(node)
        else:
            stack = self.stack
            parent_tag = stack[-1] if stack else None
            if parent_tag is None:
                self.root = tag
                if tag.lower() not in _ROOTS:
                    raise FeedFileError(f"not a YML feed: the root element is <{tag[:40]}>")
            if (tag, parent_tag) in _CAPTURED:
                capture.append(_Node(tag, attrs, self.parser.CurrentLineNumber))
        self.stack.append(tag)

    def _end(self, tag: str) -> None:
        self.events += 1
        self.depth -= 1
        self.stack.pop()
        capture = self.capture
        if capture:
            node = capture.pop()
            if not capture:
                self.ready.append((node.tag, node))
        elif tag == "currencies":
            self.ready.append(("currencies_end", None))

    def _data(self, text: str) -> None:
        self.events += 1
        capture = self.capture
        if capture:
            node = capture[-1]
            node.size += len(text)
            if node.size > MAX_FIELD_CHARS:
                # memory stays bounded: the text goes, and reading it rejects its offer alone
                # (``_Node.value``) — one shop's base64 pictures in a description must not sink the feed
                node.text.clear()
                return
            node.text.append(text)


class YmlReader:
    """Turns completed subtrees into FeedCategory / FeedOffer / RowError."""

    def __init__(self, target_currency: str, named_rates: NamedRates | None = None) -> None:
        self.target = target_currency
        self.rates: dict[str, Decimal | str] = {}
        self.plus: dict[str, str] = {}  # currency -> `plus` of a named rate, as written
        self.named_rates = named_rates  # CBRF/NBU/NBK/CB tables (feeds/rates.py), None: not resolvable
        self.currencies_seen = False
        self.pending: list[_Node] = []
        self.offer_ids = OfferIdSet()
        self.category_ids: set[str] = set()

    def read(self, reader: BufferedReader) -> Iterator[FeedCategory | FeedOffer | RowError]:
        first = reader.read(_CHUNK)
        encoding = _declared_encoding(first)
        if encoding == "cp1251" and _looks_like_utf8(first):
            raise FeedFileError("the feed declares windows-1251 but its bytes are UTF-8")
        validator = codecs.getincrementaldecoder("utf-8")() if encoding == "utf-8" else None
        state = _YmlParser(self.target)
        chunk, offset, silent = first, 0, 0
        while True:
            final = not chunk
            if validator is not None:
                try:
                    validator.decode(chunk, final=final)
                except UnicodeDecodeError as exc:
                    raise FeedFileError(f"invalid UTF-8 at byte {offset + exc.start}") from exc
            events_before = state.events
            try:
                state.parser.Parse(chunk, final)
            except expat.ExpatError as exc:
                raise FeedFileError(f"XML is not well-formed: {exc}") from exc
            silent = silent + len(chunk) if state.events == events_before else 0
            if silent > _MAX_SILENT_BYTES:
                raise FeedFileError("a single XML token (tag, comment or declaration) is larger than 16 MB")
            offset += len(chunk)
            if state.ready:
                ready, state.ready = state.ready, []
                yield from self._dispatch(ready)
            if final:
                break
            chunk = reader.read(_CHUNK)
        if state.root is None:
            raise FeedFileError("not a YML feed: no root element")
        self.currencies_seen = True
        yield from self._flush_pending()

    def _dispatch(self, ready: list[tuple[str, _Node | None]]) -> Iterator[FeedCategory | FeedOffer | RowError]:
        for kind, node in ready:
            if kind == "offer":
                yield from self._offer(node)  # type: ignore[arg-type]
            elif kind == "category":
                yield from self._category(node)  # type: ignore[arg-type]
            elif kind == "currency":
                self._currency(node)  # type: ignore[arg-type]
            elif kind == "currencies_end":
                self.currencies_seen = True
                yield from self._flush_pending()

    def _flush_pending(self) -> Iterator[FeedOffer | RowError]:
        pending, self.pending = self.pending, []
        for node in pending:
            yield from self._offer(node)

    def _currency(self, node: _Node) -> None:
        try:
            code = normalize_currency(node.attrs.get("id", ""))
        except RowRejected:
            return
        raw = node.attrs.get("rate", "1").strip() or "1"
        rate = parse_rate(raw)
        self.rates.setdefault(code, rate if rate is not None else raw.upper())
        if rate is None and node.attrs.get("plus") is not None:
            self.plus.setdefault(code, node.attrs["plus"])

    def _category(self, node: _Node) -> Iterator[FeedCategory | RowError]:
        category_id = node.attrs.get("id", "").strip()
        try:
            name = clean_text(node.value(), "category")
        except RowRejected as exc:
            yield RowError(node.line, None, "category", exc.reason)
            return
        if not category_id or not name:
            yield RowError(node.line, None, "category", "category needs an id and a name")
            return
        if category_id in self.category_ids:
            yield RowError(node.line, None, "category", f"duplicate category id {category_id!r}")
            return
        self.category_ids.add(category_id)
        parent = (node.attrs.get("parentId") or "").strip()
        yield FeedCategory(category_id, name, None if parent in ("", "0", category_id) else parent)

    # --- offers ---
    def _offer(self, node: _Node) -> Iterator[FeedOffer | RowError]:
        offer_id = (node.attrs.get("id") or "").strip() or None
        try:
            built = self._build(node, offer_id)
        except RowRejected as exc:
            yield RowError(node.line, offer_id, exc.field, exc.reason)
            return
        if built is _WAIT:
            if len(self.pending) >= MAX_PENDING_OFFERS:
                raise FeedFileError(
                    f"more than {MAX_PENDING_OFFERS} foreign-currency offers come before <currencies>;"
                    " put <currencies> before <offers>"
                )
            self.pending.append(node)
            return
        assert isinstance(built, FeedOffer)
        if not self.offer_ids.add(built.offer_id):
            yield RowError(node.line, built.offer_id, "id", "duplicate offer id")
            return
        yield built

    def _convert(self, amount: Decimal, currency: str) -> Decimal | object:
        if currency == self.target:
            return amount
        if not self.currencies_seen:
            return _WAIT
        rate = self.rates.get(currency)
        if rate is None:
            raise RowRejected("currencyId", f"currency {currency} is not declared in <currencies>")
        if not isinstance(rate, Decimal) and self.named_rates is not None:
            return amount * self.named_rates.rate(rate, currency, self.target, parse_plus(self.plus.get(currency)))
        if not isinstance(rate, Decimal):
            raise RowRejected(
                "currencyId",
                f"the rate of {currency} is {rate!r}, a named source that cannot be resolved; "
                "give a numeric rate",
            )
        target_rate = self.rates.get(self.target)
        if target_rate is None:
            has_other_base = any(r == 1 for c, r in self.rates.items() if c != self.target)
            if self.target != "RUB" or has_other_base:
                raise RowRejected("currencyId", f"no exchange rate from {currency} to {self.target}")
            target_rate = Decimal(1)  # YML rates are roubles per unit unless a base says otherwise
        if not isinstance(target_rate, Decimal):
            raise RowRejected("currencyId", f"the rate of {self.target} is a named source ({target_rate!r})")
        return amount * rate / target_rate

    def _build(self, node: _Node, offer_id: str | None) -> FeedOffer | object:
        leaves: dict[str, list[_Node]] = {}
        for child in node.children:
            leaves.setdefault(child.tag, []).append(child)

        def first(tag: str, field: str | None = None) -> str | None:
            nodes = leaves.get(tag)
            return clean_text(nodes[0].value(), field or tag) if nodes else None

        if offer_id is None:
            offer_id = first("id")
        if not offer_id:
            raise RowRejected("id", "offer id is missing")
        if len(offer_id) > MAX_OFFER_ID_CHARS:
            raise RowRejected("id", f"offer id is longer than {MAX_OFFER_ID_CHARS} characters")
        offer_type = (node.attrs.get("type") or "").strip() or "simple"

        price_text = first("price")
        if price_text is None:
            raise RowRejected("price", "price is missing")
        currency_text = first("currencyId")
        if currency_text is None:
            raise RowRejected("currencyId", "currencyId is missing")
        currency = normalize_currency(currency_text)
        converted = self._convert(parse_amount(price_text), currency)
        if converted is _WAIT:
            return _WAIT
        price = to_minor(converted, self.target)  # type: ignore[arg-type]
        old_price = None
        old_text = first("oldprice")
        if old_text:
            try:
                old = self._convert(parse_amount(old_text, "oldprice"), currency)
                old_price = to_minor(old, self.target, "oldprice")  # type: ignore[arg-type]
            except RowRejected:
                old_price = None  # a bad old price only loses the "was" label, not the offer
            if old_price is not None and old_price <= price:
                old_price = None

        vendor, model = first("vendor"), first("model")
        name = self._display_name(offer_type, first, vendor, model)
        if not name:
            raise RowRejected("name", f"name is missing (offer type {offer_type})")

        params: list[tuple[str, str | None, str]] = []
        for param in leaves.get("param", ()):
            p_name = clean_text(param.attrs.get("name"), "param")
            p_value = clean_text(param.value(), "param")
            if p_name and p_value:
                params.append((p_name, clean_text(param.attrs.get("unit"), "param"), p_value))

        stock = None
        for tag in ("count", "stock", "quantity", "stock_quantity"):
            if tag in leaves:
                stock = parse_stock(leaves[tag][0].value())
                if stock is not None:
                    break
        if stock is None and "outlets" in leaves:
            counts = [parse_stock(o.attrs.get("instock")) for o in leaves["outlets"][0].children]
            if any(c is not None for c in counts):
                stock = sum(c for c in counts if c is not None)
        available = parse_bool(node.attrs.get("available"))
        if available is None:
            available = parse_bool(first("available"))
        available = (available is not False) and (stock is None or stock > 0)

        attributes: list[tuple[str, str]] = []
        for key, value in node.attrs.items():
            if key not in _SKIPPED_OFFER_ATTRS and value.strip():
                attributes.append((key, value.strip()))
        for child in node.children:
            if child.tag in _CONSUMED or child.children:
                continue
            text = clean_text(child.value(), child.tag, max_chars=MAX_FIELD_CHARS)
            if text is None:
                continue
            unit = child.attrs.get("unit")
            attributes.append((child.tag, f"{text} {unit.strip()}" if unit and unit.strip() else text))
        if "condition" in leaves:
            condition = leaves["condition"][0]
            if condition.attrs.get("type"):
                attributes.append(("condition", condition.attrs["type"].strip()))

        return FeedOffer(
            offer_id=offer_id,
            name=name,
            offer_type=offer_type,
            price=price,
            currency=self.target,
            old_price=old_price,
            category_id=first("categoryId", "categoryId"),
            category_name=None,
            pictures=split_pictures([p.value() for p in leaves.get("picture", ())]),
            vendor=vendor,
            model=model,
            vendor_code=first("vendorCode"),
            barcodes=clean_barcodes([b.value() for b in leaves.get("barcode", ())]),
            params=tuple(params),
            description=sanitize_description(leaves["description"][0].value() if "description" in leaves else None),
            available=available,
            stock=stock,
            url=clean_url(first("url")),
            attributes=tuple(attributes),
        )

    @staticmethod
    def _display_name(offer_type, first, vendor, model) -> str | None:  # type: ignore[no-untyped-def]
        name = first("name")
        vendor_model = " ".join(x for x in (first("typePrefix"), vendor, model) if x) if model else None
        if offer_type == "vendor.model":
            return vendor_model or name
        if offer_type in ("book", "audiobook"):
            author = first("author")
            return f"{author} — {name}" if author and name else name
        if offer_type == "artist.title":
            title = first("title") or name
            artist = first("artist")
            return f"{artist} — {title}" if artist and title else title
        return name or vendor_model or first("title")
