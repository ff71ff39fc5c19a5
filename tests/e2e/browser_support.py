"""The fixtures of the real-browser tests (``test_browser.py``, ``test_payment_page_browser.py``;
registered in ``tests/conftest.py``): ``browser``, Debian's headless Chromium driven by
Playwright, one per module; ``tab``, a fresh page in it with JavaScript on and every URL it
requested (the tests check the pages load nothing from elsewhere). Without ``/usr/bin/chromium`` a test asking for it
is skipped (``make browser-deps`` installs it), except in CI, where it never skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (make browser-deps installs it; "
                    "in CI this test never skips)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    context: Any
    page: Any
    requested: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser) -> Iterator[Tab]:
    context = browser.new_context(java_script_enabled=True)
    opened = Tab(context, None)
    context.on("request", lambda req: opened.requested.append(req.url))
    opened.page = context.new_page()
    yield opened
    context.close()
