"""Human-readable money for emails and pages: integer minor units + ISO 4217 code -> text.

Display only: nothing here does arithmetic. The chosen formats:

- ``ru``: ``1 028,00 ₽`` — digits grouped by three with a no-break space (U+00A0), decimal
  comma, then a no-break space and the symbol (``₽ $ € £ ₸ ₴``) or the ISO code for other
  currencies (``5,00 CNY``). The no-break spaces keep an amount on one line in mail clients.
- ``en``: ``RUB 1,028.00`` — comma grouping, decimal point, the ISO code and a no-break space
  first. The unambiguous ``$ € £`` are written as symbols (``$10.00``); ``₽`` is not used in
  English text because many English readers don't know it (CLDR's ``en`` does the same).

Negative amounts (refund lines) get a leading ``-``. Currencies without minor units (JPY, KRW)
or with three (KWD, BHD) follow ISO 4217 exponents; every other code is taken to have two.
"""

from __future__ import annotations

import re

NBSP = "\u00a0"

_ZERO_DECIMALS = (
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
    "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
)  # fmt: skip
_THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS, 0),
    **dict.fromkeys(_THREE_DECIMALS, 3),
}
_RU_SYMBOLS = {"RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£", "KZT": "₸", "UAH": "₴"}
_EN_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_CURRENCY = re.compile(r"[A-Z]{3}")


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal separator for ``currency`` (ISO 4217; 2 when not listed)."""
    return _EXPONENTS.get(currency, 2)


def format_money(amount_minor: int, currency: str, lang: str) -> str:
    """Format ``amount_minor`` (e.g. ``102800``) of ``currency`` (``"RUB"``) for ``lang``.

    ``lang`` other than ``"ru"`` gets the English format. Floats and bools are refused: a
    price that arrives as a float has already lost precision somewhere upstream.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"amount_minor must be an int of minor units, not {type(amount_minor).__name__}")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError(f"currency must be an ISO 4217 code like 'RUB', got {currency!r}")

    exponent = minor_unit_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    grouped = f"{major:,}"  # "1,028"
    fraction = f"{minor:0{exponent}d}" if exponent else ""

    if lang == "ru":
        number = grouped.replace(",", NBSP) + ("," + fraction if fraction else "")
        return f"{sign}{number}{NBSP}{_RU_SYMBOLS.get(currency, currency)}"

    number = grouped + ("." + fraction if fraction else "")
    symbol = _EN_SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{currency}{NBSP}{number}"
