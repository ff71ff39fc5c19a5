"""Memory stays flat as the feed grows: 10x the offers must not cost 1.3x the peak memory.

The one structure that must grow is the set of offer ids seen (first-wins duplicate detection);
it is measured on its own, held to <= 40 bytes per id, and taken out of the ratio.
"""

from __future__ import annotations

import io
import tracemalloc

import pytest

from chalicelib.feeds import FeedOffer, read_feed
from chalicelib.feeds.dedupe import OfferIdSet


def _yml(count: int) -> bytes:
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE yml_catalog SYSTEM "shops.dtd">\n'
            '<yml_catalog date="2024-01-01 10:00"><shop><currencies><currency id="RUR" rate="1"/>'
            '</currencies><offers>\n')
    body = b"".join(
        f'<offer id="SKU-{i}"><name>Товар {i}</name><price>{i % 900 + 1}.50</price><currencyId>RUR</currencyId>'
        f"</offer>\n".encode()
        for i in range(count)
    )
    return head.encode() + body + b"</offers></shop></yml_catalog>\n"


def _csv(count: int) -> bytes:
    body = "".join(f'SKU-{i};"Товар\n{i}";"{i % 900 + 1},50"\r\n' for i in range(count))
    return ("id;name;price\r\n" + body).encode()


def _peak(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _id_set_peak(count: int) -> int:
    """Peak memory of the duplicate-id set alone: the one structure that must grow with the feed."""
    ids = [f"SKU-{i}" for i in range(count)]

    def fill() -> None:
        seen = OfferIdSet()
        for offer_id in ids:
            seen.add(offer_id)

    return _peak(fill)


def _parse_peak(data: bytes, filename: str) -> int:
    stream = io.BytesIO(data)
    counted = []
    peak = _peak(lambda: counted.append(sum(isinstance(i, FeedOffer) for i in read_feed(stream, filename))))
    assert counted[0] in (1_000, 10_000, 100_000)
    return peak


def _assert_flat(make, filename: str, small_count: int, big_count: int) -> None:
    small, big = _parse_peak(make(small_count), filename), _parse_peak(make(big_count), filename)
    ids_small, ids_big = _id_set_peak(small_count), _id_set_peak(big_count)
    ratio = (big - ids_big) / (small - ids_small)
    print(f"{filename}: peak {small / 1e6:.2f} MB -> {big / 1e6:.2f} MB, of which the id set "
          f"{ids_small / 1e6:.2f} -> {ids_big / 1e6:.2f} MB; the rest x{ratio:.2f}")
    assert ratio <= 1.3
    # The id set itself stays small: at most 40 bytes per distinct offer id.
    assert ids_big <= 40 * big_count


# tracemalloc slows allocation-heavy parsing ~10x, so the default run compares 1k with 10k
# offers (~5 s); the 10k-vs-100k comparison is marked slow (~60 s).
SIZES = [(1_000, 10_000), pytest.param(10_000, 100_000, marks=pytest.mark.slow)]


@pytest.mark.parametrize(("small_count", "big_count"), SIZES)
def test_yml_memory_is_flat_as_the_feed_grows(small_count, big_count):
    _assert_flat(_yml, "big.yml", small_count, big_count)


@pytest.mark.parametrize(("small_count", "big_count"), SIZES)
def test_csv_memory_is_flat_as_the_feed_grows(small_count, big_count):
    _assert_flat(_csv, "big.csv", small_count, big_count)
