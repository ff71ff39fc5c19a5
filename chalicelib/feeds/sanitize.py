"""Cleaning of untrusted text shared by the YML and CSV readers.

HTML goes through nh3 (ammonia) with a small allow-list: the storefront renders descriptions
as HTML, so anything that could run script, load resources or style the page is dropped.
URLs must be absolute http(s). Identifiers such as barcodes stay strings, and values that only
a spreadsheet could have produced (`3.65E+11`) are refused instead of "repaired". Text that
merely starts like a spreadsheet formula (`+/-2 EV`, `-20 °C`, `=`) is product data and is kept:
it is neutralized only where the system writes CSV (``chalicelib/domain/spreadsheet.py``).
"""

from __future__ import annotations

import html
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import nh3

from .model import MAX_NAME_CHARS, MAX_PICTURES, MAX_URL_CHARS, RowRejected

_ALLOWED_TAGS = {
    "p", "br", "hr", "b", "strong", "i", "em", "u", "s", "sub", "sup", "small", "span", "div",
    "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
    "code", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "a",
}
_ALLOWED_ATTRS = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
_TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WS_RE = re.compile(r"\s+")
_BARCODE_RE = re.compile(r"^(?:\d{8}|\d{12,14})$")
_PICTURE_SPLIT_RE = re.compile(r"[\s,|;]+(?=https?://)", re.IGNORECASE)
_TRUE = {"1", "true", "yes", "y", "on", "in stock", "in_stock", "instock", "available", "да", "есть",
         "в наличии", "sim", "verdadeiro", "ja", "oui", "si", "sí", "preorder", "backorder"}
_FALSE = {"0", "false", "no", "n", "off", "out of stock", "out_of_stock", "outofstock", "нет",
          "не в наличии", "não", "nao", "falso", "nein", "non", "discontinued", "unavailable"}


def clean_text(value: str | None, field: str, *, max_chars: int = MAX_NAME_CHARS) -> str | None:
    """One-line text: control characters removed, whitespace collapsed; None when empty."""
    if value is None:
        return None
    text = _WS_RE.sub(" ", _CONTROL_RE.sub("", value)).strip()
    if not text:
        return None
    if "\ufffd" in text:
        # U+FFFD means some earlier program already failed to decode this text.
        raise RowRejected(field, f"{field} contains U+FFFD replacement characters (broken encoding)")
    if len(text) > max_chars:
        raise RowRejected(field, f"{field} is longer than {max_chars} characters")
    return text


def sanitize_description(value: str | None) -> str:
    """Safe HTML for the product page; plain text keeps its line breaks."""
    if not value:
        return ""
    text = _CONTROL_RE.sub("", value).strip()
    if not text:
        return ""
    if not _TAG_RE.search(text):
        return html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br>\n")
    cleaned = nh3.clean(
        text,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
    return cleaned.strip()


def clean_url(value: str | None) -> str | None:
    """An absolute http(s) URL, or None: other schemes (javascript:, file:, data:) are dropped."""
    if not value:
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or _CONTROL_RE.search(url) or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def split_pictures(values: list[str]) -> tuple[str, ...]:
    """Picture URLs from cells/elements that may hold several (`a.jpg, b.jpg`, `a | b`)."""
    seen: dict[str, None] = {}
    for value in values:
        for piece in _PICTURE_SPLIT_RE.split(value.strip()):
            url = clean_url(piece.strip().rstrip(",;|").strip())
            if url:
                seen.setdefault(url, None)
    return tuple(seen)[:MAX_PICTURES]


def clean_barcodes(values: list[str]) -> tuple[str, ...]:
    """EAN/UPC/GTIN strings; values a spreadsheet mangled (`3.65275E+11`) or non-digits are dropped."""
    seen: dict[str, None] = {}
    for value in values:
        for piece in re.split(r"[\s,;|]+", value.strip()):
            if _BARCODE_RE.match(piece):
                seen.setdefault(piece, None)
    return tuple(seen)


def parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    key = value.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def parse_stock(value: str | None) -> int | None:
    """A stock count (`12`, `12.0`, `12,0`); blank or unparseable -> None; negative -> 0."""
    if value is None or not value.strip():
        return None
    try:
        number = Decimal(value.strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return max(0, min(int(number), 10**9))
