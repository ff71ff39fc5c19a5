"""The jinja2 environment over ``chalicelib/templates`` and the language choice.

``.html`` templates are autoescaped, ``.txt`` ones are not (plain text has nothing to escape,
and escaping would show ``&amp;`` to readers). Undefined variables raise instead of rendering
as empty text, so a template/context mismatch fails in tests rather than in a customer's inbox.
jinja2 is imported when the environment is first built (the first email or page), not with the app.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment

LANGS = ("ru", "en")
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def resolve_lang(lang: str | None, default_lang: str) -> str:
    """``"ru-RU"``/``"RU"``/``"en_GB"`` -> ``"ru"``/``"en"``; anything else -> ``default_lang``."""
    if default_lang not in LANGS:
        raise ValueError(f"default_lang must be one of {LANGS}, got {default_lang!r}")
    base = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGS else default_lang
