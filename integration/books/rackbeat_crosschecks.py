"""The shape check's cross-checks: does a real document agree with itself and with the service's reading?

Each check looks at one document the shape check read (with its lines' items embedded, as the
transfers embed them) and ends as a :class:`Finding`: **verified** (saying what agreed, naming the
document), **not verifiable yet** (why, and what to do) or **failed** (what is wrong, in the
consultant's words, with the number looked up). Nothing here talks to Rackbeat.

* a credit note flagged under a name the service does not read, or an invoice with a negative total
  and no flag at all, would be transferred as an ordinary invoice;
* a line whose ``child_id`` names no item stops its document;
* the header's ``total_cost`` against Σ ``item_cost_price`` × quantity (:mod:`integration.transfers.cost_readings`);
* the VAT against the lines: ``total_vat`` against Σ line total × ``vat_percentage``, and
  ``total_total`` = ``total_subtotal`` + ``total_vat``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from integration.core.clients.rackbeat_documents import (
    CREDIT_NOTE_FLAGS,
    in_dinero_direction,
    is_credit_note,
    line_amount_as_written,
    line_item_ref,
    number_or_none,
)
from integration.transfers.cost_readings import cost_agreement

VERIFIED = "verified"
NOT_YET = "unverified"
FAILED = "failed"
ORE = Decimal("0.01")
HUNDRED = Decimal(100)
# Keys that may carry a document's kind under another name than the flags the service reads.
KIND_KEYS = ("type", "document_type", "invoice_type", "kind")
# A key naming a credit note or memo (``creditnote``, ``is_credit_memo`` …) — not ``credited_invoice_number``
# or ``is_credited``, which an original invoice may carry.
CREDIT_NOTE_KEY = re.compile(r"credit[_\- ]?(note|memo)|^(is_)?credit$")


@dataclass
class Finding:
    label: str
    status: str
    text: str


def _ore(value: Decimal) -> Decimal:
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


# --- credit notes under another name ------------------------------------------------------------

def unknown_credit_flag(row: dict[str, Any]) -> str:
    """``name: value`` of a credit-note marker the service does not read; "" when there is none."""
    for key, value in row.items():
        name = str(key).lower()
        if key in CREDIT_NOTE_FLAGS or value in (None, "", False, 0, "0", "false"):
            continue
        if CREDIT_NOTE_KEY.search(name) or (name in KIND_KEYS and "credit" in str(value).lower()):
            return f"{key}: {value}"
    return ""


def _negative_total(row: dict[str, Any]) -> Decimal | None:
    for name in ("total_total", "total_subtotal"):
        total = number_or_none(row.get(name))
        if total is not None and total != 0:
            return total if total < 0 else None
    return None


def suspect_credit_note(row: dict[str, Any]) -> str:
    """Why an invoice the service reads as ordinary looks like a credit note; "" when it does not."""
    if is_credit_note(row):
        return ""
    number = row.get("number")
    marker = unknown_credit_flag(row)
    if marker:
        return _("Invoice %(number)s carries “%(marker)s”, a credit-note flag under a name the service does not "
                 "read (it reads %(names)s), so it would transfer this credit note as an ordinary invoice.") % {
            "number": number, "marker": marker, "names": ", ".join(CREDIT_NOTE_FLAGS)}
    total = _negative_total(row)
    if total is not None:
        return _("Invoice %(number)s has a negative total (%(total)s) but no credit-note flag under any name the "
                 "service reads (%(names)s), so it would be transferred as an invoice with negative amounts.") % {
            "number": number, "total": total, "names": ", ".join(CREDIT_NOTE_FLAGS)}
    return ""


def suspects_finding(rows: list[dict[str, Any]]) -> Finding | None:
    """One failed finding naming the invoices that look like credit notes the service does not see."""
    reasons = [reason for reason in (suspect_credit_note(row) for row in rows) if reason]
    if not reasons:
        return None
    more = len(reasons) - 1
    text = reasons[0] + (" " + _("%(n)s more of the newest invoices look the same.") % {"n": more} if more else "")
    return Finding(_("credit notes the service would not recognise"), FAILED, text + " " + _(
        "Tell support the field and value Rackbeat uses; until the service reads it, handle such documents by "
        "hand instead of letting them transfer."))


# --- lines naming no item -----------------------------------------------------------------------

def items_finding(doc: dict[str, Any], document: str) -> Finding | None:
    """Whether every line's ``child_id`` resolved to an item; ``doc`` has its lines' items embedded."""
    looked_up, missing = [], []
    for position, line in enumerate(doc.get("lines") or [], start=1):
        ref = line_item_ref(line)
        if ref is None:
            continue
        kind, number = ref
        looked_up.append(number)
        item = line.get("item") if isinstance(line.get("item"), dict) else {}
        if item.get("missing_in_rackbeat"):
            path, what = ("lots", _("BOM")) if kind == "lot" else ("products", _("product"))
            missing.append(_("line %(position)s names %(what)s %(number)s, but Rackbeat has no %(what)s with that "
                             "number (looked up as %(path)s/%(number)s)") % {
                "position": position, "what": what, "number": number, "path": path})
    if not looked_up:
        return None
    label = _("items named by the lines")
    if missing:
        return Finding(label, FAILED, _("On %(document)s %(missing)s. The transfer stops this document naming the "
                                        "item; check the line's item number (child_id) in Rackbeat.") % {
            "document": document, "missing": "; ".join(missing)})
    return Finding(label, VERIFIED, _("Every line with an item on %(document)s names an item Rackbeat has "
                                      "(looked up: %(numbers)s).") % {
        "document": document, "numbers": ", ".join(dict.fromkeys(looked_up))})


# --- cost and VAT -------------------------------------------------------------------------------

def cost_finding(doc: dict[str, Any]) -> Finding:
    """The header's ``total_cost`` against the lines' unit cost × quantity (the consumption's reading)."""
    label = _("cost total against the lines")
    agreement = cost_agreement(doc)
    number = doc.get("number")
    if agreement.given is None:
        return Finding(label, NOT_YET, _(
            "Invoice %(number)s carries no total_cost, so the unit costs (item_cost_price) cannot be checked "
            "against Rackbeat's own cost total. Nothing to do: the consumption voucher uses unit cost × "
            "quantity.") % {"number": number})
    if not agreement.lines:
        return Finding(label, NOT_YET, _(
            "No line of invoice %(number)s carries a unit cost, so its total_cost cannot be checked against the "
            "lines. Run the check again after an invoice with stock items is booked.") % {"number": number})
    if agreement.agrees:
        return Finding(label, VERIFIED, str(agreement.agreement()))
    return Finding(label, FAILED, str(agreement.disagreement()) + " " + _(
        "The consumption voucher of such an invoice stops with both figures; compare the lines' unit costs "
        "and units with the invoice in Rackbeat."))


def _line_amount(line: dict[str, Any]) -> Decimal | None:
    """A line's amount excluding VAT, after its discount: its line total, else quantity × price."""
    return line_amount_as_written(line, after_discount=True)


def vat_finding(doc: dict[str, Any]) -> Finding:
    """The invoice's VAT against its lines, and its total against subtotal + VAT."""
    label = _("VAT and totals against the lines")
    doc = in_dinero_direction(doc)
    number = doc.get("number")
    subtotal, vat, total = (number_or_none(doc.get(name)) for name in ("total_subtotal", "total_vat", "total_total"))
    if total is None or vat is None or subtotal is None:
        return Finding(label, NOT_YET, _(
            "Invoice %(number)s does not carry total_subtotal, total_vat and total_total together, so its VAT "
            "cannot be checked here; the transfer compares Rackbeat's total with Dinero's after the draft is "
            "made.") % {"number": number})
    if _ore(subtotal + vat) != _ore(total):
        return Finding(label, FAILED, _(
            "Invoice %(number)s: total incl. VAT %(total)s is not subtotal %(subtotal)s + VAT %(vat)s. The "
            "transfer stops such an invoice naming Rackbeat's figures.") % {
            "number": number, "total": total, "subtotal": subtotal, "vat": vat})
    amounts = [(line, _line_amount(line)) for line in doc.get("lines") or []]
    priced = [(line, amount) for line, amount in amounts if amount]
    rates = [number_or_none(line.get("vat_percentage")) for line, _amount in priced]
    if not priced or any(rate is None for rate in rates):
        return Finding(label, NOT_YET, _(
            "Invoice %(number)s: total %(total)s = subtotal + VAT, but its lines carry no VAT rate "
            "(vat_percentage), so the VAT itself cannot be checked against them here; the transfer compares "
            "Rackbeat's total with Dinero's after the draft is made.") % {"number": number, "total": total})
    exact = sum((amount * rate / HUNDRED for (_line, amount), rate in zip(priced, rates, strict=True)), Decimal(0))
    per_line = sum((_ore(amount * rate / HUNDRED) for (_line, amount), rate in zip(priced, rates, strict=True)),
                   Decimal(0))
    if _ore(vat) not in (_ore(exact), per_line):
        return Finding(label, FAILED, _(
            "Invoice %(number)s: Rackbeat's VAT (total_vat) is %(vat)s DKK, but its lines give %(lines)s DKK (line "
            "total × VAT rate over %(count)s lines). The transfer stops such an invoice with both figures.") % {
            "number": number, "vat": _ore(vat), "lines": per_line, "count": len(priced)})
    return Finding(label, VERIFIED, _(
        "Invoice %(number)s: VAT %(vat)s DKK equals line total × VAT rate over its %(count)s priced lines (rounded "
        "to the øre per line or as a whole), and total %(total)s = subtotal + VAT.") % {
        "number": number, "vat": _ore(vat), "count": len(priced), "total": total})
