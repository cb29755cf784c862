"""Every money document is checked to the øre before it is booked (issue defects 3–6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.core.handlers import NeedsMapping, TotalsMismatch, VatMismatch
from integration.core.models import Binding, Direction, IntegrationSettings, Kind
from integration.transfers.dinero_invoices import RackbeatTotalsMismatch, transfer_dinero_invoice
from integration.transfers.sales_invoices import transfer_sales_invoice
from integration.transfers.supplier_invoices import VoucherTotalsDiffer, transfer_supplier_invoice
from mappings.models import AccountMatrixCell, DineroAccount
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    customer,
    dinero_fixture,
    line,
    rackbeat_fixture,
    run,
    sales_invoice,
    supplier_invoice,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


def _supplier(connection, rackbeat, dinero, number=5001):
    return run(transfer_supplier_invoice, connection, Kind.SUPPLIER_INVOICE, number, rackbeat, dinero)


# --- defect 3 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("second_account_code", ["none", "IEUV"], ids=["no-vat-account", "reverse-charge-account"])
def test_supplier_invoice_on_accounts_with_mixed_vat_is_never_booked_short(connection, world, rackbeat, dinero,
                                                                           second_account_code):
    # Spare parts land on an account without input VAT (a wrong matrix cell) or on a reverse-charge
    # account, though the domestic supplier charged 25 % on both lines: 135.00 for a 137.50 invoice.
    DineroAccount.objects.filter(connection=connection, number=2010).update(vat_code=second_account_code)
    rackbeat.supplier_invoices["5001"] = supplier_invoice(
        5001, [line("A-1", FINISHED_GOODS, 1, "100"), line("R-1", SPARE_PARTS, 1, "10")])
    with pytest.raises(NeedsMapping) as problem:
        _supplier(connection, rackbeat, dinero)
    assert "135.00" in problem.value.message and "137.50" in problem.value.message
    assert "2000 book purchase VAT" in problem.value.message and "2010 do not" in problem.value.message
    assert dinero.purchase_vouchers == {} and dinero.files == {}


def test_dinero_dry_run_total_differing_from_rackbeat_stops_before_anything_is_written(connection, world,
                                                                                      rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    rackbeat.pdfs["5001"] = b"%PDF-1.4"
    dinero.purchase_total_override = Decimal("100.00")  # e.g. the account's VAT code changed in Dinero
    with pytest.raises(VoucherTotalsDiffer) as problem:
        _supplier(connection, rackbeat, dinero)
    assert str(problem.value.message) == ("Supplier invoice 5001: Dinero would book 100.00 DKK, but Rackbeat's total is "
                                     "125.00 DKK (difference -25.00 DKK). Nothing was created in Dinero.")
    assert dinero.count("purchase_voucher_totals") == 1
    assert dinero.purchase_vouchers == {} and dinero.files == {} and dinero.contacts == {}



def test_dinero_dry_run_vat_differing_from_rackbeat_stops_although_the_totals_agree(connection, world,
                                                                                     rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "0.10")] * 3)
    dinero.purchase_vat_override = Decimal("0.08")  # what one line of 0.39 would have booked
    with pytest.raises(VatMismatch) as problem:
        _supplier(connection, rackbeat, dinero)
    assert str(problem.value.message).startswith("Dinero's VAT 0.08 DKK differs from Rackbeat's VAT 0.09 DKK")
    assert dinero.purchase_vouchers == {} and dinero.contacts == {}

# --- defect 6 ------------------------------------------------------------------------------------

def test_purchase_vat_is_rounded_per_line_as_rackbeat_does(connection, world, rackbeat, dinero):
    lines = [line(f"A-{n}", FINISHED_GOODS, 1, "0.10") for n in (1, 2, 3)]
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, lines)
    assert rackbeat.supplier_invoices["5001"]["total_total"] == "0.39"
    result = _supplier(connection, rackbeat, dinero)
    # One line of 0.39 would give Dinero's VAT 0.08; three of 0.13 give Rackbeat's 0.09.
    assert [vl["Amount"] for vl in dinero.purchase_vouchers[result.target_id]["Lines"]] == [0.13, 0.13, 0.13]


# --- defect 4 ------------------------------------------------------------------------------------

def test_dinero_invoice_is_compared_with_rackbeats_reread_total_before_booking(connection, world, rackbeat,
                                                                                dinero):
    IntegrationSettings.objects.filter(connection=connection).update(customer_invoices_created_in="dinero")
    contact = "0c0c0c0c-0000-4000-8000-00000000000c"
    rackbeat.customers["501"] = customer(zone="eu")  # Rackbeat charges no VAT, Dinero charged 25 %
    Binding.objects.create(connection=connection, kind=Kind.CUSTOMER, rackbeat_key="501", dinero_id=contact)
    invoice = dinero.add_booked_invoice(contact_guid=contact, lines=[
        {"Description": "Montage", "Quantity": 1, "BaseAmountValue": 100, "Discount": 0, "AccountNumber": 1000,
         "Unit": "hours", "LineType": "Product"}])
    with pytest.raises(RackbeatTotalsMismatch) as problem:
        run(transfer_dinero_invoice, connection, Kind.SALES_INVOICE, invoice["Guid"], rackbeat, dinero,
            direction=Direction.TO_RACKBEAT)
    assert "100.00" in problem.value.message and "125.00" in problem.value.message
    (created,) = rackbeat.customer_invoices.values()
    assert not created["is_booked"]
    assert rackbeat.count("book_customer_invoice") == 0


# --- defect 5 ------------------------------------------------------------------------------------

def test_credit_note_draft_is_updated_after_the_fix_like_an_invoice_draft(connection, world, rackbeat, dinero):
    dinero.vat_rates[1000] = Decimal("0")  # the revenue account's VAT code is wrong in Dinero
    rackbeat.customer_invoices["1002"] = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 1, "100")],
                                                       credit_note=True)
    with pytest.raises(TotalsMismatch):
        run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)
    (draft,) = dinero.credit_notes.values()

    # The account is corrected (another revenue account with VAT): Retry updates the same draft.
    AccountMatrixCell.objects.filter(connection=connection, matrix="revenue", product_group_number=FINISHED_GOODS,
                                     vat_zone="domestic").update(account_number=1300)
    IntegrationSettings.objects.filter(connection=connection).update(sales_invoice_status="booked")
    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)
    assert result.target_id == draft["Guid"] and len(dinero.credit_notes) == 1
    note = dinero.credit_notes[draft["Guid"]]
    assert note["Status"] == "Booked" and note["ProductLines"][0]["AccountNumber"] == 1300
    assert dinero.count("update_credit_note") == 1
