"""The keys of a reconciliation's result and how people read them.

A finished reconciliation stores keys (``missing_in_dinero``, ``sales_invoice``, a VAT zone,
``not placed``), never labels, so the page, the CSV, the PDF and the e-mail show them in the
reader's language whatever language the run was started in. Each kind of key has one mapping here.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from integration.core.countries import vat_zone_label
from integration.core.messages import register_labels

# The account-sum row of documents whose lines the matrices cannot place (the reason is in the notes).
UNPLACED = "not placed"

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
    MISSING: gettext_lazy("Missing in Dinero"),
    EXTRA: gettext_lazy("In Dinero, not explained by Rackbeat"),
    DOUBLED: gettext_lazy("In Dinero more than once"),
    DRAFT: gettext_lazy("A draft in Dinero, not booked"),
    TOTAL: gettext_lazy("Totals differ"),
    CONSUMPTION_MISSING: gettext_lazy("Item consumption missing"),
    CONSUMPTION_DOUBLED: gettext_lazy("Item consumption booked more than once"),
    CONSUMPTION_DRAFT: gettext_lazy("Item consumption is a draft, not booked"),
}
SALES_INVOICE = "sales_invoice"
CREDIT_NOTE = "credit_note"
SUPPLIER_INVOICE = "supplier_invoice"
ITEM_CONSUMPTION = "item_consumption"
DOCUMENT_LABELS = {SALES_INVOICE: gettext_lazy("Sales invoice"), CREDIT_NOTE: gettext_lazy("Credit note"),
                   SUPPLIER_INVOICE: gettext_lazy("Supplier invoice"), ITEM_CONSUMPTION: gettext_lazy("Item consumption")}
# Sum rows whose key is no VAT zone and no account.
UNKNOWN_ZONE = "unknown"
SUM_KEY_LABELS = {UNPLACED: gettext_lazy("not placed"), UNKNOWN_ZONE: gettext_lazy("unknown")}


def difference_label(kind: str) -> str:
    """A kind of difference as the accountant reads it ("Missing in Dinero"), in the active language."""
    return str(DIFFERENCE_LABELS.get(kind, kind))


def document_label(document: str) -> str:
    """A kind of document as the accountant reads it ("Sales invoice"), in the active language."""
    return str(DOCUMENT_LABELS.get(document, document))


# Dinero's document statuses as its own screens name them.
DINERO_STATUS_LABELS = {"draft": gettext_lazy("Draft"), "booked": gettext_lazy("Booked"), "paid": gettext_lazy("Paid"),
                        "overpaid": gettext_lazy("Overpaid"), "overdue": gettext_lazy("Overdue")}


def dinero_status_label(status: str) -> str:
    """A Dinero status ("Booked") in the active language; an unknown one as Dinero wrote it."""
    return str(DINERO_STATUS_LABELS.get(str(status or "").lower(), status or ""))


def sum_key_label(key: str) -> str:
    """The first cell of a sum row: a VAT zone's name, "not placed", or the account number as it is."""
    if key in SUM_KEY_LABELS:
        return str(SUM_KEY_LABELS[key])
    return vat_zone_label(key)


# What a sales invoice's item consumption is in Dinero (the documents' "Item consumption" column).
CONSUMPTION_LABELS = {"booked": gettext_lazy("booked"), "draft": gettext_lazy("draft"),
                      "doubled": gettext_lazy("doubled"), "missing": gettext_lazy("missing"),
                      "nothing_to_book": gettext_lazy("nothing to book")}
# The kinds of Dinero document the reconciliation's messages name.
DINERO_KIND_LABELS = {"invoice": gettext_lazy("invoice"), "credit_note": gettext_lazy("credit note"),
                      "purchase_voucher": gettext_lazy("purchase voucher"),
                      "manual_voucher": gettext_lazy("consumption voucher")}


def consumption_label(state: str) -> str:
    """An item consumption state ("missing") in the active language; a text stored by an earlier
    release as it was stored."""
    return str(CONSUMPTION_LABELS.get(state, state or ""))


# The keys the reconciliation's stored messages carry (integration.core.messages).
register_labels("difference", DIFFERENCE_LABELS)
register_labels("document", DOCUMENT_LABELS)
register_labels("consumption", CONSUMPTION_LABELS)
register_labels("dinero_kind", DINERO_KIND_LABELS)
register_labels("account_row", sum_key_label)
