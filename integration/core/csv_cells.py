"""CSV cells a spreadsheet shows as text, never runs (CSV/formula injection), and reads them back.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and
some also after a leading tab or carriage return) as a formula — ``=HYPERLINK(…)`` in a product
group's name would run on the accountant's machine. Such cells get a leading apostrophe, which
spreadsheets treat as "this is text" and do not show. Plain numbers (``-125.00``, or ``-125,00``
with a decimal comma) are left alone: they cannot run and accountants sum them.

Every CSV the service writes goes through :func:`safe_cell` (by way of
:class:`integration.core.csv_export.CsvSheet`); every CSV it reads goes through
:func:`read_cell`, so a file exported and imported again means the same thing.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?\d+([.,]\d+)?$")


def _needs_quote(text: str) -> bool:
    # Apostrophes already in front are part of the value: quote those too, so reading back
    # (which drops exactly one) returns the original.
    bare = text.lstrip("'")
    return bare.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(bare)


def safe_cell(value: Any) -> str:
    """The text to write into a CSV cell."""
    text = "" if value is None else str(value)
    return "'" + text if _needs_quote(text) else text


def read_cell(text: str) -> str:
    """The value of a cell written by :func:`safe_cell` (other text unchanged)."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text
