"""Booked Rackbeat supplier invoices → Dinero credit purchase vouchers, amounts as Dinero expects them."""

from __future__ import annotations

import pytest

from integration.core.clients.errors import UncertainOutcome
from integration.core.handlers import NeedsMapping, SkipTransfer
from integration.core.lifecycle import intent_for_post_now
from integration.core.models import IntegrationSettings, Kind, SyncOperation
from integration.transfers.supplier_invoices import VoucherOutcomeUnknown, transfer_supplier_invoice
from mappings.models import DineroAccount
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    dinero_fixture,
    line,
    rackbeat_fixture,
    run,
    supplier,
    supplier_invoice,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


def _run(connection, rackbeat, dinero, number=5001):
    return run(transfer_supplier_invoice, connection, Kind.SUPPLIER_INVOICE, number, rackbeat, dinero)


def test_domestic_supplier_invoice_becomes_credit_voucher_with_vat_inclusive_amounts(
        connection, world, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(
        5001, [line("A-1", FINISHED_GOODS, 10, "8.00"), line("A-2", FINISHED_GOODS, 1, "20"),
               line("R-1", SPARE_PARTS, 2, "5")])
    rackbeat.pdfs["5001"] = b"%PDF-1.4 supplier invoice"
    result = _run(connection, rackbeat, dinero)

    voucher = dinero.purchase_vouchers[result.target_id]
    assert voucher["PurchaseType"] == "credit"
    assert voucher["VoucherDate"] == "2026-03-20" and voucher["PaymentDate"] == "2026-04-19"
    assert voucher["CurrencyKey"] == "DKK"
    assert voucher["ExternalReference"] == "rackbeat:supplier-invoice:5001"
    assert voucher["FileGuid"] in dinero.files
    # One voucher line per Rackbeat line, so Dinero's VAT of each is Rackbeat's.
    assert [(vl["AccountNumber"], vl["Amount"], vl["VatCode"]) for vl in voucher["Lines"]] == [
        (2000, 100, "I25"), (2000, 25, "I25"), (2010, 12.5, "I25")]
    assert voucher["Lines"][0]["Description"] == "Vare A-1 – faktura L-5001"
    assert voucher["Status"] == "Draft"
    assert SyncOperation.objects.get(kind=Kind.SUPPLIER_INVOICE).intent["voucher_guid"] == result.target_id


def test_eu_supplier_amounts_exclude_vat(connection, world, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(
        5001, [line("A-1", FINISHED_GOODS, 3, "33.33", vat=0)], supp=supplier(zone="eu"))
    result = _run(connection, rackbeat, dinero)
    (voucher_line,) = dinero.purchase_vouchers[result.target_id]["Lines"]
    assert (voucher_line["AccountNumber"], voucher_line["Amount"], voucher_line["VatCode"]) == (2050, 99.99, "IEUV")
    assert "No PDF" in result.outcome


def test_booked_setting_books_the_voucher(connection, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(supplier_invoice_status="booked")
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    result = _run(connection, rackbeat, dinero)
    voucher = dinero.purchase_vouchers[result.target_id]
    assert voucher["Status"] == "Booked"
    assert result.target_number == str(voucher["VoucherNumber"])


def test_supplier_integration_off_skips(connection, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(supplier_integration_enabled=False)
    with pytest.raises(SkipTransfer, match="supplier integration is off"):
        _run(connection, rackbeat, dinero)


def test_unbooked_supplier_invoice_is_skipped(connection, world, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "1")], booked=False)
    with pytest.raises(SkipTransfer, match="not booked"):
        _run(connection, rackbeat, dinero)


def test_unmapped_group_for_abroad_supplier_names_the_cell(connection, world, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(
        5001, [line("R-1", SPARE_PARTS, 1, "10", vat=0)], supp=supplier(zone="abroad"))
    with pytest.raises(NeedsMapping) as problem:
        _run(connection, rackbeat, dinero)
    assert problem.value.fix_url.endswith(f"#cell-{SPARE_PARTS}-abroad")
    assert dinero.purchase_vouchers == {} and dinero.contacts == {}


def test_account_vat_code_that_contradicts_the_invoice_vat_stops_it(connection, world, rackbeat, dinero):
    # The domestic account books no purchase VAT, but Rackbeat's invoice carries 25 % VAT.
    DineroAccount.objects.filter(connection=connection, number=2000).update(vat_code="none")
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    with pytest.raises(NeedsMapping, match="book no purchase VAT"):
        _run(connection, rackbeat, dinero)


def test_uncertain_create_is_not_repeated_blindly(connection, world, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    dinero.fail_after_write.add("create_purchase_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    with pytest.raises(VoucherOutcomeUnknown) as problem:
        _run(connection, rackbeat, dinero)
    assert "rackbeat:supplier-invoice:5001" in problem.value.hint and "125.00" in problem.value.hint
    assert dinero.count("create_purchase_voucher") == 1

    # Another attempt (a Retry, a later poll) looks again but never posts on its own.
    with pytest.raises(VoucherOutcomeUnknown):
        _run(connection, rackbeat, dinero)
    assert dinero.count("create_purchase_voucher") == 1

    # A person checked Dinero, found nothing, and chose "It is not there: post it now".
    dinero.purchase_vouchers.clear()
    op = SyncOperation.objects.get(kind=Kind.SUPPLIER_INVOICE)
    SyncOperation.objects.filter(pk=op.pk).update(intent=intent_for_post_now(op.intent, "accountant"))
    result = _run(connection, rackbeat, dinero)
    assert result.target_id in dinero.purchase_vouchers
    assert dinero.count("create_purchase_voucher") == 2


def test_retry_after_booking_failure_books_the_stored_voucher(connection, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(supplier_invoice_status="booked")
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    dinero.fail_after_write.add("book_purchase_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    result = _run(connection, rackbeat, dinero)
    assert dinero.count("create_purchase_voucher") == 1 and dinero.count("book_purchase_voucher") == 1
    assert dinero.purchase_vouchers[result.target_id]["Status"] == "Booked"


def test_supplier_invoice_without_invoice_date_stops_naming_the_field(connection, world, rackbeat, dinero):
    invoice = supplier_invoice(5001, [line("FV-1", FINISHED_GOODS, 1, "100")])
    invoice.pop("invoice_date", None)
    rackbeat.supplier_invoices["5001"] = invoice
    with pytest.raises(NeedsMapping) as problem:
        _run(connection, rackbeat, dinero)
    assert "Rackbeat sent no invoice date: the field invoice_date is missing" in str(problem.value)
    assert dinero.purchase_vouchers == {}
