"""Every email kind renders in Russian and English with the right links and amounts, and
renders nothing a caller did not mean to show (hostile names, task tokens)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.notify.emails import KINDS, InvalidContext, render_email
from chalicelib.notify.money_format import NBSP

from .conftest import FAKE_TASK_TOKEN, LINKS
from .html_check import assert_self_contained, tags

LANGS = ("ru", "en")
TOTAL = {"ru": f"1{NBSP}678,00{NBSP}₽", "en": f"RUB{NBSP}1,678.00"}
ALL_KINDS = sorted(KINDS)
HOSTILE = "<script>alert(1)</script>"


def hrefs(html: str) -> list[str]:
    return [a["href"] for t, a in tags(html) if t == "a"]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_each_kind_renders_subject_html_and_text_with_the_total(kind: str, lang: str, context: dict[str, Any]) -> None:
    email = render_email(kind, lang, context)
    assert "01HZX3ORDER" in email.subject
    assert "\n" not in email.subject
    for body in (email.html, email.text):
        assert "01HZX3ORDER" in body
        assert TOTAL[lang] in body
    assert email.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'<html lang="{lang}">' in email.html
    assert "<" not in email.text.replace("<script>", "")  # text is plain text, not markup


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_html_loads_nothing_and_links_only_where_given(kind: str, lang: str, context: dict[str, Any]) -> None:
    email = render_email(kind, lang, context)
    assert_self_contained(email.html, set(LINKS.values()))


def test_languages_differ() -> None:
    ctx = {"order": {"order_id": "A1", "total": 100, "currency": "RUB"}}
    ru, en = render_email("order_confirmed", "ru", ctx), render_email("order_confirmed", "en", ctx)
    assert ru.subject == "Заказ A1 подтверждён"
    assert en.subject == "Order A1 confirmed"


@pytest.mark.parametrize("lang", LANGS)
def test_new_order_carries_confirm_and_cancel_links(lang: str, context: dict[str, Any]) -> None:
    del context["links"]["ship"]
    email = render_email("new_order", lang, context)
    assert LINKS["confirm"] in hrefs(email.html)
    assert LINKS["cancel"] in hrefs(email.html)
    assert LINKS["ship"] not in email.html
    assert LINKS["confirm"] in email.text and LINKS["cancel"] in email.text
    assert "Teapot" in email.text and "Ivan Petrov" in email.text


@pytest.mark.parametrize("lang", LANGS)
def test_new_order_offers_the_ship_link_when_given(lang: str, context: dict[str, Any]) -> None:
    email = render_email("new_order", lang, context)
    assert LINKS["ship"] in hrefs(email.html) and LINKS["ship"] in email.text


@pytest.mark.parametrize("missing", ["confirm", "cancel"])
def test_error_on_new_order_without_its_action_links(missing: str, context: dict[str, Any]) -> None:
    del context["links"][missing]
    with pytest.raises(InvalidContext) as err:
        render_email("new_order", "ru", context)
    assert err.value.errors == [{"field": f"links.{missing}", "reason": "required for new_order"}]


@pytest.mark.parametrize(
    ("lang", "who", "phrase"),
    [
        ("ru", "customer", "по вашей просьбе"),
        ("ru", "seller", "Продавец Tea & Co отменил"),
        ("ru", "timeout", "не подтвердил заказ 01HZX3ORDER вовремя"),
        ("en", "customer", "at your request"),
        ("en", "seller", "Tea & Co has cancelled"),
        ("en", "timeout", "did not confirm order 01HZX3ORDER in time"),
    ],
)
def test_cancellation_says_who_cancelled(lang: str, who: str, phrase: str, context: dict[str, Any]) -> None:
    context["cancelled_by"] = who
    email = render_email("order_cancelled_refund_started", lang, context)
    assert phrase in email.text
    assert phrase.replace("&", "&amp;") in email.html
    assert "Out of stock" in email.text


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        ("ru", ("не смогли обработать заказ 01HZX3ORDER", "Ваши деньги возвращаются")),
        ("en", ("could not process order 01HZX3ORDER", "Your money is being returned")),
    ],
)
def test_a_cancellation_after_a_failure_says_so_and_blames_nobody_else(
    lang: str, phrases: tuple[str, str], context: dict[str, Any]
) -> None:
    context["cancelled_by"] = "system"
    email = render_email("order_cancelled_refund_started", lang, context)
    for phrase in phrases:
        assert phrase in email.text and phrase in email.html
    assert "вовремя" not in email.text and "in time" not in email.text  # not the seller's fault


@pytest.mark.parametrize(("lang", "phrase"), [("ru", "не отправил заказ 01HZX3ORDER вовремя"),
                                              ("en", "did not ship order 01HZX3ORDER in time")])
def test_a_cancellation_for_want_of_shipment_says_the_seller_did_not_ship(
    lang: str, phrase: str, context: dict[str, Any]
) -> None:
    context.update(cancelled_by="timeout", timeout_stage="shipment")
    email = render_email("order_cancelled_refund_started", lang, context)
    assert phrase in email.text and phrase in email.html


def test_error_on_cancellation_without_who_cancelled(context: dict[str, Any]) -> None:
    del context["cancelled_by"]
    with pytest.raises(InvalidContext) as err:
        render_email("order_cancelled_refund_started", "en", context)
    assert err.value.errors[0]["field"] == "cancelled_by"


@pytest.mark.parametrize(
    ("lang", "due", "deadline"),
    [("ru", f"678,00{NBSP}₽", "14.11.2023 22:13 UTC"), ("en", f"RUB{NBSP}678.00", "2023-11-14 22:13 UTC")],
)
def test_payment_required_says_how_much_to_top_up_and_by_when(
    lang: str, due: str, deadline: str, context: dict[str, Any]
) -> None:
    email = render_email("payment_required", lang, context)
    assert due in email.text and deadline in email.text
    assert LINKS["pay"] in hrefs(email.html)


def test_payment_required_skips_top_up_when_wallet_covers_it(context: dict[str, Any]) -> None:
    context["wallet_available"] = 500000
    email = render_email("payment_required", "en", context)
    assert "top it up" not in email.text


@pytest.mark.parametrize("lang", LANGS)
def test_shipped_email_shows_tracking_number(lang: str, context: dict[str, Any]) -> None:
    assert "RP123456789RU" in render_email("order_shipped", lang, context).text


def test_delivery_days_are_pluralised_in_russian(context: dict[str, Any]) -> None:
    for days, word in ((1, "1\u00a0день"), (3, "3\u00a0дня"), (5, "5\u00a0дней"), (11, "11\u00a0дней")):
        context["order"]["delivery"]["days"] = days
        assert word in render_email("order_placed", "ru", context).text


@pytest.mark.parametrize(("lang", "expected"), [("ru-RU", "ru"), ("EN_gb", "en"), ("de", "en"), ("", "en")])
def test_unknown_language_falls_back_to_the_callers_default(lang: str, expected: str, context: dict[str, Any]) -> None:
    email = render_email("order_confirmed", lang, context, default_lang="en")
    assert f'<html lang="{expected}">' in email.html


def test_error_on_unsupported_default_language(context: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render_email("order_confirmed", "ru", context, default_lang="fr")


def test_error_on_unknown_kind(context: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown email kind"):
        render_email("order_exploded", "ru", context)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("order", "total"), 1678.0, "order.total"),
        (("order", "total"), "1678", "order.total"),
        (("order", "currency"), "rub", "order.currency"),
        (("links", "confirm"), "javascript:alert(1)", "links.confirm"),
        (("order", "items"), [{"name": "x", "quantity": 0, "price": 1, "line_total": 0}], "order.items.0.quantity"),
    ],
)
def test_error_on_badly_shaped_context_names_the_field(
    path: tuple[str, str], value: object, field: str, context: dict[str, Any]
) -> None:
    context[path[0]][path[1]] = value
    with pytest.raises(InvalidContext) as err:
        render_email("new_order", "en", context)
    assert field in [e["field"] for e in err.value.errors]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_hostile_names_are_escaped_in_html(kind: str, lang: str, context: dict[str, Any]) -> None:
    order = context["order"]
    order["items"][0]["name"] = HOSTILE
    order["seller_name"] = f'Evil"><img src=x onerror=alert(1)> {HOSTILE}'
    order["customer_name"] = HOSTILE
    order["address"] = HOSTILE
    context["reason"] = HOSTILE
    context["tracking_number"] = HOSTILE
    email = render_email(kind, lang, context)
    assert "<script" not in email.html and "<img" not in email.html
    assert "&lt;script&gt;" in email.html
    assert_self_contained(email.html, set(LINKS.values()))


def test_text_body_is_not_html_escaped(context: dict[str, Any]) -> None:
    email = render_email("order_confirmed", "en", context)
    assert "Tea & Co" in email.text and "&amp;" not in email.text
    assert "Tea &amp; Co" in email.html


def test_subject_cannot_carry_a_header_injection(context: dict[str, Any]) -> None:
    context["order"]["order_id"] = "01HZ\r\nBcc: victim@example.com"
    subject = render_email("order_placed", "en", context).subject
    assert "\r" not in subject and "\n" not in subject


def test_structured_address_is_shown_on_one_line(context: dict[str, Any]) -> None:
    context["order"]["address"] = {"city": "Moscow", "street": "Tverskaya 1", "flat": ""}
    assert "Moscow, Tverskaya 1" in render_email("order_placed", "en", context).text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_task_token_never_reaches_an_email(kind: str, lang: str, context: dict[str, Any]) -> None:
    # A careless caller hands the task token over everywhere it could; none of it is rendered.
    context["task_token"] = FAKE_TASK_TOKEN
    context["order"]["task_token"] = FAKE_TASK_TOKEN
    context["order"]["items"][0]["task_token"] = FAKE_TASK_TOKEN
    context["links"]["task_token"] = FAKE_TASK_TOKEN
    email = render_email(kind, lang, context)
    for part in (email.subject, email.html, email.text):
        assert FAKE_TASK_TOKEN not in part
        assert "faketasktoken" not in part
