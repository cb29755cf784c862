"""Booked Rackbeat sales invoices and credit notes → Dinero invoices and credit notes.

Steps, each persisted in the operation's intent the moment it happens (``ctx.save_intent``) —
what comes after the last write (the snapshot sent, the booking, the e-mail) is written with the
attempt's outcome, since a later attempt reads the document in Dinero again:

1. re-read the invoice from Rackbeat (the webhook is only a hint); not booked → skipped;
2. map it (pure mapper): a missing mapping stops it before anything is written;
3. choose our Dinero ``Guid`` and store it *before* the first POST;
4. when a previous attempt may have posted (a Guid in the intent), look the document up by that
   Guid and by its ``ExternalReference`` instead of creating it again; a draft left by an earlier
   attempt is updated with the freshly mapped content (so a fixed mapping takes effect);
5. create the draft and store Dinero's Guid and TimeStamp at once;
6. compare Dinero's ``TotalInclVat`` and ``TotalVat`` with Rackbeat's ``total_total`` and
   ``total_vat`` to the øre: a difference
   leaves the draft and stops the operation as needs attention with both figures;
7. per the connection's setting leave it as a draft, book it, or book and e-mail it;
8. queue the item consumption voucher when that is enabled.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.clients.errors import NotFound, TransientError
from integration.core.clients.rackbeat_documents import (
    customer_number,
    is_credit_note,
    line_item_ref,
    party_name,
)
from integration.core.handlers import (
    Result,
    SkipTransfer,
    TransferContext,
    register,
    register_link_follow_ups,
)
from integration.core.messages import Message, Sentences
from integration.core.models import Binding, Direction, IntegrationSettings, Kind, SyncOperation
from integration.transfers.booking_check import (
    DineroDocument,
    DocumentDiffers,
    check_before_booking,
    sales_expected,
    sales_found,
)
from integration.transfers.contacts import ensure_contact
from integration.transfers.invoice_mapping import SalesMappings, map_sales_invoice
from integration.transfers.products import ensure_product
from integration.transfers.sent_snapshot import snapshot
from integration.transfers.transfer_checks import refuse_before_go_live
from mappings import lookup


def sales_mappings(ctx: TransferContext) -> SalesMappings:
    """The connection's revenue matrix, unit and layout mappings and bound products."""

    connection = ctx.connection

    def product_guid(item_type: str, number: str) -> str | None:
        kind = Kind.BOM if item_type == "lot" else Kind.PRODUCT
        if isinstance(ctx, TransferContext):  # a transfer: its bindings are looked up once per attempt
            return ctx.bound_dinero_id(kind, number)
        # The posting preview and the reconciliation map documents outside a transfer.
        return Binding.objects.filter(connection=connection, kind=kind, rackbeat_key=number) \
            .values_list("dinero_id", flat=True).first()

    revenue_account = OncePerValue(lambda group, zone: lookup.revenue_account(connection, group, zone))

    def revenue_accounts_ahead(groups: list[str], zone: str) -> None:
        # One statement for the invoice's groups; a cell with a problem is left to the line's own
        # question, which names it.
        accounts = lookup.revenue_accounts(connection, groups, zone)
        revenue_account.know({(group, zone): account for group, account in accounts.items()})

    return SalesMappings(
        revenue_account=revenue_account,
        dinero_unit=OncePerValue(lambda unit: lookup.dinero_unit(connection, unit)),
        dinero_language=OncePerValue(lambda layout: lookup.dinero_language(connection, layout)),
        product_guid=product_guid,
        revenue_accounts_ahead=revenue_accounts_ahead,
    )


class OncePerValue:
    """``look_up`` asked once per set of arguments within one mapping of a document (lines of one
    product group share their account). A mapping that is missing raises every time it is asked."""

    def __init__(self, look_up: Callable[..., Any]) -> None:
        self.look_up = look_up
        self.found: dict[tuple[Any, ...], Any] = {}

    def __call__(self, *args: Any) -> Any:
        if args not in self.found:
            self.found[args] = self.look_up(*args)
        return self.found[args]

    def know(self, answers: dict[tuple[Any, ...], Any]) -> None:
        """Take answers looked up together beforehand."""
        for args, value in answers.items():
            self.found.setdefault(args, value)


def ensure_line_products(ctx: TransferContext, invoice: dict[str, Any]) -> bool:
    """Bind every product and BOM the invoice's lines refer to; True when one was bound just now.

    Items are read through ``ctx.related``, the document's own cache, so none is fetched twice.
    """

    bound_now = False
    for line in invoice.get("lines") or []:
        ref = line_item_ref(line)
        if ref is None:
            continue
        kind = Kind.BOM if ref[0] == "lot" else Kind.PRODUCT
        if ctx.bound_dinero_id(kind, ref[1]) is not None:
            continue
        bound_now = bool(ensure_product(ctx, kind, ref[1], read=ctx.related.item)) or bound_now
    return bound_now


@dataclass
class SalesDocuments:
    """Dinero's invoice and credit-note endpoints behind one set of names."""

    dinero: Any
    credit_note: bool

    @property
    def url_kind(self) -> str:
        return "credit_note" if self.credit_note else "invoice"

    def get(self, guid: str) -> dict[str, Any] | None:
        try:
            if self.credit_note:
                return self.dinero.get_credit_note(guid)
            return self.dinero.get_invoice(guid)
        except NotFound:
            return None

    def find(self, reference: str) -> dict[str, Any] | None:
        if self.credit_note:
            return self.dinero.find_credit_note(reference)
        return self.dinero.find_invoice(reference)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.credit_note:
            return self.dinero.create_credit_note(body)
        return self.dinero.create_invoice(body)

    def update(self, guid: str, body: dict[str, Any]) -> bool:
        """Replace a draft's content (a credit note exactly like an invoice, so a fix takes effect)."""
        if self.credit_note:
            self.dinero.update_credit_note(guid, body)
        else:
            self.dinero.update_invoice(guid, body)
        return True

    def book(self, guid: str, timestamp: str) -> dict[str, Any]:
        if self.credit_note:
            return self.dinero.book_credit_note(guid, timestamp)
        return self.dinero.book_invoice(guid, timestamp)

    def email(self, guid: str, timestamp: str | None) -> dict[str, Any]:
        if self.credit_note:
            return self.dinero.email_credit_note(guid, timestamp=timestamp)
        return self.dinero.email_invoice(guid, timestamp=timestamp)


def _timestamp(document: dict[str, Any] | None) -> str:
    document = document or {}
    return str(document.get("TimeStamp") or document.get("Timestamp") or "")


def _is_booked(document: dict[str, Any]) -> bool:
    return str(document.get("Status") or "Draft") != "Draft"


def original_invoice_guid(connection: Any, invoice_number: Any) -> str | None:
    """The Dinero Guid of the transferred original invoice, when it is bound."""
    if invoice_number in (None, ""):
        return None
    op = SyncOperation.objects.filter(
        connection=connection, kind=Kind.SALES_INVOICE, direction=Direction.TO_DINERO,
        source_key=str(invoice_number), state=SyncOperation.State.DONE,
    ).exclude(target_id="").first()
    return op.target_id if op else None


class WaitingForOriginalInvoice(TransientError):
    default_hint = "The credit note is transferred as soon as its original invoice is in Dinero, automatically."


def wait_for_original_invoice(connection: Any, invoice_number: Any) -> None:
    """Rule 11: a credit note whose original invoice is being transferred waits for it.

    Transferred at the same moment, the credit note would otherwise be booked "not linked to an
    original invoice". An original that is not queued or running (never booked, transferred by
    hand, stopped) does not hold the credit note: it goes unlinked and says why.
    """
    pending = SyncOperation.objects.filter(
        connection=connection, kind=Kind.SALES_INVOICE, direction=Direction.TO_DINERO,
        source_key=str(invoice_number), state__in=SyncOperation.OPEN_STATES,
    ).exists()
    if pending:
        raise WaitingForOriginalInvoice(
            f"The original invoice {invoice_number} of this credit note is being transferred to Dinero right now; "
            "the credit note waits for it so it can be linked.", service="dinero")


def consumption_follow_up(settings: IntegrationSettings, number: Any) -> list[tuple[str, str, str]]:
    if not settings.item_consumption_enabled:
        return []
    return [(Kind.ITEM_CONSUMPTION.value, Direction.TO_DINERO.value, str(number))]


@register_link_follow_ups(Kind.CREDIT_NOTE, Direction.TO_DINERO)
@register_link_follow_ups(Kind.SALES_INVOICE, Direction.TO_DINERO)
def follow_ups_after_link(op: SyncOperation) -> list[tuple[str, str, str]]:
    """A sales invoice or credit note a person linked still gets its item consumption."""
    settings = IntegrationSettings.objects.filter(connection=op.connection_id).first()
    return consumption_follow_up(settings, op.document_number or op.source_key) if settings else []


@register(Kind.CREDIT_NOTE, Direction.TO_DINERO)
@register(Kind.SALES_INVOICE, Direction.TO_DINERO)
def transfer_sales_invoice(op: SyncOperation, ctx: TransferContext) -> Result:
    settings = ctx.settings
    if not settings.sales_from_rackbeat:
        raise SkipTransfer(Message(gettext_noop(
            "Customer invoices are created in Dinero for this connection, so invoices booked in Rackbeat "
            "are not transferred to Dinero.")))
    invoice = ctx.rackbeat.get_customer_invoice(op.source_key)
    number = invoice.get("number", op.source_key)
    if not invoice.get("is_booked"):
        raise SkipTransfer(Message(gettext_noop(
            "Invoice %(number)s is not booked in Rackbeat yet; it is transferred when it is booked."),
            number=number))
    refuse_before_go_live(op, ctx.connection, invoice, Message(gettext_noop("Invoice %(number)s"),
                                                               number=number))
    customer = invoice.get("customer") or {}
    customer_name = party_name(customer)
    if not settings.customer_integration_enabled:
        follow_ups = consumption_follow_up(settings, number)
        return Result(
            outcome=Message(gettext_noop(
                "The customer integration is off, so the invoice was not transferred to Dinero."))
            + (" " + Message(gettext_noop("Its item consumption is booked.")) if follow_ups else ""),
            document_number=str(number), document_name=customer_name, skipped=True, follow_ups=follow_ups,
            handover=invoice if follow_ups else None,
        )

    # Items and customer that are not embedded are fetched once for this document.
    invoice = ctx.related.customer_invoice(invoice)
    customer = invoice.get("customer") or {}
    customer_name = party_name(customer)
    credit_note = is_credit_note(invoice)
    credited = invoice.get("credited_invoice_number")
    credit_note_for = original_invoice_guid(ctx.connection, credited) if credit_note else None
    if credit_note and credited and not credit_note_for:
        wait_for_original_invoice(ctx.connection, credited)

    payload = map_sales_invoice(invoice, sales_mappings(ctx), contact_guid=None, dinero_guid=None,
                                credit_note_for=credit_note_for)
    # Rule 11: the lines refer to products; ones not in Dinero yet are transferred first (once
    # everything is mapped), so no line goes without its ProductGuid for a binding written later.
    if ensure_line_products(ctx, invoice):
        payload = map_sales_invoice(invoice, sales_mappings(ctx), contact_guid=None, dinero_guid=None,
                                    credit_note_for=credit_note_for)
    docs = SalesDocuments(ctx.dinero, credit_note=credit_note)
    label = Message(gettext_noop("credit note")) if credit_note else Message(gettext_noop("invoice"))

    # A previous attempt may have posted: look up by our Guid, then by ExternalReference.
    intent = op.intent or {}
    guid = str(intent.get("dinero_guid") or "")
    existing: dict[str, Any] | None = None
    if guid:
        existing = docs.get(guid)
        if existing is None:
            existing = docs.find(payload.external_reference)
        if existing is not None:
            guid = str(existing.get("Guid") or guid)
            ctx.save_intent(dinero_guid=guid, dinero_timestamp=_timestamp(existing), step="found_existing")
    else:
        guid = str(uuid.uuid4())
        # Saved with the create's "in flight" mark: until a request carries it, a new one is as good.
        ctx.stage_intent(dinero_guid=guid, step="guid_chosen", document_kind=docs.url_kind)

    contact_guid = ensure_contact(ctx, Kind.CUSTOMER, customer_number(invoice), customer or None)
    body = {**payload.body, "Guid": guid, "ContactGuid": contact_guid}
    notes: list[str] = []

    if existing is None:
        with ctx.writing(docs.url_kind):
            created = docs.create(body)
            guid = str(created.get("Guid") or guid)
            # Saved as the write ends (``touched``), in the same statement.
            ctx.stage_intent(dinero_guid=guid, dinero_timestamp=_timestamp(created), step="draft_created",
                             sent=snapshot(invoice))
    elif not _is_booked(existing):
        if docs.update(guid, {**body, "Timestamp": _timestamp(existing)}):
            notes.append(Message(gettext_noop("The draft left by an earlier attempt was updated.")))
        ctx.save_intent(step="draft_updated", touched=True, in_flight="", sent=snapshot(invoice))
    else:
        ctx.save_intent(touched=True, in_flight="")

    document = docs.get(guid)
    if document is None:
        raise NotFound(f"Dinero does not return the {label} {guid} it has just created.", service="dinero")
    ctx.stage_intent(dinero_timestamp=_timestamp(document))

    # Rule 13: a draft was just written with the current content (created or updated); a booked
    # document found by an earlier attempt cannot be: either must equal Rackbeat's invoice.
    try:
        document, _figures = check_before_booking(ctx, DineroDocument(
            label=Sentences(label, number), read=lambda: docs.get(guid) or {}, found=sales_found, update=None,
        ), sales_expected(payload), current=document, written_now=True)
    except DocumentDiffers as exc:
        ctx.save_intent(step="totals_mismatch", dinero_total=str(exc.dinero_total),
                        rackbeat_total=str(exc.rackbeat_total))
        raise
    # Staged, as what follows: committed with the outcome (a later attempt reads the document again).
    ctx.stage_intent(sent=snapshot(invoice))

    if credit_note_for:
        notes.append(Message(gettext_noop("Linked to the Dinero invoice of Rackbeat invoice %(n)s."),
                             n=credited))
    elif credit_note:
        notes.append(Message(gettext_noop("Not linked to an original invoice: %(why)s"), why=Message(
            gettext_noop("Rackbeat invoice %(n)s has not been transferred to Dinero."), n=credited)
            if credited else Message(gettext_noop("Rackbeat names no original invoice."))))

    status = settings.sales_invoice_status
    dinero_number = str(document.get("Number") or "")
    if status == IntegrationSettings.SalesInvoiceStatus.DRAFT:
        outcome = Message(gettext_noop("Created as a draft %(label)s in Dinero."), label=label)
    else:
        if not _is_booked(document):
            document = docs.book(guid, _timestamp(document)) or docs.get(guid) or {}
        dinero_number = str(document.get("Number") or dinero_number)
        ctx.stage_intent(step="booked", dinero_number=dinero_number, dinero_timestamp=_timestamp(document))
        outcome = Message(gettext_noop("Booked in Dinero as %(label)s %(number)s."),
                          label=label, number=dinero_number)
        if status == IntegrationSettings.SalesInvoiceStatus.BOOKED_EMAILED:
            if str(document.get("MailOutStatus") or "NotSent") in ("NotSent", "Failed", ""):
                docs.email(guid, None)
            ctx.stage_intent(step="emailed")
            outcome = Message(gettext_noop(
                "Booked in Dinero as %(label)s %(number)s and e-mailed to the customer."),
                label=label, number=dinero_number)

    follow_ups = consumption_follow_up(settings, number)
    return Result(
        outcome=Sentences(outcome, *notes),
        target_id=guid,
        target_number=dinero_number,
        document_number=str(number),
        document_name=customer_name,
        follow_ups=follow_ups,
        # The consumption follow-up needs this very document: handed over, not read again.
        handover=invoice if follow_ups else None,
    )
