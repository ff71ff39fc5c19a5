"""People-written text cannot put a link into a marketplace email: URLs, domains (any script)
and email addresses are defanged, numbers and plain words are left alone, and our own action
links stay exactly as issued."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.notify.defang import defang
from chalicelib.notify.emails import KINDS, render_email

from .conftest import LINKS
from .html_check import tags


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("https://evil.example/login", "hxxps://evil[.]example/login"),
        ("Pay at http://evil.example/x now", "Pay at hxxp://evil[.]example/x now"),
        ("HTTPS://Bank.Example.com:8443/a?b=c", "hxxpS://Bank[.]Example[.]com:8443/a?b=c"),
        ("ftp://files.example/f", "fxp://files[.]example/f"),
        ("www.evil.com", "www[.]evil[.]com"),
        ("visit evil.com today", "visit evil[.]com today"),
        ("(see evil.com).", "(see evil[.]com)."),
        ("a.b.evil.co.uk", "a[.]b[.]evil[.]co[.]uk"),
        ("пример.рф", "пример[.]рф"),
        ("https://пример.рф/вход", "hxxps://пример[.]рф/вход"),
        ("сбербанк.онлайн", "сбербанк[.]онлайн"),
        ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd[.]xn--p1ai"),
        ("evil\u3002com", "evil[.]com"),  # an ideographic full stop is a dot to IDNA
        ("evil\uff0ecom", "evil[.]com"),
        ("write to support@evil.com", "write to support@evil[.]com"),
        ("http://10.0.0.1/admin", "hxxp://10[.]0[.]0[.]1/admin"),
        ("server 192.168.1.1", "server 192[.]168[.]1[.]1"),
        ("x.com", "x[.]com"),
    ],
)
def test_urls_domains_and_emails_are_defanged(written: str, shown: str) -> None:
    assert defang(written) == shown


@pytest.mark.parametrize(
    "text",
    ["Teapot 2.5 l", "v1.2.3", "1.028,00 ₽", "e.g. green tea", "U.S.A.", "Ph.D. thesis", "Tea & Co",
     "г. Москва, ул. Тверская, д. 1", "RP123456789RU", "Чайник 1.5 л", ""],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert defang(text) == text


def test_dotted_words_that_are_not_domains_are_defanged_too() -> None:
    # The documented price of keeping no TLD list: cosmetic, never a link.
    assert defang("Node.js book, ул.Ленина") == "Node[.]js book, ул[.]Ленина"


@pytest.mark.parametrize("text", ["https://evil.example/login", "a.b.evil.com", "support@пример.рф", "10.0.0.1"])
def test_defanging_twice_changes_nothing_more(text: str) -> None:
    once = defang(text)
    assert defang(once) == once


@pytest.mark.parametrize("hostile", ["a." * 5000, "1." * 5000, "a-" * 5000, ("x" * 60 + ".") * 150 + "1"])
def test_long_hostile_text_is_scanned_in_linear_time(hostile: str) -> None:
    started = time.perf_counter()
    defang(hostile)
    assert time.perf_counter() - started < 0.5


EVIL = "https://evil.example/login"


def _hostile_context(context: dict[str, Any]) -> dict[str, Any]:
    order = context["order"]
    order["seller_name"] = f"Shop {EVIL}"
    order["customer_name"] = "Ivan www.evil.com"
    order["items"][0]["name"] = f"Teapot, pay at {EVIL}"
    order["delivery"]["name"] = "Courier via evil.com"
    order["address"] = "Moscow, see пример.рф or mail help@evil.com"
    return {**context, "reason": f"Refund at {EVIL}", "tracking_number": "track.evil.com"}


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_emails_carry_no_link_people_wrote_and_keep_our_own(kind: str, lang: str, context: dict[str, Any]) -> None:
    email = render_email(kind, lang, _hostile_context(context))
    for body in (email.html, email.text):
        assert "evil.example" not in body and "evil.com" not in body and "пример.рф" not in body
    assert {a["href"] for t, a in tags(email.html) if t == "a"} <= set(LINKS.values())
    if kind == "new_order":
        assert "hxxps://evil[.]example/login" in email.text and "пример[.]рф" in email.text
        assert "hxxps://evil[.]example/login" in email.html
        for action in ("confirm", "cancel"):
            assert LINKS[action] in email.text
            assert LINKS[action] in [a["href"] for t, a in tags(email.html) if t == "a"]
