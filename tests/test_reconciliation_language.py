"""The reconciliation in the reader's language: page, CSV and PDF show labels, not keys, and the
language's numbers and dates — whatever language the run was started in."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from reportlab.pdfbase.pdfmetrics import stringWidth

from integration.books.reconciliation_report import csv_bytes, pdf_bytes
from integration.core.models import Reconciliation
from tests.pdf_text import pdf_lines, pdf_pages, pdf_streams

NBSP = "\xa0"
KEYS = ("domestic", "sales_invoice", "missing_in_dinero", "total_differs", "not placed", "Booked")
# Per language: the largest amount, a date, the VAT zone "eu" and the unplaced row as people read them.
SEEN = {
    "da": {"amount": "4.910,53 DKK", "date": "07.12.2026", "eu": "EU", "domestic": "indenlands",
           "unplaced": "ikke placeret", "missing": "Mangler i Dinero", "document": "Salgsfaktura 10006"},
    "sv": {"amount": f"4{NBSP}910,53 DKK", "date": "2026-12-07", "eu": "EU", "domestic": "inrikes",
           "unplaced": "inte placerad", "missing": "Saknas i Dinero", "document": "Försäljningsfaktura 10006"},
}
DECIMAL_POINT = re.compile(r"\d\.\d{2}\b(?!\.)")


def finished(connection) -> Reconciliation:
    now = timezone.now()
    differences = [
        {"kind": "missing_in_dinero", "document": "sales_invoice", "number": "10006", "message": "",
         "date": "2026-12-07", "rackbeat_total": "4910.53", "dinero_total": "", "currency": "DKK",
         "dinero_guid": "", "dinero_kind": "", "operation_id": None, "operation_state": "", "transferable": True,
         "label": "Missing in Dinero", "document_label": "Sales invoice"},
        {"kind": "total_differs", "document": "sales_invoice", "number": "10007", "message": "",
         "date": "2026-12-08", "rackbeat_total": "-1295.00", "dinero_total": "-1295.5", "currency": "DKK",
         "dinero_guid": "", "dinero_kind": "", "operation_id": None, "operation_state": "", "transferable": False,
         "label": "Totals differ", "document_label": "Sales invoice"},
    ]
    documents = [{"document": "sales_invoice", "number": "10007", "date": "2026-12-08", "party": "Kunde A/S",
                  "zone": "domestic", "rackbeat_total": "-1295.00", "dinero_total": "-1295.50", "currency": "DKK",
                  "dinero_number": "12", "dinero_status": "Booked", "consumption": ""}]
    sums = {"sales_by_zone": [{"key": "eu", "currency": "DKK", "rackbeat_excl": "3928.42", "dinero_excl": "3928.42",
                               "rackbeat_incl": "4910.53", "dinero_incl": "4910.53", "dinero_booked_dkk": "3928.42"},
                              {"key": "domestic", "currency": "DKK", "rackbeat_excl": "1036.00", "dinero_excl": "0.00",
                               "rackbeat_incl": "1295.00", "dinero_incl": "0.00", "dinero_booked_dkk": "0.00"}],
            "purchases_by_zone": [],
            "sales_by_account": [{"key": "not placed", "currency": "DKK", "rackbeat": "1036.00", "dinero": "0.00",
                                  "dinero_other": "0.00"}],
            "purchases_by_account": []}
    return Reconciliation.objects.create(
        connection=connection, period_start=date(2026, 12, 1), period_end=date(2026, 12, 31),
        state=Reconciliation.State.DONE, started_at=now - timedelta(seconds=1.1), finished_at=now,
        differences=len(differences),
        result={"counts": {"rackbeat_sales": 2, "rackbeat_purchases": 0, "dinero_sales": 1, "matched": 1},
                "differences": differences, "documents": documents, "notes": [], "sums": sums})


@pytest.mark.parametrize("language", ["da", "sv"])
def test_page_shows_labels_and_the_languages_numbers(accountant_client, connection, language):
    record = finished(connection)
    url = reverse("admin:connection-reconciliation", args=[connection.pk]) + f"?run={record.pk}"
    page = accountant_client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    seen = SEEN[language]
    for text in (seen["amount"], seen["date"], seen["unplaced"], seen["missing"], seen["document"], seen["domestic"]):
        assert text in page
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page, re.S)
    assert not [c for c in cells if c.strip() in KEYS]
    assert not [c for c in cells if DECIMAL_POINT.search(c)]
    assert "1,1 s" in page


@pytest.mark.parametrize(("language", "separator"), [("da", ";"), ("sv", ";"), ("en", ",")])
def test_csv_uses_the_languages_dialect_with_a_byte_order_mark(connection, language, separator):
    with translation.override(language):
        content = csv_bytes(finished(connection))
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=separator))
    flat = [cell for row in rows for cell in row]
    point = language == "en"
    assert ("4910.53" if point else "4910,53") in flat
    assert ("-1295.50" if point else "-1295,50") in flat
    assert max(len(row) for row in rows) > 5  # the file splits into columns in that dialect


@pytest.mark.parametrize("language", ["da", "sv"])
def test_csv_headings_and_values_are_in_the_readers_language(connection, language):
    with translation.override(language):
        rows = list(csv.reader(io.StringIO(csv_bytes(finished(connection)).decode("utf-8-sig")), delimiter=";"))
    flat = [cell for row in rows for cell in row]
    seen = SEEN[language]
    assert seen["missing"] in flat and seen["unplaced"] in flat and seen["eu"] in flat and seen["date"] in flat
    assert not set(flat) & set(KEYS)
    assert not [c for c in flat if DECIMAL_POINT.search(c)]
    assert "Currency" not in flat and "Section" not in flat


@pytest.mark.parametrize("language", ["da", "sv"])
def test_pdf_is_in_the_readers_language_with_whole_dates(connection, language):
    with translation.override(language):
        pdf = pdf_bytes(finished(connection))
    # ReportLab draws the no-break space of Swedish amounts as a space.
    lines = [line.replace(NBSP, " ") for line in pdf_lines(pdf)]
    seen = {name: text.replace(NBSP, " ") for name, text in SEEN[language].items()}
    assert pdf_pages(pdf) == 1
    # Each date is drawn as one piece: the date column never wraps it.
    assert seen["date"] in lines
    assert seen["amount"] in lines and seen["unplaced"] in lines and seen["missing"] in lines
    assert not set(lines) & set(KEYS)
    assert not [line for line in lines if DECIMAL_POINT.search(line)]


def test_pdf_amounts_are_right_aligned(connection):
    """Two amounts of different widths in one column end at the same x position."""
    with translation.override("da"):
        pdf = pdf_bytes(finished(connection))
    drawn = b"".join(pdf_streams(pdf))
    cell = rb"1 0 0 1 ([\d.]+) [\d.]+ cm\s*q\s*0 0 0 rg\s*BT 1 0 0 1 0 [\d.]+ Tm /F1 7.5 Tf 9 TL (?:([\d.]+) 0 Td )?\(([^()]*DKK)\) Tj"
    ends = {}
    for match in re.finditer(cell, drawn):
        text = match.group(3).decode()
        ends[text] = round(float(match.group(1)) + float(match.group(2) or 0) + stringWidth(text, "Helvetica", 7.5), 1)
    assert ends["4.910,53 DKK"] == ends["-1.295,00 DKK"]
    assert stringWidth("4.910,53 DKK", "Helvetica", 7.5) != stringWidth("-1.295,00 DKK", "Helvetica", 7.5)


@pytest.mark.parametrize("language", ["da", "sv"])
def test_pdf_keeps_an_amount_of_millions_on_one_line(connection, language):
    record = finished(connection)
    record.result["differences"][0]["rackbeat_total"] = "-12345678.50"
    record.result["differences"][0]["currency"] = "EUR"
    with translation.override(language):
        lines = [line.replace(NBSP, " ") for line in pdf_lines(pdf_bytes(record))]
    assert {"da": "-12.345.678,50 EUR", "sv": "-12 345 678,50 EUR"}[language] in lines
