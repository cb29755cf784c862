"""The chaos suite's verdict can fail: each invariant is broken on purpose in the emulators' storage.

The world is the suite's own (``chaos.world``); documents are written straight into the emulated
Rackbeat and Dinero tables, so every check is exercised without running any process.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from chaos import verify, world
from integration.core.models import Kind, SyncOperation
from sandbox.dinero.models import Contact, File, Organization, Product, SalesDocument, Voucher
from sandbox.rackbeat import invoicing
from sandbox.rackbeat import models as rb

pytestmark = pytest.mark.django_db


@pytest.fixture
def company() -> world.Company:
    (company,) = world.build(1)
    return company


def _rackbeat_account(company: world.Company) -> rb.Account:
    return rb.Account.objects.get(account_id=company.rackbeat_account_id)


def _org(company: world.Company) -> Organization:
    return Organization.objects.get(organization_id=company.dinero_organization_id)


def _book_sale(company: world.Company, lines: list[dict], **extra) -> rb.CustomerInvoice:
    account = _rackbeat_account(company)
    invoice = invoicing.save_invoice(account, {"customer_id": company.customers[0], "lines": lines, **extra},
                                     purchase=False, notify=False)
    return invoicing.book_invoice(invoice, notify=False)


def _dinero_invoice(company: world.Company, invoice: rb.CustomerInvoice, *, price: str | None = None,
                    kind: str = "invoice") -> SalesDocument:
    lines = [{"Description": line.name, "Quantity": float(line.quantity),
              "BaseAmountValue": float(price or line.line_price), "Discount": float(line.discount_percentage),
              "AccountNumber": 1000, "Unit": "parts", "LineType": "Product"} for line in invoice.lines.all()]
    return SalesDocument.objects.create(
        organization=_org(company), kind=kind, status="Booked", timestamp="0000000000000001",
        external_reference=f"rackbeat:customer-invoice:{invoice.number}",
        data={"Date": str(invoice.invoice_date), "ProductLines": lines,
              "ExternalReference": f"rackbeat:customer-invoice:{invoice.number}"})


def _consumption(company: world.Company, invoice: rb.CustomerInvoice, amount: str, *, specified: bool = True
                 ) -> Voucher:
    file_guid = File.objects.create(organization=_org(company), name=f"rackbeat-consumption-{invoice.number}.pdf",
                                    content=b"%PDF").file_guid if specified else None
    return Voucher.objects.create(
        organization=_org(company), kind=Voucher.Kind.MANUAL, status="Booked", timestamp="1",
        external_reference=f"rackbeat:consumption:{invoice.number}",
        data={"VoucherDate": str(invoice.invoice_date), "FileGuid": file_guid, "Lines": [
            {"Description": "Vareforbrug", "AccountNumber": 1600, "BalancingAccountNumber": 58100,
             "Amount": float(amount), "AccountVatCode": "none", "BalancingAccountVatCode": "none"}]})


def _done(company: world.Company, kind: str, number: int, target: object) -> SyncOperation:
    return SyncOperation.objects.create(connection_id=company.connection_id, kind=kind, source_key=str(number),
                                        state="done", target_id=str(getattr(target, "guid", "")))


def _contact(company: world.Company, number: int) -> Contact:
    return Contact.objects.create(organization=_org(company), external_reference=f"rackbeat:customer:{number}",
                                  data={"Name": f"Kunde {number}"})


def _product(company: world.Company, number: str) -> Product:
    return Product.objects.create(organization=_org(company), external_reference=f"rackbeat:product:{number}",
                                  data={"Name": number})


SERVICE_LINE = [{"item_id": "SV-1", "quantity": 2, "line_price": "650.00"}]  # no stock: no consumption
STOCK_LINE = [{"item_id": "FV-100", "quantity": 3, "line_price": "499.00"}]  # consumption 3 × 210.50


def test_a_clean_world_passes(company):
    invoice = _book_sale(company, STOCK_LINE)
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    _done(company, Kind.ITEM_CONSUMPTION, invoice.number, _consumption(company, invoice, "631.50"))
    _contact(company, company.customers[0])
    _product(company, "FV-100")
    report = verify.check()
    assert report.passed, report.violations
    assert report.counts.in_dinero_once == 2 and report.counts.documents == 2


def test_an_item_sold_without_its_dinero_product_or_with_two_is_a_violation(company):
    invoice = _book_sale(company, [*STOCK_LINE, *SERVICE_LINE])
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    _done(company, Kind.ITEM_CONSUMPTION, invoice.number, _consumption(company, invoice, "631.50"))
    _contact(company, company.customers[0])
    _product(company, "FV-100")
    _product(company, "FV-100")
    report = verify.check()
    assert report.counts.product_duplicates == 1
    assert sorted(v.split(": ", 1)[1] for v in report.violations) == [
        "product rackbeat:product:FV-100: 2 in Dinero",
        "product rackbeat:product:SV-1: used by a transferred document but not in Dinero"]


def test_a_second_dinero_invoice_is_a_duplicate(company):
    invoice = _book_sale(company, SERVICE_LINE)
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    _dinero_invoice(company, invoice)
    _contact(company, company.customers[0])
    report = verify.check()
    assert report.counts.duplicates == 1
    assert any("2 documents in Dinero" in v for v in report.violations)


def test_a_document_never_transferred_is_missing(company):
    _book_sale(company, SERVICE_LINE)
    report = verify.check()
    assert report.counts.missing == 1 and not report.passed
    assert any("missing in Dinero (no operation was created)" in v for v in report.violations)


def test_a_total_one_ore_off_is_a_mismatch(company):
    invoice = _book_sale(company, SERVICE_LINE)
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice, price="649.995"))
    _contact(company, company.customers[0])
    report = verify.check()
    assert report.counts.total_mismatches == 1
    assert any("Rackbeat 1625.00" in v for v in report.violations), report.violations


def test_a_consumption_with_the_wrong_amount_or_sign_is_a_mismatch(company):
    note = _book_sale(company, STOCK_LINE, is_credit_note=True)
    _done(company, Kind.CREDIT_NOTE, note.number, _dinero_invoice(company, note, kind="creditnote"))
    _done(company, Kind.ITEM_CONSUMPTION, note.number, _consumption(company, note, "631.50"))
    _contact(company, company.customers[0])
    report = verify.check()
    assert [v for v in report.violations if "item consumption" in v] == [
        f"Chaos Lager 0: item consumption of {note.number}: Dinero has 631.50, Rackbeat -631.50"]


def test_the_guid_on_the_operation_must_be_the_document_in_dinero(company):
    invoice = _book_sale(company, SERVICE_LINE)
    _dinero_invoice(company, invoice)
    SyncOperation.objects.create(connection_id=company.connection_id, kind=Kind.SALES_INVOICE,
                                 source_key=str(invoice.number), state="done", target_id=str(uuid.uuid4()))
    _contact(company, company.customers[0])
    report = verify.check()
    assert any("is in Dinero 0 times" in v for v in report.violations)


def test_duplicate_contacts_and_unreferenced_files_are_violations(company):
    _contact(company, 3001)
    _contact(company, 3001)
    File.objects.create(organization=_org(company), name="50001.pdf", content=b"%PDF")
    report = verify.check()
    assert report.counts.contact_duplicates == 1 and report.counts.orphan_files == 1
    assert len(report.violations) == 2


def test_open_and_failed_operations_are_violations_but_undecidable_ones_are_listed(company):
    invoice = _book_sale(company, SERVICE_LINE)
    SyncOperation.objects.create(connection_id=company.connection_id, kind=Kind.SALES_INVOICE,
                                 source_key=str(invoice.number), state="needs_attention",
                                 last_error_class="VoucherOutcomeUnknown", last_error="no clear answer",
                                 hint="Look in Dinero")
    SyncOperation.objects.create(connection_id=company.connection_id, kind=Kind.CUSTOMER, source_key="3001",
                                 state="pending")
    report = verify.check()
    assert report.counts.undecided == 1 and report.counts.missing == 0
    assert len(report.undecided) == 1 and "no clear answer — Look in Dinero" in report.undecided[0]
    assert report.counts.left_open == 1
    assert any("left pending" in v for v in report.violations)


def test_expected_consumption_is_computed_from_rackbeats_stored_lines(company):
    invoice = _book_sale(company, [*STOCK_LINE, {"item_id": "RD-20", "quantity": 12, "line_price": "4.45"}])
    assert sum(line.cost_price * line.quantity for line in invoice.lines.all()) == Decimal("3") * Decimal(
        "210.50") + Decimal("12") * Decimal("1.37")
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    _contact(company, company.customers[0])
    report = verify.check()
    assert any(f"item consumption of {invoice.number}: missing" in v for v in report.violations)


@pytest.mark.parametrize(("status", "undecided"), [(429, False), (400, False), (500, True), (None, True)])
def test_an_undecided_operation_whose_create_was_refused_is_a_violation(company, status, undecided):
    from integration.core.models import HttpExchange

    invoice = _book_sale(company, STOCK_LINE)
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    _contact(company, company.customers[0])
    op = SyncOperation.objects.create(connection_id=company.connection_id, kind=Kind.ITEM_CONSUMPTION,
                                      source_key=str(invoice.number), state="needs_attention",
                                      last_error_class="VoucherOutcomeUnknown", last_error="no clear answer")
    HttpExchange.objects.create(operation=op, connection_id=company.connection_id, attempt=1, service="dinero",
                                method="POST", url="http://dinero/v1/1/vouchers/manuel", status=status)
    report = verify.check()
    assert (len(report.undecided) == 1) is undecided
    assert any("answer was definite" in v for v in report.violations) is not undecided


# --- content, not only counts: VAT per document and drafts left unbooked -------------------------------

def _book_purchase(company: world.Company, lines: list[dict]) -> rb.SupplierInvoice:
    account = _rackbeat_account(company)
    invoice = invoicing.save_invoice(account, {"supplier_id": company.suppliers[0], "lines": lines},
                                     purchase=True, notify=False)
    return invoicing.book_invoice(invoice, notify=False)


def _purchase_voucher(company: world.Company, invoice: rb.SupplierInvoice, amounts: list[str],
                      status: str = "Booked") -> Voucher:
    stored = File.objects.create(organization=_org(company), name=f"{invoice.number}.pdf", content=b"%PDF")
    reference = f"rackbeat:supplier-invoice:{invoice.number}"
    return Voucher.objects.create(
        organization=_org(company), kind=Voucher.Kind.PURCHASE, status=status, timestamp="1",
        external_reference=reference,
        data={"PurchaseType": "credit", "VoucherDate": str(invoice.invoice_date), "ExternalReference": reference,
              "FileGuid": stored.file_guid, "Lines": [
                  {"Description": "Varekøb", "AccountNumber": 2000, "Amount": float(a), "VatCode": "I25"}
                  for a in amounts]})


def test_purchase_vat_differing_from_rackbeats_with_equal_totals_is_a_vat_mismatch(company):
    invoice = _book_purchase(company, [{"item_id": "FV-100", "quantity": 1, "line_price": "0.10"}] * 3)
    assert (invoice.total_vat, invoice.total_total) == (Decimal("0.09"), Decimal("0.39"))
    _done(company, Kind.SUPPLIER_INVOICE, invoice.number, _purchase_voucher(company, invoice, ["0.39"]))
    Contact.objects.create(organization=_org(company), external_reference=f"rackbeat:supplier:{company.suppliers[0]}",
                           data={"Name": "Leverandør"})
    report = verify.check()
    assert report.counts.total_mismatches == 0 and report.counts.vat_mismatches == 1
    assert report.violations == [
        f"Chaos Lager 0: supplier invoice {invoice.number}: Dinero's VAT is 0.08, Rackbeat's 0.09 (totals 0.39 and 0.39)"]

    Voucher.objects.filter(external_reference=f"rackbeat:supplier-invoice:{invoice.number}").update(
        data={**Voucher.objects.get(external_reference=f"rackbeat:supplier-invoice:{invoice.number}").data,
              "Lines": [{"Description": "Varekøb", "AccountNumber": 2000, "Amount": 0.13, "VatCode": "I25"}] * 3})
    assert verify.check().passed


def test_a_document_left_as_a_draft_is_counted_and_a_violation(company):
    invoice = _book_sale(company, STOCK_LINE)
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    draft = _consumption(company, invoice, "631.50")
    Voucher.objects.filter(pk=draft.pk).update(status="Draft")
    _done(company, Kind.ITEM_CONSUMPTION, invoice.number, draft)
    _contact(company, company.customers[0])
    _product(company, "FV-100")
    report = verify.check()
    assert report.counts.drafts_unbooked == 1
    assert report.violations == [f"Chaos Lager 0: item consumption of {invoice.number}: left as an unbooked draft "
                                 "in Dinero (operation is done)"]



def test_a_consumption_voucher_without_its_specification_is_a_violation(company):
    invoice = _book_sale(company, STOCK_LINE)
    _done(company, Kind.SALES_INVOICE, invoice.number, _dinero_invoice(company, invoice))
    _done(company, Kind.ITEM_CONSUMPTION, invoice.number, _consumption(company, invoice, "631.50", specified=False))
    _contact(company, company.customers[0])
    _product(company, "FV-100")
    assert verify.check().violations == [
        f"Chaos Lager 0: item consumption of {invoice.number}: the consumption voucher has no specification (FileGuid)"]
