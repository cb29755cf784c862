"""End to end over real HTTP: the VAT Dinero books is Rackbeat's VAT, to the øre, per document.

Rackbeat rounds the VAT of each line; Dinero works the VAT of a purchase voucher line out of its
amount including VAT. Lines grouped per account therefore gave the right total with the wrong VAT
(3 × 0.10: Rackbeat 0.30/0.09/0.39, Dinero 0.31/0.08/0.39), which is what the company reports.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from integration.core.models import Kind, SyncOperation
from tests.test_e2e_invoices import _book_sales_invoice, _transfer
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def e2e(request) -> dict[str, Any]:
    return request.getfixturevalue("invoice_world")


def _totals(voucher: dict[str, Any]) -> dict[str, Decimal]:
    return {str(t["Type"]): Decimal(str(t["Total"])) for t in voucher["VoucherTotals"]}


def _supplier_invoice(e2e_world: dict[str, Any], number: int, lines: list[tuple[str, str, str]]) -> Any:
    """A booked domestic supplier invoice whose figures Rackbeat computes itself (VAT per line)."""
    from sandbox.rackbeat import models as rb
    from sandbox.rackbeat.invoicing import recompute

    account = e2e_world["rackbeat_account"]
    invoice = rb.SupplierInvoice.objects.create(
        account=account, number=number, invoice_date="2026-03-20", due_date="2026-04-19", is_booked=True,
        supplier=rb.Supplier.objects.get(account=account, number=701), vat_zone="domestic")
    for position, (item, quantity, price) in enumerate(lines):
        rb.InvoiceLine.objects.create(supplier_invoice=invoice, position=position, item=rb.Item.objects.get(
            account=account, number=item), name=item, quantity=Decimal(quantity), line_price=Decimal(price))
    recompute(invoice)
    invoice.refresh_from_db()
    return invoice


@pytest.mark.parametrize(("lines", "net", "vat", "total"), [
    ([("FV-1", "1", "0.10")] * 3, "0.30", "0.09", "0.39"),
    ([("FV-1", "1", "10.02")] * 40, "400.80", "100.40", "501.20"),
    ([("FV-1", "1", "0.10"), ("FV-1", "3", "0.10"), ("FV-1", "7", "0.02")], "0.54", "0.15", "0.69"),
])
def test_purchase_voucher_books_rackbeats_vat_to_the_ore(e2e, lines, net, vat, total):
    invoice = _supplier_invoice(e2e, 60001, lines)
    assert (invoice.total_subtotal, invoice.total_vat, invoice.total_total) == (
        Decimal(net), Decimal(vat), Decimal(total))

    op = _transfer(e2e["connection"], Kind.SUPPLIER_INVOICE, invoice.number)
    assert op.state == SyncOperation.State.DONE, (op.last_error, op.hint)
    booked = _totals(e2e["dinero"].get_purchase_voucher(op.target_id))
    assert (booked["SubTotal"], booked["Vat"], booked["Total"]) == (Decimal(net), Decimal(vat), Decimal(total))


def test_sales_invoice_books_rackbeats_vat_to_the_ore(e2e):
    invoice = _book_sales_invoice(e2e["rackbeat"], [("RD-9", 1, "0.10")] * 3 + [("FV-1", 40, "10.02")])
    op = _transfer(e2e["connection"], Kind.SALES_INVOICE, invoice["number"])
    assert op.state == SyncOperation.State.DONE, (op.last_error, op.hint)
    document = e2e["dinero"].get_invoice(op.target_id)
    assert Decimal(str(document["TotalVat"])) == Decimal(str(invoice["total_vat"]))
    assert Decimal(str(document["TotalInclVat"])) == Decimal(str(invoice["total_total"]))


def test_posting_preview_shows_rackbeats_purchase_vat_and_never_a_vat_difference_as_ready(e2e):
    from integration.books.posting_preview import PreviewDocument, preview

    _supplier_invoice(e2e, 60002, [("FV-1", "1", "0.10")] * 3)
    (document,) = preview(e2e["connection"], 10).documents
    assert (document.dinero_excl_vat, document.dinero_vat, document.dinero_total) == (
        Decimal("0.30"), Decimal("0.09"), Decimal("0.39"))
    assert not document.would_stop

    differing = PreviewDocument(kind="supplier_invoice", number="1", rackbeat_total=Decimal("0.39"),
                                rackbeat_vat=Decimal("0.09"), dinero_total=Decimal("0.39"), dinero_vat=Decimal("0.08"))
    assert differing.would_stop and not differing.totals_match


# --- credit notes in every sign convention ---------------------------------------------------------

@pytest.mark.parametrize("signs", ["quantity", "price", "line_total"])
def test_credit_note_in_each_sign_convention_becomes_one_positive_dinero_credit_note(e2e, signs):
    from integration.core.models import IntegrationSettings

    type(e2e["rackbeat_account"]).objects.filter(pk=e2e["rackbeat_account"].pk).update(credit_note_signs=signs)
    IntegrationSettings.objects.filter(connection=e2e["connection"]).update(item_consumption_enabled=True)
    credit = _book_sales_invoice(e2e["rackbeat"], [("FV-1", 2, "499.00"), ("RD-9", 1, "29.95")], is_creditnote=True)
    read = e2e["rackbeat"].get_customer_invoice(credit["number"])
    assert Decimal(str(read["total_total"])) == Decimal("-1284.94")
    assert all(Decimal(str(line["line_total"])) < 0 for line in read["lines"])
    assert [Decimal(str(line["quantity"])) < 0 for line in read["lines"]] == [signs == "quantity"] * 2
    assert [Decimal(str(line["line_price"])) < 0 for line in read["lines"]] == [signs == "price"] * 2

    op = _transfer(e2e["connection"], Kind.SALES_INVOICE, credit["number"])
    assert op.state == SyncOperation.State.DONE, (op.last_error, op.hint)
    note = e2e["dinero"].get_credit_note(op.target_id)
    assert (Decimal(str(note["TotalInclVat"])), Decimal(str(note["TotalVat"]))) == (Decimal("1284.94"),
                                                                                   Decimal("256.99"))
    assert [(pl["Quantity"], pl["BaseAmountValue"]) for pl in note["ProductLines"]] == [(2, 499), (1, 29.95)]
    assert len(list(e2e["dinero"].iter_credit_notes())) == 1

    consumption = _transfer(e2e["connection"], Kind.ITEM_CONSUMPTION, credit["number"])
    assert consumption.state == SyncOperation.State.DONE, (consumption.last_error, consumption.hint)
    (voucher_line,) = e2e["dinero"].get_manual_voucher(consumption.target_id)["Lines"]
    assert Decimal(str(voucher_line["AmountExclVatValue"])) == Decimal("-432.00")
