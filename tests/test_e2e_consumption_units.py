"""Item consumption of a line sold in another unit than the product's own, over real HTTP against the
sandbox: the product's alternative units (``products/{number}/units``) say how many base units the
line consumes, and Rackbeat's own ``total_cost`` must agree before anything is booked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from integration.books.rackbeat_check import run_check
from integration.core.models import Kind, SyncOperation
from tests.test_e2e_invoices import _settings, _transfer
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _boxes_of_twelve(world: dict[str, Any], boxes: int) -> dict[str, Any]:
    """A booked invoice selling FV-1 (kept in pieces, cost 210.50 each) by the box of 12."""
    from sandbox.rackbeat import models as rb

    account = world["rackbeat_account"]
    box = rb.Unit.objects.create(account=account, number=2, name="kasse")
    rb.ProductUnit.objects.create(item=rb.Item.objects.get(account=account, number="FV-1"), unit=box,
                                  quantity=Decimal("12"))
    rackbeat = world["rackbeat"]
    created = rackbeat.create_customer_invoice({
        "customer_id": 501, "invoice_date": "2026-03-31",
        "lines": [{"item_id": "FV-1", "quantity": boxes, "line_price": "5988.00", "unit_id": 2},
                  {"item_id": "RD-9", "quantity": 1, "line_price": "29.95"}]})
    return rackbeat.book_customer_invoice(created["number"])


def test_a_line_in_boxes_consumes_the_pieces_they_hold(invoice_world):  # noqa: F811
    connection = invoice_world["connection"]
    _settings(connection, item_consumption_enabled=True)
    invoice = _boxes_of_twelve(invoice_world, 2)
    # Rackbeat's own cost total counts the pieces: 2 × 12 × 210.50 + 11.00.
    assert Decimal(str(invoice["total_cost"])) == Decimal("5063.00")

    consumption = _transfer(connection, Kind.ITEM_CONSUMPTION, invoice["number"])

    assert consumption.state == SyncOperation.State.DONE, (consumption.last_error, consumption.hint)
    (line,) = invoice_world["dinero"].get_manual_voucher(consumption.target_id)["Lines"]
    assert Decimal(str(line.get("Amount", line.get("AmountInclVatValue")))) == Decimal("5063.00")


def test_a_disagreeing_total_cost_stops_the_consumption_with_both_figures(invoice_world):  # noqa: F811
    from sandbox.rackbeat import models as rb

    connection = invoice_world["connection"]
    _settings(connection, item_consumption_enabled=True)
    rb.Account.objects.update(total_cost_offset=Decimal("-0.50"))
    invoice = _boxes_of_twelve(invoice_world, 1)

    consumption = _transfer(connection, Kind.ITEM_CONSUMPTION, invoice["number"])

    assert consumption.state == SyncOperation.State.NEEDS_ATTENTION
    assert (f"Invoice {invoice['number']}: Rackbeat's total cost (total_cost) is 2,536.50 DKK, but its lines give "
            "2,537.00 DKK (unit cost × quantity over 2 lines with an item). 1 of them converted to the product's "
            "base unit by its alternative units.") in consumption.last_error
    from sandbox.dinero.models import Voucher

    assert not Voucher.objects.filter(kind=Voucher.Kind.MANUAL).exists()   # nothing was booked on a wrong reading


def test_the_shape_check_reads_the_alternative_units_too(invoice_world):  # noqa: F811
    _boxes_of_twelve(invoice_world, 2)

    check = run_check(invoice_world["connection"])

    (cost,) = [f for s in check.sections if s["title"] == "Booked customer invoice" for f in s["findings"]
               if f["label"] == "cost total against the lines"]
    assert cost["status"] == "verified"
    assert "5,063.00 DKK equals" in cost["text"] and "1 of them converted" in cost["text"]
