"""A finished reconciliation as the accountant takes it away: CSV, a one-page PDF and the month-end mail."""

from __future__ import annotations

import csv
import io
from typing import Any
from xml.sax.saxutils import escape

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from integration.books.reconciliation_text import readable
from integration.core.alerts import _send, absolute
from integration.core.csv_cells import safe_cell
from integration.core.models import Reconciliation

# The PDF stays on one page: longer lists are cut, the CSV has them all.
PDF_MAX_DIFFERENCES = 12
PDF_MAX_SUM_ROWS = 8


def taken(record: Reconciliation) -> str:
    seconds = record.seconds_taken
    if seconds is None:
        return ""
    return _("%(seconds)s s") % {"seconds": f"{seconds:.1f}"} if seconds < 120 else \
        _("%(minutes)s min") % {"minutes": f"{seconds / 60:.1f}"}


def csv_bytes(record: Reconciliation) -> bytes:
    """Every difference, every document and every sum, one row each, section named in the first column."""
    result = readable(record.result)
    out = io.StringIO()
    writer = csv.writer(out)

    def row(*cells: Any) -> None:
        writer.writerow([safe_cell(c) for c in cells])

    row(_("Connection"), record.connection.name)
    row(_("Period"), record.period_start.isoformat(), record.period_end.isoformat())
    row(_("Taken at"), timezone.localtime(record.finished_at or record.started_at).strftime("%Y-%m-%d %H:%M"))
    row()
    row(_("Section"), _("Type"), _("Document"), _("Number"), _("Date"), _("Rackbeat total"), _("Dinero total"),
        _("Message"))
    for d in result.get("differences", []):
        row(_("difference"), d["label"], d["document_label"], d["number"], d["date"], d["rackbeat_total"],
            d["dinero_total"], d["message"])
    row()
    row(_("Section"), _("Document"), _("Number"), _("Date"), _("Customer or supplier"), _("VAT zone"),
        _("Rackbeat total"), _("Dinero total"), _("Dinero number"), _("Dinero status"), _("Item consumption"))
    for d in result.get("documents", []):
        row(_("document"), d["document_label"], d["number"], d["date"], d.get("party", ""), d.get("zone", ""),
            d["rackbeat_total"], d["dinero_total"], d["dinero_number"], d["dinero_status"], d.get("consumption", ""))
    row()
    for name, title in sum_tables():
        row(_("Section"), _("VAT zone") if name.endswith("zone") else _("Account"), _("Currency"),
            *(_headers_zone() if name.endswith("zone") else _headers_account()))
        for s in (result.get("sums") or {}).get(name, []):
            row(title, s["key"], s.get("currency", "DKK"), *[s.get(c, "") for c in _sum_columns(name)])
    return out.getvalue().encode("utf-8-sig")


def sum_tables() -> list[tuple[str, str]]:
    return [("sales_by_zone", _("Sales per VAT zone and currency")),
            ("purchases_by_zone", _("Purchases per VAT zone and currency")),
            ("sales_by_account", _("Sales per revenue account and currency")),
            ("purchases_by_account", _("Purchases per supplier account and currency"))]


def _sum_columns(name: str) -> list[str]:
    if name.endswith("zone"):
        return ["rackbeat_excl", "dinero_excl", "rackbeat_incl", "dinero_incl", "dinero_booked_dkk"]
    return ["rackbeat", "dinero", "dinero_other"]


def pdf_bytes(record: Reconciliation) -> bytes:
    """One A4 page: the connection, the period, the figures on both sides, the differences, the time taken."""

    result = readable(record.result)
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=12 * mm,
                            bottomMargin=12 * mm, title=_("Reconciliation %(period)s") % {"period": _period(record)})

    def table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
        # Paragraph reads its text as markup: names and messages are escaped so "<" or "&" stay text.
        t = Table([[Paragraph(escape(str(c)), small) for c in r] for r in rows], colWidths=widths, repeatRows=1)
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
        return t

    counts = result.get("counts", {})
    story: list[Any] = [
        Paragraph(_("Reconciliation Rackbeat → Dinero"), styles["Title"]),
        table([[_("Connection"), _("Period"), _("Taken at"), _("Time taken"), _("Differences")],
               [record.connection.name, _period(record),
                timezone.localtime(record.finished_at or record.started_at).strftime("%Y-%m-%d %H:%M"),
                taken(record), str(record.differences)]]),
        Spacer(1, 3 * mm),
        table([[_("Rackbeat sales invoices and credit notes"), _("Rackbeat supplier invoices"),
                _("Dinero sales documents"), _("Matched")],
               [counts.get("rackbeat_sales", 0), counts.get("rackbeat_purchases", 0), counts.get("dinero_sales", 0),
                counts.get("matched", 0)]]),
    ]
    for name, title in sum_tables():
        rows = (result.get("sums") or {}).get(name, [])
        if not rows:
            continue
        story += [Spacer(1, 2 * mm), Paragraph(title, small)]
        header = [_("VAT zone") if name.endswith("zone") else _("Account"), _("Currency"),
                  *(_headers_zone() if name.endswith("zone") else _headers_account())]
        body = [[r["key"], r.get("currency", "DKK"), *[r.get(c, "") for c in _sum_columns(name)]]
                for r in rows[:PDF_MAX_SUM_ROWS]]
        if len(rows) > PDF_MAX_SUM_ROWS:
            body.append([_("… %(n)s more in the CSV") % {"n": len(rows) - PDF_MAX_SUM_ROWS}] + [""] * (len(header) - 1))
        story.append(table([header, *body]))
    differences = result.get("differences", [])
    story += [Spacer(1, 3 * mm), Paragraph(_("Differences"), styles["Heading4"])]
    if differences:
        body = [[d["label"], f"{d['document_label']} {d['number']}", d["date"], d["rackbeat_total"], d["dinero_total"],
                 d["message"][:160]] for d in differences[:PDF_MAX_DIFFERENCES]]
        if len(differences) > PDF_MAX_DIFFERENCES:
            body.append([_("… %(n)s more in the CSV") % {"n": len(differences) - PDF_MAX_DIFFERENCES}, "", "", "", "", ""])
        story.append(table([[_("Type"), _("Document"), _("Date"), _("Rackbeat"), _("Dinero"), _("Why")], *body],
                           widths=[28 * mm, 28 * mm, 17 * mm, 18 * mm, 18 * mm, None]))
    else:
        story.append(Paragraph(_("None: every booked Rackbeat document of the period is booked in Dinero once, "
                                 "with the same total."), small))
    for note in result.get("notes", [])[:4]:
        story.append(Paragraph(escape(note), small))
    doc.build(story)
    return buffer.getvalue()


def _headers_zone() -> list[str]:
    return [_("Rackbeat excl. VAT"), _("Dinero excl. VAT"), _("Rackbeat incl. VAT"), _("Dinero incl. VAT"),
            _("Dinero booked excl. VAT, DKK")]


def _headers_account() -> list[str]:
    return [_("Rackbeat"), _("Dinero, these documents (booked, DKK)"), _("Dinero, other postings (DKK)")]


def _period(record: Reconciliation) -> str:
    return f"{record.period_start.isoformat()} – {record.period_end.isoformat()}"


def page_url(record: Reconciliation) -> str:
    return reverse("admin:connection-reconciliation", args=[record.connection_id]) + f"?run={record.pk}"


def email_differences(record: Reconciliation) -> bool:
    """Mail the differences of a scheduled run to the connection's recipients; nothing when there are none."""

    if record.state != Reconciliation.State.DONE or not record.differences or record.emailed_at:
        return False
    differences = readable(record.result)["differences"]
    context = {"record": record, "differences": differences[:100], "more": max(0, len(differences) - 100),
               "period": _period(record), "url": absolute(page_url(record))}
    subject = ngettext("%(connection)s: %(count)d difference between Rackbeat and Dinero for %(period)s",
                       "%(connection)s: %(count)d differences between Rackbeat and Dinero for %(period)s",
                       record.differences) % {"connection": record.connection.name, "count": record.differences,
                                              "period": _period(record)}
    sent = _send(record.connection, subject, "reconciliation", context)
    if sent:
        Reconciliation.objects.filter(pk=record.pk).update(emailed_at=timezone.now())
    return sent
