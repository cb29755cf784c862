"""Item consumption: one booked manual voucher per booked sales invoice, never two."""

from __future__ import annotations

import pytest

from integration.core.clients.errors import UncertainOutcome
from integration.core.handlers import NeedsMapping, SkipTransfer
from integration.core.models import IntegrationSettings, Kind, SyncOperation
from integration.transfers.consumption import book_item_consumption
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    dinero_fixture,
    line,
    operation,
    rackbeat_fixture,
    run,
    sales_invoice,
    text_line,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


@pytest.fixture(autouse=True)
def consumption_on(world):
    IntegrationSettings.objects.filter(connection=world.connection).update(item_consumption_enabled=True)


def _run(connection, rackbeat, dinero, number=1001):
    return run(book_item_consumption, connection, Kind.ITEM_CONSUMPTION, number, rackbeat, dinero)


def test_consumption_voucher_debits_consumption_and_credits_stock(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [
        line("A-1", FINISHED_GOODS, 3, "100", cost="41.335"),
        line("R-1", SPARE_PARTS, "1.5", "20", cost="10"),
        line("SERVICE", SPARE_PARTS, 2, "500", stock=False, cost="300"),
        text_line("Tak for handlen"),
    ])
    result = _run(connection, rackbeat, dinero)
    voucher = dinero.manual_vouchers[result.target_id]
    assert voucher["Status"] == "Booked"
    assert voucher["VoucherDate"] == "2026-03-31"
    assert voucher["ExternalReference"] == "rackbeat:consumption:1001"
    sent_lines = [{k: v for k, v in line.items() if not k.endswith("Value")} for line in voucher["Lines"]]
    assert sent_lines == [{
        "Description": "Vareforbrug faktura 1001", "AccountNumber": 1600, "BalancingAccountNumber": 58100,
        "Amount": 139.01, "AccountVatCode": "none", "BalancingAccountVatCode": "none",
    }]
    assert voucher["Lines"][0]["AmountInclVatValue"] == 139.01 and "139.01 DKK" in result.outcome


def test_credit_note_reverses_the_consumption(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1002"] = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")],
                                                       credit_note=True, credited=1001)
    result = _run(connection, rackbeat, dinero, 1002)
    (voucher_line,) = dinero.manual_vouchers[result.target_id]["Lines"]
    assert voucher_line["Amount"] == -80
    assert voucher_line["Description"] == "Vareforbrug kreditnota 1002"


def test_invoice_without_stock_lines_is_skipped_with_reason(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("S", SPARE_PARTS, 1, "10", stock=False)])
    with pytest.raises(SkipTransfer, match="no stock-tracked lines"):
        _run(connection, rackbeat, dinero)
    assert dinero.manual_vouchers == {}


def test_disabled_consumption_is_skipped(connection, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=False)
    with pytest.raises(SkipTransfer, match="off"):
        _run(connection, rackbeat, dinero)


def test_missing_accounts_need_attention(connection, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(stock_account=None)
    with pytest.raises(NeedsMapping, match="stock account"):
        _run(connection, rackbeat, dinero)


def test_stock_line_without_cost_price_needs_attention(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10", cost=None)])
    with pytest.raises(NeedsMapping, match="without a cost price"):
        _run(connection, rackbeat, dinero)


def test_zero_or_missing_cost_prices_stop_the_consumption_naming_every_item(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [
        line("A-1", FINISHED_GOODS, 1, "10", cost="0"), line("A-2", FINISHED_GOODS, 2, "10", cost="4.00"),
        line("A-3", FINISHED_GOODS, 1, "10", cost=None)])
    with pytest.raises(NeedsMapping) as problem:
        _run(connection, rackbeat, dinero)
    assert "stock items without a cost price (missing or 0): A-1 (line 1 (Vare A-1)), A-3 (line 3 (Vare A-3))" \
        in problem.value.message
    assert dinero.manual_vouchers == {}


def test_all_cost_prices_zero_is_not_skipped_silently(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "10", cost=0)])
    with pytest.raises(NeedsMapping, match="A-1"):
        _run(connection, rackbeat, dinero)
    assert dinero.manual_vouchers == {}


def test_booking_is_resumed_not_reposted(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.fail_after_write.add("book_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    _run(connection, rackbeat, dinero)
    assert dinero.count("create_manual_voucher") == 1 and dinero.count("book_manual_voucher") == 1


def test_lost_create_answer_is_resolved_by_the_file_never_posted_twice(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.fail_after_write.add("create_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    result = _run(connection, rackbeat, dinero)
    (voucher,) = dinero.manual_vouchers.values()
    assert result.target_id == voucher["Guid"] and voucher["Status"] == "Booked"
    assert dinero.count("create_manual_voucher") == 1 and dinero.count("voucher_with_file") == 1


def test_lost_create_answer_that_wrote_nothing_is_posted_once_after_dinero_says_so(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.refuse_once["create_manual_voucher"] = UncertainOutcome("timeout", service="dinero")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    _run(connection, rackbeat, dinero)
    (voucher,) = dinero.manual_vouchers.values()
    assert voucher["FileGuid"] in dinero.files and len(dinero.files) == 1


def test_draft_found_by_its_file_is_brought_to_rackbeats_figures_before_it_is_booked(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")])
    dinero.fail_after_write.add("create_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 6, "100", cost="40")])
    result = _run(connection, rackbeat, dinero)
    (voucher,) = dinero.manual_vouchers.values()
    # Found by its file, compared with Rackbeat's invoice as it is now (6 × 40, not 2 × 40), updated, then booked.
    assert voucher["Status"] == "Booked" and "240.00 DKK" in result.outcome
    assert dinero.count("update_manual_voucher") == 1 and dinero.count("create_manual_voucher") == 1
    assert voucher["FileGuid"] in dinero.files


def test_consumption_reads_the_invoice_when_nothing_was_handed_over(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "100", cost="40")])
    _run(connection, rackbeat, dinero)
    assert rackbeat.calls.count(("get_customer_invoice", "1001")) == 1


def _handed_over(connection, invoice):
    operation(connection, Kind.ITEM_CONSUMPTION, invoice["number"])
    SyncOperation.objects.filter(connection=connection, kind=Kind.ITEM_CONSUMPTION).update(handed_over=invoice)


def test_the_invoice_handed_over_by_its_transfer_is_used_without_reading_rackbeat(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "100", cost="40")])
    _handed_over(connection, rackbeat.customer_invoices["1001"])
    result = _run(connection, rackbeat, dinero)
    assert rackbeat.calls.count(("get_customer_invoice", "1001")) == 0
    assert dinero.manual_vouchers[result.target_id]["Status"] == "Booked" and "120.00 DKK" in result.outcome


def test_a_try_after_an_unanswered_create_compares_with_rackbeat_not_with_the_copy(connection, rackbeat, dinero):
    """Rule 13: once a voucher may exist in Dinero, the copy handed over is no longer what is compared."""
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")])
    _handed_over(connection, rackbeat.customer_invoices["1001"])
    dinero.fail_after_write.add("create_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    assert rackbeat.calls.count(("get_customer_invoice", "1001")) == 0
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 6, "100", cost="40")])
    result = _run(connection, rackbeat, dinero)
    assert rackbeat.calls.count(("get_customer_invoice", "1001")) == 1
    (voucher,) = dinero.manual_vouchers.values()
    assert voucher["Status"] == "Booked" and "240.00 DKK" in result.outcome


# --- Rackbeat's own cost total, and lines in another unit ------------------------------------------

def test_consumption_stops_when_rackbeats_total_cost_disagrees_with_the_lines(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "100", cost="40")],
                                                       total_cost="130.00")
    with pytest.raises(NeedsMapping) as stopped:
        _run(connection, rackbeat, dinero)
    assert ("Invoice 1001: Rackbeat's total cost (total_cost) is 130.00 DKK, but its lines give 120.00 DKK "
            "(unit cost × quantity over 1 lines with an item).") in stopped.value.message
    assert "no consumption voucher was booked" in stopped.value.message
    assert "book the consumption by hand in Dinero" in stopped.value.hint
    assert dinero.manual_vouchers == {}


@pytest.mark.parametrize("total_cost", ["20.01", "20.02"])
def test_total_cost_rounded_as_a_whole_or_line_by_line_agrees(connection, rackbeat, dinero, total_cost):
    # 10.005 + 10.005: 20.01 rounded as a whole, 20.02 rounded line by line; Rackbeat may do either.
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [
        line("A-1", FINISHED_GOODS, 1, "100", cost="10.005"), line("A-2", FINISHED_GOODS, 1, "100", cost="10.005"),
    ], total_cost=total_cost)
    result = _run(connection, rackbeat, dinero)
    assert dinero.manual_vouchers[result.target_id]["Lines"][0]["Amount"] == 20.01


def test_credit_notes_negative_total_cost_is_compared_in_dinero_direction(connection, rackbeat, dinero):
    note = sales_invoice(1002, [line("A-1", FINISHED_GOODS, -2, "100", cost="40")], credit_note=True,
                         total_cost="-80.00")
    rackbeat.customer_invoices["1002"] = note
    result = _run(connection, rackbeat, dinero, 1002)
    assert dinero.manual_vouchers[result.target_id]["Lines"][0]["Amount"] == -80


def _box_line(quantity: int, cost: str) -> dict:
    boxed = line("A-1", FINISHED_GOODS, quantity, "1200", cost=cost)
    boxed["unit"] = {"number": "2", "name": "kasse"}   # the product's own unit is 1 (stk)
    return boxed


def test_a_line_in_an_alternative_unit_consumes_the_base_units_it_holds(connection, rackbeat, dinero):
    rackbeat.products["A-1"] = {**_box_line(1, "40")["item"], "unit": {"number": "1", "name": "stk"}}
    rackbeat.product_units["A-1"] = [{"unit": {"number": 2, "name": "kasse"}, "name": "kasse", "quantity": 12}]
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [_box_line(2, "40")], total_cost="960.00")

    result = _run(connection, rackbeat, dinero)

    assert dinero.manual_vouchers[result.target_id]["Lines"][0]["Amount"] == 960   # 2 boxes × 12 × 40
    assert ("get_product_units", "A-1") in rackbeat.calls


def test_a_unit_rackbeat_does_not_explain_is_taken_as_written(connection, rackbeat, dinero):
    rackbeat.products["A-1"] = {**_box_line(1, "40")["item"], "unit": {"number": "1", "name": "stk"}}
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [_box_line(2, "40")])

    result = _run(connection, rackbeat, dinero)

    assert dinero.manual_vouchers[result.target_id]["Lines"][0]["Amount"] == 80
