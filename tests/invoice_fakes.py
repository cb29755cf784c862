"""In-memory stand-ins for the Dinero and Rackbeat clients, behaving like the services.

They implement the client contract's method names (see helper rules) with the behaviour the
invoice transfers rely on: Dinero honours our Guid, computes totals the way it rounds (line totals
to øre, VAT per rate on the rounded lines), changes the TimeStamp on every write, answers a stale
timestamp with error 58, numbers documents when booking, and can be told to store a write and then
fail with an uncertain outcome ("500 after the write took effect").
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from integration.core.clients.errors import NotFound, StaleTimestamp, UncertainOutcome, ValidationFailed

ORE = Decimal("0.01")


def _d(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _ore(value: Decimal) -> Decimal:
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


class _Faults:
    def __init__(self) -> None:
        self.fail_after_write: set[str] = set()
        # method → an error raised once *before* anything is stored (a definite refusal, e.g. 429)
        self.refuse_once: dict[str, Exception] = {}
        # method → called once while the request is "in flight", before it is stored (races)
        self.while_in_flight: dict[str, Any] = {}
        self.calls: list[tuple[str, Any]] = []

    def _before_write(self, method: str) -> None:
        meanwhile = self.while_in_flight.pop(method, None)
        if meanwhile is not None:
            meanwhile()
        error = self.refuse_once.pop(method, None)
        if error is not None:
            raise error

    def _after_write(self, method: str) -> None:
        if method in self.fail_after_write:
            self.fail_after_write.discard(method)
            raise UncertainOutcome("500 Internal Server Error after the write", status=500,
                                   service=type(self).__name__)

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)


class FakeDinero(_Faults):
    def __init__(self, *, vat_rates: dict[int, Decimal] | None = None, default_rate: Decimal = Decimal("25")) -> None:
        super().__init__()
        self.vat_rates = vat_rates or {}
        self.default_rate = default_rate
        self.contacts: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.credit_notes: dict[str, dict[str, Any]] = {}
        self.purchase_vouchers: dict[str, dict[str, Any]] = {}
        self.manual_vouchers: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.emails: list[str] = []
        self.purchase_total_override: Decimal | None = None
        self.purchase_vat_override: Decimal | None = None
        # Øre Dinero moves from the net amount to the VAT of a sales document (same total, other VAT).
        self.sales_vat_shift = Decimal("0")
        self._stamps = itertools.count(0x20A5EA8)
        self._numbers = itertools.count(1)
        self._voucher_numbers = itertools.count(1)

    def _stamp(self) -> str:
        return f"{next(self._stamps):016X}"

    # --- contacts ---------------------------------------------------------------------------
    def find_contact(self, external_reference: str) -> dict[str, Any] | None:
        self.calls.append(("find_contact", external_reference))
        return next((copy.deepcopy(c) for c in self.contacts.values()
                     if c.get("ExternalReference") == external_reference), None)

    def get_contact(self, guid: str) -> dict[str, Any]:
        if guid not in self.contacts:
            raise NotFound("contact not found", status=404, service="dinero")
        return copy.deepcopy(self.contacts[guid])

    def create_contact(self, body: dict[str, Any]) -> str:
        self.calls.append(("create_contact", body))
        self._before_write("create_contact")
        guid = body.get("ContactGuid") or str(uuid.uuid4())
        if guid in self.contacts:
            raise ValidationFailed("A contact with this guid exists", status=400, service="dinero")
        self.contacts[guid] = {**body, "ContactGuid": guid}
        self._after_write("create_contact")
        return guid

    def find_product(self, external_reference: str) -> dict[str, Any] | None:
        self.calls.append(("find_product", external_reference))
        return next((copy.deepcopy(p) for p in self.products.values()
                     if p.get("ExternalReference") == external_reference), None)

    def find_product_by_number(self, number: str) -> dict[str, Any] | None:
        return next((copy.deepcopy(p) for p in self.products.values() if p.get("ProductNumber") == number), None)

    def create_product(self, body: dict[str, Any]) -> str:
        self.calls.append(("create_product", body))
        self._before_write("create_product")
        guid = str(uuid.uuid4())
        self.products[guid] = {**copy.deepcopy(body), "ProductGuid": guid}
        self._after_write("create_product")
        return guid

    def update_product(self, guid: str, body: dict[str, Any]) -> None:
        self.calls.append(("update_product", body))
        self.products[guid].update(copy.deepcopy(body))

    def get_product(self, guid: str) -> dict[str, Any]:
        if guid not in self.products:
            raise NotFound("product not found", status=404, service="dinero")
        return copy.deepcopy(self.products[guid])

    # --- sales documents --------------------------------------------------------------------
    def _totals(self, body: dict[str, Any]) -> dict[str, Any]:
        subtotal = vat = Decimal("0")
        for line in body.get("ProductLines") or []:
            if line.get("LineType") == "Text":
                continue
            total = _ore(_d(line["Quantity"]) * _d(line["BaseAmountValue"]) * (100 - _d(line["Discount"])) / 100)
            line["TotalAmount"] = float(total)  # Dinero's read model of the line
            subtotal += total
            rate = self.vat_rates.get(int(line["AccountNumber"]), self.default_rate)
            vat += _ore(total * rate / 100)
        subtotal, vat = subtotal - self.sales_vat_shift, vat + self.sales_vat_shift
        return {"TotalExclVat": float(subtotal), "TotalVat": float(vat), "TotalInclVat": float(subtotal + vat)}

    def _store(self, store: dict[str, Any], body: dict[str, Any], method: str) -> dict[str, Any]:
        self.calls.append((method, body))
        self._before_write(method)
        if not body.get("ProductLines"):
            raise ValidationFailed("Invoices must have at least one invoice line", status=400, code=45,
                                   service="dinero")
        guid = body.get("Guid") or str(uuid.uuid4())
        if guid in store:
            raise ValidationFailed("A document with this guid already exists", status=400, service="dinero")
        stamp = self._stamp()
        content = copy.deepcopy(body)
        store[guid] = {**content, **self._totals(content), "Guid": guid, "TimeStamp": stamp,
                       "Status": "Draft", "Number": None, "MailOutStatus": "NotSent"}
        self._after_write(method)
        return {"Guid": guid, "TimeStamp": stamp}

    def _book(self, store: dict[str, Any], guid: str, timestamp: str, method: str) -> dict[str, Any]:
        self.calls.append((method, guid))
        doc = store.get(guid)
        if doc is None:
            raise NotFound("not found", status=404, service="dinero")
        if doc["TimeStamp"] != timestamp:
            raise StaleTimestamp("Timestamp is outdated", status=400, code=58, service="dinero")
        if not doc.get("ContactGuid"):
            raise ValidationFailed("ContactGuid is required for booking", status=400, service="dinero")
        doc.update(Status="Booked", Number=next(self._numbers), TimeStamp=self._stamp())
        self._after_write(method)
        return copy.deepcopy(doc)

    def _email(self, store: dict[str, Any], guid: str, method: str) -> dict[str, Any]:
        self.calls.append((method, guid))
        doc = store[guid]
        if doc["Status"] != "Booked":
            raise ValidationFailed("Only booked documents can be e-mailed", status=400, service="dinero")
        doc.update(MailOutStatus="Sent", TimeStamp=self._stamp())
        self.emails.append(guid)
        self._after_write(method)
        return {"Recipients": [{"Email": "customer@example.com"}]}

    def _update(self, store: dict[str, Any], guid: str, body: dict[str, Any], method: str) -> dict[str, Any]:
        self.calls.append((method, body))
        doc = store[guid]
        if doc["Status"] != "Draft":
            raise ValidationFailed("Only drafts can be updated", status=400, service="dinero")
        if body.get("Timestamp") != doc["TimeStamp"]:
            raise StaleTimestamp("Timestamp is outdated", status=400, code=58, service="dinero")
        content = {k: v for k, v in body.items() if k != "Timestamp"}
        content = copy.deepcopy(content)
        doc.update({**content, **self._totals(content), "Guid": guid, "TimeStamp": self._stamp()})
        return {"Guid": guid, "TimeStamp": doc["TimeStamp"]}

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._store(self.invoices, body, "create_invoice")

    def get_invoice(self, guid: str) -> dict[str, Any] | None:
        self.calls.append(("get_invoice", guid))
        doc = self.invoices.get(guid)
        return copy.deepcopy(doc) if doc else None

    def find_invoice(self, external_reference: str) -> dict[str, Any] | None:
        self.calls.append(("find_invoice", external_reference))
        return next((copy.deepcopy(d) for d in self.invoices.values()
                     if d.get("ExternalReference") == external_reference), None)

    def update_invoice(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._update(self.invoices, guid, body, "update_invoice")

    def book_invoice(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book(self.invoices, guid, timestamp, "book_invoice")

    def email_invoice(self, guid: str, *, timestamp: str | None = None) -> dict[str, Any]:
        return self._email(self.invoices, guid, "email_invoice")

    def iter_invoices(self, *, changes_since: Any = None, status_filter: str | None = None) -> Iterator[dict[str, Any]]:
        self.calls.append(("iter_invoices", (changes_since, status_filter)))
        wanted = set((status_filter or "").split(",")) - {""}
        for doc in list(self.invoices.values()):
            status = doc["Status"]
            if wanted and status not in wanted:
                continue
            yield {"Guid": doc["Guid"], "Number": doc.get("Number"), "Status": status, "Type": "Invoice",
                   "ContactGuid": doc.get("ContactGuid"), "ContactName": doc.get("ContactName", ""),
                   "ExternalReference": doc.get("ExternalReference"), "Date": doc.get("Date")}

    def create_credit_note(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._store(self.credit_notes, body, "create_credit_note")

    def get_credit_note(self, guid: str) -> dict[str, Any]:
        self.calls.append(("get_credit_note", guid))
        if guid not in self.credit_notes:
            raise NotFound("not found", status=404, service="dinero")
        return copy.deepcopy(self.credit_notes[guid])

    def find_credit_note(self, external_reference: str) -> dict[str, Any] | None:
        self.calls.append(("find_credit_note", external_reference))
        return next((copy.deepcopy(d) for d in self.credit_notes.values()
                     if d.get("ExternalReference") == external_reference), None)

    def update_credit_note(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._update(self.credit_notes, guid, body, "update_credit_note")

    def book_credit_note(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book(self.credit_notes, guid, timestamp, "book_credit_note")

    def email_credit_note(self, guid: str, *, timestamp: str | None = None) -> dict[str, Any]:
        return self._email(self.credit_notes, guid, "email_credit_note")

    # --- vouchers ---------------------------------------------------------------------------
    @staticmethod
    def _voucher_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
        """Dinero's read model of voucher lines: amounts excluding and including VAT, and the VAT."""
        lines = []
        for line in body.get("Lines") or []:
            amount = _d(line.get("Amount"))
            code = str(line.get("VatCode") or line.get("AccountVatCode") or "none")
            if code.startswith("I") and code not in ("IEUV", "IEUY", "IVV", "IVY"):
                incl, excl = _ore(amount), _ore(amount / Decimal("1.25"))
            else:
                incl = excl = _ore(amount)
            lines.append({**copy.deepcopy(line), "AmountExclVatValue": float(excl), "AmountInclVatValue": float(incl),
                          "VatAmountValue": float(incl - excl)})
        return lines

    def _create_voucher(self, store: dict[str, Any], body: dict[str, Any], method: str) -> dict[str, Any]:
        self.calls.append((method, body))
        self._before_write(method)
        guid = str(uuid.uuid4())
        store[guid] = {**copy.deepcopy(body), "Lines": self._voucher_lines(body), "Guid": guid,
                       "Timestamp": self._stamp(), "Status": "Draft", "VoucherNumber": None}
        self._after_write(method)
        return copy.deepcopy(store[guid])

    def _update_voucher(self, store: dict[str, Any], guid: str, body: dict[str, Any], method: str) -> dict[str, Any]:
        self.calls.append((method, body))
        doc = store[guid]
        if doc["Status"] != "Draft":
            raise ValidationFailed("Only drafts can be updated", status=400, service="dinero")
        if body.get("Timestamp") != doc["Timestamp"]:
            raise StaleTimestamp("Timestamp is outdated", status=400, code=58, service="dinero")
        content = {k: v for k, v in body.items() if k != "Timestamp"}
        doc.update({**copy.deepcopy(content), "Lines": self._voucher_lines(content), "Timestamp": self._stamp()})
        self._after_write(method)
        return copy.deepcopy(doc)

    def update_purchase_voucher(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._update_voucher(self.purchase_vouchers, guid, body, "update_purchase_voucher")

    def update_manual_voucher(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._update_voucher(self.manual_vouchers, guid, body, "update_manual_voucher")

    def _book_voucher(self, store: dict[str, Any], guid: str, timestamp: str, method: str) -> dict[str, Any]:
        self.calls.append((method, guid))
        doc = store[guid]
        if doc["Timestamp"] != timestamp:
            raise StaleTimestamp("Timestamp is outdated", status=400, code=58, service="dinero")
        doc.update(Status="Booked", VoucherNumber=next(self._voucher_numbers), Timestamp=self._stamp())
        self._after_write(method)
        return copy.deepcopy(doc)

    def create_purchase_voucher(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create_voucher(self.purchase_vouchers, body, "create_purchase_voucher")

    def get_purchase_voucher(self, guid: str) -> dict[str, Any]:
        if guid not in self.purchase_vouchers:
            raise NotFound("not found", status=404, service="dinero")
        return copy.deepcopy(self.purchase_vouchers[guid])

    def purchase_voucher_totals(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dinero's dry run: the total owed is the sum of the line amounts (tests may override it)."""
        self.calls.append(("purchase_voucher_totals", body))
        total = self.purchase_total_override
        if total is None:
            total = sum((_d(line.get("Amount")) for line in body.get("Lines") or []), Decimal("0"))
        totals = [{"Type": "Total", "Total": float(total), "Position": 2}]
        if self.purchase_vat_override is not None:
            totals.append({"Type": "Vat", "Total": float(self.purchase_vat_override), "Position": 1})
        return {"VoucherTotals": totals}

    def find_purchase_voucher_by_file(self, file_guid: str) -> str | None:
        self.calls.append(("find_purchase_voucher_by_file", file_guid))
        return next((guid for guid, v in self.purchase_vouchers.items() if v.get("FileGuid") == file_guid), None)

    def voucher_with_file(self, file_guid: str) -> str | None:
        self.calls.append(("voucher_with_file", file_guid))
        vouchers = {**self.purchase_vouchers, **self.manual_vouchers}
        return next((guid for guid, v in vouchers.items() if v.get("FileGuid") == file_guid), None)

    def find_unused_file(self, file_name: str) -> str | None:
        self.calls.append(("find_unused_file", file_name))
        used = {v.get("FileGuid") for v in [*self.purchase_vouchers.values(), *self.manual_vouchers.values()]}
        return next((guid for guid, (name, _content) in self.files.items()
                     if name == file_name and guid not in used), None)

    def book_purchase_voucher(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book_voucher(self.purchase_vouchers, guid, timestamp, "book_purchase_voucher")

    def create_manual_voucher(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create_voucher(self.manual_vouchers, body, "create_manual_voucher")

    def get_manual_voucher(self, guid: str) -> dict[str, Any]:
        if guid not in self.manual_vouchers:
            raise NotFound("not found", status=404, service="dinero")
        return copy.deepcopy(self.manual_vouchers[guid])

    def book_manual_voucher(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book_voucher(self.manual_vouchers, guid, timestamp, "book_manual_voucher")

    def upload_file(self, file_name: str, content: bytes) -> str:
        self.calls.append(("upload_file", file_name))
        self._before_write("upload_file")
        guid = f"file{len(self.files) + 1:04d}web0crmck5v0"
        self.files[guid] = (file_name, content)
        self._after_write("upload_file")
        return guid

    def document_url(self, kind: str, guid: str) -> str:
        return f"https://app.dinero.test/{kind}/{guid}"

    # --- helpers for tests ------------------------------------------------------------------
    def add_booked_invoice(self, *, contact_guid: str, lines: list[dict[str, Any]], date: str = "2026-03-02",
                           currency: str = "DKK", status: str = "Booked") -> dict[str, Any]:
        created = self.create_invoice({"ContactGuid": contact_guid, "Date": date, "Currency": currency,
                                       "ProductLines": lines, "PaymentDate": "2026-03-16"})
        doc = self.invoices[created["Guid"]]
        if status != "Draft":
            doc.update(Status=status, Number=next(self._numbers))
        return copy.deepcopy(doc)


class FakeRackbeat(_Faults):
    def __init__(self) -> None:
        super().__init__()
        self.customers: dict[str, dict[str, Any]] = {}
        self.suppliers: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.product_units: dict[str, list[dict[str, Any]]] = {}
        self.customer_invoices: dict[str, dict[str, Any]] = {}
        self.supplier_invoices: dict[str, dict[str, Any]] = {}
        self.pdfs: dict[str, bytes] = {}
        self._numbers = itertools.count(90001)

    def _get(self, store: dict[str, Any], key: Any, what: str) -> dict[str, Any]:
        self.calls.append((f"get_{what}", key))
        if str(key) not in store:
            raise NotFound(f"{what} {key} not found", status=404, service="rackbeat")
        return copy.deepcopy(store[str(key)])

    def get_customer(self, number: Any) -> dict[str, Any]:
        return self._get(self.customers, number, "customer")

    def get_supplier(self, number: Any) -> dict[str, Any]:
        return self._get(self.suppliers, number, "supplier")

    def get_product(self, number: Any) -> dict[str, Any]:
        return self._get(self.products, number, "product")

    def get_lot(self, number: Any) -> dict[str, Any]:
        return self._get(self.products, number, "lot")

    def get_product_units(self, number: Any) -> list[dict[str, Any]]:
        self.calls.append(("get_product_units", number))
        return copy.deepcopy(self.product_units.get(str(number), []))

    def iter_customers(self, *, updated_since: Any = None) -> Iterator[dict[str, Any]]:
        yield from (copy.deepcopy(c) for c in self.customers.values())

    def get_customer_invoice(self, number: Any) -> dict[str, Any]:
        return self._get(self.customer_invoices, number, "customer_invoice")

    def get_supplier_invoice(self, number: Any) -> dict[str, Any]:
        return self._get(self.supplier_invoices, number, "supplier_invoice")

    def supplier_invoice_pdf(self, number: Any) -> bytes | None:
        return self.pdfs.get(str(number))

    def customer_invoice_pdf(self, number: Any) -> bytes | None:
        return None

    def iter_customer_invoices(self, *, booked: bool | None = True, updated_since: Any = None) -> Iterator[dict[str, Any]]:
        self.calls.append(("iter_customer_invoices", booked))
        for invoice in list(self.customer_invoices.values()):
            if booked is None or bool(invoice.get("is_booked")) == booked:
                yield copy.deepcopy(invoice)

    def create_customer_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create_customer_invoice", body))
        number = next(self._numbers)
        customer = self.customers.get(str(body.get("customer_id")), {})
        stored = {**copy.deepcopy(body), "number": number, "is_booked": False, "customer": copy.deepcopy(customer)}
        # Rackbeat computes the totals with the customer's VAT zone (25 % domestic, none otherwise)
        # and shows them when the invoice is read; the create answer here carries none of them.
        rate = Decimal("25") if customer.get("vat_zone", "domestic") == "domestic" else Decimal("0")
        subtotal = vat = Decimal("0")
        for entry in body.get("lines") or []:
            net = _ore(_d(entry.get("quantity")) * _d(entry.get("line_price"))
                       * (100 - _d(entry.get("discount_percentage"))) / 100)
            subtotal, vat = subtotal + net, vat + _ore(net * rate / 100)
        self.customer_invoices[str(number)] = {**stored, "total_subtotal": str(subtotal), "total_vat": str(vat),
                                               "total_total": str(subtotal + vat)}
        self._after_write("create_customer_invoice")
        return copy.deepcopy(stored)

    def book_customer_invoice(self, number: Any) -> dict[str, Any]:
        self.calls.append(("book_customer_invoice", number))
        invoice = self.customer_invoices[str(number)]
        invoice["is_booked"] = True
        self._after_write("book_customer_invoice")
        return copy.deepcopy(invoice)

    def document_url(self, kind: str, key: Any) -> str:
        return f"https://app.rackbeat.test/{kind}/{key}"
