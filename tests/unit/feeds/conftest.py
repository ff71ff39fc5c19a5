"""Shared helpers for the feed reader tests: the real-feed folder and a collecting reader."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from chalicelib.feeds import FeedCategory, FeedOffer, RowError, read_feed

SHARED_FEEDS = Path(__file__).parents[3].parent / "shared" / "feeds"


@pytest.fixture(scope="session")
def shared_feeds() -> Path:
    if not SHARED_FEEDS.is_dir():
        pytest.skip(f"real feeds folder {SHARED_FEEDS} is absent (it lives beside the repo)")
    return SHARED_FEEDS


class Parsed:
    def __init__(self, items: list) -> None:
        self.items = items
        self.offers = [i for i in items if isinstance(i, FeedOffer)]
        self.errors = [i for i in items if isinstance(i, RowError)]
        self.categories = [i for i in items if isinstance(i, FeedCategory)]

    def offer(self, offer_id: str) -> FeedOffer:
        return next(o for o in self.offers if o.offer_id == offer_id)


def parse(data: bytes | str, filename: str, **kwargs) -> Parsed:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return Parsed(list(read_feed(io.BytesIO(raw), filename, **kwargs)))


def yml(offers: str, *, currencies: str = '<currency id="RUR" rate="1"/>', categories: str = "",
        head: str = '<?xml version="1.0" encoding="UTF-8"?>', tail_after_offers: str = "") -> str:
    categories = categories or '<category id="1">Root</category>'
    return (
        f'{head}\n<yml_catalog date="2024-01-01 10:00"><shop><name>S</name>'
        f"<currencies>{currencies}</currencies>"
        f"<categories>{categories}</categories>"
        f"<offers>{offers}</offers>{tail_after_offers}</shop></yml_catalog>"
    )


def offer(offer_id: str = "1", price: str = "100", currency: str = "RUR", body: str = "<name>Item</name>",
          attrs: str = "") -> str:
    return (f'<offer id="{offer_id}"{attrs}><price>{price}</price><currencyId>{currency}</currencyId>'
            f"<categoryId>1</categoryId>{body}</offer>")
