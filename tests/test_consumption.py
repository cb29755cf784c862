"""Item consumption: one booked manual voucher per booked sales invoice, never two."""

from __future__ import annotations

import pytest

from integration.core.clients.errors import UncertainOutcome
from integration.core.handlers import NeedsMapping, SkipTransfer
from integration.core.models import IntegrationSettings, Kind
from integration.transfers.consumption import VoucherDiffers, book_item_consumption
from integration.transfers.supplier_invoices import VoucherOutcomeUnknown
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    dinero_fixture,
    line,
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
    assert voucher["Lines"] == [{
        "Description": "Vareforbrug faktura 1001", "AccountNumber": 1600, "BalancingAccountNumber": 58100,
        "Amount": 139.01, "AccountVatCode": "none", "BalancingAccountVatCode": "none",
    }]


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


def test_draft_found_by_its_file_is_compared_before_it_is_booked(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")])
    dinero.fail_after_write.add("create_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 6, "100", cost="40")])
    with pytest.raises(VoucherDiffers) as stopped:
        _run(connection, rackbeat, dinero)
    assert "80.00 DKK" in stopped.value.message and "240.00 DKK" in stopped.value.message
    (voucher,) = dinero.manual_vouchers.values()
    assert voucher["Status"] == "Draft"


def test_lost_create_without_a_file_still_goes_to_a_person(connection, rackbeat, dinero):
    from integration.core.models import SyncOperation

    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.fail_after_write.add("create_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    op = SyncOperation.objects.get(kind=Kind.ITEM_CONSUMPTION)
    SyncOperation.objects.filter(pk=op.pk).update(intent={**op.intent, "file_guid": ""})  # Dinero cannot answer
    with pytest.raises(VoucherOutcomeUnknown, match="no clear answer"):
        _run(connection, rackbeat, dinero)
    assert dinero.count("create_manual_voucher") == 1


def test_consumption_voucher_carries_its_specification(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "100", cost="41.335")])
    result = _run(connection, rackbeat, dinero)
    voucher = dinero.manual_vouchers[result.target_id]
    name, content = dinero.files[voucher["FileGuid"]]
    assert name == "rackbeat-consumption-1001.pdf" and content.startswith(b"%PDF")
    for text in (b"A-1", b"41.335", b"124.01", b"Vareforbrug"):
        assert text in content, text


def test_consumption_reuses_the_invoice_its_transfer_read_one_rackbeat_read_per_invoice(connection, rackbeat, dinero):
    from integration.transfers.sales_invoices import transfer_sales_invoice

    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "100", cost="40")])
    invoice = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1001, rackbeat, dinero)
    assert invoice.follow_ups == [(Kind.ITEM_CONSUMPTION.value, "to_dinero", "1001")]
    result = _run(connection, rackbeat, dinero)
    assert dinero.manual_vouchers[result.target_id]["Status"] == "Booked"
    assert rackbeat.calls.count(("get_customer_invoice", "1001")) == 1
    # Done with it: a later consumption run (a person's retry) reads Rackbeat afresh.
    from integration.transfers.shared_reads import recall_customer_invoice

    assert recall_customer_invoice(connection.pk, "1001") is None


def test_consumption_reads_the_invoice_when_nothing_was_handed_over(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 3, "100", cost="40")])
    _run(connection, rackbeat, dinero)
    assert rackbeat.calls.count(("get_customer_invoice", "1001")) == 1


def test_a_found_draft_that_differs_is_compared_again_on_retry(connection, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")])
    dinero.fail_after_write.add("create_manual_voucher")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 6, "100", cost="40")])
    for _attempt in range(2):
        with pytest.raises(VoucherDiffers):
            _run(connection, rackbeat, dinero)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")])
    result = _run(connection, rackbeat, dinero)
    assert dinero.manual_vouchers[result.target_id]["Status"] == "Booked"
    assert dinero.count("create_manual_voucher") == 1
