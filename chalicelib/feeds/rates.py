"""Currency rates named by a source in YML (`<currency id="USD" rate="CBRF" plus="2"/>`).

A named rate means "what this central bank published today", optionally raised by `plus`
percent. The banks publish in their own currency:

| name | bank | rates in |
|---|---|---|
| `CBRF` | Bank of Russia | RUB |
| `NBU` | National Bank of Ukraine | UAH |
| `NBK` | National Bank of Kazakhstan | KZT |
| `CB` | the central bank of the shop's own currency (the import's target): RUB → CBRF, UAH → NBU, KZT → NBK | |

``NamedRates`` holds the published tables (loaded by ``services/rates.py`` from the daily
rates table, lazily: only a feed that names a source reads it) and converts one currency to
the target through the bank's own currency when they differ. Parsers of the banks' published
formats are here too (bytes in, ``{code: Decimal}`` out, per one unit). Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

from .model import RowRejected
from .money import parse_amount

SOURCES = {"CBRF": "RUB", "NBU": "UAH", "NBK": "KZT"}
CB_OF = {home: source for source, home in SOURCES.items()}
MAX_PLUS = Decimal(100)

Table = dict[str, Decimal]  # currency code -> units of the bank's own currency per 1 unit


class NamedRates:
    """Today's published tables, ``{source: table}``; ``loader`` is called on first use."""

    def __init__(self, loader: Callable[[], dict[str, Table]]) -> None:
        self._loader = loader
        self._tables: dict[str, Table] | None = None

    def _table(self, source: str) -> Table | None:
        if self._tables is None:
            self._tables = self._loader()
        return self._tables.get(source)

    def source_for(self, name: str, target: str) -> str:
        """``name`` as written (CBRF, NBU, NBK, CB) → a source we have tables for."""
        if name == "CB":
            source = CB_OF.get(target)
            if source is None:
                raise RowRejected("currencyId", f"rate \"CB\" has no central bank for {target}")
            return source
        if name not in SOURCES:
            raise RowRejected("currencyId", f"unknown rate source {name[:20]!r}: use a number, CBRF, NBU, NBK or CB")
        return name

    def _in_home(self, source: str, currency: str) -> Decimal | None:
        if currency == SOURCES[source]:
            return Decimal(1)
        table = self._table(source)
        return None if table is None else table.get(currency)

    def rate(self, name: str, currency: str, target: str, plus: Decimal = Decimal(0)) -> Decimal:
        """Units of ``target`` per 1 ``currency`` by ``name``'s published rate, raised ``plus`` %."""
        source = self.source_for(name, target)
        if self._table(source) is None:
            raise RowRejected("currencyId", f"no {source} rates are available today; the rate of {currency} "
                                            "is unknown")
        per_unit = self._in_home(source, currency)
        if per_unit is None:
            raise RowRejected("currencyId", f"{source} publishes no rate for {currency}")
        target_per_home = Decimal(1)
        if target != SOURCES[source]:
            home_in_target = self._in_home(source, target)  # the bank's own rate of the target currency
            if not home_in_target:
                raise RowRejected("currencyId", f"{source} publishes no rate for {target}, the shop's currency")
            target_per_home = 1 / home_in_target
        return per_unit * target_per_home * (1 + plus / 100)


def parse_plus(text: str | None) -> Decimal:
    """The `plus` attribute: a percentage 0–100 (YML: the seller's margin over the bank's rate)."""
    if text is None or not text.strip():
        return Decimal(0)
    value = parse_amount(text, "plus")
    if value > MAX_PLUS:
        raise RowRejected("currencyId", f"plus {text.strip()[:20]!r} is more than {MAX_PLUS}%")
    return value


# --- the banks' published formats ---------------------------------------------------------------


def _decimal(text: str | None) -> Decimal | None:
    try:
        value = Decimal((text or "").strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        return None
    return value if value > 0 else None


def _per_unit(value: str | None, units: str | None) -> Decimal | None:
    rate, nominal = _decimal(value), _decimal(units or "1")
    return None if rate is None or nominal is None else rate / nominal


def parse_cbrf(data: bytes) -> tuple[str, Table]:
    """Bank of Russia's XML_daily: ``(date DD.MM.YYYY, {code: roubles per unit})``."""
    root = ElementTree.fromstring(data)  # noqa: S314 - the bank's document: no DTD, expat refuses entities
    table = {}
    for valute in root.iter("Valute"):
        rate = _per_unit(valute.findtext("Value"), valute.findtext("Nominal"))
        code = (valute.findtext("CharCode") or "").strip().upper()
        if rate is not None and len(code) == 3:
            table[code] = rate
    return root.get("Date", ""), table


def parse_nbu(data: bytes) -> tuple[str, Table]:
    """National Bank of Ukraine's JSON: ``(date, {code: hryvnias per unit})``."""
    rows = json.loads(data)
    table, date = {}, ""
    for row in rows if isinstance(rows, list) else []:
        code = str(row.get("cc") or "").strip().upper()
        rate = _decimal(str(row.get("rate")))
        if rate is not None and len(code) == 3:
            table[code] = rate
            date = date or str(row.get("exchangedate") or "")
    return date, table


def parse_nbk(data: bytes) -> tuple[str, Table]:
    """National Bank of Kazakhstan's rates XML: ``(date, {code: tenge per unit})``."""
    root = ElementTree.fromstring(data)  # noqa: S314 - as above
    table = {}
    for item in root.iter("item"):
        rate = _per_unit(item.findtext("description"), item.findtext("quant"))
        code = (item.findtext("title") or "").strip().upper()
        if rate is not None and len(code) == 3:
            table[code] = rate
    return (root.findtext("date") or "").strip(), table


PARSERS = {"CBRF": parse_cbrf, "NBU": parse_nbu, "NBK": parse_nbk}
