"""Item consumption of a booked sales invoice → one booked Dinero manual voucher.

The voucher debits the consumption account and credits the stock account with Σ cost price ×
quantity over the invoice's stock-tracked lines, VAT suppressed on both sides (``none``). A credit
note reverses it. The operation's natural key is the Rackbeat invoice number, and the engine runs
a finished invoice operation exactly once; inside the operation the voucher's Guid is stored the
moment Dinero returns it, so a retry books that voucher instead of creating another.

Every voucher carries its specification: a one-page PDF (:mod:`integration.transfers.consumption_pdf`)
uploaded to Dinero's file archive first and attached as the voucher's ``FileGuid``. Manual vouchers
have no client Guid and cannot be listed by reference in Dinero, but the file list says which
voucher a file is linked to, so a create whose answer was lost is resolved by looking: the voucher
carrying the file is compared with Rackbeat's figures and booked; no voucher carries it → Dinero
did not write it, and it is created (once). A person is needed only when there is no file to ask
about (see :mod:`integration.transfers.supplier_invoices` for the same rule).
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_noop

from integration.core import lifecycle
from integration.core.clients.errors import NotFound
from integration.core.clients.rackbeat_documents import is_credit_note, party_name
from integration.core.handlers import NeedsMapping, Result, SkipTransfer, TransferContext, register
from integration.core.messages import Message
from integration.core.models import Direction, Kind, SyncOperation
from integration.transfers.booking_check import (
    DRAFT_STATES,
    DineroDocument,
    check_before_booking,
    manual_accounts,
    manual_expected,
    manual_found,
)
from integration.transfers.consumption_pdf import file_name, specification
from integration.transfers.invoice_mapping import ConsumptionPayload, map_consumption
from integration.transfers.sent_snapshot import snapshot
from integration.transfers.supplier_invoices import PERSON_CHOICES, VoucherOutcomeUnknown
from integration.transfers.voucher_files import upload_once, voucher_carrying_file


def _timestamp(document: dict[str, Any] | None) -> str:
    document = document or {}
    return str(document.get("Timestamp") or document.get("TimeStamp") or "")


def _settings_url(connection: Any) -> str:
    try:
        return reverse("admin:integration_integrationsettings_change", args=[connection.settings.pk])
    except (NoReverseMatch, AttributeError):
        return ""


def _handed_over(op: SyncOperation) -> dict[str, Any] | None:
    """The invoice as its own transfer read it moments before (one Rackbeat read per invoice), while
    nothing of this voucher may have reached Dinero; after that a try compares with Rackbeat's
    invoice as it is then (DESIGN rule 13)."""
    invoice = op.handed_over
    return invoice if isinstance(invoice, dict) and invoice and not lifecycle.touched(op) else None


@register(Kind.ITEM_CONSUMPTION, Direction.TO_DINERO)
def book_item_consumption(op: SyncOperation, ctx: TransferContext) -> Result:
    settings = ctx.settings
    if not settings.item_consumption_enabled:
        raise SkipTransfer(Message(gettext_noop(
            "Automatic booking of item consumption is off for this connection.")))
    if not settings.stock_account or not settings.consumption_account:
        raise NeedsMapping(
            Message(gettext_noop(
                "Item consumption is enabled, but the stock account or the consumption account is not "
                "chosen.")),
            hint=Message(gettext_noop(
                "Choose both accounts in the connection's settings (sales and customers), then press Retry.")),
            fix_url=_settings_url(ctx.connection))

    invoice = _handed_over(op) or ctx.rackbeat.get_customer_invoice(op.source_key)
    number = invoice.get("number", op.source_key)
    customer = invoice.get("customer") or {}
    customer_name = party_name(customer)
    if not invoice.get("is_booked"):
        raise SkipTransfer(Message(gettext_noop(
            "Invoice %(number)s is not booked in Rackbeat yet; its consumption is booked when it is."),
            number=number))

    # Whether a line is stock-tracked is on the item, often not embedded: fetched once per item.
    invoice = ctx.related.with_items(invoice)
    payload = map_consumption(invoice, stock_account=settings.stock_account,
                              consumption_account=settings.consumption_account)
    intent = op.intent or {}
    guid = str(intent.get("voucher_guid") or "")
    voucher: dict[str, Any] | None = None
    if guid:
        try:
            voucher = ctx.dinero.get_manual_voucher(guid)
        except NotFound:
            voucher = None
        if voucher is None:
            ctx.save_intent(document_gone=guid)
            raise VoucherOutcomeUnknown(
                f"The consumption voucher {guid} of invoice {number} no longer exists in Dinero.",
                hint="If it was deleted in Dinero on purpose, mark this operation handled; to create it again, "
                     "choose “It is not there: post it now” on this page.")
    elif payload.amount == 0:
        raise SkipTransfer(Message(gettext_noop(
            "Invoice %(number)s has no stock-tracked lines, so there is no item consumption to book."),
            number=number))

    if voucher is None and lifecycle.in_flight(op):
        voucher = _look_up_unanswered_create(ctx, payload, number)
        guid = str((voucher or {}).get("Guid") or "")
    if voucher is None and lifecycle.in_flight(op):
        # Never posted again on its own (rule 9): only a person moves an unanswered create on.
        raise VoucherOutcomeUnknown(
            f"Creating the consumption voucher for invoice {number} got no clear answer from Dinero, and "
            "without a file attached Dinero offers no way to look a manual voucher up.",
            hint=(f"Look in Dinero (Bogføring › Bilagsoversigt) for a voucher dated "
                  f"{payload.body['VoucherDate']} “Vareforbrug … {number}” of {payload.amount} DKK. "
                  + PERSON_CHOICES))
    written_now = False
    if voucher is None:
        pdf = specification_of(payload, invoice, settings)
        file_guid = upload_once(ctx, Kind.ITEM_CONSUMPTION, str(number), file_name(str(number)), lambda: pdf)
        payload = map_consumption(invoice, stock_account=settings.stock_account,
                                  consumption_account=settings.consumption_account, file_guid=file_guid)
        with ctx.writing("manual_voucher"):
            voucher = ctx.dinero.create_manual_voucher(payload.body)
            guid = str(voucher.get("Guid") or "")
            # Saved as the write ends (``touched``), in the same statement.
            ctx.stage_intent(voucher_guid=guid, voucher_timestamp=_timestamp(voucher), step="draft_created")
        written_now = True

    # Rule 13: booked (and logged) is the voucher as Dinero holds it, equal to Rackbeat's current
    # invoice — a draft of an earlier attempt is updated first.
    voucher, figures = check_before_booking(ctx, DineroDocument(
        label=Message(gettext_noop("consumption voucher of invoice %(number)s"), number=number),
        read=lambda: ctx.dinero.get_manual_voucher(guid),
        found=manual_found,
        update=lambda current: ctx.dinero.update_manual_voucher(guid, {
            **payload.body, "FileGuid": current.get("FileGuid"), "Timestamp": _timestamp(current)}),
    ), manual_expected(payload), current=voucher if "Lines" in voucher else None, written_now=written_now)
    # Staged, as what follows: committed with the outcome (a later attempt reads the voucher again).
    ctx.stage_intent(sent=snapshot(invoice), voucher_timestamp=_timestamp(voucher))

    if str(voucher.get("Status") or "Draft") in DRAFT_STATES:
        voucher = ctx.dinero.book_manual_voucher(guid, _timestamp(voucher)) or voucher
    voucher_number = str(voucher.get("VoucherNumber") or "")
    ctx.stage_intent(step="booked", voucher_number=voucher_number)
    if figures.total < 0:
        text = Message(gettext_noop(
            "Item consumption of %(amount)s DKK reversed in Dinero for the credit note (voucher "
            "%(number)s): stock account %(stock)s debited, account %(consumption)s credited."))
    else:
        text = Message(gettext_noop(
            "Item consumption of %(amount)s DKK booked in Dinero (voucher %(number)s): account "
            "%(consumption)s debited, stock account %(stock)s credited."))
    accounts = manual_accounts(voucher)
    outcome = text % {
        "amount": abs(figures.total), "number": voucher_number, "consumption": accounts[0], "stock": accounts[1]}
    return Result(outcome=outcome, target_id=guid, target_number=voucher_number, document_number=str(number),
                  document_name=customer_name)


def specification_of(payload: ConsumptionPayload, invoice: dict[str, Any], settings: Any) -> bytes:
    return specification(payload, credit_note=is_credit_note(invoice), consumption_account=settings.consumption_account,
                         stock_account=settings.stock_account)


def _look_up_unanswered_create(ctx: TransferContext, payload: ConsumptionPayload, number: Any) -> dict[str, Any] | None:
    """After a create without a clear answer, ask Dinero's file archive for the voucher carrying our file.

    Found → that voucher (compared with Rackbeat's figures before it is booked); not found → Dinero
    says it was not written, and the create may be sent (once). Without a file: None, in flight stays.
    """
    voucher = voucher_carrying_file(
        ctx, find=ctx.dinero.voucher_with_file, read=ctx.dinero.get_manual_voucher,
        found=Message(gettext_noop(
            "Found the consumption voucher %(guid)s of an earlier attempt in Dinero by its file %(file)s; "
            "it was not created again.")),
        missing=Message(gettext_noop(
            "The consumption voucher create of an earlier attempt got no clear answer; no voucher in "
            "Dinero carries its file %(file)s, so it is created now.")))
    return voucher
