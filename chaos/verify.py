"""The invariants of a chaos run, checked in the emulators' own storage and the sync log.

Nothing here asks the service: the Dinero side is counted directly in the emulated Dinero's
tables (by ExternalReference and by the Guid the service recorded), the Rackbeat side is read from
the emulated Rackbeat's tables, and the expected figures are computed from Rackbeat's stored lines
without the service's mapping code — a bug there cannot hide itself.

A run passes only if, per connection:

* every booked Rackbeat sales invoice, credit note and supplier invoice exists in Dinero exactly
  once, found by its ExternalReference and by the Guid on its operation, and none is missing;
* every item consumption exists once (or not at all when the invoice has no stock line);
* every total equals Rackbeat's to the øre (sales: TotalInclVat; supplier: the voucher's total;
  consumption: Σ cost price × quantity of the stock lines, negative on credit notes);
* every VAT equals Rackbeat's to the øre, per document (sales: TotalVat = total_vat; supplier: the
  voucher's VAT total = total_vat; consumption: no VAT) — an equal total with another VAT is not
  the books Rackbeat has;
* nothing is left as an unbooked draft in Dinero (the run books every document): each draft is
  counted, and is a violation unless its operation is one whose outcome Dinero cannot tell;
* every Dinero contact and product exists once per Rackbeat customer, supplier and item (and every
  customer and supplier of a booked document, and every item sold, has one);
* no uploaded file is left without a voucher that refers to it;
* no operation is left pending, running, failed or needing attention — except those whose outcome
  Dinero cannot tell, each listed with its reason (for them "not in Dinero" is not a loss, but
  two copies are still a duplicate).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from accounts.models import Connection
from integration.core.models import Kind, SyncOperation

# Error classes the service uses when Dinero offers no way to tell whether a write took effect.
UNDECIDABLE_MARKERS = ("OutcomeUnknown", "Uncertain")
OPEN_OR_PROBLEM = ("pending", "running", "failed", "needs_attention")
CENT = Decimal("0.01")


def ore(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Counts:
    documents: int = 0
    sales_invoices: int = 0
    credit_notes: int = 0
    supplier_invoices: int = 0
    consumptions_expected: int = 0
    in_dinero_once: int = 0
    duplicates: int = 0
    missing: int = 0
    undecided: int = 0
    total_mismatches: int = 0
    vat_mismatches: int = 0
    drafts_unbooked: int = 0
    contacts: int = 0
    contact_duplicates: int = 0
    products: int = 0
    product_duplicates: int = 0
    files: int = 0
    orphan_files: int = 0
    operations: int = 0
    operations_by_state: dict[str, int] = field(default_factory=dict)
    left_open: int = 0


@dataclass
class Report:
    counts: Counts = field(default_factory=Counts)
    violations: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "counts": asdict(self.counts), "violations": self.violations,
                "undecided": self.undecided}


def _undecidable(op: SyncOperation) -> bool:
    return op.state == "needs_attention" and any(marker in op.last_error_class for marker in UNDECIDABLE_MARKERS)


def _definite_refusal(op: SyncOperation) -> str:
    """The create that left ``op`` undecided, when Dinero answered it with a 4xx (429 included).

    Only a timeout, a dropped connection or a 5xx may hide a write; a 4xx means nothing was written.
    """
    from integration.core.models import HttpExchange

    last_write = (HttpExchange.objects.filter(operation=op, service="dinero", method__in=("POST", "PUT"))
                  .exclude(url__contains="/files").order_by("-at", "-pk").first())
    if last_write is not None and last_write.status is not None and 400 <= last_write.status < 500:
        return f"HTTP {last_write.status} on {last_write.method} {last_write.url.split('?')[0]}"
    return ""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


class _Checker:
    def __init__(self, report: Report, connection: Connection) -> None:
        from sandbox.dinero.documents import Chart
        from sandbox.dinero.models import Organization
        from sandbox.rackbeat import models as rb

        self.report, self.c = report, report.counts
        self.connection = connection
        self.org = Organization.objects.get(organization_id=int(connection.dinero_organization_id))
        self.account = rb.Account.objects.get(account_id=int(connection.rackbeat_account_id))
        self.chart = Chart.of(self.org, strict=False)
        self.ops: dict[tuple[str, str], list[SyncOperation]] = defaultdict(list)
        for op in SyncOperation.objects.filter(connection=connection):
            self.ops[(op.kind, op.source_key)].append(op)
        self.name = connection.name

    def violation(self, message: str) -> None:
        self.report.violations.append(f"{self.name}: {message}")

    def _op(self, kinds: tuple[str, ...], number: int) -> SyncOperation | None:
        for kind in kinds:
            found = self.ops.get((kind, str(number)))
            if found:
                return found[0]
        return None

    def _exactly_once(self, what: str, found: list[Any], op: SyncOperation | None, by_guid: Any) -> Any | None:
        """Count one document by reference and by Guid; returns the document when it is there once."""
        guids = {str(doc.guid) for doc in found}
        if op is not None and op.target_id:
            copies = by_guid.filter(guid=op.target_id, deleted_at__isnull=True).count()
            if copies != 1:
                self.violation(f"{what}: the Guid {op.target_id} recorded on operation {op.pk} is in Dinero "
                               f"{copies} times")
            elif op.target_id not in guids:
                self.violation(f"{what}: the Guid {op.target_id} on operation {op.pk} is not the document carrying "
                               f"its ExternalReference ({sorted(guids) or 'none'})")
        if len(found) > 1:
            self.c.duplicates += 1
            self.violation(f"{what}: {len(found)} documents in Dinero (Guids {sorted(guids)})")
            return None
        if not found:
            if op is not None and _undecidable(op):
                self.c.undecided += 1
                return None
            self.c.missing += 1
            state = f"operation {op.pk} is {op.state}: {op.last_error[:200]}" if op else "no operation was created"
            self.violation(f"{what}: missing in Dinero ({state})")
            return None
        self.c.in_dinero_once += 1
        return found[0]

    def _total(self, what: str, expected: Decimal, actual: Decimal) -> None:
        if ore(expected) != ore(actual):
            self.c.total_mismatches += 1
            self.violation(f"{what}: Dinero has {ore(actual)}, Rackbeat {ore(expected)}")

    def _vat(self, what: str, expected: Decimal, actual: Decimal, totals: tuple[Decimal, Decimal]) -> None:
        if ore(expected) != ore(actual):
            self.c.vat_mismatches += 1
            self.violation(f"{what}: Dinero's VAT is {ore(actual)}, Rackbeat's {ore(expected)} "
                           f"(totals {ore(totals[0])} and {ore(totals[1])})")

    def _booked(self, what: str, status: str, op: SyncOperation | None) -> None:
        """A draft left in Dinero is counted; it is a violation unless a person must decide its operation."""
        if status not in ("Draft", "Editing"):
            return
        self.c.drafts_unbooked += 1
        if op is not None and _undecidable(op):
            return
        self.violation(f"{what}: left as an unbooked draft in Dinero "
                       f"({f'operation is {op.state}' if op is not None else 'no operation'})")

    def sales(self) -> None:
        from sandbox.dinero.documents import sales_read
        from sandbox.dinero.models import SalesDocument, Voucher
        from sandbox.rackbeat import models as rb

        documents = SalesDocument.objects.filter(organization=self.org, deleted_at__isnull=True)
        by_reference: dict[str, list[SalesDocument]] = defaultdict(list)
        for doc in documents:
            by_reference[doc.external_reference].append(doc)
        consumptions = Voucher.objects.filter(organization=self.org, kind=Voucher.Kind.MANUAL, deleted_at__isnull=True)
        consumption_by_reference: dict[str, list[Voucher]] = defaultdict(list)
        for voucher in consumptions:
            consumption_by_reference[voucher.external_reference].append(voucher)
        invoices = rb.CustomerInvoice.objects.filter(account=self.account, is_booked=True).prefetch_related(
            "lines__item")
        for invoice in invoices:
            self.c.documents += 1
            credit = invoice.is_credit_note
            if credit:
                self.c.credit_notes += 1
            else:
                self.c.sales_invoices += 1
            what = f"{'credit note' if credit else 'sales invoice'} {invoice.number}"
            op = self._op((Kind.CREDIT_NOTE, Kind.SALES_INVOICE) if credit else (Kind.SALES_INVOICE, Kind.CREDIT_NOTE),
                          invoice.number)
            doc = self._exactly_once(what, by_reference.get(f"rackbeat:customer-invoice:{invoice.number}", []), op,
                                     documents)
            if doc is not None:
                read = sales_read(doc, self.chart)
                self._total(what, invoice.total_total, _dec(read["TotalInclVat"]))
                self._vat(what, invoice.total_vat, _dec(read["TotalVat"]),
                          (_dec(read["TotalInclVat"]), invoice.total_total))
                self._booked(what, doc.status, op)
                expected_kind = SalesDocument.Kind.CREDIT_NOTE if credit else SalesDocument.Kind.INVOICE
                if doc.kind != expected_kind:
                    self.violation(f"{what}: stored in Dinero as a {doc.kind}")
            self._consumption(invoice, consumption_by_reference, consumptions)

    def _consumption(self, invoice: Any, by_reference: dict[str, list[Any]], vouchers: Any) -> None:
        from sandbox.dinero.documents import manual_read

        stock = [line for line in invoice.lines.all() if line.item is not None and line.item.inventory_enabled]
        expected = ore(sum((line.cost_price * line.quantity for line in stock), Decimal("0")))
        if invoice.is_credit_note:
            expected = -expected
        found = by_reference.get(f"rackbeat:consumption:{invoice.number}", [])
        what = f"item consumption of {invoice.number}"
        if expected == 0:
            if found:
                self.c.duplicates += len(found)
                self.violation(f"{what}: {len(found)} vouchers in Dinero for an invoice without stock cost")
            return
        self.c.consumptions_expected += 1
        self.c.documents += 1
        op = self._op((Kind.ITEM_CONSUMPTION,), invoice.number)
        voucher = self._exactly_once(what, found, op, vouchers)
        if voucher is not None:
            read = manual_read(voucher, self.chart)
            self._total(what, expected, _dec(read["TotalExclVat"]))
            self._vat(what, Decimal("0"), _dec(read["TotalInclVat"]) - _dec(read["TotalExclVat"]),
                      (_dec(read["TotalExclVat"]), expected))
            self._booked(what, voucher.status, op)
            if not voucher.data.get("FileGuid"):
                self.violation(f"{what}: the consumption voucher has no specification (FileGuid)")

    def supplier(self) -> None:
        from sandbox.dinero.documents import purchase_read
        from sandbox.dinero.models import File, Voucher
        from sandbox.rackbeat import models as rb

        vouchers = Voucher.objects.filter(organization=self.org, kind=Voucher.Kind.PURCHASE, deleted_at__isnull=True)
        by_reference: dict[str, list[Voucher]] = defaultdict(list)
        for voucher in vouchers:
            by_reference[voucher.external_reference or str(voucher.data.get("ExternalReference") or "")].append(voucher)
        for invoice in rb.SupplierInvoice.objects.filter(account=self.account, is_booked=True):
            self.c.documents += 1
            self.c.supplier_invoices += 1
            what = f"supplier invoice {invoice.number}"
            op = self._op((Kind.SUPPLIER_INVOICE,), invoice.number)
            voucher = self._exactly_once(what, by_reference.get(f"rackbeat:supplier-invoice:{invoice.number}", []),
                                         op, vouchers)
            if voucher is not None:
                read = purchase_read(voucher, self.chart)
                totals = {t["Type"]: _dec(t["Total"]) for t in read["VoucherTotals"]}
                self._total(what, invoice.total_total, totals["Total"])
                self._vat(what, invoice.total_vat, totals["Vat"], (totals["Total"], invoice.total_total))
                self._booked(what, voucher.status, op)
                if not voucher.data.get("FileGuid"):
                    self.violation(f"{what}: the purchase voucher has no PDF (FileGuid)")
        referenced = {str(v.data.get("FileGuid")) for v in Voucher.objects.filter(organization=self.org)
                      if v.data.get("FileGuid")}
        for file in File.objects.filter(organization=self.org):
            self.c.files += 1
            if file.file_guid not in referenced:
                self.c.orphan_files += 1
                self.violation(f"file {file.file_guid} ({file.name}) is referenced by no voucher")

    def master_data(self) -> None:
        from sandbox.dinero.models import Contact, Product
        from sandbox.rackbeat import models as rb

        for model, label, prefix_counter in ((Contact, "contact", "contact"), (Product, "product", "product")):
            references = Counter(model.objects.filter(organization=self.org, deleted_at__isnull=True)
                                 .exclude(external_reference="").values_list("external_reference", flat=True))
            setattr(self.c, f"{prefix_counter}s", getattr(self.c, f"{prefix_counter}s") + sum(references.values()))
            for reference, count in sorted(references.items()):
                if reference.startswith("rackbeat:") and count > 1:
                    setattr(self.c, f"{prefix_counter}_duplicates",
                            getattr(self.c, f"{prefix_counter}_duplicates") + 1)
                    self.violation(f"{label} {reference}: {count} in Dinero")
            expected: set[str] = set()
            if model is Contact:
                customers = rb.CustomerInvoice.objects.filter(account=self.account, is_booked=True)
                expected |= {f"rackbeat:customer:{n}" for n in customers.values_list("customer__number", flat=True)}
                suppliers = rb.SupplierInvoice.objects.filter(account=self.account, is_booked=True)
                expected |= {f"rackbeat:supplier:{n}" for n in suppliers.values_list("supplier__number", flat=True)}
            else:
                # Sales lines carry their product: every item sold must have its Dinero product.
                lines = rb.InvoiceLine.objects.filter(customer_invoice__account=self.account,
                                                      customer_invoice__is_booked=True, item__isnull=False)
                expected |= {f"rackbeat:product:{n}" for n in lines.values_list("item__number", flat=True)}
            for reference in sorted(expected - set(references)):
                self.violation(f"{label} {reference}: used by a transferred document but not in Dinero")

    def operations(self) -> None:
        by_state: Counter[str] = Counter()
        for ops in self.ops.values():
            for op in ops:
                self.c.operations += 1
                by_state[op.state] += 1
                if op.state not in OPEN_OR_PROBLEM:
                    continue
                if _undecidable(op):
                    refusal = _definite_refusal(op)
                    if refusal:
                        # Dinero said no (nothing was written): the outcome was known, a person is asked for nothing.
                        self.c.left_open += 1
                        self.violation(f"operation {op.pk} ({op.kind} {op.source_key}) asks a person although "
                                       f"Dinero's answer was definite ({refusal}): {op.last_error[:200]}")
                        continue
                    self.report.undecided.append(
                        f"{self.name}: {op.kind} {op.source_key} (operation {op.pk}): {op.last_error} — {op.hint}")
                    continue
                self.c.left_open += 1
                self.violation(f"operation {op.pk} ({op.kind} {op.source_key}) left {op.state}: "
                               f"{op.last_error_class} {op.last_error[:300]}")
        for state, count in by_state.items():
            self.c.operations_by_state[state] = self.c.operations_by_state.get(state, 0) + count


def check(connections: list[Connection] | None = None) -> Report:
    """Check every invariant for the given connections (all of them by default)."""
    report = Report()
    for connection in connections if connections is not None else Connection.objects.order_by("pk"):
        checker = _Checker(report, connection)
        checker.sales()
        checker.supplier()
        checker.master_data()
        checker.operations()
    return report
