"""Booked Rackbeat sales invoices and credit notes arrive in Dinero exactly once, on the right accounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.core.clients.errors import UncertainOutcome
from integration.core.handlers import NeedsMapping, SkipTransfer, TotalsMismatch
from integration.core.models import Binding, Direction, IntegrationSettings, Kind, SyncOperation
from integration.transfers.booking_check import DocumentDiffers
from integration.transfers.sales_invoices import transfer_sales_invoice
from mappings.models import AccountMatrixCell
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    customer,
    dinero_fixture,
    line,
    operation,
    rackbeat_fixture,
    run,
    sales_invoice,
    text_line,
    world_fixture,
)

# Importing the fixture functions registers the fixtures ``world``, ``dinero`` and ``rackbeat``.
USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


def _run(connection, rackbeat, dinero, number=1001):
    return run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, number, rackbeat, dinero)


def _set_status(connection, status):
    IntegrationSettings.objects.filter(connection=connection).update(sales_invoice_status=status)


def test_booked_invoice_becomes_draft_with_our_guid_and_reference(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "100.00")])
    result = _run(connection, rackbeat, dinero)

    op = SyncOperation.objects.get(connection=connection, kind=Kind.SALES_INVOICE, source_key="1001")
    invoice = dinero.invoices[result.target_id]
    assert invoice["Guid"] == op.intent["dinero_guid"] == result.target_id
    assert invoice["ExternalReference"] == "rackbeat:customer-invoice:1001"
    assert invoice["Description"] == "Faktura 1001"
    assert invoice["Date"] == "2026-03-31"
    assert invoice["Language"] == "da-DK"
    assert invoice["PaymentConditionType"] == "Netto" and invoice["PaymentConditionNumberOfDays"] == 14
    assert invoice["Status"] == "Draft"
    assert invoice["ProductLines"] == [{
        "LineType": "Product", "Quantity": 2, "BaseAmountValue": 100, "Discount": 0, "Unit": "parts",
        "AccountNumber": 1000, "Description": "Vare A-1", "TotalAmount": 200.0,
    }]
    assert "draft" in result.outcome
    assert Binding.objects.filter(connection=connection, kind=Kind.CUSTOMER, rackbeat_key="501").exists()


def test_bound_product_is_sent_as_product_guid_without_description(connection, world, rackbeat, dinero):
    Binding.objects.create(connection=connection, kind=Kind.PRODUCT, rackbeat_key="A-1",
                           dinero_id="5d3f2d5e-0000-4000-8000-000000000001")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "50")])
    result = _run(connection, rackbeat, dinero)
    product_line = dinero.invoices[result.target_id]["ProductLines"][0]
    assert product_line["ProductGuid"] == "5d3f2d5e-0000-4000-8000-000000000001"
    assert product_line["Description"] is None


def test_booked_setting_books_and_reports_dinero_number(connection, world, rackbeat, dinero):
    _set_status(connection, IntegrationSettings.SalesInvoiceStatus.BOOKED)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "19.99")])
    result = _run(connection, rackbeat, dinero)
    invoice = dinero.invoices[result.target_id]
    assert invoice["Status"] == "Booked"
    assert result.target_number == str(invoice["Number"])
    assert dinero.emails == []


def test_booked_and_emailed_setting_emails_the_customer_once(connection, world, rackbeat, dinero):
    _set_status(connection, IntegrationSettings.SalesInvoiceStatus.BOOKED_EMAILED)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    result = _run(connection, rackbeat, dinero)
    assert dinero.emails == [result.target_id]
    assert "e-mailed" in result.outcome
    _run(connection, rackbeat, dinero)
    assert dinero.emails == [result.target_id]
    assert len(dinero.invoices) == 1


def test_two_product_groups_land_on_their_revenue_accounts(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(
        1001, [line("A-1", FINISHED_GOODS, 1, "100"), line("R-7", SPARE_PARTS, 4, "12.50")])
    result = _run(connection, rackbeat, dinero)
    accounts = [pl["AccountNumber"] for pl in dinero.invoices[result.target_id]["ProductLines"]]
    assert accounts == [1000, 1300]


def test_unbooked_invoice_is_skipped_with_reason(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "1")], booked=False)
    with pytest.raises(SkipTransfer, match="not booked"):
        _run(connection, rackbeat, dinero)
    assert dinero.invoices == {}


def test_invoices_created_in_dinero_switch_off_the_rackbeat_path(connection, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(customer_invoices_created_in="dinero")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "1")])
    with pytest.raises(SkipTransfer, match="created in Dinero"):
        _run(connection, rackbeat, dinero)
    assert rackbeat.count("get_customer_invoice") == 0


def test_customer_integration_off_skips_but_still_books_consumption(connection, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(
        customer_integration_enabled=False, item_consumption_enabled=True)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "1")])
    result = _run(connection, rackbeat, dinero)
    assert result.skipped
    assert result.follow_ups == [(Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, "1001")]
    assert dinero.invoices == {}


def test_consumption_follow_up_only_when_enabled(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "1")])
    assert _run(connection, rackbeat, dinero).follow_ups == []
    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=True)
    rackbeat.customer_invoices["1002"] = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 1, "1")])
    assert _run(connection, rackbeat, dinero, 1002).follow_ups == [
        (Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, "1002")]


def test_unmapped_vat_zone_stops_invoice_with_hint_and_retry_completes_it(connection, world, rackbeat, dinero):
    cust = customer(zone="abroad")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10", vat=0)], cust=cust)
    with pytest.raises(NeedsMapping) as problem:
        _run(connection, rackbeat, dinero)
    assert "Färdiga varor" in problem.value.message
    assert problem.value.fix_url.endswith(f"#cell-{FINISHED_GOODS}-abroad")
    assert dinero.invoices == {} and dinero.contacts == {}

    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number=FINISHED_GOODS,
                                     vat_zone="abroad", account_number=1100)
    result = _run(connection, rackbeat, dinero)
    assert dinero.invoices[result.target_id]["ProductLines"][0]["AccountNumber"] == 1100


def test_every_missing_mapping_is_named_at_once(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(
        1001, [line("A-1", FINISHED_GOODS, 1, "10", unit="99"), line("Z-1", "77", 1, "5")],
        cust=customer(layout=42))
    with pytest.raises(NeedsMapping) as problem:
        _run(connection, rackbeat, dinero)
    message = problem.value.message
    assert "unit 99" in message and "product group 77" in message and "layout 42" in message


def test_totals_difference_leaves_draft_and_shows_both_figures(connection, world, rackbeat, dinero):
    # Dinero's account 1000 carries no VAT here, Rackbeat charged 25 %.
    dinero.vat_rates[1000] = Decimal("0")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "100")])
    with pytest.raises(TotalsMismatch) as problem:
        _run(connection, rackbeat, dinero)
    assert problem.value.rackbeat_total == Decimal("125.00")
    assert problem.value.dinero_total == Decimal("100.00")
    assert "125.00" in problem.value.message and "100.00" in problem.value.message
    (draft,) = dinero.invoices.values()
    assert draft["Status"] == "Draft"

    # After the cause is fixed, Retry updates the same draft instead of creating another.
    dinero.vat_rates[1000] = Decimal("25")
    _set_status(connection, IntegrationSettings.SalesInvoiceStatus.BOOKED)
    result = _run(connection, rackbeat, dinero)
    assert result.target_id == draft["Guid"]
    assert len(dinero.invoices) == 1 and dinero.invoices[draft["Guid"]]["Status"] == "Booked"



def test_vat_difference_with_equal_totals_leaves_draft_and_shows_both_vat_figures(connection, world, rackbeat,
                                                                                  dinero):
    _set_status(connection, IntegrationSettings.SalesInvoiceStatus.BOOKED)
    dinero.sales_vat_shift = Decimal("0.01")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "0.10")])
    with pytest.raises(DocumentDiffers) as problem:
        _run(connection, rackbeat, dinero)
    # The totals agree; the VAT does not, and the stop names both.
    assert problem.value.rackbeat_total == problem.value.dinero_total
    assert "VAT 0.08 DKK" in problem.value.message and "VAT 0.09 DKK" in problem.value.message
    (draft,) = dinero.invoices.values()
    assert draft["Status"] == "Draft" and draft["TotalInclVat"] == 0.38

def test_uncertain_create_is_looked_up_not_posted_again(connection, world, rackbeat, dinero):
    _set_status(connection, IntegrationSettings.SalesInvoiceStatus.BOOKED)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.fail_after_write.add("create_invoice")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    guid = SyncOperation.objects.get(kind=Kind.SALES_INVOICE, source_key="1001").intent["dinero_guid"]
    assert guid in dinero.invoices

    result = _run(connection, rackbeat, dinero)
    assert result.target_id == guid
    assert dinero.count("create_invoice") == 1
    assert dinero.invoices[guid]["Status"] == "Booked"


def test_uncertain_booking_does_not_book_twice(connection, world, rackbeat, dinero):
    _set_status(connection, IntegrationSettings.SalesInvoiceStatus.BOOKED)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.fail_after_write.add("book_invoice")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    result = _run(connection, rackbeat, dinero)
    assert dinero.count("book_invoice") == 1
    assert result.target_number == str(dinero.invoices[result.target_id]["Number"])


def test_text_line_without_amount_becomes_dinero_text_line(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(
        1001, [text_line("Levering uge 14"), line("A-1", FINISHED_GOODS, 1, "10")])
    result = _run(connection, rackbeat, dinero)
    text = dinero.invoices[result.target_id]["ProductLines"][0]
    assert text["LineType"] == "Text" and text["Description"] == "Levering uge 14"
    assert text["AccountNumber"] == 1000


def test_free_line_with_amount_stops_instead_of_guessing_an_account(connection, world, rackbeat, dinero):
    free = {**text_line("Fragt"), "quantity": 1, "line_price": "49.00", "vat_percentage": 25}
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10"), free])
    with pytest.raises(NeedsMapping, match=r"Fragt.*no product"):
        _run(connection, rackbeat, dinero)


def test_english_layout_gives_english_invoice(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")],
                                                       cust=customer(layout=2), currency="EUR")
    result = _run(connection, rackbeat, dinero)
    invoice = dinero.invoices[result.target_id]
    assert invoice["Language"] == "en-GB" and invoice["Description"] == "Invoice 1001"
    assert invoice["Currency"] == "EUR"


def test_credit_note_is_linked_to_the_transferred_original(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "10")])
    original = _run(connection, rackbeat, dinero)
    SyncOperation.objects.filter(kind=Kind.SALES_INVOICE, source_key="1001").update(
        state=SyncOperation.State.DONE, target_id=original.target_id)

    rackbeat.customer_invoices["1002"] = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 1, "10")],
                                                       credit_note=True, credited=1001)
    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)
    note = dinero.credit_notes[result.target_id]
    assert note["CreditNoteFor"] == original.target_id
    assert note["Description"] == "Kreditnota 1002"
    assert "PaymentConditionType" not in note
    assert "Linked" in result.outcome


def test_credit_note_without_transferred_original_says_so(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1002"] = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 1, "10")],
                                                       credit_note=True, credited=999)
    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)
    assert "CreditNoteFor" not in dinero.credit_notes[result.target_id]
    assert "Not linked" in result.outcome and "999" in result.outcome


def test_existing_contact_found_by_external_reference_is_reused(connection, world, rackbeat, dinero):
    dinero.contacts["c0ffee00-0000-4000-8000-000000000001"] = {
        "ContactGuid": "c0ffee00-0000-4000-8000-000000000001", "ExternalReference": "rackbeat:customer:501"}
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    result = _run(connection, rackbeat, dinero)
    assert dinero.invoices[result.target_id]["ContactGuid"] == "c0ffee00-0000-4000-8000-000000000001"
    assert dinero.count("create_contact") == 0


def test_other_connection_mappings_are_not_used(connection, other_connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    IntegrationSettings.objects.update_or_create(connection=other_connection,
                                                 defaults={"customer_integration_enabled": True})
    with pytest.raises(NeedsMapping):
        _run(other_connection, rackbeat, dinero)
    assert operation(other_connection, Kind.SALES_INVOICE, 1001).intent == {}
