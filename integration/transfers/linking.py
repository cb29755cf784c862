""""It is in Dinero: link it" — finding the document a person named, before anything is linked.

A person types a Guid or a number. The document is read from Dinero: a Guid directly; a number
through the ledger's entries around the Rackbeat document's date (a draft has no number in Dinero
yet, so a draft is linked by its Guid). What is not there is refused with a readable message;
what is found is shown (number, date, total, status) for the person to confirm. Once linked, the
operation runs its ordinary transfer with that document: it is compared with Rackbeat's current
document before it is booked (:mod:`integration.transfers.booking_check`) and is compared again
whenever Rackbeat changes, like any transferred document.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.clients.errors import ApiError, NotFound
from integration.core.handlers import (
    FoundDocument,
    LinkRefused,
    TransferContext,
    TransferProblem,
    register_link_lookup,
)
from integration.core.messages import Message
from integration.core.models import Direction, Kind, SyncOperation
from integration.transfers.booking_check import Figures, manual_found, purchase_found
from integration.transfers.invoice_mapping import document_date

# How far from the Rackbeat document's date a voucher found by its number may be dated.
NUMBER_WINDOW_DAYS = 62

Reader = Callable[[TransferContext, str], dict[str, Any] | None]


def _timestamp(document: dict[str, Any]) -> str:
    return str(document.get("Timestamp") or document.get("TimeStamp") or "")


def _or_none(read: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    try:
        return read()
    except NotFound:
        return None


def _is_guid(reference: str) -> bool:
    try:
        uuid.UUID(reference)
    except ValueError:
        return False
    return True


def _source_date(op: SyncOperation, ctx: TransferContext) -> Any:
    if op.kind == Kind.SUPPLIER_INVOICE:
        document = ctx.rackbeat.get_supplier_invoice(op.source_key)
    else:
        document = ctx.rackbeat.get_customer_invoice(op.source_key)
    return document_date(document.get("invoice_date"), "invoice date")


def _by_number(op: SyncOperation, ctx: TransferContext, number: str, read: Reader) -> dict[str, Any] | None:
    """The booked document numbered ``number`` whose entries lie near the Rackbeat document's date."""
    day = _source_date(op, ctx)
    entries = ctx.dinero.entries(day - timedelta(days=NUMBER_WINDOW_DAYS), day + timedelta(days=NUMBER_WINDOW_DAYS))
    guids = {str(e.get("VoucherGuid")) for e in entries
             if str(e.get("VoucherNumber") or "") == number and e.get("VoucherGuid")}
    # Numbers of different kinds of documents may coincide: only one of the kind wanted reads back.
    found = [document for document in (_or_none(lambda g=g: read(ctx, g)) for g in sorted(guids)) if document]
    return found[0] if len(found) == 1 else None


def _find(op: SyncOperation, ctx: TransferContext, reference: str, read: Reader, what: str) -> dict[str, Any]:
    try:
        document = _or_none(lambda: read(ctx, reference)) if _is_guid(reference) \
            else _by_number(op, ctx, reference, read)
    except ApiError as exc:
        raise LinkRefused(Message(gettext_noop("Could not look %(reference)s up in Dinero: %(error)s"),
                                  reference=reference, error=exc.describe())) from exc
    except TransferProblem as exc:  # the Rackbeat document's date is unreadable
        raise LinkRefused(Message(gettext_noop("Could not look %(reference)s up in Dinero: %(error)s"),
                                  reference=reference, error=exc.message), hint=exc.hint) from exc
    if document is None:
        if _is_guid(reference):
            message = Message(gettext_noop("Dinero has no %(what)s with the Guid %(reference)s."))
        else:
            message = Message(gettext_noop(
                "Dinero has no booked %(what)s numbered %(reference)s dated near this document. A draft "
                "has no number in Dinero yet: enter its Guid (the last part of its address in Dinero)."))
        raise LinkRefused(message % {"what": what, "reference": reference},
                          hint=Message(gettext_noop(
                              "Look again in Dinero, or choose “It is not there: post it now”.")))
    return document


@register_link_lookup(Kind.SUPPLIER_INVOICE, Direction.TO_DINERO)
def find_purchase_voucher(op: SyncOperation, ctx: TransferContext, reference: str) -> FoundDocument:
    voucher = _find(op, ctx, reference, lambda c, guid: c.dinero.get_purchase_voucher(guid), Message(gettext_noop(
        "purchase voucher")))
    return _voucher_found(voucher, reference, purchase_found(voucher))


def _voucher_found(voucher: dict[str, Any], reference: str, figures: Figures) -> FoundDocument:
    guid = str(voucher.get("Guid") or reference)
    return FoundDocument(guid=guid, number=str(voucher.get("VoucherNumber") or ""), total=str(figures.total),
                         currency=figures.currency, date=str(voucher.get("VoucherDate") or ""),
                         status=str(voucher.get("Status") or ""),
                         intent={"voucher_guid": guid, "voucher_timestamp": _timestamp(voucher)})


@register_link_lookup(Kind.ITEM_CONSUMPTION, Direction.TO_DINERO)
def find_manual_voucher(op: SyncOperation, ctx: TransferContext, reference: str) -> FoundDocument:
    voucher = _find(op, ctx, reference, lambda c, guid: c.dinero.get_manual_voucher(guid), Message(gettext_noop(
        "voucher")))
    return _voucher_found(voucher, reference, manual_found(voucher))


@register_link_lookup(Kind.CREDIT_NOTE, Direction.TO_DINERO)
@register_link_lookup(Kind.SALES_INVOICE, Direction.TO_DINERO)
def find_sales_document(op: SyncOperation, ctx: TransferContext, reference: str) -> FoundDocument:
    credit_note = op.kind == Kind.CREDIT_NOTE

    def read(c: TransferContext, guid: str) -> dict[str, Any] | None:
        return c.dinero.get_credit_note(guid) if credit_note else c.dinero.get_invoice(guid)

    document = _find(op, ctx, reference, read, Message(gettext_noop(
        "credit note")) if credit_note else Message(gettext_noop(
        "invoice")))
    guid = str(document.get("Guid") or reference)
    return FoundDocument(guid=guid, number=str(document.get("Number") or ""),
                         total=str(document.get("TotalInclVat") or ""),
                         currency=str(document.get("Currency") or "DKK"), date=str(document.get("Date") or ""),
                         status=str(document.get("Status") or ""),
                         intent={"dinero_guid": guid, "dinero_timestamp": _timestamp(document), "step": "linked",
                                 "document_kind": "credit_note" if credit_note else "invoice"})
