"""CSV files that open right in the reader's spreadsheet: one writer for every CSV the service makes.

Excel splits a CSV by the list separator of the computer's regional settings, and Danish and
Swedish settings use the decimal comma, so their list separator is the semicolon. A file is
written in the active language's dialect:

* da, sv: ``;`` between cells, decimal comma (``4910,53``);
* en: ``,`` between cells, decimal point (``4910.53``).

Numbers carry no thousands separator and no currency (a currency has its own column), so a
spreadsheet reads them as numbers and can sum them; dates are written in the language's date
format (:mod:`integration.core.formatting`). Every file starts with a UTF-8 byte order mark, without
which Excel reads “æøå” as cp1252. Every cell goes through :func:`integration.core.csv_cells.safe_cell`,
so a cell can never run as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils import formats

from integration.core import formatting
from integration.core.csv_cells import safe_cell

BYTE_ORDER_MARK = "\ufeff"


def delimiter() -> str:
    """The cell separator of the active language: ``;`` where the decimal mark is a comma."""
    return ";" if formats.get_format("DECIMAL_SEPARATOR", use_l10n=True) == "," else ","


def cell(value: Any) -> str:
    """A value as the text of one cell, in the active language's dialect."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (Decimal, float, int)):
        return formatting.plain_number(value)
    if isinstance(value, dt.datetime):
        return formatting.datetime(value)
    if isinstance(value, dt.date):
        return formatting.date(value)
    return str(value)


def amount(value: Any) -> str:
    """An amount to the øre for a cell ("4910,53" in da); blank stays blank."""
    return formatting.plain_number(value, 2)


class CsvSheet:
    """Rows written in the dialect of the language active when the sheet was made."""

    def __init__(self) -> None:
        self._out = io.StringIO()
        self._writer = csv.writer(self._out, delimiter=delimiter(), lineterminator="\r\n")

    def row(self, *cells: Any) -> None:
        self._writer.writerow([safe_cell(cell(c)) for c in cells])

    def text(self) -> str:
        """The file as text, without the byte order mark (for reading it back)."""
        return self._out.getvalue()

    def content(self) -> bytes:
        """The file as it is downloaded or attached: UTF-8 with a byte order mark."""
        return as_file(self.text())


def as_file(text: str) -> bytes:
    return (BYTE_ORDER_MARK + text.removeprefix(BYTE_ORDER_MARK)).encode("utf-8")


def response(content: bytes, filename: str) -> HttpResponse:
    """A CSV download."""
    download = HttpResponse(content, content_type="text/csv; charset=utf-8")
    download["Content-Disposition"] = f'attachment; filename="{filename}"'
    return download
