"""Amounts read the way a Russian or English reader expects, and never go through floats."""

from __future__ import annotations

import pytest

from chalicelib.notify.money_format import NBSP, format_money


@pytest.mark.parametrize(
    ("amount", "currency", "lang", "expected"),
    [
        (102800, "RUB", "ru", f"1{NBSP}028,00{NBSP}₽"),
        (102800, "RUB", "en", f"RUB{NBSP}1,028.00"),
        (0, "RUB", "ru", f"0,00{NBSP}₽"),
        (5, "RUB", "en", f"RUB{NBSP}0.05"),
        (123456789012, "RUB", "ru", f"1{NBSP}234{NBSP}567{NBSP}890,12{NBSP}₽"),
        (1000, "USD", "en", "$10.00"),
        (1000, "USD", "ru", f"10,00{NBSP}$"),
        (1999, "EUR", "en", "€19.99"),
        (500, "CNY", "ru", f"5,00{NBSP}CNY"),
        (1028, "JPY", "en", f"JPY{NBSP}1,028"),
        (1028, "JPY", "ru", f"1{NBSP}028{NBSP}JPY"),
        (1234, "KWD", "en", f"KWD{NBSP}1.234"),
        (-102800, "RUB", "ru", f"-1{NBSP}028,00{NBSP}₽"),
        (-1000, "USD", "en", "-$10.00"),
    ],
)
def test_formats_minor_units_for_each_language(amount: int, currency: str, lang: str, expected: str) -> None:
    assert format_money(amount, currency, lang) == expected


def test_other_languages_get_the_english_format() -> None:
    assert format_money(102800, "RUB", "de") == f"RUB{NBSP}1,028.00"


@pytest.mark.parametrize("amount", [1028.0, 10.5, True, "102800", None])
def test_error_on_amount_that_is_not_an_int(amount: object) -> None:
    with pytest.raises(TypeError):
        format_money(amount, "RUB", "ru")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["rub", "RUBL", "", "₽", None])
def test_error_on_currency_that_is_not_an_iso_code(currency: object) -> None:
    with pytest.raises(ValueError):
        format_money(100, currency, "ru")  # type: ignore[arg-type]
