"""`read_feed`: pick the container and the format, then delegate to the YML or CSV reader."""

from __future__ import annotations

import typing
from collections.abc import Iterator

from .compression import open_feed
from .csv_reader import CsvReader
from .model import FeedCategory, FeedFileError, FeedOffer, RowError, RowRejected
from .money import normalize_currency
from .rates import NamedRates
from .yml import YmlReader

_XML_EXTENSIONS = (".yml", ".xml", ".yaml")
_CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
_CONTAINERS = (".gz", ".zip")


def _format(name: str, head: bytes) -> str:
    lower = name.lower()
    if lower.endswith(_XML_EXTENSIONS):
        return "yml"
    if lower.endswith((".csv", ".tsv")):
        return "csv"
    if lower.endswith(".txt") or "." not in lower.rsplit("/", 1)[-1]:
        # Sniff: XML starts with `<` after an optional BOM and whitespace; anything else is CSV.
        return "yml" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "csv"
    raise FeedFileError(
        f"unsupported file type {name.rsplit('/', 1)[-1][:80]!r}: upload .yml, .xml, .csv, .tsv, "
        ".txt, or one of them in .gz or .zip"
    )


def read_feed(
    stream: typing.BinaryIO,
    filename: str,
    *,
    target_currency: str = "RUB",
    max_decompressed_bytes: int = 512 * 1024 * 1024,
    named_rates: NamedRates | None = None,
) -> Iterator[FeedCategory | FeedOffer | RowError]:
    """Yield categories, offers and row errors of one feed file, streaming; see the package doc.
    ``named_rates``: the central banks' tables YML rates like ``CBRF`` name (``feeds/rates.py``)."""
    lower = filename.lower()
    base = lower[:-3] if lower.endswith(".gz") else lower
    if not (base.endswith(_XML_EXTENSIONS + _CSV_EXTENSIONS) or lower.endswith(_CONTAINERS)):
        _format(filename, b"x")  # raises the unsupported-extension error before any read
    try:
        target = normalize_currency(target_currency)
    except RowRejected as exc:
        raise ValueError(f"bad target_currency {target_currency!r}") from exc
    reader, inner_name = open_feed(stream, filename, max_decompressed_bytes)
    kind = _format(inner_name, reader.peek(512)[:512])
    if kind == "yml":
        yield from YmlReader(target, named_rates).read(reader)
    else:
        yield from CsvReader(target, inner_name).read(reader)
