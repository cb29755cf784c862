"""Booked Rackbeat supplier invoices → Dinero credit purchase vouchers.

Lines are grouped per Dinero account: each line's product group × the supplier's VAT zone gives
the account from the supplier invoice matrix. A line's ``Amount`` includes VAT when the account's
VAT code is a domestic purchase VAT code and excludes it for EU/abroad reverse-charge codes
(:func:`~integration.transfers.invoice_mapping.purchase_line_amount`), the VAT code being read
from the Dinero chart of accounts cached for the connection.

Purchase vouchers have no client-chosen Guid in Dinero. The create request runs inside
:meth:`TransferContext.writing`, so the intent says ``in_flight`` until Dinero's Guid is stored the
moment it comes back. If a later attempt finds a create in flight without a Guid, it never posts
again on its own: it stops as needs attention naming the voucher's date, amount and reference,
and only a person moves it on — "It is in Dinero: link voucher number …" or "It is not there:
post it now" on the operation page (DESIGN.md rule 9).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_noop

from integration.core import lifecycle
from integration.core.clients.errors import NotFound
from integration.core.clients.rackbeat_documents import party_name, supplier_number
from integration.core.handlers import (
    NeedsMapping,
    Result,
    SkipTransfer,
    TotalsMismatch,
    TransferContext,
    VatMismatch,
    register,
)
from integration.core.messages import Message
from integration.core.models import Direction, IntegrationSettings, Kind, SyncOperation
from integration.core.row_reads import one_row
from integration.transfers.booking_check import (
    DRAFT_STATES,
    DineroDocument,
    check_before_booking,
    purchase_expected,
    purchase_found,
)
from integration.transfers.contacts import ensure_contact
from integration.transfers.invoice_mapping import (
    AccountVat,
    SupplierMappings,
    map_supplier_invoice,
    money,
    ore,
    purchase_amount_includes_vat,
)
from integration.transfers.sent_snapshot import snapshot
from integration.transfers.transfer_checks import refuse_before_go_live
from integration.transfers.voucher_files import upload_once, voucher_carrying_file
from mappings import lookup
from mappings.models import AccountMatrixCell, DineroAccount, DineroVatType

# What a person can do when the outcome of a create is unknown (the operation page's two buttons).
PERSON_CHOICES = ("If it is there, choose “It is in Dinero: link voucher number …” on this page; if not, "
                  "choose “It is not there: post it now”.")


class VoucherOutcomeUnknown(NeedsMapping):
    """A purchase voucher may have been created by an attempt whose answer was lost."""


class VoucherTotalsDiffer(TotalsMismatch):
    """Dinero's dry run of the voucher books another total than Rackbeat's invoice; nothing was written."""

    def __init__(self, rackbeat_total: Any, dinero_total: Any, currency: str, number: Any) -> None:
        super().__init__(rackbeat_total, dinero_total, currency, hint=Message(gettext_noop(
            "Dinero computes the voucher's VAT from the accounts' VAT codes. Compare the supplier matrix "
            "accounts' VAT codes in Dinero with the VAT on Rackbeat's invoice, refresh the reference data, "
            "then press Retry.")))
        self.message = (f"Supplier invoice {number}: Dinero would book {dinero_total} {currency}, but Rackbeat's "
                        f"total is {rackbeat_total} {currency} (difference {dinero_total - rackbeat_total} "
                        f"{currency}). Nothing was created in Dinero.")
        self.args = (self.message,)


def account_vat(connection: Any, account_number: int) -> AccountVat:
    """The VAT code (and its rate) of a Dinero account, from the cached chart of accounts."""

    account = one_row(DineroAccount, connection=connection, number=account_number)
    if account is None:
        raise NeedsMapping(
            f"Account {account_number} is not in the Dinero chart of accounts known for this connection, "
            "so its VAT code (which decides whether amounts include VAT) is unknown.",
            hint="Refresh the reference data from Dinero, or choose another account in the supplier "
                 "invoice matrix, then press Retry.")
    code = (account.vat_code or "").strip()
    if not purchase_amount_includes_vat(code):
        return AccountVat(vat_code=code, rate=Decimal("0"))
    vat_type = one_row(DineroVatType, connection=connection, code=code)
    if vat_type is None:
        raise NeedsMapping(
            f"The VAT code {code} of account {account_number} is not among the Dinero VAT types known for "
            "this connection.", hint="Refresh the reference data from Dinero, then press Retry.")
    return AccountVat(vat_code=code, rate=vat_type.rate)


def supplier_mappings(ctx: TransferContext) -> SupplierMappings:
    connection = ctx.connection
    return SupplierMappings(
        supplier_account=lambda group, zone: lookup.supplier_account(connection, group, zone),
        account_vat=lambda number: account_vat(connection, number),
        fix_url=lookup.matrix_url(connection, AccountMatrixCell.Matrix.SUPPLIER),
    )


def _timestamp(document: dict[str, Any] | None) -> str:
    document = document or {}
    return str(document.get("Timestamp") or document.get("TimeStamp") or "")


@register(Kind.SUPPLIER_INVOICE, Direction.TO_DINERO)
def transfer_supplier_invoice(op: SyncOperation, ctx: TransferContext) -> Result:
    settings = ctx.settings
    if not settings.supplier_integration_enabled:
        raise SkipTransfer(Message(gettext_noop(
            "The supplier integration is off for this connection, so supplier invoices are not transferred "
            "to Dinero.")))
    invoice = ctx.rackbeat.get_supplier_invoice(op.source_key)
    number = invoice.get("number", op.source_key)
    if not invoice.get("is_booked"):
        raise SkipTransfer(Message(gettext_noop(
            "Supplier invoice %(number)s is not booked in Rackbeat yet; it is transferred when it is "
            "booked."),
            number=number))
    refuse_before_go_live(op, ctx.connection, invoice, Message(gettext_noop("Supplier invoice %(number)s"),
                                                               number=number))
    # The supplier (VAT zone) and the lines' items (product groups) are often not embedded:
    # fetched once for this document.
    invoice = ctx.related.supplier_invoice(invoice)
    supplier = invoice.get("supplier") or {}
    supplier_name = party_name(supplier)

    intent = op.intent or {}
    guid = str(intent.get("voucher_guid") or "")
    voucher: dict[str, Any] | None = None
    if guid:
        try:
            voucher = ctx.dinero.get_purchase_voucher(guid)
        except NotFound:
            voucher = None
        if voucher is None:
            ctx.save_intent(document_gone=guid)
            raise VoucherOutcomeUnknown(
                f"The purchase voucher {guid} created for supplier invoice {number} no longer exists in Dinero.",
                hint="If it was deleted in Dinero on purpose, mark this operation handled; to create it again, "
                     "choose “It is not there: post it now” on this page.")

    # Map before any write, so a missing mapping stops the invoice with nothing created.
    payload = map_supplier_invoice(invoice, supplier_mappings(ctx), contact_guid="")

    if voucher is None and lifecycle.in_flight(op):
        voucher = _look_up_unanswered_create(op, ctx, number)
        guid = str((voucher or {}).get("Guid") or "")
    if voucher is None and lifecycle.in_flight(op):
        # Never posted again on its own (rule 9): only a person moves an unanswered create on.
        raise VoucherOutcomeUnknown(
            f"Creating the purchase voucher for supplier invoice {number} got no clear answer from Dinero, "
            "and without a file attached Dinero offers no way to look this voucher up.",
            hint=(f"Look in Dinero (Bogføring › Bilagsoversigt) for a purchase voucher dated "
                  f"{payload.body['VoucherDate']} for {supplier_name or 'the supplier'} of "
                  f"{payload.voucher_total} {payload.currency} (reference {payload.external_reference}). "
                  + PERSON_CHOICES))
    written_now = False
    if voucher is None:
        _compare_with_dinero(ctx, payload, number)
        payload = _payload_to_write(ctx, invoice, supplier)
        with ctx.writing("purchase_voucher"):
            voucher = ctx.dinero.create_purchase_voucher(payload.body)
            guid = str(voucher.get("Guid") or "")
            ctx.save_intent(voucher_guid=guid, voucher_timestamp=_timestamp(voucher), step="draft_created")
        written_now = True

    # Rule 13: what is booked (and what the log says) is the voucher as Dinero holds it, equal to
    # Rackbeat's current invoice — a draft of an earlier attempt is updated first.
    voucher, figures = check_before_booking(ctx, DineroDocument(
        label=Message(gettext_noop("purchase voucher of supplier invoice %(number)s"), number=number),
        read=lambda: ctx.dinero.get_purchase_voucher(guid),
        found=purchase_found,
        update=lambda current: ctx.dinero.update_purchase_voucher(guid, {
            **_payload_to_write(ctx, invoice, supplier, file_guid=str(current.get("FileGuid") or "")).body,
            "Timestamp": _timestamp(current)}),
    ), purchase_expected(payload, invoice), current=voucher if "Lines" in voucher else None, written_now=written_now)
    ctx.save_intent(sent=snapshot(invoice), voucher_timestamp=_timestamp(voucher))

    status = str(voucher.get("Status") or "Draft")
    voucher_number = str(voucher.get("VoucherNumber") or "")
    if settings.supplier_invoice_status == IntegrationSettings.SupplierInvoiceStatus.BOOKED:
        if status in DRAFT_STATES:
            voucher = ctx.dinero.book_purchase_voucher(guid, _timestamp(voucher)) or voucher
            voucher_number = str(voucher.get("VoucherNumber") or voucher_number)
        ctx.save_intent(step="booked", voucher_number=voucher_number)
        outcome = Message(gettext_noop(
            "Booked in Dinero as purchase voucher %(number)s on account(s) %(accounts)s (%(total)s "
            "%(currency)s)."))
    else:
        outcome = Message(gettext_noop(
            "Created as a draft purchase voucher in Dinero on account(s) %(accounts)s (%(total)s "
            "%(currency)s)."))
    outcome = outcome % {"number": voucher_number, "accounts": figures.accounts(), "total": figures.total,
                         "currency": figures.currency}
    if not (op.intent or {}).get("file_guid"):
        outcome += " " + Message(gettext_noop("No PDF was available in Rackbeat to attach."))
    return Result(outcome=outcome, target_id=guid, target_number=voucher_number, document_number=str(number),
                  document_name=supplier_name)


def _payload_to_write(ctx: TransferContext, invoice: dict[str, Any], supplier: dict[str, Any], *,
                      file_guid: str = "") -> Any:
    """The voucher body to create or update: the supplier's contact ensured, the PDF attached."""
    contact_guid = ensure_contact(ctx, Kind.SUPPLIER, supplier_number(invoice), supplier or None)
    file_guid = file_guid or str((ctx.operation.intent or {}).get("file_guid") or "") \
        or _upload_pdf(ctx, invoice.get("number"))
    return map_supplier_invoice(invoice, supplier_mappings(ctx), contact_guid=contact_guid,
                                file_guid=file_guid or None)


def _look_up_unanswered_create(op: SyncOperation, ctx: TransferContext, number: Any) -> dict[str, Any] | None:
    """After a create without a clear answer, ask Dinero for the purchase voucher carrying our PDF."""
    return voucher_carrying_file(
        ctx, find=ctx.dinero.find_purchase_voucher_by_file, read=ctx.dinero.get_purchase_voucher,
        found=Message(gettext_noop(
            "Found the purchase voucher %(guid)s of an earlier attempt in Dinero by its file %(file)s; it "
            "was not created again.")),
        missing=Message(gettext_noop(
            "The purchase voucher create of an earlier attempt got no clear answer; Dinero has no voucher "
            "with its file %(file)s, so it is created now.")))


def _compare_with_dinero(ctx: TransferContext, payload: Any, number: Any) -> None:
    """Dinero's own totals and VAT of the voucher (dry run, nothing written) must equal Rackbeat's, to the øre.

    Dinero reports the dry run's totals in DKK, so the comparison is made for DKK vouchers; the
    mapper has already compared every voucher in its own currency. The VAT is compared where it is
    comparable (no reverse-charge line, :attr:`PurchasePayload.rackbeat_vat`).
    """
    if payload.currency != "DKK":
        return
    body = {k: v for k, v in payload.body.items() if k not in ("ContactGuid", "FileGuid")}
    answer = ctx.dinero.purchase_voucher_totals(body) or {}
    totals = {str(t.get("Type")): t.get("Total") for t in answer.get("VoucherTotals") or [] if isinstance(t, dict)}
    if totals.get("Total") in (None, ""):
        return
    dinero_total = ore(money(totals["Total"], "Dinero total"))
    if dinero_total != payload.rackbeat_total:
        raise VoucherTotalsDiffer(payload.rackbeat_total, dinero_total, payload.currency, number)
    if payload.rackbeat_vat is None or totals.get("Vat") in (None, ""):
        return
    dinero_vat = ore(money(totals["Vat"], "Dinero VAT"))
    if dinero_vat != payload.rackbeat_vat:
        raise VatMismatch(payload.rackbeat_vat, dinero_vat, payload.currency, Message(gettext_noop(
            "Supplier invoice %(number)s: nothing was created in Dinero."),
            number=number))


def _pdf_name(number: Any) -> str:
    return f"rackbeat-supplier-invoice-{number}.pdf"


def _upload_pdf(ctx: TransferContext, number: Any) -> str:
    """Upload Rackbeat's PDF of the supplier invoice to Dinero's file archive once; '' when there is none."""

    def content() -> bytes | None:
        try:
            return ctx.rackbeat.supplier_invoice_pdf(number)
        except NotFound:
            return None

    return upload_once(ctx, Kind.SUPPLIER_INVOICE, str(number), _pdf_name(number), content)
