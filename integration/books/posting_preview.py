"""What will it post? — the last N booked Rackbeat invoices as Dinero would book them, writing nothing.

For each of the most recent booked sales invoices (and credit notes) and supplier invoices it
reads the document as the transfers do (the item, customer and supplier a document only names are
read too), maps it with the transfers' own pure mappers (:mod:`integration.transfers.invoice_mapping`)
and asks Dinero's dry runs — ``POST …/invoices/fetch`` and ``POST …/vouchers/purchase/fetch``,
which compute a document without storing it — for Dinero's own lines and totals. It shows:

* each line with its account, the account's VAT code and the amounts as Dinero computes them;
* Dinero's total and VAT beside Rackbeat's (both must be equal to the øre before a document is
  booked);
* the item-consumption voucher a sales invoice would get;
* what would stop the document (a missing matrix cell, unit or layout, totals that cannot be
  reproduced), with the link to where it is fixed.

Nothing is created anywhere: no operation, no binding, no contact and no document. A customer or
supplier that is not in Dinero yet is left out of the dry run (the transfer creates it first).

A preview costs dozens of requests from the organization's budget, so a person asks for it (a
POST, see the page) and :func:`preview_for_person` spends them sparingly: the same preview with the
same matrices, unit and layout mappings and settings is served from the shared cache for
``POSTING_PREVIEW_CACHE_SECONDS``, and a connection makes a fresh one at most every
``POSTING_PREVIEW_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.conf import settings as django_settings
from django.core.cache import caches
from django.db.models import Count, Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Connection
from integration.core.clients.errors import ApiError
from integration.core.clients.factory import dinero_client, rackbeat_client
from integration.core.clients.rackbeat_documents import (
    RelatedRecords,
    customer_number,
    is_credit_note,
    party_name,
    supplier_number,
)
from integration.core.countries import vat_zone_label
from integration.core.handlers import NeedsMapping
from integration.core.messages import Message, Sentences, Text
from integration.core.models import Binding, IntegrationSettings, Kind
from integration.transfers.consumption import _settings_url
from integration.transfers.invoice_mapping import (
    invoice_vat_zone,
    map_consumption,
    map_sales_invoice,
    map_supplier_invoice,
    money,
    ore,
    supplier_vat_zone,
)
from integration.transfers.sales_invoices import original_invoice_guid, sales_mappings
from integration.transfers.supplier_invoices import supplier_mappings
from mappings.models import AccountMatrixCell, DineroAccount, LayoutMapping, UnitMapping

DEFAULT_COUNT = 10
MAX_COUNT = 50
# A list page of the latest documents may hold drafts; read a few more to find N booked ones.
LIST_FACTOR = 3


@dataclass
class PreviewLine:
    description: str
    account: int | None
    account_name: str
    vat_code: str
    quantity: str = ""
    unit_price: str = ""
    discount: str = ""
    amount: str = ""          # excluding VAT, as Dinero computes it
    amount_incl_vat: str = ""


@dataclass
class Problem:
    message: Text   # rendered when shown, in the reader's language
    hint: Text = ""
    fix_url: str = ""


@dataclass
class PreviewDocument:
    kind: str                 # sales_invoice, credit_note or supplier_invoice
    number: str
    date: str = ""
    party: str = ""
    zone: str = ""
    currency: str = "DKK"
    rackbeat_total: Decimal | None = None
    rackbeat_vat: Decimal | None = None      # None where VAT is not comparable (reverse charge, not given)
    dinero_total: Decimal | None = None
    dinero_excl_vat: Decimal | None = None
    dinero_vat: Decimal | None = None
    lines: list[PreviewLine] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dinero_error: str = ""
    consumption: dict[str, Any] | None = None
    consumption_problem: Problem | None = None
    # Messages, read in the language of whoever looks (the preview is cached across readers).
    notes: list[Message] = field(default_factory=list)

    @property
    def label(self) -> str:
        return {"sales_invoice": _("Sales invoice"), "credit_note": _("Credit note"),
                "supplier_invoice": _("Supplier invoice")}[self.kind]

    @property
    def zone_label(self) -> str:
        """The document's VAT zone as people read it ("EU"), never the key."""
        return vat_zone_label(self.zone) if self.zone else ""

    @property
    def would_stop(self) -> bool:
        return bool(self.problems or self.dinero_error or self.consumption_problem or not self.totals_match)

    @property
    def totals_match(self) -> bool:
        """Dinero's total and VAT equal Rackbeat's to the øre (the transfer compares both)."""
        return self.total_matches and self.vat_matches

    @property
    def total_matches(self) -> bool:
        if self.dinero_total is None or self.rackbeat_total is None:
            return False
        return ore(self.dinero_total) == ore(abs(self.rackbeat_total))

    @property
    def vat_matches(self) -> bool:
        if self.rackbeat_vat is None or self.dinero_vat is None:
            return True
        return ore(self.dinero_vat) == ore(abs(self.rackbeat_vat))


@dataclass
class Preview:
    documents: list[PreviewDocument] = field(default_factory=list)
    error: str = ""

    @property
    def ready(self) -> int:
        return sum(1 for d in self.documents if not d.would_stop)


def _problems(problem: NeedsMapping) -> list[Problem]:
    """One entry per missing thing: the mapper joins them into one message, one line each."""
    message = problem.message
    if isinstance(message, Sentences) and message.separator == "\n":
        lines: list[Any] = list(message.parts)
    else:
        lines = str(message).splitlines() if isinstance(message, str) else [message]
    return [Problem(message=line, hint=problem.hint, fix_url=problem.fix_url) for line in lines if str(line).strip()]


def _account_names(connection: Connection) -> dict[int, tuple[str, str]]:
    return {a.number: (a.name, a.vat_code) for a in DineroAccount.objects.filter(connection=connection)}


def _bound(connection: Connection, kind: str, key: str) -> str | None:
    binding = Binding.objects.filter(connection=connection, kind=kind, rackbeat_key=str(key)).first()
    return binding.dinero_id if binding else None


def _text(value: Any) -> str:
    return "" if value is None else str(money(value))


def _ore_text(value: Any) -> str:
    return "" if value is None else str(ore(money(value)))


def _ore(value: Any) -> Decimal | None:
    return None if value is None else ore(money(value))


def preview(connection: Connection, count: int = DEFAULT_COUNT) -> Preview:
    """The last ``count`` booked sales and supplier invoices as Dinero would book them (see module)."""

    count = max(1, min(int(count), MAX_COUNT))
    settings, _created = IntegrationSettings.objects.get_or_create(connection=connection)
    result = Preview()
    try:
        rackbeat, dinero = rackbeat_client(connection), dinero_client(connection)
        builder = _Builder(connection, settings, rackbeat, dinero)
        for row in _latest_booked(rackbeat.latest_customer_invoices, count):
            result.documents.append(builder.sales(row))
        for row in _latest_booked(rackbeat.latest_supplier_invoices, count):
            result.documents.append(builder.purchase(row))
    except ApiError as exc:
        result.error = _("The preview could not read what it needs: %(error)s %(hint)s") % {
            "error": exc.describe(), "hint": exc.hint}
    return result


def mapping_version(connection: Connection) -> str:
    """A fingerprint of everything of ``connection`` a preview depends on besides the documents:
    its matrices, unit and layout mappings (how many, last change) and its settings."""
    parts = []
    for model in (AccountMatrixCell, UnitMapping, LayoutMapping):
        figures = model.objects.filter(connection=connection).aggregate(n=Count("pk"), last=Max("updated_at"))
        parts.append(f"{figures['n']}:{figures['last'].isoformat() if figures['last'] else ''}")
    parts.append(repr(IntegrationSettings.objects.filter(connection=connection).values().first()))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def preview_for_person(connection: Connection, count: int = DEFAULT_COUNT) -> tuple[Preview | None, int]:
    """The preview a person asked for, and 0 — or None and the seconds until this connection may
    make a fresh one (the same preview with the same mappings is served from the cache)."""
    count = max(1, min(int(count), MAX_COUNT))
    cache = caches["shared"]
    key = f"posting-preview:{connection.pk}:{count}:{mapping_version(connection)}"
    cached = cache.get(key)
    if cached is not None:
        return cached, 0
    interval = float(getattr(django_settings, "POSTING_PREVIEW_INTERVAL_SECONDS", 60))
    gate = f"posting-preview-gate:{connection.pk}"
    if interval > 0 and not cache.add(gate, time.time() + interval, timeout=interval):
        return None, max(1, round(float(cache.get(gate) or 0) - time.time()))
    result = preview(connection, count)
    if not result.error:
        cache.set(key, result, timeout=float(getattr(django_settings, "POSTING_PREVIEW_CACHE_SECONDS", 600)))
    return result, 0


def _latest_booked(read: Any, count: int) -> list[dict[str, Any]]:
    rows = read(count * LIST_FACTOR)
    return [r for r in rows if r.get("is_booked")][:count]


class _Builder:
    def __init__(self, connection: Connection, settings: IntegrationSettings, rackbeat: Any, dinero: Any) -> None:
        self.connection = connection
        self.settings = settings
        self.rackbeat = rackbeat
        self.dinero = dinero
        self.related = RelatedRecords(rackbeat)
        self.accounts = _account_names(connection)
        self.scope = SimpleNamespace(connection=connection)

    def _account(self, number: Any) -> tuple[str, str]:
        try:
            return self.accounts.get(int(number), ("", ""))
        except (TypeError, ValueError):
            return "", ""

    # sales invoices and credit notes
    def sales(self, row: dict[str, Any]) -> PreviewDocument:
        invoice = row if isinstance(row.get("lines"), list) else self.rackbeat.get_customer_invoice(row.get("number"))
        invoice = self.related.customer_invoice(invoice)
        credit = is_credit_note(invoice)
        doc = PreviewDocument(kind="credit_note" if credit else "sales_invoice", number=str(invoice.get("number")),
                              date=str(invoice.get("invoice_date") or "")[:10],
                              party=party_name(invoice.get("customer")), zone=invoice_vat_zone(invoice))
        if not self.settings.sales_from_rackbeat:
            doc.notes.append(Message(gettext_noop(
                "Customer invoices are created in Dinero for this connection, so this invoice is not "
                "transferred; shown as it would be posted otherwise.")))
        elif not self.settings.customer_integration_enabled:
            doc.notes.append(Message(gettext_noop(
                "The customer integration is off: this invoice is not transferred until it is on.")))
        credited = invoice.get("credited_invoice_number")
        try:
            payload = map_sales_invoice(
                invoice, sales_mappings(self.scope),  # type: ignore[arg-type]
                contact_guid=_bound(self.connection, Kind.CUSTOMER, customer_number(invoice)), dinero_guid=None,
                credit_note_for=original_invoice_guid(self.connection, credited) if credit else None)
        except NeedsMapping as problem:
            doc.problems = _problems(problem)
            doc.rackbeat_total = _total(invoice)
        else:
            doc.currency, doc.rackbeat_total = payload.currency, ore(payload.rackbeat_total)
            doc.rackbeat_vat = payload.rackbeat_vat
            self._sales_dry_run(doc, payload.body)
        self._consumption(doc, invoice)
        return doc

    def _sales_dry_run(self, doc: PreviewDocument, body: dict[str, Any]) -> None:
        # Dinero's invoice dry run computes credit-note lines the same way; it knows no CreditNoteFor.
        fetch_body = {k: v for k, v in body.items() if k not in ("Guid", "CreditNoteFor") and v is not None}
        try:
            answer = self.dinero.invoice_totals(fetch_body)
        except ApiError as exc:
            doc.dinero_error = exc.describe()
            return
        for line in answer.get("ProductLines") or []:
            name, code = self._account(line.get("AccountNumber"))
            doc.lines.append(PreviewLine(
                description=str(line.get("Description") or ""), account=line.get("AccountNumber"),
                account_name=str(line.get("AccountName") or name), vat_code=code,
                quantity=_text(line.get("Quantity")), unit_price=_ore_text(line.get("BaseAmountValue")),
                discount=_text(line.get("Discount")), amount=_ore_text(line.get("TotalAmount")),
                amount_incl_vat=_ore_text(line.get("TotalAmountInclVat"))))
        doc.dinero_total = _ore(answer.get("TotalInclVat"))
        doc.dinero_excl_vat = _ore(answer.get("TotalExclVat"))
        doc.dinero_vat = _ore(answer.get("TotalVat"))

    def _consumption(self, doc: PreviewDocument, invoice: dict[str, Any]) -> None:
        settings = self.settings
        if not settings.item_consumption_enabled:
            return
        if not settings.stock_account or not settings.consumption_account:
            doc.consumption_problem = Problem(
                _("Item consumption is enabled, but the stock account or the consumption account is not chosen."),
                fix_url=_settings_url(self.connection))
            return
        try:
            payload = map_consumption(invoice, stock_account=settings.stock_account,
                                      consumption_account=settings.consumption_account)
        except NeedsMapping as problem:
            doc.consumption_problem = _problems(problem)[0] if str(problem.message).strip() else Problem(problem.hint)
            return
        debit, credit = settings.consumption_account, settings.stock_account
        if payload.amount < 0:
            debit, credit = credit, debit
        doc.consumption = {"amount": abs(payload.amount), "debit": debit, "credit": credit,
                           "description": payload.body["Lines"][0]["Description"], "none": payload.amount == 0}

    # supplier invoices
    def purchase(self, row: dict[str, Any]) -> PreviewDocument:
        invoice = row if isinstance(row.get("lines"), list) else self.rackbeat.get_supplier_invoice(row.get("number"))
        invoice = self.related.supplier_invoice(invoice)
        doc = PreviewDocument(kind="supplier_invoice", number=str(invoice.get("number")),
                              date=str(invoice.get("invoice_date") or "")[:10],
                              party=party_name(invoice.get("supplier")), zone=supplier_vat_zone(invoice))
        if not self.settings.supplier_integration_enabled:
            doc.notes.append(Message(gettext_noop(
                "The supplier integration is off: this invoice is not transferred until it is on.")))
        contact = _bound(self.connection, Kind.SUPPLIER, supplier_number(invoice)) or ""
        try:
            payload = map_supplier_invoice(invoice, supplier_mappings(self.scope), contact_guid=contact)  # type: ignore[arg-type]
        except NeedsMapping as problem:
            doc.problems = _problems(problem)
            doc.rackbeat_total = _total(invoice)
            return doc
        doc.currency, doc.rackbeat_total = payload.currency, ore(payload.rackbeat_total)
        doc.rackbeat_vat = payload.rackbeat_vat
        fetch_body = {k: v for k, v in payload.body.items() if v not in (None, "")}
        try:
            answer = self.dinero.purchase_voucher_totals(fetch_body)
        except ApiError as exc:
            doc.dinero_error = exc.describe()
            return doc
        for line in answer.get("Lines") or []:
            name, code = self._account(line.get("AccountNumber"))
            doc.lines.append(PreviewLine(
                description=str(line.get("Description") or ""), account=line.get("AccountNumber"),
                account_name=name, vat_code=str(line.get("VatCode") or code),
                amount=_ore_text(line.get("AmountExclVatValue")), amount_incl_vat=_ore_text(line.get("AmountInclVatValue"))))
        totals = {str(t.get("Type")): ore(money(t.get("Total"))) for t in answer.get("VoucherTotals") or []}
        doc.dinero_total = totals.get("Total")
        doc.dinero_excl_vat = totals.get("SubTotal")
        doc.dinero_vat = totals.get("Vat")
        if doc.dinero_total is None:
            doc.dinero_total = ore(sum((money(v.get("AmountInclVatValue")) for v in answer.get("Lines") or []),
                                       Decimal("0")))
        return doc


def _total(invoice: dict[str, Any]) -> Decimal | None:
    try:
        return ore(abs(money(invoice.get("total_total"))))
    except NeedsMapping:
        return None
