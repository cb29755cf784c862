"""The master-data mappers: a Rackbeat customer, supplier, product or BOM as Dinero receives it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.core.handlers import NeedsMapping
from integration.core.models import IntegrationSettings, Kind
from integration.transfers.contacts import contact_payload
from integration.transfers.products import product_payload
from mappings.models import AccountMatrixCell, UnitMapping

CUSTOMER = {
    "number": 501, "name": "Kunde A/S", "contact_email": "kunde@example.dk", "contact_phone": "+45 11 22 33 44",
    "company_vat": "DK12345678", "ean": "5790000000001", "address_street": "Torvet 1", "address_street2": "2. sal",
    "address_zipcode": "8000", "address_city": "Aarhus C", "address_country": "dk", "currency": "DKK",
    "payment_terms": {"number": 3, "type": "current_month", "maturity_days": 30},
}


@pytest.fixture
def integration_settings(connection) -> IntegrationSettings:
    return IntegrationSettings.objects.create(connection=connection)


def test_customer_becomes_a_company_contact_with_number_in_name(integration_settings):
    payload = contact_payload(CUSTOMER, kind=Kind.CUSTOMER, number="501", settings=integration_settings)
    assert payload == {
        "ExternalReference": "rackbeat:customer:501", "Name": "501 – Kunde A/S", "Street": "Torvet 1, 2. sal",
        "ZipCode": "8000", "City": "Aarhus C", "CountryKey": "DK", "Phone": "+45 11 22 33 44",
        "Email": "kunde@example.dk", "VatNumber": "DK12345678", "EanNumber": "5790000000001", "IsPerson": False,
        "IsMember": False, "UseCvr": False, "PreferredInvoiceCurrencyKey": "DKK",
        "PaymentConditionType": "CurrentMonthOut", "PaymentConditionNumberOfDays": 30,
    }


def test_number_is_left_out_of_the_name_when_switched_off(integration_settings):
    integration_settings.supplier_number_in_name = False
    payload = contact_payload({"name": "Lev ApS"}, kind=Kind.SUPPLIER, number="7", settings=integration_settings)
    assert payload["Name"] == "Lev ApS" and payload["ExternalReference"] == "rackbeat:supplier:7"
    assert payload["CountryKey"] == "DK"
    assert "PaymentConditionType" not in payload


def test_person_has_no_company_identifiers(integration_settings):
    payload = contact_payload({**CUSTOMER, "is_person": True}, kind=Kind.CUSTOMER, number="501",
                              settings=integration_settings)
    assert payload["IsPerson"] is True
    assert payload["VatNumber"] is None and payload["EanNumber"] is None


def test_cash_terms_have_no_days(integration_settings):
    payload = contact_payload({**CUSTOMER, "payment_terms": {"type": "cash", "maturity_days": 0}},
                              kind=Kind.CUSTOMER, number="501", settings=integration_settings)
    assert payload["PaymentConditionType"] == "NettoCash" and payload["PaymentConditionNumberOfDays"] is None


def test_customer_without_name_stops_with_a_hint(integration_settings):
    with pytest.raises(NeedsMapping) as problem:
        contact_payload({"name": " "}, kind=Kind.CUSTOMER, number="9", settings=integration_settings)
    assert "Customer 9 has no name" in problem.value.message


def test_product_gets_price_unit_and_domestic_revenue_account(connection):
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number="1",
                                     vat_zone="domestic", account_number=1000)
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number="1",
                                     vat_zone="eu", account_number=1100)
    UnitMapping.objects.create(connection=connection, rackbeat_unit_number="2", dinero_unit="box")
    item = {"number": "A/1 +B", "name": "Hylde", "sales_price": "12.345", "group": {"number": 1, "name": "FV"},
            "unit": {"number": 2, "name": "kasse"}}
    assert product_payload(connection, item, kind=Kind.PRODUCT, number="A/1 +B") == {
        "ProductNumber": "A/1 +B", "Name": "Hylde", "BaseAmountValue": Decimal("12.345"), "Quantity": Decimal("1"),
        "AccountNumber": 1000, "Unit": "box", "ExternalReference": "rackbeat:product:A/1 +B",
    }


def test_bom_has_its_own_reference(connection):
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number="1",
                                     vat_zone="domestic", account_number=1000)
    UnitMapping.objects.create(connection=connection, rackbeat_unit_number="1", dinero_unit="parts")
    payload = product_payload(connection, {"name": "Sæt", "sales_price": 10, "group_id": 1, "unit_id": 1},
                              kind=Kind.BOM, number="S-1")
    assert payload["ExternalReference"] == "rackbeat:bom:S-1"


def test_unmapped_revenue_cell_stops_the_product_with_a_link_to_the_cell(connection):
    UnitMapping.objects.create(connection=connection, rackbeat_unit_number="1", dinero_unit="parts")
    with pytest.raises(NeedsMapping) as problem:
        product_payload(connection, {"name": "X", "sales_price": 1, "group": {"number": 4}, "unit": {"number": 1}},
                        kind=Kind.PRODUCT, number="X")
    assert "#cell-" in problem.value.fix_url


def test_product_without_group_stops_with_a_hint(connection):
    with pytest.raises(NeedsMapping) as problem:
        product_payload(connection, {"name": "X", "sales_price": 1}, kind=Kind.PRODUCT, number="X")
    assert "no product group" in problem.value.message


def test_unreadable_price_stops_with_a_hint(connection):
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number="1",
                                     vat_zone="domestic", account_number=1000)
    with pytest.raises(NeedsMapping) as problem:
        product_payload(connection, {"name": "X", "sales_price": "ti kroner", "group": 1, "unit": 1},
                        kind=Kind.PRODUCT, number="X")
    assert "sales price" in problem.value.message
