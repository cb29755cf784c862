"""Every request the Dinero client sends is an operation of Dinero's OpenAPI document.

Each client method that sends a request is called with a realistic body built after the
document's schemas; a `responses` callback checks that the (method, path) exists there with
exactly that version, is not deprecated, and that the JSON body validates.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from urllib.parse import urlparse

import pytest
import responses

from integration.core.clients.dinero import ENDPOINTS
from integration.core.clients.openapi import find_operation, validate_request
from tests.dinero_fixtures import *  # noqa: F403 (the fixtures)
from tests.dinero_fixtures import API, ORG, TOKEN_URL, token_answer

pytestmark = pytest.mark.django_db

CONTACT = "3f6f0c1e-8a1b-4f55-b7e2-5d1d0c7e1a01"
PRODUCT = "9d2a7e44-0b4c-4b1e-8f0a-1c2d3e4f5a6b"
INVOICE = "c1b2a3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
CREDIT_NOTE = "d2c3b4a5-f6e7-4b8c-9d0e-1f2a3b4c5d6e"
VOUCHER = "e3d4c5b6-a7f8-4c9d-8e1f-2a3b4c5d6e7f"
FILE_GUID = "web0crmck5v0ndcx3313g6zn61tc7wgc"


def invoice_lines() -> list[dict]:
    return [
        {"ProductGuid": PRODUCT, "Description": None, "Comments": "Lot 2231", "Quantity": Decimal("4"),
         "AccountNumber": 1000, "Unit": "parts", "Discount": Decimal("0"), "BaseAmountValue": Decimal("249.50"),
         "LineType": "Product"},
        {"Description": "Fragt", "Quantity": Decimal("1"), "AccountNumber": 1000, "Unit": "shipment",
         "Discount": Decimal("10"), "BaseAmountValue": Decimal("95.00"), "LineType": "Product"},
        {"Description": "Leveret uge 11", "Quantity": 0, "AccountNumber": 1000, "Discount": 0,
         "BaseAmountValue": 0, "LineType": "Text"},
    ]


def invoice_body() -> dict:
    return {
        "Guid": INVOICE, "ContactGuid": CONTACT, "Date": date(2025, 3, 14), "Currency": "DKK",
        "Language": "da-DK", "ExternalReference": "rackbeat:sales_invoice:10042",
        "Description": "Faktura 10042", "Comment": "Ordre 5531", "PaymentConditionType": "Netto",
        "PaymentConditionNumberOfDays": 8, "ShowLinesInclVat": False, "ProductLines": invoice_lines(),
    }


def credit_note_body() -> dict:
    return {
        "Guid": CREDIT_NOTE, "CreditNoteFor": INVOICE, "ContactGuid": CONTACT, "Date": "2025-03-20",
        "Currency": "EUR", "Language": "en-GB", "ExternalReference": "rackbeat:credit_note:10043",
        "Description": "Credit note 10043", "ProductLines": invoice_lines()[:1],
    }


def contact_body(**extra) -> dict:
    return {
        "ExternalReference": "rackbeat:customer:1012", "Name": "1012 - Fjordhuset ApS", "Street": "Havnegade 4",
        "ZipCode": "8000", "City": "Aarhus C", "CountryKey": "DK", "Phone": "+45 86 12 34 56",
        "Email": "bogholderi@fjordhuset.dk", "Webpage": None, "AttPerson": "Mette Holm",
        "VatNumber": "DK12345678", "EanNumber": None, "PaymentConditionType": "Netto",
        "PaymentConditionNumberOfDays": 14, "IsPerson": False, "IsMember": False, "UseCvr": False,
        "PreferredInvoiceLanguageKey": "da", "PreferredInvoiceCurrencyKey": "DKK", **extra,
    }


def product_body() -> dict:
    return {
        "ProductNumber": "A-1001", "Name": "Egetræsbord 180 cm", "BaseAmountValue": Decimal("4995.00"),
        "Quantity": 1, "AccountNumber": 1000, "Unit": "parts", "ExternalReference": "rackbeat:product:A-1001",
        "Comment": None,
    }


def purchase_voucher_body() -> dict:
    return {
        "PurchaseType": "credit", "VoucherDate": "2025-03-10", "PaymentDate": "2025-04-09",
        "ContactGuid": CONTACT, "CurrencyKey": "DKK", "ExternalReference": "rackbeat:supplier_invoice:2001",
        "FileGuid": FILE_GUID,
        "Lines": [
            {"Description": "Varekøb, gruppe Møbler", "AccountNumber": 1310, "Amount": Decimal("12500.00"),
             "VatCode": "I25"},
            {"Description": "Fragt", "AccountNumber": 1330, "Amount": Decimal("375.00"), "VatCode": "I25"},
        ],
    }


def manual_voucher_body() -> dict:
    return {
        "VoucherDate": "2025-03-14", "ExternalReference": "rackbeat:item_consumption:10042",
        "Lines": [{
            "Description": "Vareforbrug, faktura 10042", "AccountNumber": 1310, "BalancingAccountNumber": 5530,
            "Amount": Decimal("1234.50"), "AccountVatCode": "none", "BalancingAccountVatCode": "none",
        }],
    }


class ContractRecorder:
    """A `responses` callback for the whole API: validates each request, answers plausibly."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, object]] = []
        self.problems: list[str] = []

    def __call__(self, request):
        path = urlparse(request.url).path
        body = None
        content_type = request.headers.get("Content-Type", "")
        if request.body and "json" in content_type:
            body = json.loads(request.body)
        self.requests.append((request.method, path, body))
        self.problems += [f"{request.method} {path}: {p}" for p in validate_request(request.method, path, body)]
        return 200, {"Content-Type": "application/json"}, json.dumps(self.answer(request.method, path))

    @staticmethod
    def answer(method: str, path: str):
        if path.endswith("/organizations"):
            return [{"Id": int(ORG), "Name": "Nordlys Lager ApS", "IsPro": True}]
        if method == "GET" and not re.search(r"/[0-9a-f-]{36}$", path):
            return {"Collection": [{"ExternalReference": "ref", "ProductNumber": "A-1001"}],
                    "Pagination": {"Page": 0, "PageSize": 1000}}
        return {"Guid": VOUCHER, "TimeStamp": "00000000020A5EA8", "Timestamp": "00000000020A5EA8",
                "ContactGuid": CONTACT, "ProductGuid": PRODUCT, "FileGuid": FILE_GUID, "Status": "Draft",
                "Recipients": [{"Email": "bogholderi@fjordhuset.dk"}]}

    def used_endpoints(self) -> set[str]:
        used = set()
        for method, path, _body in self.requests:
            for name, endpoint in ENDPOINTS.items():
                template = endpoint.path.replace("{org}", ORG)
                pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
                if endpoint.method == method and re.match(pattern, path):
                    used.add(name)
        return used


@pytest.fixture
def recorder():
    recorder = ContractRecorder()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json=token_answer())
        for method in ("GET", "POST", "PUT", "DELETE"):
            mock.add_callback(method, re.compile(re.escape(API) + r"/.*"), callback=recorder)
        yield recorder


def test_every_request_the_client_sends_is_a_documented_operation_with_a_valid_body(dinero, recorder):
    dinero.organizations()
    dinero.check_access()
    dinero.entry_accounts()
    dinero.purchase_accounts()
    dinero.deposit_accounts()
    dinero.vat_types()

    list(dinero.iter_contacts())
    dinero.get_contact(CONTACT)
    dinero.find_contact("rackbeat:customer:1012")
    dinero.create_contact(contact_body(ContactGuid=CONTACT))
    dinero.update_contact(CONTACT, contact_body())

    list(dinero.iter_products())
    dinero.get_product(PRODUCT)
    dinero.find_product("rackbeat:product:A-1001")
    dinero.find_product_by_number("A-1001")
    dinero.create_product(product_body())
    dinero.update_product(PRODUCT, product_body())

    dinero.create_invoice(invoice_body())
    dinero.invoice_totals(invoice_body())
    dinero.get_invoice(INVOICE)
    dinero.find_invoice("rackbeat:sales_invoice:10042")
    dinero.update_invoice(INVOICE, {**invoice_body(), "Timestamp": "00000000020A5EA8"})
    dinero.book_invoice(INVOICE, "00000000020A5EA8")
    dinero.email_invoice(INVOICE, timestamp="00000000020A5EA9")
    list(dinero.iter_invoices(status_filter="Booked"))
    list(dinero.iter_invoices(dated=(date(2026, 3, 1), date(2026, 3, 31))))
    list(dinero.iter_credit_notes(dated=(date(2026, 3, 1), date(2026, 3, 31))))

    dinero.create_credit_note(credit_note_body())
    dinero.get_credit_note(CREDIT_NOTE)
    dinero.find_credit_note("rackbeat:credit_note:10043")
    dinero.update_credit_note(CREDIT_NOTE, {**credit_note_body(), "Timestamp": "00000000020A5EA8"})
    dinero.book_credit_note(CREDIT_NOTE, "00000000020A5EA8")
    dinero.email_credit_note(CREDIT_NOTE)

    dinero.create_purchase_voucher(purchase_voucher_body())
    dinero.get_purchase_voucher(VOUCHER)
    dinero.purchase_voucher_totals(purchase_voucher_body())
    dinero.find_purchase_voucher_by_file(FILE_GUID)
    dinero.update_purchase_voucher(VOUCHER, {**purchase_voucher_body(), "Timestamp": "00000000020A5EA8"})
    dinero.book_purchase_voucher(VOUCHER, "00000000020A5EA8")

    dinero.create_manual_voucher(manual_voucher_body())
    dinero.get_manual_voucher(VOUCHER)
    dinero.update_manual_voucher(VOUCHER, {**manual_voucher_body(), "Timestamp": "00000000020A5EA8"})
    dinero.book_manual_voucher(VOUCHER, "00000000020A5EA8")

    dinero.upload_file("leverandørfaktura-2001.pdf", b"%PDF-1.4 test")
    dinero.find_unused_file("leverandørfaktura-2001.pdf")
    dinero.entries(date(2026, 3, 1), date(2026, 3, 31))

    assert recorder.problems == []
    assert recorder.used_endpoints() == set(ENDPOINTS), "every endpoint of the table is exercised"
    written = [body for method, _path, body in recorder.requests if method in ("POST", "PUT") and body]
    assert len(written) >= 15


def test_a_body_breaking_the_schema_is_caught_by_the_contract(dinero, recorder):
    dinero.create_manual_voucher({"VoucherDate": "2025-03-14", "Lines": [{"Amount": "1234,50", "Vat": "none"}]})
    assert recorder.problems, "a string amount and an unknown property must be reported"


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_endpoint_table_entry_is_a_current_operation_of_the_openapi_document(name):
    endpoint = ENDPOINTS[name]
    path = endpoint.path.replace("{org}", ORG).replace("{guid}", INVOICE).replace("{fileGuid}", FILE_GUID)
    operation = find_operation(endpoint.method, path)
    assert operation is not None, f"{endpoint.method} {endpoint.path} is not in Dinero's OpenAPI document"
    assert operation.template == endpoint.path.replace("{org}", "{organizationId}")
    assert not operation.deprecated


def test_versions_that_differ_per_operation_are_the_documented_ones():
    assert ENDPOINTS["update_invoice"].path == "/v1.2/{org}/invoices/{guid}"
    assert ENDPOINTS["create_purchase_voucher"].path == "/v1.2/{org}/vouchers/purchase"
    assert ENDPOINTS["update_contact"].path == "/v2/{org}/contacts/{guid}"
    assert ENDPOINTS["create_manual_voucher"].path == "/v1/{org}/vouchers/manuel"
