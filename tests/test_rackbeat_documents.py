"""Readers of Rackbeat's real document shapes, tolerant of the older ones (docs/rackbeat-documents.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from integration.core.clients.rackbeat_documents import (
    RelatedRecords,
    in_dinero_direction,
    is_credit_note,
    line_cost_price,
    line_item_ref,
    supplier_number,
)
from integration.core.handlers import NeedsMapping
from integration.core.models import Kind
from integration.transfers.consumption import book_item_consumption
from integration.transfers.invoice_mapping import (
    SalesMappings,
    TotalsNotReproducible,
    consumption_amount,
    map_sales_invoice,
)
from integration.transfers.sales_invoices import transfer_sales_invoice
from integration.transfers.supplier_invoices import transfer_supplier_invoice
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    SPARE_PARTS,
    dinero_fixture,
    line,
    rackbeat_fixture,
    real_shape,
    run,
    sales_invoice,
    supplier,
    supplier_invoice,
    text_line,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)
SHAPES = ["real", "old"]


def _shaped(shape: str, document: dict, rackbeat) -> dict:
    return real_shape(document, rackbeat) if shape == "real" else document


# --- the readers ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("doc", "expected"), [
    ({"is_creditnote": True}, True), ({"is_credit_note": True}, True), ({"is_creditnote": "1"}, True),
    ({"is_creditnote": "false"}, False), ({"is_creditnote": 0}, False), ({}, False),
    # The evidenced spelling wins when both are present.
    ({"is_creditnote": False, "is_credit_note": True}, False),
])
def test_credit_note_flag_is_read_under_either_name(doc, expected):
    assert is_credit_note(doc) is expected


def test_negative_amounts_alone_never_make_a_credit_note():
    invoice = {"total_total": "-125.00", "lines": [{"quantity": -1, "line_price": 100}]}
    assert is_credit_note(invoice) is False
    assert in_dinero_direction(invoice) is invoice


def test_cost_price_is_read_as_item_cost_price_or_cost_price():
    assert line_cost_price({"item_cost_price": "41.5", "cost_price": "1"}) == "41.5"
    assert line_cost_price({"cost_price": 12}) == 12
    assert line_cost_price({"item_cost_price": None}) is None


def test_a_line_names_its_item_embedded_or_by_child_id():
    assert line_item_ref({"item": {"number": "A-1", "type": "product"}}) == ("product", "A-1")
    assert line_item_ref({"child_id": "SET/2", "child_type": "lot"}) == ("lot", "SET/2")
    assert line_item_ref({"child_id": "A-1", "child_type": "App\\Models\\Product"}) == ("product", "A-1")
    assert line_item_ref({"name": "Tak for handlen", "child_id": None}) is None


def test_supplier_number_comes_from_supplier_id_or_the_embedded_supplier():
    assert supplier_number({"supplier_id": 701}) == "701"
    assert supplier_number({"supplier": {"number": 702}}) == "702"


def test_negative_credit_note_is_read_positive_and_a_positive_one_unchanged():
    negative = {"is_creditnote": True, "total_subtotal": -200, "total_vat": -50, "total_total": -250,
                "lines": [{"quantity": -2, "line_price": 100, "line_total": -200},
                          {"quantity": 1, "line_price": -10}, {"quantity": 1, "line_price": 10}]}
    positive = in_dinero_direction(negative)
    assert (positive["total_subtotal"], positive["total_vat"], positive["total_total"]) == (200, 50, 250)
    assert [(ln["quantity"], ln["line_price"]) for ln in positive["lines"]] == [(2, 100), (1, 10), (-1, 10)]
    assert positive["lines"][0]["line_total"] == 200
    assert negative["total_total"] == -250, "the document read is not changed in place"

    old = {"is_credit_note": True, "total_total": 250, "lines": [{"quantity": 2, "line_price": 100}]}
    assert in_dinero_direction(old) is old


@pytest.mark.parametrize("shape", SHAPES)
def test_consumption_of_a_credit_note_is_reversed_whatever_the_sign(shape, rackbeat):
    credit = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")], credit_note=True)
    doc = _shaped(shape, credit, rackbeat)
    if shape == "real":
        doc = RelatedRecords(rackbeat).with_items(doc)
    assert consumption_amount(doc) == Decimal("-80.00")


def test_related_records_fetch_each_item_and_the_supplier_once(rackbeat):
    document = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100"), line("A-1", FINISHED_GOODS, 2, "100"),
                                       line("R-1", SPARE_PARTS, 1, "20"), text_line("Fragt følger")],
                                supp=supplier(702, zone="eu"))
    doc = real_shape(document, rackbeat)
    assert "supplier" not in doc and all("item" not in ln for ln in doc["lines"])

    related = RelatedRecords(rackbeat)
    completed = related.supplier_invoice(doc)
    assert completed["supplier"]["vat_zone"] == "eu"
    assert [(ln.get("item") or {}).get("group", {}).get("number") for ln in completed["lines"]] == [
        FINISHED_GOODS, FINISHED_GOODS, SPARE_PARTS, None]
    assert rackbeat.count("get_product") == 2 and rackbeat.count("get_supplier") == 1
    related.supplier_invoice(doc)
    assert rackbeat.count("get_product") == 2 and rackbeat.count("get_supplier") == 1


def test_what_is_kept_of_the_lines_items_is_asked_once_per_document(rackbeat):
    """One question for every line whose item is not embedded in full; what it does not answer is
    read from Rackbeat, and nothing is asked twice."""
    rackbeat.products["R-1"] = {"number": "R-1", "group": {"number": SPARE_PARTS}, "inventory_enabled": True}
    asked: list[list[tuple[str, str]]] = []

    def known(refs: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        asked.append(list(refs))
        return {("product", "A-1"): {"number": "A-1", "group": {"number": FINISHED_GOODS}, "type": "product"}}

    full = {"number": "F-1", "name": "Fuld", "group": {"number": FINISHED_GOODS}, "inventory_enabled": True}
    doc = {"lines": [{"child_id": "A-1", "child_type": "product"}, {"child_id": "R-1", "child_type": "product"},
                     {"child_id": "A-1", "child_type": "product"}, {"child_id": "F-1", "item": full}]}
    related = RelatedRecords(rackbeat, known=known)
    lines = related.with_items(doc)["lines"]
    assert asked == [[("product", "A-1"), ("product", "R-1")]]
    assert [ln["item"]["group"]["number"] for ln in lines] == [FINISHED_GOODS, SPARE_PARTS, FINISHED_GOODS,
                                                               FINISHED_GOODS]
    assert rackbeat.count("get_product") == 1  # nothing kept of it
    assert related.item("product", "R-1")["number"] == "R-1" and related.item("product", "A-1")
    assert len(asked) == 1 and rackbeat.count("get_product") == 1


def test_an_embedded_item_lacking_its_group_is_completed_from_the_product(rackbeat):
    rackbeat.products["A-1"] = {"number": "A-1", "group": {"number": FINISHED_GOODS}, "inventory_enabled": True}
    doc = {"lines": [{"child_id": "A-1", "child_type": "product", "item": {"number": "A-1", "name": "Vare"}}]}
    (completed,) = RelatedRecords(rackbeat).with_items(doc)["lines"]
    assert completed["item"]["group"] == {"number": FINISHED_GOODS}
    assert completed["item"]["name"] == "Vare"


def test_a_product_deleted_in_rackbeat_stops_the_invoice_with_its_number(connection, world, rackbeat, dinero):
    doc = real_shape(sales_invoice(1003, [line("GONE-1", FINISHED_GOODS, 1, "100")]))
    rackbeat.customer_invoices["1003"] = doc
    with pytest.raises(NeedsMapping) as stopped:
        run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1003, rackbeat, dinero)
    assert "GONE-1" in stopped.value.message and "not found in Rackbeat" in stopped.value.message


# --- the transfers over both shapes ---------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_credit_note_becomes_a_positive_dinero_credit_note(shape, connection, world, rackbeat, dinero):
    credit = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 2, "100"), line("R-1", SPARE_PARTS, 3, "20")],
                           credit_note=True)
    rackbeat.customer_invoices["1002"] = _shaped(shape, credit, rackbeat)

    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)

    assert result.target_id in dinero.credit_notes and not dinero.invoices
    note = dinero.credit_notes[result.target_id]
    assert [(pl["Quantity"], pl["BaseAmountValue"]) for pl in note["ProductLines"]] == [(2, 100), (3, 20)]
    assert Decimal(str(note["TotalInclVat"])) == Decimal("325.00")


@pytest.mark.parametrize("shape", SHAPES)
def test_credit_note_consumption_voucher_is_reversed(shape, connection, world, rackbeat, dinero):
    from integration.core.models import IntegrationSettings

    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=True)
    credit = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 2, "100", cost="40")], credit_note=True)
    rackbeat.customer_invoices["1002"] = _shaped(shape, credit, rackbeat)

    result = run(book_item_consumption, connection, Kind.ITEM_CONSUMPTION, 1002, rackbeat, dinero)

    (voucher_line,) = dinero.manual_vouchers[result.target_id]["Lines"]
    assert voucher_line["Amount"] == -80
    assert voucher_line["Description"] == "Vareforbrug kreditnota 1002"


@pytest.mark.parametrize("shape", SHAPES)
def test_supplier_invoice_with_only_supplier_id_lands_on_the_zone_account(shape, connection, world, rackbeat,
                                                                         dinero):
    document = supplier_invoice(5002, [line("A-1", FINISHED_GOODS, 4, "250", vat=0)], supp=supplier(702, zone="eu"))
    rackbeat.supplier_invoices["5002"] = _shaped(shape, document, rackbeat)
    rackbeat.suppliers.setdefault("702", supplier(702, zone="eu"))

    result = run(transfer_supplier_invoice, connection, Kind.SUPPLIER_INVOICE, 5002, rackbeat, dinero)

    voucher = dinero.purchase_vouchers[result.target_id]
    assert [vl["AccountNumber"] for vl in voucher["Lines"]] == [2050]


def test_sales_invoice_lines_of_one_product_fetch_it_once(connection, world, rackbeat, dinero):
    lines = [line("A-1", FINISHED_GOODS, 1, "100"), line("A-1", FINISHED_GOODS, 2, "100"),
             line("A-1", FINISHED_GOODS, 3, "100")]
    rackbeat.customer_invoices["1004"] = real_shape(sales_invoice(1004, lines), rackbeat)

    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1004, rackbeat, dinero)

    assert Decimal(str(dinero.invoices[result.target_id]["TotalInclVat"])) == Decimal("750.00")
    assert rackbeat.count("get_product") == 1


def test_supplier_invoice_reads_its_supplier_once_for_zone_and_contact(connection, world, rackbeat, dinero):
    document = supplier_invoice(5003, [line("A-1", FINISHED_GOODS, 1, "250")], supp=supplier(701))
    rackbeat.supplier_invoices["5003"] = real_shape(document, rackbeat)

    run(transfer_supplier_invoice, connection, Kind.SUPPLIER_INVOICE, 5003, rackbeat, dinero)

    assert rackbeat.count("get_supplier") == 1 and rackbeat.count("get_product") == 1


def test_negative_line_totals_with_positive_quantity_and_price_are_read_as_they_stand():
    negative = {"is_creditnote": True, "total_subtotal": -200, "total_total": -250,
                "lines": [{"quantity": 2, "line_price": 100, "line_total": -200},
                          {"quantity": 1, "line_price": 10, "line_total": 10}]}
    positive = in_dinero_direction(negative)
    assert [(ln["quantity"], ln["line_price"], ln["line_total"]) for ln in positive["lines"]] == [
        (2, 100, 200), (-1, 10, -10)]


def test_credit_note_in_an_unknown_sign_combination_stops_with_rackbeats_own_figures():
    credit = sales_invoice(1003, [line("A-1", FINISHED_GOODS, 2, "100")], credit_note=True)
    credit = {**credit, "total_subtotal": "-200.00", "total_vat": "-50.00", "total_total": "-250.00",
              "lines": [{**credit["lines"][0], "quantity": "-2", "line_price": "-100", "line_total": "-200.00"}]}
    with pytest.raises(TotalsNotReproducible) as stopped:
        map_sales_invoice(credit, SalesMappings(revenue_account=lambda group, zone: 1000,
                                                dinero_unit=lambda unit: "parts", dinero_language=lambda n: "da-DK",
                                                product_guid=lambda kind, number: None),
                          contact_guid="c", dinero_guid="g")
    message = stopped.value.message
    # Rackbeat's figures as Rackbeat shows them, never the service's sign-flipped reading of them.
    assert "quantity -2 × price -100 (line total -200.00)" in message
    assert "subtotal -200.00 DKK" in message and "total -250.00 DKK" in message
    assert "-1027.95" not in message and " 200.00 DKK" not in message
    with translation.override("da"):  # Rackbeat's signs, in the Danish reader's number format
        assert str(message).startswith("Kreditnota 1003: Rackbeats tal passer ikke")
        assert "-200,00 DKK" in str(message) and "-250,00 DKK" in str(message) and "-200.00" not in str(message)
