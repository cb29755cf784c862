"""The shape check's cross-checks on single documents: plain words, the document's number, no HTTP."""

from __future__ import annotations

import pytest

from integration.books.rackbeat_crosschecks import (
    FAILED,
    NOT_YET,
    VERIFIED,
    cost_finding,
    items_finding,
    suspect_credit_note,
    suspects_finding,
    vat_finding,
)


def _invoice(**extra):
    lines = [{"child_id": "A-1", "quantity": 2, "line_price": 100, "line_total": 200, "vat_percentage": 25,
              "item_cost_price": 40, "item": {"number": "A-1"}},
             {"child_id": "B-2", "quantity": 1, "line_price": 10.01, "line_total": 10.01, "vat_percentage": 25,
              "item_cost_price": 3, "item": {"number": "B-2"}}]
    return {"number": 1001, "total_subtotal": 210.01, "total_vat": 52.50, "total_total": 262.51, "total_cost": 83,
            "is_creditnote": False, "lines": lines, **extra}


@pytest.mark.parametrize(("marker", "shown"), [
    ({"type": "credit_note"}, "“type: credit_note”"),
    ({"document_type": "CreditNote"}, "“document_type: CreditNote”"),
    ({"is_credit_memo": True}, "“is_credit_memo: True”"),
])
def test_a_credit_note_marker_under_an_unknown_name_is_named(marker, shown):
    row = {"number": 1005, "total_total": -50, **marker}
    assert suspect_credit_note(row).startswith(f"Invoice 1005 carries {shown}, a credit-note flag under a name")


@pytest.mark.parametrize("harmless", [{"type": "invoice"}, {"is_credited": True}, {"credited_invoice_number": 1001},
                                      {"is_creditnote": True, "total_total": -50}, {"is_credit_note": "1"}])
def test_an_original_invoice_or_a_flagged_credit_note_is_not_questioned(harmless):
    assert suspect_credit_note({"number": 1001, "total_total": 100, **harmless}) == ""


def test_a_negative_total_without_any_flag_is_questioned_with_the_total():
    finding = suspects_finding([{"number": 1006, "total_total": "-624.38"}, {"number": 1007, "total_total": -1},
                                {"number": 1008, "total_total": 5}])
    assert finding.status == FAILED
    assert finding.text.startswith("Invoice 1006 has a negative total (-624.38) but no credit-note flag")
    assert "1 more of the newest invoices look the same." in finding.text
    assert suspects_finding([{"number": 1, "total_total": 5}]) is None


def test_vat_against_the_lines_is_verified_per_line_or_as_a_whole_and_fails_with_both_figures():
    # 200 × 25 % = 50.00; 10.01 × 25 % = 2.5025 → 2.50 per line; 52.50 either way.
    assert vat_finding(_invoice()).status == VERIFIED
    failed = vat_finding(_invoice(total_vat=55.00, total_total=265.01))
    assert failed.status == FAILED
    assert "Invoice 1001: Rackbeat's VAT (total_vat) is 55.00 DKK, but its lines give 52.50 DKK" in failed.text
    broken_total = vat_finding(_invoice(total_total=300))
    assert broken_total.status == FAILED and "total incl. VAT 300 is not subtotal 210.01 + VAT 52.5" in broken_total.text


def test_vat_without_rates_on_the_lines_is_not_verifiable_and_says_why():
    invoice = _invoice()
    for line in invoice["lines"]:
        del line["vat_percentage"]
    finding = vat_finding(invoice)
    assert finding.status == NOT_YET and "carry no VAT rate (vat_percentage)" in finding.text


def test_cost_total_is_compared_with_unit_cost_times_quantity():
    assert cost_finding(_invoice()).status == VERIFIED          # 2 × 40 + 1 × 3 = 83
    wrong = cost_finding(_invoice(total_cost=93))
    assert wrong.status == FAILED
    assert "Invoice 1001: Rackbeat's total cost (total_cost) is 93.00 DKK, but its lines give 83.00 DKK" in wrong.text
    absent = _invoice()
    del absent["total_cost"]
    assert cost_finding(absent).status == NOT_YET


def test_a_line_naming_no_item_is_named_with_the_lookup():
    invoice = _invoice()
    invoice["lines"][1]["item"] = {"number": "B-2", "missing_in_rackbeat": True}
    finding = items_finding(invoice, "invoice 1001")
    assert finding.status == FAILED
    assert ("On invoice 1001 line 2 names product B-2, but Rackbeat has no product with that number (looked up as "
            "products/B-2).") in finding.text
    assert items_finding(_invoice(), "invoice 1001").text.endswith("(looked up: A-1, B-2).")
