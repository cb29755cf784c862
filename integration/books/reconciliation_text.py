"""The reconciliation's words: the labels of its keys, and a stored result made readable.

A reconciliation stores meaning (:mod:`integration.core.messages`): each difference's kind and
document as keys and its message as a message with typed parameters, the notes as messages, the
item consumption of a document as a key. :func:`readable` turns a stored result into what the
page, the CSV, the PDF and the e-mail show, in the active language. Results stored before (with
texts in the language of the run) show their texts as stored.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from integration.core.messages import register_labels, render

# Kinds of difference, in the order the report shows them.
MISSING = "missing_in_dinero"
EXTRA = "extra_in_dinero"
DOUBLED = "doubled_in_dinero"
DRAFT = "draft_in_dinero"
TOTAL = "total_differs"
CONSUMPTION_MISSING = "consumption_missing"
CONSUMPTION_DOUBLED = "consumption_doubled"
CONSUMPTION_DRAFT = "consumption_draft"
DIFFERENCE_LABELS = {
    MISSING: _("Missing in Dinero"),
    EXTRA: _("In Dinero, not explained by Rackbeat"),
    DOUBLED: _("In Dinero more than once"),
    DRAFT: _("A draft in Dinero, not booked"),
    TOTAL: _("Totals differ"),
    CONSUMPTION_MISSING: _("Item consumption missing"),
    CONSUMPTION_DOUBLED: _("Item consumption booked more than once"),
    CONSUMPTION_DRAFT: _("Item consumption is a draft, not booked"),
}
SALES_INVOICE = "sales_invoice"
CREDIT_NOTE = "credit_note"
SUPPLIER_INVOICE = "supplier_invoice"
ITEM_CONSUMPTION = "item_consumption"
DOCUMENT_LABELS = {SALES_INVOICE: _("Sales invoice"), CREDIT_NOTE: _("Credit note"),
                   SUPPLIER_INVOICE: _("Supplier invoice"), ITEM_CONSUMPTION: _("Item consumption")}
# The account-sum row of documents whose lines the matrices cannot place (the reason is in the notes).
UNPLACED = "not placed"
# What a sales invoice's item consumption is in Dinero (the documents' "Item consumption" column).
CONSUMPTION_LABELS = {"booked": _("booked"), "draft": _("draft"), "doubled": _("doubled"), "missing": _("missing"),
                      "nothing_to_book": _("nothing to book")}
# The kinds of Dinero document the reconciliation names.
DINERO_KIND_LABELS = {"invoice": _("invoice"), "credit_note": _("credit note"),
                      "purchase_voucher": _("purchase voucher"), "manual_voucher": _("consumption voucher")}

register_labels("difference", DIFFERENCE_LABELS)
register_labels("document", DOCUMENT_LABELS)
register_labels("consumption", CONSUMPTION_LABELS)
register_labels("dinero_kind", DINERO_KIND_LABELS)
register_labels("account_row", {UNPLACED: _("not placed")})


def label(labels: dict[str, Any], key: Any) -> str:
    """The label of ``key``, or the key as stored (a text written by an earlier release)."""
    return str(labels.get(str(key), key or ""))


def readable(result: dict[str, Any] | None) -> dict[str, Any]:
    """A stored result with every text for people rendered in the active language."""
    result = dict(result or {})
    result["differences"] = [
        {**d, "label": label(DIFFERENCE_LABELS, d.get("kind")) if d.get("kind") in DIFFERENCE_LABELS else
         d.get("label", ""),
         "document_label": label(DOCUMENT_LABELS, d.get("document")), "message": render(d.get("message"), "")}
        for d in result.get("differences") or []]
    result["documents"] = [
        {**d, "consumption": label(CONSUMPTION_LABELS, d.get("consumption", "")),
         "document_label": label(DOCUMENT_LABELS, d.get("document"))}
        for d in result.get("documents") or []]
    result["notes"] = [render(note, "") for note in result.get("notes") or []]
    return result
