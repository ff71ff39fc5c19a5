"""Text analysis for search: the same rules turn product fields and queries into terms.

Pipeline (pure, no IO): ``normalize`` (NFKC, casefold, ё → е, HTML tags and entities out)
→ ``words`` (runs of letters and digits; ``wi-fi`` and ``42-й`` are kept joined) → ``term``
(Snowball stemmer chosen by script: Cyrillic → russian, Latin → english; digits as they are;
a mixed-script word is not stemmed) → Russian fleeting-vowel folding, so ``ботинок`` and
``ботинки`` share the term ``ботинк`` (Snowball alone gives ``ботинок`` / ``ботинк``).

Indexing also emits the parts of compound words (``iphone15`` → ``iphone``, ``15``;
``wi-fi`` → ``wi``, ``fi``), so a query may spell them either way. A query keeps compounds
whole, and its last word is also matched as a prefix of indexed surface words (as-you-type).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# A word too long to be a word (base64, hashes, URLs glued together) is never a useful
# term, and would make an oversized DynamoDB key.
MAX_WORD_CHARS = 40

_TAG = re.compile(r"<[^>]*>")
# letters/digits runs, optionally joined by single hyphens or apostrophes: wi-fi, 42-й, o'neill
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
_JOINERS = re.compile(r"[-'’]")
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")
_ALPHA_DIGIT_SPLIT = re.compile(r"[^\W\d_]+|\d+")
_SCRIPT_SPLIT = re.compile(r"[а-яё]+|[a-z]+|\d+")
_RU_VOWELS = "аеиоуыэюяй"

# Function words carry nothing in a product search ("case for iphone", "кроссовки для бега").
STOPWORDS = frozenset(
    (
        "и", "в", "во", "не", "на", "с", "со", "для", "по", "из", "к", "ко", "от", "до", "за", "о", "об",
        "а", "но", "или", "у", "же", "ли", "бы", "то",
        "the", "a", "an", "and", "or", "of", "for", "in", "on", "with", "to", "by", "at", "from", "is", "are",
    )
)


def normalize(text: str) -> str:
    """NFKC, casefold, ё → е; tags and entities removed (descriptions are sanitized HTML)."""
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")


def _raw_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(normalize(text)) if len(w) <= MAX_WORD_CHARS]


def words(text: str) -> list[str]:
    """Normalized words in order, compounds joined (``wi-fi`` → ``wifi``); overlong ones dropped."""
    return [_JOINERS.sub("", raw) for raw in _raw_words(text)]


def parts(raw: str) -> list[str]:
    """The sub-words a compound is also indexed under (empty for a simple word):
    ``wi-fi`` → wi, fi; ``iphone15`` → iphone, 15; ``42-й`` → 42, й."""
    pieces = []
    for chunk in _JOINERS.split(raw):
        split = _SCRIPT_SPLIT.findall(chunk)
        if len(split) <= 1:
            split = _ALPHA_DIGIT_SPLIT.findall(chunk)
        pieces += split or [chunk]
    return pieces if len(pieces) > 1 else []


@lru_cache(maxsize=1)
def _stemmers() -> tuple[object, object]:
    import snowballstemmer  # every language's stemmer class: imported by the first search, not with the app

    return snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")


def _fold_fleeting_vowel(stem: str) -> str:
    """ботинок/ботинки, носок/носки, чехол/чехлы, огурец/огурцы, кошелек/кошельки: one term.

    Russian drops the vowel of -ок/-ек/-ец (and -ол) in every form but the nominative
    singular; Snowball leaves both shapes. Dropping it (and a soft sign before the final
    к) everywhere, at index and query time alike, merges them. Short stems are left alone.
    """
    if len(stem) >= 5 and stem.endswith("ьк"):
        return stem[:-2] + "к"
    if len(stem) >= 4 and stem[-1] in "кц" and stem[-2] in "ое" and stem[-3] not in _RU_VOWELS + "ь":
        return stem[:-2] + stem[-1]
    if len(stem) >= 5 and stem.endswith("ол") and stem[-3] not in _RU_VOWELS + "ь":
        return stem[:-2] + "л"
    return stem


@lru_cache(maxsize=200_000)
def term(word: str) -> str:
    """The index term of one normalized word."""
    has_cyr = bool(_CYRILLIC.search(word))
    has_lat = bool(_LATIN.search(word))
    russian, english = _stemmers()
    if has_cyr and not has_lat:
        return _fold_fleeting_vowel(russian.stemWord(word))  # type: ignore[attr-defined]
    if has_lat and not has_cyr:
        return english.stemWord(word)  # type: ignore[attr-defined]
    return word


def index_terms(text: str, *, keep_stopwords: bool = False) -> dict[str, list[str]]:
    """Every term a field is found by, with the surface words that produced it.

    The surface word feeds the prefix vocabulary (typing ``ботино`` finds ``ботинок``).
    Stopwords are not indexed, but for the name's (``keep_stopwords``): titles are made of
    them ("The Road", "It", "Мы"), and a query of stopwords only looks for exactly those.
    """
    out: dict[str, list[str]] = {}
    for raw in _raw_words(text):
        for w in (_JOINERS.sub("", raw), *parts(raw)):
            if w in STOPWORDS and not keep_stopwords:
                continue
            seen = out.setdefault(term(w), [])
            if w not in seen:
                seen.append(w)
    return out


@dataclass(frozen=True)
class QueryWord:
    surface: str  # normalized word as typed
    term: str  # its index term
    prefix: bool  # the last word: also matches indexed words it begins


def query_words(q: str) -> list[QueryWord]:
    """The words a query requires, deduplicated by term; the last one is a prefix.

    Stopwords are dropped, unless the query has nothing else: then they are the title asked
    for ("The", "It", "The Road" typed as "the") and match the stopwords indexed from names.
    """
    typed = words(q)
    found = [w for w in typed if w not in STOPWORDS] or typed
    out: dict[str, QueryWord] = {}
    for i, word in enumerate(found):
        last = i == len(found) - 1
        t = term(word)
        if t in out and not last:
            continue
        out.pop(t, None)
        out[t] = QueryWord(surface=word, term=t, prefix=last)
    return list(out.values())
