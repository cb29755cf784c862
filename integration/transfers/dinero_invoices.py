"""Booked Dinero invoices → booked Rackbeat customer invoices (connections that invoice in Dinero).

The operation's source key is the Dinero invoice Guid. The customer is found through its Binding
(Dinero ContactGuid ⇄ Rackbeat customer number) or, failing that, a Rackbeat customer with the
contact's e-mail address; an unknown customer stops the invoice with the contact named. Lines
carry the Rackbeat product number when the Dinero product is bound or its product number exists in
Rackbeat; any other line becomes a free line with its description.

Exactly once: the Rackbeat invoice number is stored in the intent the moment Rackbeat answers, and
the invoice carries ``dinero:invoice:<guid>`` as its ``other_reference`` and its note (whichever
field the Rackbeat account keeps). When an attempt's answer was
lost, the next attempt searches Rackbeat's invoices for that reference before creating again.
Rackbeat's client sends ``suppress_webhooks`` on every write, so the new invoice does not come
back to Dinero.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_noop

from integration.core.clients.errors import NotFound
from integration.core.handlers import (
    NeedsMapping,
    Result,
    SkipTransfer,
    TotalsMismatch,
    TransferContext,
    register,
)
from integration.core.messages import Message
from integration.core.models import Binding, Direction, IntegrationSettings, Kind, SyncOperation
from integration.transfers.invoice_mapping import dinero_marker, map_dinero_invoice, money, ore
from integration.transfers.sales_invoices import consumption_follow_up

POLLED_STATUSES = "Booked,Paid,OverPaid,Overdue"


class RackbeatTotalsMismatch(TotalsMismatch):
    def __init__(self, rackbeat_total: Decimal, dinero_total: Decimal, currency: str, number: Any) -> None:
        super().__init__(rackbeat_total, dinero_total, currency,
                         hint=Message(gettext_noop(
                             "Compare the invoice in both systems (VAT of the product groups, the "
                             "customer's VAT zone), correct the cause in Rackbeat, then press Retry.")))
        self.message = (
            f"Rackbeat computed a total of {rackbeat_total} {currency} for the copy of the Dinero invoice, "
            f"but Dinero's total is {dinero_total} {currency} (difference {rackbeat_total - dinero_total} "
            f"{currency}). The Rackbeat invoice {number} was left unbooked.")
        self.args = (self.message,)


def _customer_number(ctx: TransferContext, invoice: dict[str, Any]) -> str:
    contact_guid = str(invoice.get("ContactGuid") or "")
    if not contact_guid:
        raise NeedsMapping(Message(gettext_noop("The Dinero invoice %(n)s has no customer."),
                                   n=invoice.get("Number")),
                           hint=Message(gettext_noop(
                               "Choose a customer on the invoice in Dinero, then press Retry.")))
    binding = Binding.objects.filter(connection=ctx.connection, kind=Kind.CUSTOMER, dinero_id=contact_guid).first()
    if binding:
        return binding.rackbeat_key
    try:
        contact = ctx.dinero.get_contact(contact_guid) or {}
    except NotFound:
        contact = {}
    name = str(contact.get("Name") or invoice.get("ContactName") or contact_guid)
    email = str(contact.get("Email") or "").strip().lower()
    if email:
        for customer in ctx.rackbeat.iter_customers():
            if str(customer.get("contact_email") or "").strip().lower() == email:
                number = str(customer.get("number"))
                try:
                    with transaction.atomic():
                        Binding.objects.create(connection=ctx.connection, kind=Kind.CUSTOMER,
                                               rackbeat_key=number, dinero_id=contact_guid)
                except IntegrityError:
                    pass
                return number
    raise NeedsMapping(
        Message(gettext_noop(
            "The Dinero customer “%(name)s” (%(email)s) has no Rackbeat customer: it is not bound, and no "
            "Rackbeat customer has its e-mail address."),
            name=name, email=email or Message(gettext_noop("no e-mail"))),
        hint=Message(gettext_noop(
            "Create the customer in Rackbeat with the same e-mail address (or add the e-mail address in "
            "Dinero), then press Retry.")))


def _product_numbers(ctx: TransferContext, invoice: dict[str, Any]) -> dict[str, str | None]:
    """Dinero ProductGuid → Rackbeat product number (None: not known in Rackbeat)."""
    found: dict[str, str | None] = {}
    for line in invoice.get("ProductLines") or []:
        guid = str(line.get("ProductGuid") or "")
        if not guid or guid in found:
            continue
        binding = Binding.objects.filter(connection=ctx.connection, kind__in=[Kind.PRODUCT, Kind.BOM],
                                         dinero_id=guid).first()
        if binding:
            found[guid] = binding.rackbeat_key
            continue
        try:
            product = ctx.dinero.get_product(guid) or {}
        except NotFound:
            product = {}
        number = str(product.get("ProductNumber") or "").strip()
        if number:
            try:
                ctx.rackbeat.get_product(number)
            except NotFound:
                number = ""
        found[guid] = number or None
    return found


def _find_created(ctx: TransferContext, op: SyncOperation, guid: str) -> dict[str, Any] | None:
    """The Rackbeat invoice an earlier attempt created for Dinero invoice ``guid``, if any."""
    marker = dinero_marker(guid)
    since = (op.created_at - timedelta(days=1)) if op.created_at else None
    for invoice in ctx.rackbeat.iter_customer_invoices(booked=None, updated_since=since):
        if marker in (str(invoice.get("other_reference") or ""), str(invoice.get("note") or "").strip()):
            return invoice
    return None


def _compare_totals(rackbeat_invoice: dict[str, Any], invoice: dict[str, Any], number: Any) -> None:
    currency = str(invoice.get("Currency") or "DKK")
    if invoice.get("TotalInclVat") in (None, "") or rackbeat_invoice.get("total_total") in (None, ""):
        raise NeedsMapping(
            Message(gettext_noop(
                "Rackbeat invoice %(number)s (the copy of Dinero invoice %(dinero)s) shows no total, so it "
                "cannot be compared with Dinero's before booking; it was left unbooked."),
                number=number, dinero=invoice.get("Number") or invoice.get("Guid")),
            hint=Message(gettext_noop(
                "Open the invoice in Rackbeat, compare it with Dinero's, book it there by hand if it "
                "matches, then mark this operation handled.")))
    dinero_total = ore(money(invoice.get("TotalInclVat"), "Dinero total"))
    rackbeat_total = ore(money(rackbeat_invoice.get("total_total"), "Rackbeat total"))
    if rackbeat_total != dinero_total:
        raise RackbeatTotalsMismatch(rackbeat_total, dinero_total, currency, number)


@register(Kind.SALES_INVOICE, Direction.TO_RACKBEAT)
def transfer_dinero_invoice(op: SyncOperation, ctx: TransferContext) -> Result:
    settings = ctx.settings
    if settings.customer_invoices_created_in != IntegrationSettings.InvoicesCreatedIn.DINERO:
        raise SkipTransfer(Message(gettext_noop(
            "Customer invoices are created in Rackbeat for this connection, so Dinero invoices are not "
            "transferred to Rackbeat.")))
    invoice = ctx.dinero.get_invoice(op.source_key)
    if invoice is None:
        raise NotFound(f"Dinero invoice {op.source_key} does not exist (any more).", service="dinero")
    dinero_number = str(invoice.get("Number") or "")
    contact_name = str(invoice.get("ContactName") or "")
    if str(invoice.get("Status") or "Draft") == "Draft":
        raise SkipTransfer(Message(gettext_noop(
            "The Dinero invoice is a draft; it is transferred once it is booked.")))

    intent = op.intent or {}
    rackbeat_invoice: dict[str, Any] | None = None
    number = str(intent.get("rackbeat_number") or "")
    if number:
        try:
            rackbeat_invoice = ctx.rackbeat.get_customer_invoice(number)
        except NotFound:
            rackbeat_invoice = None
    if rackbeat_invoice is None and (intent.get("step") or intent.get("in_flight")):
        rackbeat_invoice = _find_created(ctx, op, op.source_key)
        if rackbeat_invoice is not None:
            number = str(rackbeat_invoice.get("number"))
            ctx.save_intent(rackbeat_number=number, step="found_existing")

    if rackbeat_invoice is None:
        customer_number = _customer_number(ctx, invoice)
        products = _product_numbers(ctx, invoice)
        body = map_dinero_invoice(invoice, customer_number=customer_number,
                                  product_number_for=lambda line: products.get(str(line.get("ProductGuid") or "")))
        with ctx.writing("rackbeat_invoice"):
            rackbeat_invoice = ctx.rackbeat.create_customer_invoice(body)
            number = str(rackbeat_invoice.get("number"))
            ctx.save_intent(rackbeat_number=number, step="created")

    if not rackbeat_invoice.get("is_booked"):
        # Rackbeat's create answer may carry no totals: the invoice is read again and its own
        # total compared with Dinero's to the øre before it is booked (never booked unchecked).
        rackbeat_invoice = ctx.rackbeat.get_customer_invoice(number) or rackbeat_invoice
        _compare_totals(rackbeat_invoice, invoice, number)
    if not rackbeat_invoice.get("is_booked"):
        rackbeat_invoice = ctx.rackbeat.book_customer_invoice(number) or rackbeat_invoice
    ctx.save_intent(step="booked")

    return Result(
        outcome=Message(gettext_noop("Created and booked in Rackbeat as customer invoice %(number)s."),
                        number=number),
        target_id=number, target_number=number, document_number=dinero_number, document_name=contact_name,
        follow_ups=consumption_follow_up(settings, number),
    )
