"""Reads rendered HTML the way a browser would, to prove what it could load or run."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Attributes through which a page or an email makes the client fetch something by itself.
_FETCHING_ATTRS = {"src", "srcset", "background", "poster", "data", "formaction", "ping", "lowsrc"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(html: str) -> list[tuple[str, dict[str, str]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.tags


def assert_self_contained(html: str, allowed_urls: set[str]) -> None:
    """No scripts, no loaded resources, and the only URLs are the ones we passed in."""
    found = tags(html)
    names = {t for t, _ in found}
    assert not names & {"script", "link", "img", "object", "embed", "base", "meta-refresh"}
    for tag, attrs in found:
        assert not _FETCHING_ATTRS & attrs.keys(), (tag, attrs)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)  # no inline handlers
        if tag == "meta":
            assert attrs.get("http-equiv", "").lower() != "refresh"
        for attr in ("href", "action"):
            if attr in attrs:
                assert attrs[attr] in allowed_urls, (tag, attr, attrs[attr])
    assert not re.search(r"url\s*\(|@import", html, re.IGNORECASE)
    # Whatever mentions http must be one of the given links.
    stripped = html
    for url in allowed_urls:
        stripped = stripped.replace(url, "").replace(url.replace("&", "&amp;"), "")
    assert "http" not in stripped.lower()
