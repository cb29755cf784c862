"""End to end over real HTTP: the posting preview against the Rackbeat and Dinero emulators.

The preview of a correct setup must be what is later posted, line by line, and must write nothing;
a setup with a hole shows what would stop and where to fix it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from integration.books.posting_preview import preview
from integration.core.models import Binding, Kind, SyncOperation
from mappings.models import AccountMatrixCell
from tests.invoice_fixtures import SPARE_PARTS
from tests.test_e2e_invoices import _book_sales_invoice, _settings, _transfer
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)
from tests.test_e2e_reconciliation import _supplier_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(invoice_world: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    _settings(invoice_world["connection"], item_consumption_enabled=True, sales_invoice_status="booked",
              supplier_invoice_status="booked")
    return invoice_world


def _written() -> tuple[int, ...]:
    from sandbox.dinero import models as dn

    return (dn.SalesDocument.objects.count(), dn.Voucher.objects.count(), dn.Contact.objects.count(),
            SyncOperation.objects.count(), Binding.objects.count())


def test_preview_of_a_correct_setup_is_what_is_posted_line_by_line(world):
    connection, rackbeat, dinero = world["connection"], world["rackbeat"], world["dinero"]
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 2, "499.00"), ("RD-9", 5, "29.95")])
    supplier_invoice = _supplier_invoice(world, 61001)
    before = _written()

    result = preview(connection, 10)

    assert _written() == before, "the preview wrote something"
    assert result.error == "" and result.ready == 2 == len(result.documents)
    sales = next(d for d in result.documents if d.kind == "sales_invoice")
    purchase = next(d for d in result.documents if d.kind == "supplier_invoice")
    assert [(line.account, line.vat_code) for line in sales.lines] == [(1000, "U25"), (1300, "U25")]
    assert sales.totals_match and sales.dinero_total == Decimal(str(invoice["total_total"]))
    assert sales.consumption == {"amount": Decimal("476.00"), "debit": 1600, "credit": 58100,
                                 "description": f"Vareforbrug faktura {invoice['number']}", "none": False}

    posted = _transfer(connection, Kind.SALES_INVOICE, invoice["number"])
    document = dinero.get_invoice(posted.target_id)
    assert [(line.account, Decimal(line.amount), Decimal(line.amount_incl_vat)) for line in sales.lines] == [
        (pl["AccountNumber"], Decimal(str(pl["TotalAmount"])), Decimal(str(pl["TotalAmountInclVat"])))
        for pl in document["ProductLines"]]
    assert sales.dinero_total == Decimal(str(document["TotalInclVat"]))
    consumption = _transfer(connection, Kind.ITEM_CONSUMPTION, invoice["number"])
    (voucher_line,) = dinero.get_manual_voucher(consumption.target_id)["Lines"]
    assert Decimal(str(voucher_line["AmountExclVatValue"])) == sales.consumption["amount"]

    posted = _transfer(connection, Kind.SUPPLIER_INVOICE, supplier_invoice.number)
    voucher = dinero.get_purchase_voucher(posted.target_id)
    assert [(line.account, line.vat_code, Decimal(line.amount), Decimal(line.amount_incl_vat))
            for line in purchase.lines] == [
        (vl["AccountNumber"], vl["VatCode"], Decimal(str(vl["AmountExclVatValue"])),
         Decimal(str(vl["AmountInclVatValue"]))) for vl in voucher["Lines"]]
    assert purchase.dinero_total == Decimal("1250") == purchase.rackbeat_total


def test_preview_shows_what_would_stop_with_the_link_to_fix_it(world, client, superuser):
    connection, rackbeat = world["connection"], world["rackbeat"]
    AccountMatrixCell.objects.filter(connection=connection, matrix="revenue", product_group_number=SPARE_PARTS,
                                     vat_zone="domestic").delete()
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00"), ("RD-9", 1, "29.95")])
    before = _written()

    result = preview(connection, 5)
    (doc,) = result.documents
    assert doc.would_stop and not doc.lines
    (problem,) = doc.problems
    assert SPARE_PARTS in problem.message and "revenue" in str(problem.message).lower()
    assert problem.fix_url.startswith(reverse("admin:connection-matrix", args=[connection.pk, "revenue"]))

    client.force_login(superuser)
    page = client.post(reverse("admin:connection-posting-preview", args=[connection.pk]), {"n": "5"})
    html = page.content.decode()
    assert page.status_code == 200 and "Would stop" in html and f"Sales invoice {invoice['number']}" in html
    assert problem.fix_url.replace("&", "&amp;") in html
    assert _written() == before
