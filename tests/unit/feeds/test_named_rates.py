"""Named currency rates (`rate="CBRF"`, NBU, NBK, CB, with `plus`): the banks' published
documents (the fixtures in local/rates/, in the banks' own formats) and YML offers priced
through them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.feeds.rates import NamedRates, parse_cbrf, parse_nbk, parse_nbu

from .conftest import offer, parse, yml

FIXTURES = Path(__file__).parents[3] / "local" / "rates"


def tables():
    return {"CBRF": parse_cbrf((FIXTURES / "cbrf.xml").read_bytes())[1],
            "NBU": parse_nbu((FIXTURES / "nbu.json").read_bytes())[1],
            "NBK": parse_nbk((FIXTURES / "nbk.xml").read_bytes())[1]}


def test_each_banks_document_gives_the_rate_per_one_unit():
    date, cbrf = parse_cbrf((FIXTURES / "cbrf.xml").read_bytes())
    assert date == "04.12.2026"
    assert cbrf["USD"] == Decimal("92.5") and cbrf["UAH"] == Decimal("2.21")  # 10 UAH = 22,10 RUB
    assert cbrf["KZT"] == Decimal("0.185")
    assert parse_nbu((FIXTURES / "nbu.json").read_bytes())[1]["USD"] == Decimal("41.85")
    assert parse_nbk((FIXTURES / "nbk.xml").read_bytes())[1]["EUR"] == Decimal("541.70")


def price_of(currencies: str, price: str = "10", currency: str = "USD", **kwargs):
    parsed = parse(yml(offer(price=price, currency=currency), currencies=currencies), "f.yml", **kwargs)
    return parsed


@pytest.mark.parametrize(("declared", "expected"), [
    ('<currency id="USD" rate="CBRF"/>', 92500),  # 10 USD × 92.50
    ('<currency id="USD" rate="CBRF" plus="2"/>', 94350),  # + 2 %
    ('<currency id="USD" rate="CB" plus="1,5"/>', 93888),  # CB of a rouble shop is CBRF
    ('<currency id="EUR" rate="NBK"/>', None),  # a EUR offer below
])
def test_an_offer_in_a_foreign_currency_is_priced_at_the_named_banks_rate(declared, expected):
    rates = NamedRates(tables)
    currencies = '<currency id="RUR" rate="1"/>' + declared
    if expected is None:  # 10 EUR = 5417 KZT, at NBK's 5.41 KZT per rouble
        parsed = price_of(currencies, currency="EUR", named_rates=rates)
        assert parsed.offers[0].price == 100129
        return
    parsed = price_of(currencies, named_rates=rates)
    assert not parsed.errors
    assert parsed.offers[0].price == expected and parsed.offers[0].currency == "RUB"


def test_a_named_rate_through_another_banks_currency_goes_through_the_shops_currency():
    rates = NamedRates(tables)
    parsed = price_of('<currency id="RUR" rate="1"/><currency id="USD" rate="NBU"/>', named_rates=rates)
    # 10 USD = 418.5 UAH at NBU; NBU's rouble is 0.4524 UAH → 925.07 RUB
    assert parsed.offers[0].price == 92507


@pytest.mark.parametrize(("currencies", "currency", "loader", "reason"), [
    ('<currency id="GBP" rate="CBRF"/>', "GBP", tables, "CBRF publishes no rate for GBP"),
    ('<currency id="USD" rate="CBRF"/>', "USD", dict, "no CBRF rates are available today"),
    ('<currency id="USD" rate="ECB"/>', "USD", tables, "unknown rate source 'ECB'"),
    ('<currency id="USD" rate="CBRF" plus="много"/>', "USD", tables, "plus"),
])
def test_an_offer_whose_rate_is_unknown_is_rejected_with_the_reason(currencies, currency, loader, reason):
    parsed = price_of('<currency id="RUR" rate="1"/>' + currencies, currency=currency, named_rates=NamedRates(loader))
    assert not parsed.offers
    assert parsed.errors[0].field in ("currencyId", "plus") and reason in parsed.errors[0].reason


def test_the_rates_are_read_only_when_a_feed_names_a_bank():
    def loader():
        raise AssertionError("the rates table was read")

    parsed = price_of('<currency id="RUR" rate="1"/><currency id="USD" rate="90"/>', named_rates=NamedRates(loader))
    assert parsed.offers[0].price == 90000
