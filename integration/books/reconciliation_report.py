"""A finished reconciliation as the accountant takes it away: CSV, a one-page PDF and the month-end mail."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from integration.books.reconciliation_keys import (
    consumption_label,
    difference_label,
    dinero_status_label,
    document_label,
    sum_key_label,
)
from integration.core import formatting
from integration.core.alerts import _send, absolute
from integration.core.csv_export import CsvSheet, amount
from integration.core.messages import render
from integration.core.models import Reconciliation

# The PDF stays on one page: longer lists are cut, the CSV has them all.
PDF_MAX_DIFFERENCES = 12
PDF_MAX_SUM_ROWS = 8
# Columns that hold amounts are right-aligned in the PDF.
AMOUNT = "amount"


def taken(record: Reconciliation) -> str:
    """How long the run took, as people read it ("1,1 s" in da)."""
    return formatting.duration(record.seconds_taken)


def taken_at(record: Reconciliation) -> str:
    return formatting.datetime(record.finished_at or record.started_at)


def period_text(record: Reconciliation) -> str:
    return f"{formatting.date(record.period_start)} – {formatting.date(record.period_end)}"


def readable_difference(difference: dict[str, Any]) -> dict[str, Any]:
    """A stored difference with its labels read from its keys and its message rendered
    (:mod:`integration.core.messages`), in the active language."""
    return {**difference, "label": difference_label(difference.get("kind", "")),
            "document_label": document_label(difference.get("document", "")),
            "currency": difference.get("currency", ""), "message": render(difference.get("message"), "")}


def readable_document(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "document_label": document_label(document.get("document", "")),
            "zone_label": sum_key_label(document["zone"]) if document.get("zone") else "",
            "currency": document.get("currency", ""), "consumption": consumption_label(document.get("consumption", ""))}


def readable(result: dict[str, Any] | None) -> dict[str, Any]:
    """A stored result as people read it: every difference, document and note in the active language.

    A result stores keys and messages (never labels or sentences), so a run started in one
    language reads in another; texts stored by an earlier release show as they were stored.
    """
    result = dict(result or {})
    result["differences"] = [readable_difference(d) for d in result.get("differences") or []]
    result["documents"] = [readable_document(d) for d in result.get("documents") or []]
    result["notes"] = [render(note, "") for note in result.get("notes") or []]
    return result


def readable_sum(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "key_label": sum_key_label(str(row.get("key", ""))), "currency": row.get("currency") or "DKK"}


def csv_bytes(record: Reconciliation) -> bytes:
    """Every difference, every document and every sum, one row each, section named in the first column.

    Written in the active language's CSV dialect (:mod:`integration.core.csv_export`): labels, not
    keys; amounts as numbers a spreadsheet sums, with the currency in its own column.
    """
    result = record.result or {}
    sheet = CsvSheet()
    row = sheet.row
    row(_("Connection"), record.connection.name)
    row(_("Period"), formatting.date(record.period_start), formatting.date(record.period_end))
    row(_("Taken at"), taken_at(record))
    row()
    row(_("Section"), _("Type"), _("Document"), _("Number"), _("Date"), _("Currency"), _("Rackbeat total"),
        _("Dinero total"), _("Message"))
    for d in map(readable_difference, result.get("differences", [])):
        row(_("difference"), d["label"], d["document_label"], d["number"], formatting.date(d.get("date")),
            d["currency"], amount(d.get("rackbeat_total")), amount(d.get("dinero_total")), d["message"])
    row()
    row(_("Section"), _("Document"), _("Number"), _("Date"), _("Customer or supplier"), _("VAT zone"), _("Currency"),
        _("Rackbeat total"), _("Dinero total"), _("Dinero number"), _("Dinero status"), _("Item consumption"))
    for d in map(readable_document, result.get("documents", [])):
        row(_("document"), d["document_label"], d["number"], formatting.date(d.get("date")), d.get("party", ""),
            d["zone_label"], d["currency"], amount(d.get("rackbeat_total")), amount(d.get("dinero_total")),
            d.get("dinero_number", ""), dinero_status_label(d.get("dinero_status", "")), d.get("consumption", ""))
    row()
    for name, title in sum_tables():
        row(_("Section"), _("VAT zone") if name.endswith("zone") else _("Account"), _("Currency"),
            *(_headers_zone() if name.endswith("zone") else _headers_account()))
        for s in map(readable_sum, (result.get("sums") or {}).get(name, [])):
            row(title, s["key_label"], s["currency"], *[amount(s.get(c)) for c in _sum_columns(name)])
    return sheet.content()


def sum_tables() -> list[tuple[str, str]]:
    return [("sales_by_zone", _("Sales per VAT zone and currency")),
            ("purchases_by_zone", _("Purchases per VAT zone and currency")),
            ("sales_by_account", _("Sales per revenue account and currency")),
            ("purchases_by_account", _("Purchases per supplier account and currency"))]


def _sum_columns(name: str) -> list[str]:
    if name.endswith("zone"):
        return ["rackbeat_excl", "dinero_excl", "rackbeat_incl", "dinero_incl", "dinero_booked_dkk"]
    return ["rackbeat", "dinero", "dinero_other"]


def _money_or_blank(value: Any, currency: str) -> str:
    return formatting.money(value, currency) if value not in ("", None) else ""


def pdf_bytes(record: Reconciliation) -> bytes:
    """One A4 page: the connection, the period, the figures on both sides, the differences, the time taken.

    Dates and amounts are written as the reader's language writes them; amount columns are
    right-aligned and every date column is wide enough that a date never breaks over two lines.
    """

    result = readable(record.result)
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    right = small.clone("right", alignment=TA_RIGHT)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=12 * mm,
                            bottomMargin=12 * mm, title=_("Reconciliation %(period)s") % {"period": period_text(record)})

    def table(rows: list[list[Any]], widths: list[float | None] | None = None,
              aligns: list[str] | None = None) -> Table:
        # Paragraph reads its text as markup: names and messages are escaped so "<" or "&" stay text.
        def paragraph(index: int, text: Any) -> Paragraph:
            style = right if aligns and index < len(aligns) and aligns[index] == AMOUNT else small
            return Paragraph(escape(str(text)), style)

        t = Table([[paragraph(i, c) for i, c in enumerate(r)] for r in rows], colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]))
        return t

    counts = result.get("counts", {})
    story: list[Any] = [
        Paragraph(_("Reconciliation Rackbeat → Dinero"), styles["Title"]),
        table([[_("Connection"), _("Period"), _("Taken at"), _("Time taken"), _("Differences")],
               [record.connection.name, period_text(record), taken_at(record), taken(record),
                formatting.quantity(record.differences)]],
              widths=[None, 42 * mm, 28 * mm, 20 * mm, 20 * mm], aligns=["", "", "", AMOUNT, AMOUNT]),
        Spacer(1, 3 * mm),
        table([[_("Rackbeat sales invoices and credit notes"), _("Rackbeat supplier invoices"),
                _("Dinero sales documents"), _("Matched")],
               [formatting.quantity(counts.get(key, 0))
                for key in ("rackbeat_sales", "rackbeat_purchases", "dinero_sales", "matched")]],
              aligns=[AMOUNT] * 4),
    ]
    for name, title in sum_tables():
        rows = [readable_sum(r) for r in (result.get("sums") or {}).get(name, [])]
        if not rows:
            continue
        story += [Spacer(1, 2 * mm), Paragraph(escape(title), small)]
        header = [_("VAT zone") if name.endswith("zone") else _("Account"), _("Currency"),
                  *(_headers_zone() if name.endswith("zone") else _headers_account())]
        body = [[r["key_label"], r["currency"], *[formatting.money(r.get(c)) for c in _sum_columns(name)]]
                for r in rows[:PDF_MAX_SUM_ROWS]]
        if len(rows) > PDF_MAX_SUM_ROWS:
            body.append([_("… %(n)s more in the CSV") % {"n": len(rows) - PDF_MAX_SUM_ROWS}] + [""] * (len(header) - 1))
        story.append(table([header, *body], aligns=["", "", *[AMOUNT] * (len(header) - 2)]))
    differences = [readable_difference(d) for d in result.get("differences", [])]
    story += [Spacer(1, 3 * mm), Paragraph(_("Differences"), styles["Heading4"])]
    if differences:
        body = [[d["label"], f"{d['document_label']} {d['number']}", formatting.date(d.get("date")),
                 _money_or_blank(d.get("rackbeat_total"), d["currency"]),
                 _money_or_blank(d.get("dinero_total"), d["currency"]), str(d["message"])[:160]]
                for d in differences[:PDF_MAX_DIFFERENCES]]
        if len(differences) > PDF_MAX_DIFFERENCES:
            body.append([_("… %(n)s more in the CSV") % {"n": len(differences) - PDF_MAX_DIFFERENCES}, "", "", "", "", ""])
        # 182 mm between the margins: the date column holds "07.12.2026" or "2026-12-07" on one line,
        # an amount column "-12.345.678,50 EUR".
        story.append(table([[_("Type"), _("Document"), _("Date"), _("Rackbeat"), _("Dinero"), _("Why")], *body],
                           widths=[28 * mm, 28 * mm, 18 * mm, 27 * mm, 27 * mm, None],
                           aligns=["", "", "", AMOUNT, AMOUNT, ""]))
    else:
        story.append(Paragraph(_("None: every booked Rackbeat document of the period is booked in Dinero once, "
                                 "with the same total."), small))
    for note in result.get("notes", [])[:4]:
        story.append(Paragraph(escape(str(note)), small))
    doc.build(story)
    return buffer.getvalue()


def _headers_zone() -> list[str]:
    return [_("Rackbeat excl. VAT"), _("Dinero excl. VAT"), _("Rackbeat incl. VAT"), _("Dinero incl. VAT"),
            _("Dinero booked excl. VAT, DKK")]


def _headers_account() -> list[str]:
    return [_("Rackbeat"), _("Dinero, these documents (booked, DKK)"), _("Dinero, other postings (DKK)")]


def page_url(record: Reconciliation) -> str:
    return reverse("admin:connection-reconciliation", args=[record.connection_id]) + f"?run={record.pk}"


def email_differences(record: Reconciliation) -> bool:
    """Mail the differences of a scheduled run to the connection's recipients, with the CSV and the
    PDF attached, all in the connection's language; nothing when there are none."""

    if record.state != Reconciliation.State.DONE or not record.differences or record.emailed_at:
        return False
    with translation.override(record.connection.mail_language):
        differences = [readable_difference(d) for d in (record.result or {}).get("differences", [])]
        context = {"record": record, "differences": differences[:100], "more": max(0, len(differences) - 100),
                   "period": period_text(record), "url": absolute(page_url(record))}
        subject = ngettext("%(connection)s: %(count)d difference between Rackbeat and Dinero for %(period)s",
                           "%(connection)s: %(count)d differences between Rackbeat and Dinero for %(period)s",
                           record.differences) % {"connection": record.connection.name, "count": record.differences,
                                                  "period": period_text(record)}
        name = file_name(record)
        sent = _send(record.connection, subject, "reconciliation", context, attachments=[
            (f"{name}.csv", csv_bytes(record), "text/csv"), (f"{name}.pdf", pdf_bytes(record), "application/pdf")])
    if sent:
        Reconciliation.objects.filter(pk=record.pk).update(emailed_at=timezone.now())
    return sent


def file_name(record: Reconciliation) -> str:
    """The name of the report's files, without extension."""
    return f"reconciliation-{record.connection_id}-{record.period_start:%Y%m%d}-{record.period_end:%Y%m%d}"
