"""Prices: feed text -> exact Decimal -> integer minor units, and currency codes.

Floats never touch a price. Conversion multiplies Decimals and rounds once, half-up, at the
end. Rules for separators (sellers write `1 250,00`, `1250.00`, `1,250.00`, `4,20`):

* spaces of any kind (incl. NBSP, thin space) and `'` are thousands separators and are dropped;
* if both `.` and `,` occur, the one that comes last is the decimal separator, the other one
  must group digits by three;
* a lone `,` or `.` is the decimal separator (so `4,20` is 4.20, never 420); repeated ones must
  group digits by three (`1,250,000`);
* signs, exponents (`3.6E+11`), and letters are rejected (a negative number is reported as such).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .model import MAX_PRICE_MINOR, RowRejected

# ISO 4217 minor-unit exponents that differ from 2.
_EXPONENT = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF", "BYR"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
# Older names still written by feed generators.
_ALIASES = {"RUR": "RUB"}
_SYMBOLS = {"₽": "RUB", "РУБ": "RUB", "Р": "RUB", "$": "USD", "€": "EUR", "£": "GBP", "₴": "UAH",
            "₸": "KZT", "¥": "JPY"}

_CODE_RE = re.compile(r"^[A-Z]{3}$")
_SPACES_RE = re.compile(r"[\s\u00a0\u2007\u2009\u202f']+")
_GROUPED_RE = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")
_PLAIN_RE = re.compile(r"^\d+$")


def normalize_currency(code: str) -> str:
    """Return the ISO code for a feed's currency id (`rur` -> `RUB`); reject anything else."""
    cleaned = code.strip().upper().rstrip(".")
    cleaned = _SYMBOLS.get(cleaned, cleaned)
    cleaned = _ALIASES.get(cleaned, cleaned)
    if not _CODE_RE.match(cleaned):
        raise RowRejected("currency", f"unknown currency code {code.strip()[:20]!r}")
    return cleaned


def parse_amount(text: str, field: str = "price") -> Decimal:
    """Parse a non-negative decimal number written the way sellers write them."""
    raw = _SPACES_RE.sub("", text.strip())
    if not raw:
        raise RowRejected(field, f"{field} is empty")
    if raw[0] in "-\u2212" and raw[1:2].isdigit():  # a sign is never accepted, but say what is wrong
        raise RowRejected(field, f"{field} {text.strip()[:40]!r} is negative")
    last_dot, last_comma = raw.rfind("."), raw.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_at = max(last_dot, last_comma)
        integer, fraction = raw[:decimal_at], raw[decimal_at + 1 :]
        if not _GROUPED_RE.match(integer):
            raise RowRejected(field, f"{field} {text.strip()[:40]!r} is not a number")
        integer = integer.replace(",", "").replace(".", "")
    elif raw.count(",") + raw.count(".") > 1:
        if not _GROUPED_RE.match(raw):
            raise RowRejected(field, f"{field} {text.strip()[:40]!r} is not a number")
        integer, fraction = raw.replace(",", "").replace(".", ""), ""
    else:
        integer, _, fraction = raw.replace(",", ".").partition(".")
    integer = integer or "0"
    if not _PLAIN_RE.match(integer) or (fraction and not _PLAIN_RE.match(fraction)):
        raise RowRejected(field, f"{field} {text.strip()[:40]!r} is not a number")
    if len(integer) > 15 or len(fraction) > 12:
        raise RowRejected(field, f"{field} {text.strip()[:40]!r} is out of range")
    try:
        return Decimal(f"{integer}.{fraction or '0'}")
    except InvalidOperation as exc:  # pragma: no cover - the regexes above make this unreachable
        raise RowRejected(field, f"{field} {text.strip()[:40]!r} is not a number") from exc


def to_minor(amount: Decimal, currency: str, field: str = "price") -> int:
    """Round a major-unit amount to integer minor units, half-up; reject <= 0 and absurd values."""
    exponent = _EXPONENT.get(currency, 2)
    minor = int((amount * (Decimal(10) ** exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if minor <= 0:
        raise RowRejected(field, f"{field} must be greater than zero")
    if minor > MAX_PRICE_MINOR:
        raise RowRejected(field, f"{field} is implausibly large")
    return minor


def parse_rate(text: str) -> Decimal | None:
    """A YML currency rate: a positive number, or None for a named source (CBRF, NBU, CB...)."""
    try:
        rate = parse_amount(text, "rate")
    except RowRejected:
        return None
    return rate if rate > 0 else None
