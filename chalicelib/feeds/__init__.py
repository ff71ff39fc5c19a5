"""Seller feed reading: bytes in, validated rows out. No AWS, no IO beyond the given stream.

`read_feed(stream, filename)` yields, in file order, `FeedCategory` (YML category tree),
`FeedOffer` (one valid, normalized offer) and `RowError` (one rejected row: line, offer id,
field, reason). A `FeedFileError` means the whole file is rejected.

Contract with the caller - IMPORTANT: reading streams, so a file-level error can surface
*after* some rows were yielded (a zip bomb detected at byte 500 M, a second file in a zip, a
malformed tag near the end, invalid UTF-8 on the last line). The caller must stage what it
receives and commit only when iteration finished without FeedFileError; on FeedFileError
it discards the staged rows and changes nothing.

Modules:
  reader.py       read_feed: container + format detection (extension, then content sniffing)
  compression.py  plain / gzip / zip (one feed file, junk entries skipped), decompression cap
  yml.py          YML over expat with entities/DTD loading off, depth and field caps
  csv_reader.py   CSV/TSV: encoding, delimiter, platform column maps, variant rows
  columns.py      header names -> canonical fields (ours + Shopify, WooCommerce, PrestaShop,
                  Magento, Google Merchant, Simpla)
  money.py        exact Decimal prices -> integer minor units, currency codes
  sanitize.py     HTML allow-list (nh3), URLs, barcodes, booleans
  dedupe.py       first-wins duplicate offer ids in ~16 bytes per id
  model.py        the yielded dataclasses, FeedFileError and every limit
README.md beside this file documents the accepted CSV columns and the decisions taken.

Memory is flat in the feed size except for duplicate detection (~16 bytes per distinct offer
id) and, for YML, foreign-currency offers that precede `<currencies>` (bounded).
"""

from .model import FeedCategory, FeedFileError, FeedOffer, RowError
from .reader import read_feed

__all__ = ["FeedCategory", "FeedFileError", "FeedOffer", "RowError", "read_feed"]
