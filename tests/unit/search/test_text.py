"""Text analysis: the same words find the same products in Russian and English."""

from __future__ import annotations

import pytest

from chalicelib.search import text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ботинок", "ботинки"),
        ("ботинок", "ботинками"),
        ("кроссовок", "кроссовки"),
        ("носок", "носки"),
        ("чехол", "чехлы"),
        ("кошелёк", "кошельки"),
        ("сумка", "сумок"),
        ("красный", "красные"),
        ("boots", "boot"),
        ("running", "run"),
        ("Shoes", "shoe"),
    ],
)
def test_can_find_other_forms_of_a_word(a, b):
    assert text.term(text.words(a)[0]) == text.term(text.words(b)[0])


def test_can_fold_case_and_yo():
    assert text.words("ЁЛКА Ёжик ёлка") == ["елка", "ежик", "елка"]
    assert text.term("ёлки") == text.term("ЕЛКИ".casefold())


def test_can_normalize_compatibility_forms_and_strip_html():
    assert text.words("<p>Ｎｉｋｅ&nbsp;Air</p>") == ["nike", "air"]


def test_can_keep_compounds_and_index_their_parts():
    terms = text.index_terms("iPhone15 Wi-Fi 42-й")
    assert {"iphone15", "iphon", "15", "wifi", "wi", "fi", "42й", "42"} <= set(terms)
    assert [w.term for w in text.query_words("wi-fi")] == ["wifi"]


def test_can_drop_stopwords_but_not_content_words():
    assert [w.surface for w in text.query_words("кроссовки для бега")] == ["кроссовки", "бега"]
    assert [w.surface for w in text.query_words("case for iphone")] == ["case", "iphone"]


def test_last_query_word_is_a_prefix():
    words = text.query_words("красные крос")
    assert [(w.surface, w.prefix) for w in words] == [("красные", False), ("крос", True)]


def test_repeated_words_count_once():
    assert [w.term for w in text.query_words("ботинки ботинок")] == [text.term("ботинки")]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("!!!", []),
        ("'\"", []),
        ("😀🔥", []),
        ("   ", []),
        ("\x00\x01", []),
        (".*[a-z]+$", ["az"]),
        ("'; DROP TABLE x; --", ["drop", "table", "x"]),
    ],
)
def test_can_reduce_punctuation_metacharacters_and_emoji_to_plain_words(q, expected):
    assert [w.surface for w in text.query_words(q)] == expected


def test_mixed_scripts_are_words_too():
    assert [w.surface for w in text.query_words("iphone смартфон")] == ["iphone", "смартфон"]
    assert text.term("iфон") == "iфон"  # one word in two scripts: kept as typed


def test_overlong_words_are_not_terms():
    assert text.words("a" * 41 + " ok") == ["ok"]
