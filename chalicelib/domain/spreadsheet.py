"""CSV the system writes (import reports, statements): cells a spreadsheet cannot execute.

Seller data may legitimately start with `=`, `+`, `-` or `@` (`+/-2 EV`, `-20 °C`): the
importer keeps it as it is. Only when such text is written into a CSV someone will open in
Excel, LibreOffice or Google Sheets is it neutralized, the way OWASP's "CSV injection" advice
says: a leading apostrophe makes the spreadsheet show the text instead of evaluating it.
Plain numbers (`-5`, `+7.5`) stay numbers. Standard library only.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def safe_cell(value: Any) -> str:
    """The text of one cell, prefixed with `'` when a spreadsheet would evaluate it."""
    if value is None:
        return ""
    text = str(value)
    stripped = text.lstrip(" ")
    if stripped.startswith(_TRIGGERS) and not _NUMBER.match(stripped.strip()):
        return "'" + text
    return text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterable[str]:
    """CSV text line by line (streaming), every cell passed through ``safe_cell``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for cells in itertools.chain([list(header)], ([safe_cell(c) for c in row] for row in rows)):
        writer.writerow(cells)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
