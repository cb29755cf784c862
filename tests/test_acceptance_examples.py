"""The product description's examples, as acceptance tests.

* A supplier invoice for goods in the product group “Färdiga varor” is booked to account 2000 when
  the supplier is domestic, 2050 when its VAT zone is EU and 2150 when it is abroad.
* A domestic invoice with goods from two product groups puts their lines on 1000 and 1300.
"""

from __future__ import annotations

import pytest

from integration.core.models import Kind
from integration.transfers.sales_invoices import transfer_sales_invoice
from integration.transfers.supplier_invoices import transfer_supplier_invoice
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    dinero_fixture,
    line,
    rackbeat_fixture,
    run,
    sales_invoice,
    supplier,
    supplier_invoice,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


@pytest.mark.parametrize(("zone", "vat", "account"), [("domestic", 25, 2000), ("eu", 0, 2050), ("abroad", 0, 2150)])
def test_supplier_invoice_for_finished_goods_lands_on_the_zone_account(connection, world, rackbeat, dinero,
                                                                       zone, vat, account):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(
        5001, [line("FV-1", FINISHED_GOODS, 4, "250.00", vat=vat)], supp=supplier(zone=zone))
    result = run(transfer_supplier_invoice, connection, Kind.SUPPLIER_INVOICE, 5001, rackbeat, dinero)
    assert [vl["AccountNumber"] for vl in dinero.purchase_vouchers[result.target_id]["Lines"]] == [account]


def test_domestic_sales_invoice_with_two_product_groups_lands_on_1000_and_1300(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [
        line("FV-1", FINISHED_GOODS, 2, "499.00"),
        line("RD-9", SPARE_PARTS, 5, "29.95"),
        line("FV-2", FINISHED_GOODS, 1, "99.00"),
    ])
    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1001, rackbeat, dinero)
    lines = dinero.invoices[result.target_id]["ProductLines"]
    assert [pl["AccountNumber"] for pl in lines] == [1000, 1300, 1000]
