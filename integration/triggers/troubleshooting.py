"""Troubleshooting: transfer one invoice now, and show what was sent and what came back.

Covers the three paths of the product description: a sales invoice Rackbeat → Dinero, a supplier
invoice Rackbeat → Dinero, and a sales invoice Dinero → Rackbeat (by its Dinero invoice number).
The document runs through the same operation row and handler as every other transfer
(``engine.enqueue`` then ``engine.execute_now``), so it is never transferred twice: when it already
exists on the other side — a done operation, or found in Dinero by its ``ExternalReference`` — the
page says so and links to it instead of creating a duplicate.

Used by the per-connection *Troubleshooting* page (``integration.console.troubleshooting_page``) and
``manage.py transfer_invoice``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from accounts.models import Connection
from integration.core import engine
from integration.core.clients.errors import ApiError, AuthenticationFailed, NoProSubscription
from integration.core.clients.factory import dinero_client, rackbeat_client
from integration.core.engine import record_event
from integration.core.messages import Message, stored
from integration.core.models import Direction, HttpExchange, Kind, SyncOperation, Trigger
from integration.transfers.dinero_invoices import POLLED_STATUSES
from integration.transfers.invoice_mapping import sales_external_reference

SALES_TO_DINERO = "sales_invoice"
SUPPLIER_TO_DINERO = "supplier_invoice"
SALES_TO_RACKBEAT = "dinero_sales_invoice"

CHOICES = [
    (SALES_TO_DINERO, gettext_lazy("Sales invoice, Rackbeat → Dinero (Rackbeat invoice number)")),
    (SUPPLIER_TO_DINERO, gettext_lazy("Supplier invoice, Rackbeat → Dinero (Rackbeat invoice number)")),
    (SALES_TO_RACKBEAT, gettext_lazy("Sales invoice, Dinero → Rackbeat (Dinero invoice number)")),
]
ROUTES = {
    SALES_TO_DINERO: (Kind.SALES_INVOICE, Direction.TO_DINERO),
    SUPPLIER_TO_DINERO: (Kind.SUPPLIER_INVOICE, Direction.TO_DINERO),
    SALES_TO_RACKBEAT: (Kind.SALES_INVOICE, Direction.TO_RACKBEAT),
}


@dataclass
class ShownExchange:
    method: str
    url: str
    status: int | None
    request_body: str
    response_body: str
    error: str


@dataclass
class TransferReport:
    """What happened, in words, with the operation, a link to the document and the HTTP evidence."""

    message: str
    state: str = ""
    operation: SyncOperation | None = None
    link: str = ""
    already_existed: bool = False
    exchanges: list[ShownExchange] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.already_existed or self.state in (SyncOperation.State.DONE, SyncOperation.State.SKIPPED)


def pretty(body: str) -> str:
    """A JSON body indented for reading; anything else as it is (escaped by the template)."""
    if not body:
        return ""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return body


def _shown(exchanges: Any) -> list[ShownExchange]:
    return [ShownExchange(e.method, e.url, e.status, pretty(e.request_body), pretty(e.response_body), e.error)
            for e in exchanges]


def _dinero_link(connection: Connection, kind: str, guid: str) -> str:
    try:
        return dinero_client(connection).document_url(kind, guid)
    except (ValueError, KeyError, ApiError):
        return ""


def _rackbeat_link(connection: Connection, number: str) -> str:
    try:
        return rackbeat_client(connection).document_url("customer_invoice", number)
    except (ValueError, KeyError, ApiError):
        return ""


def document_link(op: SyncOperation) -> str:
    """A link to the document an operation created on the other side ('' when there is none)."""
    if not op.target_id:
        return ""
    if op.direction == Direction.TO_RACKBEAT:
        return _rackbeat_link(op.connection, op.target_id)
    if op.kind == Kind.SUPPLIER_INVOICE:
        return _dinero_link(op.connection, "purchase_voucher", op.target_id)
    if op.kind == Kind.ITEM_CONSUMPTION:
        return _dinero_link(op.connection, "manual_voucher", op.target_id)
    kind = (op.intent or {}).get("document_kind") or "invoice"
    return _dinero_link(op.connection, kind, op.target_id)


def _dinero_guid_for_number(connection: Connection, number: str) -> str:
    known = SyncOperation.objects.filter(connection=connection, kind=Kind.SALES_INVOICE,
                                         direction=Direction.TO_RACKBEAT, document_number=number).first()
    if known:
        return known.source_key
    for invoice in dinero_client(connection).iter_invoices(status_filter=POLLED_STATUSES):
        if str(invoice.get("Number") or "") == number:
            return str(invoice.get("Guid") or "")
    return ""


def _found_in_dinero(connection: Connection, number: str) -> tuple[str, str]:
    """(kind, guid) of a Dinero invoice or credit note carrying the Rackbeat invoice's reference."""

    client = dinero_client(connection)
    reference = sales_external_reference(number)
    for kind, find in (("invoice", client.find_invoice), ("credit_note", client.find_credit_note)):
        found = find(reference)
        if found:
            return kind, str(found.get("Guid") or "")
    return "", ""


def _connection_rejected(connection: Connection, choice: str, number: str, exc: ApiError) -> TransferReport:
    """The look-up met a rejected login: the connection breaks (one alert) and, where the document
    is known by its number, it waits in the sync log for the repair."""
    kind, direction = ROUTES[choice]
    message = "\n".join(part for part in (exc.describe(), str(exc.hint or "")) if part)
    # Broken first: the operation queued below then waits instead of running into the rejection.
    engine.mark_connection_broken(connection, exc)
    if choice == SALES_TO_RACKBEAT:
        return TransferReport(message)
    op = engine.enqueue(connection, kind, direction, number, trigger=Trigger.TROUBLESHOOTING,
                        document_number=number)
    op = engine.wait_for_repair(op, exc)
    return TransferReport(message, state=op.state, operation=op)


def transfer_now(connection: Connection, choice: str, number: str) -> TransferReport:
    """Transfer one invoice at once (see module docstring); never raises for bad input."""

    number = str(number or "").strip()
    if choice not in ROUTES:
        return TransferReport(_("Choose what to transfer."))
    if not number:
        return TransferReport(_("Enter the invoice number."))
    kind, direction = ROUTES[choice]
    try:
        if choice == SALES_TO_RACKBEAT:
            source_key = _dinero_guid_for_number(connection, number)
            if not source_key:
                return TransferReport(_("Dinero has no booked invoice with the number %(number)s.") % {"number": number})
        else:
            source_key = number
        existing = SyncOperation.objects.filter(connection=connection, kind=kind, direction=direction,
                                                source_key=source_key).first()
        if existing and existing.state == SyncOperation.State.DONE and existing.target_id:
            return TransferReport(
                _("Invoice %(number)s was already transferred (%(outcome)s) It was not transferred again.")
                % {"number": number, "outcome": existing.shown_outcome},
                state=existing.state, operation=existing, link=document_link(existing), already_existed=True)
        if choice == SALES_TO_DINERO and not (existing and (existing.intent or {}).get("dinero_guid")):
            found_kind, guid = _found_in_dinero(connection, number)
            if guid:
                return TransferReport(
                    _("Dinero already has a document for Rackbeat invoice %(number)s (reference %(ref)s). It was "
                      "not transferred again.") % {"number": number, "ref": sales_external_reference(number)},
                    link=_dinero_link(connection, found_kind, guid), already_existed=True, operation=existing)
    except (AuthenticationFailed, NoProSubscription) as exc:
        return _connection_rejected(connection, choice, number, exc)
    except ApiError as exc:
        return TransferReport(_("The look-up failed: %(error)s") % {"error": exc.describe()})

    op = engine.enqueue(connection, kind, direction, source_key, trigger=Trigger.TROUBLESHOOTING,
                        document_number=number)
    op = engine.execute_now(op)
    exchanges = list(HttpExchange.objects.filter(operation=op, attempt=op.attempts).order_by("at", "pk"))
    if existing is None and _no_such_document(op, exchanges):
        return _mistyped(op, number, exchanges)
    message = op.shown_outcome or op.shown_last_error or op.get_state_display()
    if op.hint and op.state in SyncOperation.PROBLEM_STATES:
        message = f"{message}\n{op.shown_hint}"
    return TransferReport(message, state=op.state, operation=op,
                          link=document_link(op) if op.state == SyncOperation.State.DONE else "",
                          exchanges=_shown(exchanges))


def _no_such_document(op: SyncOperation, exchanges: list[HttpExchange]) -> bool:
    """The very first read — the document itself — answered 404: the number names no document."""
    return (op.state in SyncOperation.PROBLEM_STATES and not op.target_id and bool(exchanges)
            and exchanges[0].method == "GET" and exchanges[0].status == 404)


def _mistyped(op: SyncOperation, number: str, exchanges: list[HttpExchange]) -> TransferReport:
    """A mistyped number is not a document that needs attention: the row is closed as skipped."""

    source = "Dinero" if op.direction == Direction.TO_RACKBEAT else "Rackbeat"
    message = Message(gettext_noop(
        "%(source)s has no invoice with the number %(number)s. Check the number and try again; nothing was "
        "transferred."),
        source=source, number=number)
    SyncOperation.objects.filter(pk=op.pk).update(
        state=SyncOperation.State.SKIPPED, **stored(outcome=message, last_error="", hint=""), last_error_class="",
        fix_url="")
    op.refresh_from_db()
    record_event(op, message)
    return TransferReport(str(message), state=op.state, operation=op, exchanges=_shown(exchanges))
