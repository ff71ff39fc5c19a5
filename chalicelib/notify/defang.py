"""Defanging: people-written text that cannot become a link in anyone's mail client.

Product and delivery names, shop names, customer names, addresses, cancellation reasons and
tracking numbers are written by sellers and customers, and our emails carry them to other
people. Mail clients turn anything that looks like a URL, a domain or an email address into a
link, so a product called "Pay here: https://evil.example/login" would put a phishing link
in a mail that comes from the marketplace. ``defang`` rewrites such text the way security
reports do, so it stays readable but no client links it:

===================================  ======================================
written                              shown
===================================  ======================================
``https://evil.example/login``       ``hxxps://evil[.]example/login``
``ftp://files.example``              ``fxp://files[.]example``
``www.evil.com``, ``evil.com``       ``www[.]evil[.]com``, ``evil[.]com``
``пример.рф``, ``xn--e1afmkfd.xn--p1ai``  ``пример[.]рф``, ``xn--e1afmkfd[.]xn--p1ai``
``support@evil.com``                 ``support@evil[.]com``  (no ``mailto:`` link either)
``http://10.0.0.1/``, ``10.0.0.1``   ``hxxp://10[.]0[.]0[.]1/``, ``10[.]0[.]0[.]1``
``evil。com`` (ideographic dot)       ``evil[.]com``
===================================  ======================================

What counts as a domain: dot-separated labels ending in a label of two or more letters of any
script (or a punycode ``xn--`` label). There are 1,500 top-level domains and more every year,
so no list is kept; the price is that dotted words which are not domains ("Node.js",
"ул.Ленина") are shown defanged too — harmless, where a missed domain is a phishing link.
Numbers ("2.5 kg", "v1.2", "1.028,00") are never touched. Defanging is idempotent.

Our own links (action links, the order page) never pass through here: templates render them
from ``links``, not from people-written text. Pure: no AWS, no settings.
"""

from __future__ import annotations

import re

# "." and the dots IDNA treats as one (ideographic, fullwidth, halfwidth ideographic).
_DOT = "[.\u3002\uff0e\uff61]"
# A label is any run of letters, digits, "_" and "-" in any script: broader than DNS allows,
# because what matters is what a mail client might link, and a label it would not accept only
# costs a harmless "[.]".
_LABEL = r"[\w-]+"
_TLD = r"(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)"
# A host starts where no label ends right before it: one attempt per dotted chain keeps the
# scan linear on hostile input such as "a.a.a.…" (and the chain's first label covers the rest).
_HOST = re.compile(rf"(?<![\w-])(?<![\w-]{_DOT})(?:{_LABEL}{_DOT})+{_TLD}(?![^\W_])", re.IGNORECASE)
_IPV4 = re.compile(rf"(?<![\w.])\d{{1,3}}(?:{_DOT}\d{{1,3}}){{3}}(?!\w|{_DOT}\d)")
_DOTS = re.compile(_DOT)
_SCHEMES = ((re.compile(r"\bhttp(?=s?:)", re.IGNORECASE), "hxxp"), (re.compile(r"\bftp(?=s?:)", re.IGNORECASE), "fxp"))


def _defang_dots(match: re.Match[str]) -> str:
    return _DOTS.sub("[.]", match.group(0))


def defang(text: str) -> str:
    """``text`` with every URL scheme, domain, email domain and IPv4 address made unlinkable."""
    if not text:
        return text
    for scheme, replacement in _SCHEMES:
        text = scheme.sub(replacement, text)
    text = _HOST.sub(_defang_dots, text)
    return _IPV4.sub(_defang_dots, text)
