"""Action pages: GET shows the order and a POST form (never acts by itself), results say what
happened, and nothing is loaded from anywhere else."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.notify.money_format import NBSP
from chalicelib.notify.pages import (
    OUTCOME_STATUS,
    OUTCOMES,
    SECURITY_HEADERS,
    render_action_page,
    render_action_result,
    render_mailbox_page,
)

from .conftest import FAKE_TASK_TOKEN
from .html_check import assert_self_contained, tags

FORM_URL = "/actions/v1.payload.signature"
LANGS = ("ru", "en")
ACTIONS = ("confirm", "cancel", "ship")


def forms(html: str) -> list[dict[str, str]]:
    return [attrs for tag, attrs in tags(html) if tag == "form"]


def inputs(html: str) -> list[dict[str, str]]:
    return [attrs for tag, attrs in tags(html) if tag in {"input", "button", "textarea"}]


def test_security_headers_are_exactly_the_agreed_ones() -> None:
    assert SECURITY_HEADERS == {
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("action", ACTIONS)
def test_action_page_shows_the_order_and_one_post_form(lang: str, action: str, order: dict[str, Any]) -> None:
    html = render_action_page(lang, order, action, FORM_URL, "csrf-value-123")
    assert forms(html) == [{"method": "post", "action": FORM_URL}]
    buttons = [a for a in inputs(html) if a.get("type") == "submit"]
    assert buttons == [{"type": "submit", "name": "action", "value": action, "class": action}]
    assert {"type": "hidden", "name": "csrf", "value": "csrf-value-123"} in inputs(html)
    for shown in ("01HZX3ORDER", "Teapot", "Green tea", "Courier", "Moscow, Tverskaya 1", "Ivan Petrov"):
        assert shown in html
    total = f"1{NBSP}678,00{NBSP}₽" if lang == "ru" else f"RUB{NBSP}1,678.00"
    assert total in html
    assert f'<html lang="{lang}">' in html


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("action", ACTIONS)
def test_action_page_loads_nothing_and_runs_nothing(lang: str, action: str, order: dict[str, Any]) -> None:
    html = render_action_page(lang, order, action, FORM_URL)
    assert_self_contained(html, {FORM_URL})


def test_absolute_form_url_is_the_only_url_on_the_page(order: dict[str, Any]) -> None:
    url = "https://api.example/prod/actions/v1.payload.signature"
    html = render_action_page("en", order, "confirm", url)
    assert_self_contained(html, {url})


def test_button_labels_differ_by_action_and_language(order: dict[str, Any]) -> None:
    pages = {(lang, a): render_action_page(lang, order, a, FORM_URL) for lang in LANGS for a in ACTIONS}
    assert "Подтвердить заказ" in pages[("ru", "confirm")]
    assert "Отменить заказ" in pages[("ru", "cancel")]
    assert "Confirm order" in pages[("en", "confirm")]
    assert "Mark as shipped" in pages[("en", "ship")]
    assert len(set(pages.values())) == len(pages)


def test_cancel_page_asks_for_an_optional_reason(order: dict[str, Any]) -> None:
    html = render_action_page("en", order, "cancel", FORM_URL)
    assert any(a.get("name") == "reason" for a in inputs(html))


def test_no_csrf_field_when_none_given(order: dict[str, Any]) -> None:
    html = render_action_page("ru", order, "confirm", FORM_URL)
    assert not any(a.get("name") == "csrf" for a in inputs(html))


def test_hostile_names_are_escaped_on_the_page(order: dict[str, Any]) -> None:
    order["items"][0]["name"] = "<script>alert(1)</script>"
    order["customer_name"] = '"><img src=x onerror=alert(1)>'
    html = render_action_page("en", order, "confirm", FORM_URL, '"><script>x</script>')
    assert "<script" not in html and "<img" not in html
    assert_self_contained(html, {FORM_URL})


@pytest.mark.parametrize("url", ["javascript:alert(1)", "//evil.example/steal", "actions/x", ""])
def test_error_on_form_url_that_could_post_elsewhere(url: str, order: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render_action_page("en", order, "confirm", url)


def test_error_on_unknown_action(order: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render_action_page("en", order, "refund", FORM_URL)


def test_task_token_never_reaches_a_page(order: dict[str, Any]) -> None:
    order["task_token"] = FAKE_TASK_TOKEN
    html = render_action_page("en", order, "confirm", FORM_URL)
    assert FAKE_TASK_TOKEN not in html


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_each_outcome_has_its_own_page(lang: str, outcome: str) -> None:
    html = render_action_result(lang, outcome, "confirm", order_id="01HZX3ORDER")
    assert_self_contained(html, set())
    assert not forms(html)
    others = {render_action_result(lang, o, "confirm") for o in OUTCOMES if o != outcome}
    assert render_action_result(lang, outcome, "confirm") not in others
    assert outcome in OUTCOME_STATUS


@pytest.mark.parametrize(
    ("lang", "action", "title"),
    [
        ("ru", "confirm", "Заказ подтверждён"),
        ("ru", "cancel", "Заказ отменён"),
        ("ru", "ship", "Заказ отмечен отправленным"),
        ("en", "confirm", "Order confirmed"),
        ("en", "cancel", "Order cancelled"),
        ("en", "ship", "Order marked as shipped"),
    ],
)
def test_done_page_names_what_was_done(lang: str, action: str, title: str) -> None:
    assert f"<h1>{title}</h1>" in render_action_result(lang, "done", action)


def test_conflict_page_explains_the_order_changed() -> None:
    assert "customer cancelled it" in render_action_result("en", "conflict", "confirm")
    assert "покупатель отменил" in render_action_result("ru", "conflict", "confirm")


def test_error_on_unknown_outcome() -> None:
    with pytest.raises(ValueError):
        render_action_result("en", "exploded")


BASE = "http://127.0.0.1:8000"


def test_mailbox_lists_emails_with_clickable_links() -> None:
    link = f"{BASE}/actions/v1.abc.def"
    html = render_mailbox_page(
        [
            {
                "to": ["seller@example.com"],
                "subject": "New order <b>1</b>",
                "time": 1_700_000_000,
                "text": f"Confirm: {link}.\n<script>alert(1)</script>",
                "html": '<p>Hi "there" <script>alert(2)</script></p>',
            }
        ],
        own_base_url=BASE,
    )
    assert f'<a href="{link}">{link}</a>.' in html
    assert "seller@example.com" in html and "2023-11-14 22:13:20 UTC" in html
    assert "<script" not in html and "New order &lt;b&gt;1&lt;/b&gt;" in html
    iframes = [a for t, a in tags(html) if t == "iframe"]
    assert iframes[0]["sandbox"] == ""
    assert iframes[0]["srcdoc"] == '<p>Hi "there" <script>alert(2)</script></p>'


def test_empty_mailbox_says_so() -> None:
    assert "No emails yet." in render_mailbox_page([], own_base_url=BASE)


@pytest.mark.parametrize("foreign", [
    "https://evil.example/login",
    f"{BASE}.evil.example/actions/x",  # our base URL's text, but another host
    f"{BASE}@evil.example/actions/x",  # userinfo trick: the host is evil.example
    "http://localhost:8000/actions/x",
])
def test_mailbox_links_only_the_marketplaces_own_urls(foreign: str) -> None:
    ours = f"{BASE}/actions/v1.abc.def"
    html = render_mailbox_page([{"to": "s@example.com", "subject": "s", "text": f"Item: {foreign}\nConfirm: {ours}"}],
                               own_base_url=BASE)
    assert [a["href"] for t, a in tags(html) if t == "a"] == [ours]
    assert foreign in html  # still shown, as text
