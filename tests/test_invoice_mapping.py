"""The pure invoice mappers: money rules, dates, purchase amounts, needs-attention messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.core.handlers import NeedsMapping
from integration.transfers.invoice_mapping import (
    AccountVat,
    SalesMappings,
    SupplierMappings,
    TotalsNotReproducible,
    consumption_amount,
    document_date,
    json_number,
    line_total,
    map_sales_invoice,
    map_supplier_invoice,
    purchase_amount_includes_vat,
    purchase_line_amount,
)
from tests.invoice_fixtures import FINISHED_GOODS, line, sales_invoice, supplier, supplier_invoice


def mappings(**overrides) -> SalesMappings:
    values = {
        "revenue_account": lambda group, zone: {"10": 1000, "20": 1300}[group],
        "dinero_unit": lambda unit: "parts",
        "dinero_language": lambda layout: "da-DK",
        "product_guid": lambda kind, number: None,
    }
    values.update(overrides)
    return SalesMappings(**values)


def test_line_total_rounds_half_up_to_ore():
    assert line_total(Decimal("1"), Decimal("0.125"), Decimal("0")) == Decimal("0.13")
    assert line_total(Decimal("3"), Decimal("33.335"), Decimal("10")) == Decimal("90.00")
    assert line_total(Decimal("0.333"), Decimal("10"), Decimal("0")) == Decimal("3.33")


def test_json_number_keeps_whole_numbers_integral_and_decimals_exact():
    assert json_number(Decimal("100.00")) == 100 and isinstance(json_number(Decimal("100.00")), int)
    assert repr(json_number(Decimal("19.99"))) == "19.99"


def test_document_date_is_taken_as_written_never_shifted():
    assert document_date("2026-03-31T23:30:00+02:00", "invoice date").isoformat() == "2026-03-31"
    assert document_date("2026-01-01 00:10:00", "invoice date").isoformat() == "2026-01-01"
    with pytest.raises(NeedsMapping, match="not a date"):
        document_date("31/03/2026", "invoice date")


@pytest.mark.parametrize(("code", "inclusive"), [
    ("I25", True), ("i25", True), ("IEUV", False), ("IEUY", False), ("IVV", False), ("IVY", False),
    ("U25", False), ("none", False), ("", False), (None, False), ("I50REP", True),
])
def test_purchase_amount_includes_vat_only_for_domestic_purchase_codes(code, inclusive):
    assert purchase_amount_includes_vat(code) is inclusive


def test_purchase_line_amount_adds_the_code_rate_for_domestic_purchase_vat():
    assert purchase_line_amount(Decimal("99.99"), "I25", Decimal("0.25")) == Decimal("124.99")
    assert purchase_line_amount(Decimal("99.99"), "I25", Decimal("25")) == Decimal("124.99")
    assert purchase_line_amount(Decimal("99.99"), "IEUV", Decimal("0.25")) == Decimal("99.99")


def test_rackbeat_total_that_cannot_be_reproduced_needs_attention_with_both_figures():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 1, "10")])
    invoice["total_total"] = "12.51"
    with pytest.raises(TotalsNotReproducible) as problem:
        map_sales_invoice(invoice, mappings(), contact_guid=None, dinero_guid=None)
    assert "12.50" in problem.value.message and "12.51" in problem.value.message


def test_subtotal_difference_is_reported_before_anything_is_sent():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 3, "0.335")])
    invoice["total_subtotal"] = "1.00"
    with pytest.raises(TotalsNotReproducible, match="subtotal"):
        map_sales_invoice(invoice, mappings(), contact_guid=None, dinero_guid=None)


def test_discount_outside_0_to_100_is_named():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 1, "10", discount=120)])
    with pytest.raises(NeedsMapping, match="outside 0–100"):
        map_sales_invoice(invoice, mappings(), contact_guid=None, dinero_guid=None)


def test_non_numeric_amount_is_named_not_crashed():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 1, "10")])
    invoice["lines"][0]["line_price"] = "ti kroner"
    with pytest.raises(NeedsMapping, match="ti kroner"):
        map_sales_invoice(invoice, mappings(), contact_guid=None, dinero_guid=None)


def test_cash_payment_terms_send_no_days():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 1, "10")])
    invoice["payment_terms"] = {"type": "cash", "maturity_days": 0}
    body = map_sales_invoice(invoice, mappings(), contact_guid=None, dinero_guid=None).body
    assert body["PaymentConditionType"] == "NettoCash" and body["PaymentConditionNumberOfDays"] is None


def test_unknown_payment_term_type_is_named():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 1, "10")])
    invoice["payment_terms"] = {"name": "Løbende måned + 60", "type": "end_of_quarter"}
    with pytest.raises(NeedsMapping, match="end_of_quarter"):
        map_sales_invoice(invoice, mappings(), contact_guid=None, dinero_guid=None)


def test_line_without_unit_uses_parts_but_unmapped_unit_stops():
    invoice = sales_invoice(1, [line("A", FINISHED_GOODS, 1, "10")])
    invoice["lines"][0]["unit"] = None
    invoice["lines"][0]["item"]["unit"] = None
    body = map_sales_invoice(invoice, mappings(dinero_unit=_missing("unit")), contact_guid=None,
                             dinero_guid=None).body
    assert body["ProductLines"][0]["Unit"] == "parts"


def _missing(what):
    def lookup(*args):
        raise NeedsMapping(f"No mapping for {what} {args}")
    return lookup


def test_supplier_lines_stay_one_voucher_line_per_rackbeat_line():
    invoice = supplier_invoice(7, [line("A", "10", 1, "10"), line("B", "11", 2, "5"), line("C", "20", 1, "1")])
    payload = map_supplier_invoice(invoice, SupplierMappings(
        supplier_account=lambda group, zone: 2010 if group == "20" else 2000,
        account_vat=lambda account: AccountVat("I25", Decimal("0.25"))), contact_guid="c")
    assert [(vl["AccountNumber"], vl["Amount"]) for vl in payload.body["Lines"]] == [
        (2000, 12.5), (2000, 12.5), (2010, 1.25)]
    assert payload.voucher_total == Decimal("26.25")
    assert payload.accounts == [2000, 2010]
    assert (payload.rackbeat_vat, payload.dinero_vat) == (Decimal("5.25"), Decimal("5.25"))


def test_supplier_vat_that_dinero_cannot_book_stops_with_both_figures():
    # The totals agree (0.39), but Rackbeat reports 0.08 VAT where Dinero books 0.03 per line.
    invoice = supplier_invoice(7, [line("A", "10", 1, "0.10")] * 3, total_vat="0.08")
    with pytest.raises(TotalsNotReproducible) as stopped:
        map_supplier_invoice(invoice, SupplierMappings(
            supplier_account=lambda group, zone: 2000,
            account_vat=lambda account: AccountVat("I25", Decimal("0.25"))), contact_guid="c")
    assert "0.09 DKK purchase VAT" in stopped.value.message and "VAT is 0.08 DKK" in stopped.value.message


def test_supplier_without_vat_zone_is_named():
    invoice = supplier_invoice(7, [line("A", "10", 1, "10")], supp={**supplier(), "vat_zone": ""})
    with pytest.raises(NeedsMapping, match="no VAT zone"):
        map_supplier_invoice(invoice, SupplierMappings(supplier_account=lambda g, z: 2000,
                                                       account_vat=lambda a: AccountVat("I25", Decimal("0.25"))),
                             contact_guid="c")


def test_consumption_is_negative_on_credit_notes():
    invoice = sales_invoice(1, [line("A", "10", 2, "10", cost="2.505")], credit_note=True)
    assert consumption_amount(invoice) == Decimal("-5.01")
