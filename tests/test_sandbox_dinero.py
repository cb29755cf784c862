"""The Dinero emulator answers like Dinero: envelopes, status codes, error shapes, arithmetic, faults.

Requests go through Django's test client to the emulator's URLs; the facts checked come from
../shared/reference/dinero-api.md and the official OpenAPI document.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from sandbox.dinero.models import Entry, Organization, SalesDocument, Voucher
from sandbox.dinero.seeding import create_contact, create_organization, create_product

API = "/sandbox/dinero"
ORG_ID = 400555


@pytest.fixture(autouse=True)
def dinero_credentials(settings):
    settings.DINERO_CLIENT_ID = "sandbox-client"
    settings.DINERO_CLIENT_SECRET = "sandbox-secret"
    settings.VISMA_CONNECT_CLIENT_ID = "isv_sandbox"
    settings.VISMA_CONNECT_CLIENT_SECRET = "sandbox-secret"
    settings.SANDBOX_DINERO_TIMEOUT_SECONDS = 0.01


@pytest.fixture
def org(db) -> Organization:
    return create_organization("Nordlys Lager ApS", organization_id=ORG_ID, api_key="nordlys-api-key")


def basic(client_id: str = "sandbox-client", secret: str = "sandbox-secret") -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def api_key_token(client: Client, api_key: str) -> str:
    response = client.post(f"{API}/oauth/token", {"grant_type": "password", "scope": "read write",
                                                  "username": api_key, "password": api_key},
                           HTTP_AUTHORIZATION=basic())
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


class Dinero:
    """A tiny caller with a bearer token for one organization."""

    def __init__(self, client: Client, token: str, org_id: int = ORG_ID) -> None:
        self.client, self.token, self.org_id = client, token, org_id

    def __call__(self, method: str, path: str, body: Any = None, **query: Any):
        path = path.format(org=self.org_id)
        kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        if method == "GET":
            return self.client.get(f"{API}{path}", query, **kwargs)
        if body is None:
            return getattr(self.client, method.lower())(f"{API}{path}", **kwargs)
        return getattr(self.client, method.lower())(f"{API}{path}", body, content_type="application/json", **kwargs)


@pytest.fixture
def dinero(client, org) -> Dinero:
    return Dinero(client, api_key_token(client, org.api_key))


@pytest.fixture
def customer(org):
    return create_contact(org, "Kunde A/S", email="kunde@example.com", external_reference="rackbeat:customer:501")


def invoice_body(contact_guid: Any = None, **extra: Any) -> dict[str, Any]:
    body = {"Date": "2026-03-31", "ProductLines": [
        {"Description": "Færdigvare", "Quantity": 3, "BaseAmountValue": 33.33, "Discount": 10,
         "AccountNumber": 1000, "Unit": "parts", "LineType": "Product"},
        {"Description": "Eksport", "Quantity": 1, "BaseAmountValue": 100, "Discount": 0,
         "AccountNumber": 1100, "Unit": "parts", "LineType": "Product"}]}
    if contact_guid:
        body["ContactGuid"] = str(contact_guid)
    return {**body, **extra}


# --- logins ----------------------------------------------------------------------------------------

def test_api_key_login_answers_a_bearer_token_without_refresh_token(client, org):
    response = client.post(f"{API}/oauth/token", {"grant_type": "password", "username": org.api_key,
                                                  "password": org.api_key}, HTTP_AUTHORIZATION=basic())
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["refresh_token"] is None


def test_api_key_login_refuses_bad_client_and_bad_key_in_oauth_shape(client, org):
    bad_client = client.post(f"{API}/oauth/token", {"grant_type": "password", "username": org.api_key,
                                                    "password": org.api_key}, HTTP_AUTHORIZATION=basic(secret="x"))
    assert bad_client.status_code == 401 and bad_client.json() == {"error": "invalid_client"}
    bad_key = client.post(f"{API}/oauth/token", {"grant_type": "password", "username": "nope", "password": "nope"},
                          HTTP_AUTHORIZATION=basic())
    assert bad_key.status_code == 400 and bad_key.json() == {"error": "invalid_grant"}


def test_every_call_needs_a_valid_bearer_token(client, org):
    assert client.get(f"{API}/v1/{ORG_ID}/contacts").status_code == 401
    assert client.get(f"{API}/v1/{ORG_ID}/contacts", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_a_token_of_one_organization_does_not_open_another(client, org, dinero):
    create_organization("Fjord Handel A/S", organization_id=400777, api_key="fjord-key")
    response = Dinero(client, dinero.token, 400777)("GET", "/v1/{org}/contacts")
    assert response.status_code == 403 and response.json()["code"] == 41


def test_organization_without_pro_is_refused_with_code_90_but_listed(client, db):
    basic_org = create_organization("Uden Pro ApS", organization_id=400999, api_key="nopro", has_pro=False)
    caller = Dinero(client, api_key_token(client, basic_org.api_key), 400999)
    refused = caller("GET", "/v1/{org}/contacts")
    assert refused.status_code == 403 and refused.json()["code"] == 90
    assert caller("GET", "/v1/organizations", fields="Id,Name,IsPro").json() == [
        {"Id": 400999, "Name": "Uden Pro ApS", "IsPro": False}]
    assert caller("GET", "/v1.1/organizations").json()[0]["Subscription"]["HasPro"] is False


def _pkce() -> tuple[str, str]:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_visma_connect_code_flow_with_pkce_and_rotating_refresh_tokens(client, org):
    verifier, challenge = _pkce()
    params = {"client_id": "isv_sandbox", "redirect_uri": "http://testserver/callback", "state": "s-1",
              "scope": "dineropublicapi:read dineropublicapi:write offline_access", "response_type": "code",
              "response_mode": "form_post", "code_challenge": challenge, "code_challenge_method": "S256"}
    page = client.get("/sandbox/visma/connect/authorize", params)
    assert page.status_code == 200 and "Nordlys Lager ApS" in page.content.decode()

    posted = client.post("/sandbox/visma/connect/authorize", {**params, "organization": [org.pk], "allow": "1"})
    html = posted.content.decode()
    assert 'action="http://testserver/callback"' in html and 'name="state" value="s-1"' in html
    code = re.search(r'name="code" value="([^"]+)"', html).group(1)

    form = {"client_id": "isv_sandbox", "client_secret": "sandbox-secret", "grant_type": "authorization_code",
            "code": code, "redirect_uri": "http://testserver/callback"}
    assert client.post("/sandbox/visma/connect/token", {**form, "code_verifier": "wrong" * 10}).status_code == 400
    tokens = client.post("/sandbox/visma/connect/token", {**form, "code_verifier": verifier}).json()
    assert tokens["expires_in"] == 3600 and tokens["refresh_token"]
    assert client.post("/sandbox/visma/connect/token", {**form, "code_verifier": verifier}).json() == {
        "error": "invalid_grant", "error_description": "The code is unknown, used or expired."}

    caller = Dinero(client, tokens["access_token"])
    assert [o["id"] for o in caller("GET", "/v1/organizations").json()] == [ORG_ID]
    assert caller("GET", "/v1/{org}/vatTypes").status_code == 200

    refresh = {"client_id": "isv_sandbox", "client_secret": "sandbox-secret", "grant_type": "refresh_token",
               "refresh_token": tokens["refresh_token"]}
    renewed = client.post("/sandbox/visma/connect/token", refresh)
    assert renewed.status_code == 200 and renewed.json()["refresh_token"] != tokens["refresh_token"]
    replayed = client.post("/sandbox/visma/connect/token", refresh)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"


def test_visma_deny_returns_access_denied_and_unknown_client_gets_no_consent_page(client, org):
    params = {"client_id": "isv_sandbox", "redirect_uri": "http://testserver/callback", "state": "s-2",
              "response_type": "code", "response_mode": "form_post"}
    denied = client.post("/sandbox/visma/connect/authorize", {**params, "deny": "1"}).content.decode()
    assert 'name="error" value="access_denied"' in denied and 'name="state" value="s-2"' in denied
    unknown = client.get("/sandbox/visma/connect/authorize", {**params, "client_id": "isv_other"})
    assert unknown.status_code == 400 and "Allow access</button>" not in unknown.content.decode()


# --- contract and errors -----------------------------------------------------------------------------

def test_body_violating_the_openapi_document_is_400_code_42_with_field_errors(dinero):
    response = dinero("POST", "/v1/{org}/contacts", {"Name": "Uden land", "IsPerson": "no"})
    body = response.json()
    assert response.status_code == 400 and body["code"] == 42 and body["message"] == "Validation error"
    assert "IsPerson" in body["validationErrors"] and "(body)" in body["validationErrors"]


def test_unit_outside_dineros_nineteen_is_refused(dinero, customer):
    body = invoice_body(customer.guid)
    body["ProductLines"][0]["Unit"] = "stk"
    response = dinero("POST", "/v1/{org}/invoices", body)
    assert response.status_code == 400 and "ProductLines[0].Unit" in response.json()["validationErrors"]


def test_unknown_path_or_wrong_version_is_404_code_40(dinero):
    assert dinero("GET", "/v1/{org}/nonsense").json()["code"] == 40
    wrong_version = dinero("PUT", "/v1/{org}/invoices/" + str(uuid.uuid4()), {"Timestamp": "x"})
    assert wrong_version.status_code == 404 and wrong_version.json()["code"] == 40


def test_deprecated_operation_answers_brownout_480(dinero, customer):
    response = dinero("PUT", f"/v1/{{org}}/contacts/{customer.guid}", {"Name": "X", "CountryKey": "DK",
                                                                      "IsPerson": False, "IsMember": False,
                                                                      "UseCvr": False})
    assert response.status_code == 480


def test_account_outside_the_chart_or_hidden_is_refused_naming_the_account(dinero, customer):
    body = invoice_body(customer.guid)
    body["ProductLines"][0]["AccountNumber"] = 1234
    missing = dinero("POST", "/v1/{org}/invoices", body).json()
    assert "1234" in missing["message"] and missing["validationErrors"] == {
        "ProductLines[0].AccountNumber": missing["message"]}
    body["ProductLines"][0]["AccountNumber"] = 9300
    assert "hidden" in dinero("POST", "/v1/{org}/invoices", body).json()["message"]


# --- contacts and products ---------------------------------------------------------------------------

def test_client_chosen_contact_guid_is_kept_and_found_by_external_reference(dinero):
    guid = str(uuid.uuid4())
    created = dinero("POST", "/v1/{org}/contacts", {"ContactGuid": guid, "Name": "Kunde B", "CountryKey": "DE",
                                                    "IsPerson": False, "IsMember": False, "UseCvr": False,
                                                    "ExternalReference": "rackbeat:customer:502"})
    assert created.status_code == 200 and created.json() == {"ContactGuid": guid}
    found = dinero("GET", "/v1/{org}/contacts", queryFilter="ExternalReference eq 'rackbeat:customer:502'",
                   fields="ContactGuid,Name,VatRegionKey").json()
    assert found["Collection"] == [{"ContactGuid": guid, "Name": "Kunde B", "VatRegionKey": "EU"}]
    assert dinero("GET", "/v1/{org}/contacts", queryFilter="Name contains 'kunde'").json()["Pagination"]["Result"] == 1
    again = dinero("POST", "/v1/{org}/contacts", {"ContactGuid": guid, "Name": "Kunde B", "CountryKey": "DE",
                                                  "IsPerson": False, "IsMember": False, "UseCvr": False})
    assert again.status_code == 400 and guid in again.json()["message"]


def test_contact_list_defaults_to_dineros_lower_camel_fields(dinero, customer):
    assert dinero("GET", "/v1/{org}/contacts").json()["Collection"] == [
        {"name": "Kunde A/S", "contactGuid": str(customer.guid)}]


def test_bare_word_query_filter_is_refused(dinero):
    response = dinero("GET", "/v1/{org}/contacts", queryFilter="Kunde")
    assert response.status_code == 400 and response.json()["validationErrors"]["queryFilter"]


def test_contact_update_is_a_full_replace_on_v2_and_deleted_ones_leave_v1_lists(dinero, customer):
    path = f"/v2/{{org}}/contacts/{customer.guid}"
    assert dinero("PUT", path, {"Name": "Kunde A/S (ny)", "CountryKey": "DK", "IsPerson": False,
                                "IsMember": False, "UseCvr": False}).status_code == 200
    read = dinero("GET", f"/v1/{{org}}/contacts/{customer.guid}").json()
    assert read["Name"] == "Kunde A/S (ny)" and read["Email"] is None
    deleted = dinero("DELETE", f"/v1/{{org}}/contacts/{customer.guid}")
    assert deleted.status_code == 200, deleted.content
    assert dinero("GET", "/v1/{org}/contacts").json()["Collection"] == []
    assert len(dinero("GET", "/v1/{org}/contacts", deletedOnly="true").json()["Collection"]) == 1
    assert len(dinero("GET", "/v2/{org}/contacts").json()["Collection"]) == 1


def test_products_are_paged_from_page_zero(dinero, org):
    for n in range(5):
        create_product(org, f"Vare {n}", price="10", product_number=f"V-{n}")
    first = dinero("GET", "/v1/{org}/products", page=0, pageSize=2, fields="ProductNumber").json()
    last = dinero("GET", "/v1/{org}/products", page=2, pageSize=2, fields="ProductNumber").json()
    assert first["Pagination"] == {"MaxPageSizeAllowed": 1000, "PageSize": 2, "Result": 2,
                                   "ResultWithoutFilter": 5, "Page": 0}
    assert first["Collection"] == [{"ProductNumber": "V-0"}, {"ProductNumber": "V-1"}]
    assert last["Collection"] == [{"ProductNumber": "V-4"}]
    assert dinero("GET", "/v1/{org}/products", pageSize=1001).status_code == 400


def test_product_read_model_has_prices_incl_vat_from_the_account(dinero):
    guid = dinero("POST", "/v1/{org}/products", {"Name": "Vare", "BaseAmountValue": 80, "Quantity": 1,
                                                 "AccountNumber": 1000, "Unit": "parts"}).json()["ProductGuid"]
    read = dinero("GET", f"/v1/{{org}}/products/{guid}").json()
    assert read["BaseAmountValueInclVat"] == 100.0 and read["TotalAmount"] == 80.0


# --- invoices ------------------------------------------------------------------------------------------

def test_invoice_line_with_a_product_reads_with_the_products_name(dinero, customer):
    """Dinero's OpenAPI document: the line's Description always has a value on the read model."""
    product = dinero("POST", "/v1/{org}/products", {"Name": "Vare med navn", "BaseAmountValue": 80, "Quantity": 1,
                                                    "AccountNumber": 1000, "Unit": "parts"}).json()["ProductGuid"]
    body = invoice_body(customer.guid, ProductLines=[
        {"ProductGuid": product, "Description": None, "Quantity": 1, "BaseAmountValue": 80, "Discount": 0,
         "AccountNumber": 1000, "Unit": "parts", "LineType": "Product"}])
    guid = dinero("POST", "/v1/{org}/invoices", body).json()["Guid"]
    read = dinero("GET", f"/v1/{{org}}/invoices/{guid}").json()
    assert [line["Description"] for line in read["ProductLines"]] == ["Vare med navn"]
    fetched = dinero("POST", "/v1/{org}/invoices/fetch", body).json()
    assert [line["Description"] for line in fetched["ProductLines"]] == ["Vare med navn"]


def test_invoice_totals_to_the_ore_and_the_client_chosen_guid(dinero, customer):
    guid = str(uuid.uuid4())
    created = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid, Guid=guid,
                                                                 ExternalReference="rackbeat:customer-invoice:9"))
    assert created.status_code == 200 and created.json()["Guid"] == guid
    assert re.fullmatch(r"[0-9A-F]{16}", created.json()["TimeStamp"])
    read = dinero("GET", f"/v1/{{org}}/invoices/{guid}").json()
    # 3 × 33.33 × 0.9 = 89.991 → 89.99; VAT 22.4975 → 22.50; the EU line has no VAT.
    assert [line["TotalAmount"] for line in read["ProductLines"]] == [89.99, 100.0]
    assert (read["TotalExclVat"], read["TotalVat"], read["TotalInclVat"]) == (189.99, 22.5, 212.49)
    assert read["Status"] == "Draft" and read["ContactName"] == "Kunde A/S" and read["PaymentDate"] == "2026-04-08"
    fetched = dinero("POST", "/v1/{org}/invoices/fetch", invoice_body(customer.guid)).json()
    assert fetched["TotalInclVat"] == 212.49
    assert SalesDocument.objects.count() == 1


def test_same_guid_twice_is_refused_with_a_clear_message(dinero, customer):
    guid = str(uuid.uuid4())
    dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid, Guid=guid))
    second = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid, Guid=guid))
    assert second.status_code == 400 and "already exists" in second.json()["message"]


def test_booking_needs_the_current_timestamp_and_a_contact(dinero, customer):
    draft = dinero("POST", "/v1/{org}/invoices", invoice_body()).json()
    no_contact = dinero("POST", f"/v1/{{org}}/invoices/{draft['Guid']}/book", {"Timestamp": draft["TimeStamp"]})
    assert no_contact.status_code == 400 and "ContactGuid" in no_contact.json()["validationErrors"]

    updated = dinero("PUT", f"/v1.2/{{org}}/invoices/{draft['Guid']}",
                     {**invoice_body(customer.guid), "Timestamp": draft["TimeStamp"]}).json()
    assert updated["TimeStamp"] != draft["TimeStamp"]
    stale = dinero("POST", f"/v1/{{org}}/invoices/{draft['Guid']}/book", {"Timestamp": draft["TimeStamp"]})
    assert stale.status_code == 400 and stale.json()["code"] == 58

    booked = dinero("POST", f"/v1/{{org}}/invoices/{draft['Guid']}/book", {"Timestamp": updated["TimeStamp"]}).json()
    assert booked["Status"] == "Booked" and booked["Number"] == 1
    entries = Entry.objects.filter(voucher_guid=draft["Guid"])
    assert sum(e.amount for e in entries) == 0 and entries.get(account_number=56000).amount == Decimal("212.49")


def test_email_is_for_booked_invoices_and_records_the_recipients(dinero, customer):
    draft = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid)).json()
    path = f"/v1/{{org}}/invoices/{draft['Guid']}"
    assert dinero("POST", f"{path}/email", {"ShouldAddTrustPilotEmailAsBcc": False}).status_code == 400
    dinero("POST", f"{path}/book", {"Timestamp": draft["TimeStamp"]})
    sent = dinero("POST", f"{path}/email", {"ShouldAddTrustPilotEmailAsBcc": False})
    assert sent.json() == {"Recipients": [{"Email": "kunde@example.com"}]}
    assert dinero("GET", path).json()["MailOutStatus"] == "Sent"


def test_invoice_list_envelope_filters_and_status(dinero, customer):
    for n in range(3):
        created = dinero("POST", "/v1/{org}/invoices",
                         invoice_body(customer.guid, ExternalReference=f"rackbeat:customer-invoice:{n}")).json()
        if n == 0:
            dinero("POST", f"/v1/{{org}}/invoices/{created['Guid']}/book", {"Timestamp": created["TimeStamp"]})
    found = dinero("GET", "/v1/{org}/invoices", queryFilter="ExternalReference eq 'rackbeat:customer-invoice:1'",
                   fields="Guid,ExternalReference,Status").json()
    assert [i["ExternalReference"] for i in found["Collection"]] == ["rackbeat:customer-invoice:1"]
    drafts = dinero("GET", "/v1/{org}/invoices", statusFilter="Draft", fields="Status").json()
    assert drafts["Collection"] == [{"Status": "Draft"}, {"Status": "Draft"}]
    assert dinero("GET", "/v1/{org}/invoices", changesSince="2999-01-01T00:00:00Z").json()["Collection"] == []


def test_credit_note_for_a_booked_invoice_books_with_opposite_entries(dinero, customer):
    invoice = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid)).json()
    dinero("POST", f"/v1/{{org}}/invoices/{invoice['Guid']}/book", {"Timestamp": invoice["TimeStamp"]})
    body = invoice_body(customer.guid, CreditNoteFor=invoice["Guid"])
    note = dinero("POST", "/v1/{org}/sales/creditnotes", body).json()
    booked = dinero("POST", f"/v1/{{org}}/sales/creditnotes/{note['Guid']}/book", {"Timestamp": note["TimeStamp"]})
    assert booked.json()["CreditNoteFor"] == invoice["Guid"] and booked.json()["Number"] == 2
    assert Entry.objects.get(voucher_guid=note["Guid"], account_number=56000).amount == Decimal("-212.49")


# --- vouchers, files, reference data -------------------------------------------------------------------

def test_credit_purchase_voucher_needs_supplier_and_payment_date_to_book(dinero, org):
    supplier = create_contact(org, "Leverandør ApS")
    body = {"PurchaseType": "credit", "VoucherDate": "2026-03-20",
            "Lines": [{"Amount": 1250, "AccountNumber": 2000, "Description": "Varer"}]}
    draft = dinero("POST", "/v1.2/{org}/vouchers/purchase", body).json()
    assert draft["Status"] == "Draft" and "Timestamp" in draft
    assert draft["Lines"][0]["AmountExclVatValue"] == 1000.0 and draft["Lines"][0]["VatAmountValue"] == 250.0
    refused = dinero("POST", f"/v1/{{org}}/vouchers/purchase/{draft['Guid']}/book", {"Timestamp": draft["Timestamp"]})
    assert refused.status_code == 400 and "ContactGuid" in refused.json()["validationErrors"]

    voucher = Voucher.objects.get(guid=draft["Guid"])
    voucher.data = {**voucher.data, "ContactGuid": str(supplier.guid), "PaymentDate": "2026-04-19"}
    voucher.save()
    booked = dinero("POST", f"/v1/{{org}}/vouchers/purchase/{draft['Guid']}/book", {"Timestamp": draft["Timestamp"]})
    assert booked.status_code == 200 and booked.json()["VoucherNumber"] == 1
    assert dinero("GET", f"/v1/{{org}}/vouchers/purchase/{draft['Guid']}").json()["Status"] in ("Booked", "Overdue")


def test_purchase_voucher_fetch_computes_without_storing(dinero, org):
    supplier = create_contact(org, "Leverandør ApS")
    body = {"PurchaseType": "credit", "VoucherDate": "2026-03-20", "PaymentDate": "2026-04-19",
            "ContactGuid": str(supplier.guid), "ExternalReference": "rackbeat:supplier-invoice:7",
            "Lines": [{"Amount": 1250, "AccountNumber": 2000, "Description": "Varer"},
                      {"Amount": 400, "AccountNumber": 2050, "Description": "EU-varer"}]}
    fetched = dinero("POST", "/v1/{org}/vouchers/purchase/fetch", body)
    assert fetched.status_code == 200
    answer = fetched.json()
    assert [(v["AccountNumber"], v["VatCode"], v["AmountExclVatValue"]) for v in answer["Lines"]] == [
        (2000, "I25", 1000.0), (2050, "IEUV", 400.0)]
    assert {t["Type"]: t["Total"] for t in answer["VoucherTotals"]}["Total"] == 1650.0
    assert "Guid" not in answer and not Voucher.objects.exists()
    refused = dinero("POST", "/v1/{org}/vouchers/purchase/fetch", {**body, "Lines": [{"Amount": 1, "AccountNumber": 1000}]})
    assert refused.status_code == 400


def test_purchase_lines_must_use_purchase_accounts(dinero):
    body = {"PurchaseType": "cash", "Lines": [{"Amount": 100, "AccountNumber": 1000}]}
    response = dinero("POST", "/v1.2/{org}/vouchers/purchase", body)
    assert response.status_code == 400 and "purchase account" in response.json()["message"]


def test_manual_voucher_with_vat_code_none_books_without_vat_and_shows_in_entry_changes(dinero):
    body = {"VoucherDate": "2026-03-31", "ExternalReference": "rackbeat:consumption:1",
            "Lines": [{"Description": "Vareforbrug", "Amount": 432, "AccountNumber": 1600,
                       "BalancingAccountNumber": 58100, "AccountVatCode": "none", "BalancingAccountVatCode": "none"}]}
    draft = dinero("POST", "/v1/{org}/vouchers/manuel", body).json()
    booked = dinero("POST", f"/v1/{{org}}/vouchers/manuel/{draft['Guid']}/book", {"Timestamp": draft["Timestamp"]})
    line = booked.json()["Lines"][0]
    assert line["VatAmountValue"] == 0.0 and line["AmountInclVatValue"] == 432.0
    changes = dinero("GET", "/v1/{org}/entries/changes", changesFrom="2000-01-01T00:00:00Z",
                     changesTo="2000-01-02T00:00:00Z")
    assert changes.json() == []
    from django.utils import timezone
    now = timezone.now()
    window = {"changesFrom": (now - timezone.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "changesTo": (now + timezone.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    entries = dinero("GET", "/v1/{org}/entries/changes", **window).json()
    assert {(e["AccountNumber"], e["Amount"]) for e in entries} == {(1600, 432.0), (58100, -432.0)}
    assert {e["VoucherGuid"] for e in entries} == {draft["Guid"]}


def test_file_upload_answers_an_opaque_file_guid(client, dinero):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(f"{API}/v1/{ORG_ID}/files?fileName=bilag.pdf",
                           {"file": SimpleUploadedFile("bilag.pdf", b"%PDF-1.4 test", "application/pdf")},
                           HTTP_AUTHORIZATION=f"Bearer {dinero.token}")
    assert response.status_code == 200 and response.json()["FileGuid"].startswith("web0")


def test_reference_data_are_plain_arrays(dinero):
    accounts = dinero("GET", "/v1/{org}/accounts/entry", fields="AccountNumber,Name,VatCode").json()
    assert {"AccountNumber": 1000, "Name": "Salg af varer/ydelser m/moms", "VatCode": "U25"} in accounts
    purchase = dinero("GET", "/v1/{org}/accounts/purchase").json()
    assert all(2000 <= a["AccountNumber"] <= 9399 for a in purchase)
    assert [a["AccountNumber"] for a in dinero("GET", "/v1/{org}/accounts/deposit").json()] == [55000, 55100]
    codes = {v["VatCode"]: v["VatRate"] for v in dinero("GET", "/v1/{org}/vatTypes").json()}
    assert codes["U25"] == 0.25 and {"I25", "IEUV", "IEUY", "IVV", "IVY"} <= set(codes)


# --- rate limit and faults -----------------------------------------------------------------------------

def test_past_the_per_minute_budget_dinero_answers_429_in_plain_text(dinero, org):
    Organization.objects.filter(pk=org.pk).update(rate_limit_per_minute=2)
    answers = [dinero("GET", "/v1/{org}/vatTypes") for _ in range(5)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    # The third is refused, unless the minute turned meanwhile; then the fifth is.
    refused = next(a for a in answers[2:] if a.status_code == 429)
    assert refused.status_code == 429 and refused["Content-Type"].startswith("text/plain")
    assert refused.content.decode().startswith("API calls quota exceeded!")


def test_the_sliding_minute_counts_the_last_sixty_seconds_not_the_calendar_minute(dinero, org, settings):
    from datetime import timedelta

    from django.utils import timezone

    from sandbox.dinero.models import RequestCount

    settings.SANDBOX_DINERO_SLIDING_MINUTE = True
    Organization.objects.filter(pk=org.pk).update(rate_limit_per_minute=3)
    # Two requests 50 seconds ago — in the previous calendar minute, perhaps — still count.
    RequestCount.objects.create(organization=org, minute=timezone.now().replace(microsecond=0)
                                - timedelta(seconds=50), count=2)
    answers = [dinero("GET", "/v1/{org}/vatTypes").status_code for _ in range(2)]
    assert answers == [200, 429]
    # Older than a minute: no longer counted.
    RequestCount.objects.all().delete()
    RequestCount.objects.create(organization=org, minute=timezone.now().replace(microsecond=0)
                                - timedelta(seconds=62), count=3)
    assert dinero("GET", "/v1/{org}/vatTypes").status_code == 200


def test_500_after_the_write_leaves_the_invoice_stored(dinero, org, customer):
    Organization.objects.filter(pk=org.pk).update(fail_next_500_after_write=1)
    assert dinero("GET", "/v1/{org}/invoices").status_code == 200  # reads do not use up the switch
    guid = str(uuid.uuid4())
    failed = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid, Guid=guid))
    assert failed.status_code == 500
    assert dinero("GET", f"/v1/{{org}}/invoices/{guid}").json()["Guid"] == guid


def test_500_before_the_write_stores_nothing_and_counters_run_down(dinero, org, customer):
    Organization.objects.filter(pk=org.pk).update(fail_next_500=1, fail_next_429=1)
    limited = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid))
    assert limited.status_code == 429
    failed = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid))
    assert failed.status_code == 500 and not SalesDocument.objects.exists()
    assert dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid)).status_code == 200


def test_timeout_fault_answers_late_but_still_processes_the_request(dinero, org, customer):
    Organization.objects.filter(pk=org.pk).update(fail_next_timeout=1)
    assert dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid)).status_code == 200
    assert Organization.objects.get(pk=org.pk).fail_next_timeout == 0


# --- web app -------------------------------------------------------------------------------------------

def test_web_app_shows_what_arrived_to_staff_only(client, dinero, customer, superuser):
    created = dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid,
                                                                ExternalReference="rackbeat:customer-invoice:7"))
    url = f"{API}/app/{ORG_ID}/invoices/{created.json()['Guid']}/"
    assert client.get(url).status_code == 302
    client.force_login(superuser)
    page = client.get(url).content.decode()
    assert client.get(url.rstrip("/")).status_code == 200  # the service's links have no trailing slash
    assert "212.49" in page and "Færdigvare" in page and "1100" in page
    overview = client.get(f"{API}/app/{ORG_ID}/").content.decode()
    assert "rackbeat:customer-invoice:7" in overview and "Kunde A/S" in overview
    contact = client.get(f"{API}/app/{ORG_ID}/contacts/{customer.guid}/")
    assert contact.status_code == 200


# --- the service's own Dinero client over real HTTP ---------------------------------------------------

@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_dinero_client_runs_a_whole_invoice_against_the_emulator(sandbox_urls, connection, settings):
    from integration.core.clients.dinero import DineroClient
    from integration.core.clients.errors import UncertainOutcome

    settings.SANDBOX_DINERO_TIMEOUT_SECONDS = 0.01
    org = create_organization(connection.name, organization_id=int(connection.dinero_organization_id),
                              api_key=connection.dinero_api_key)
    client = DineroClient(connection)
    assert client.check_access()["Id"] == org.organization_id
    assert {"U25", "I25"} <= {v["VatCode"] for v in client.vat_types()}

    contact = client.create_contact({"Name": "Kunde A/S", "Email": "kunde@example.com", "CountryKey": "DK",
                                     "IsPerson": False, "IsMember": False, "UseCvr": False,
                                     "ExternalReference": "rackbeat:customer:501"})
    assert client.find_contact("rackbeat:customer:501")["ContactGuid"] == contact

    guid = str(uuid.uuid4())
    body = invoice_body(contact, Guid=guid, ExternalReference="rackbeat:customer-invoice:1")
    assert client.invoice_totals(body)["TotalInclVat"] == 212.49
    Organization.objects.filter(pk=org.pk).update(fail_next_500_after_write=1)
    with pytest.raises(UncertainOutcome):
        client.create_invoice(body)
    found = client.find_invoice("rackbeat:customer-invoice:1")
    assert found["Guid"] == guid

    draft = client.get_invoice(guid)
    booked = client.book_invoice(guid, draft["TimeStamp"])
    assert booked["Status"] == "Booked" and booked["Number"] == 1
    assert client.email_invoice(guid)["Recipients"] == [{"Email": "kunde@example.com"}]

    file_guid = client.upload_file("bilag.pdf", b"%PDF-1.4 sandbox")
    voucher = client.create_manual_voucher({"VoucherDate": "2026-03-31", "FileGuid": file_guid, "Lines": [
        {"Description": "Vareforbrug", "Amount": 100, "AccountNumber": 1600, "BalancingAccountNumber": 58100,
         "AccountVatCode": "none", "BalancingAccountVatCode": "none"}]})
    assert client.book_manual_voucher(voucher["Guid"], voucher["Timestamp"])["Status"] == "Booked"
    assert client.document_url("invoice", guid).startswith(f"{sandbox_urls}/sandbox/dinero/app/")


def test_purchase_dry_run_computes_totals_and_saves_nothing(dinero):
    body = {"PurchaseType": "credit", "VoucherDate": "2026-03-20",
            "Lines": [{"Amount": 125, "AccountNumber": 2000, "Description": "Varer", "VatCode": "I25"},
                      {"Amount": 10, "AccountNumber": 2000, "Description": "Fragt", "VatCode": "none"}]}
    answer = dinero("POST", "/v1/{org}/vouchers/purchase/fetch", body)
    assert answer.status_code == 200
    totals = {t["Type"]: t["Total"] for t in answer.json()["VoucherTotals"]}
    assert totals == {"SubTotal": 110.0, "Vat": 25.0, "Total": 135.0}
    assert "Guid" not in answer.json()
    assert not Voucher.objects.exists()


def test_purchase_vouchers_are_found_by_their_file(client, dinero):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file_guid = client.post(f"{API}/v1/{ORG_ID}/files?fileName=bilag.pdf",
                            {"file": SimpleUploadedFile("bilag.pdf", b"%PDF-1.4 test", "application/pdf")},
                            HTTP_AUTHORIZATION=f"Bearer {dinero.token}").json()["FileGuid"]
    assert dinero("GET", f"/v1/{{org}}/vouchers/purchase/fileguid/{file_guid}").json() == []
    body = {"PurchaseType": "credit", "VoucherDate": "2026-03-20", "FileGuid": file_guid,
            "Lines": [{"Amount": 125, "AccountNumber": 2000, "Description": "Varer"}]}
    created = dinero("POST", "/v1.2/{org}/vouchers/purchase", body).json()
    assert dinero("GET", f"/v1/{{org}}/vouchers/purchase/fileguid/{file_guid}").json() == [created["Guid"]]


def test_dry_run_is_not_a_write_whose_answer_can_be_lost(dinero, org):
    Organization.objects.filter(pk=org.pk).update(fail_next_500_after_write=1)
    body = {"PurchaseType": "credit", "VoucherDate": "2026-03-20",
            "Lines": [{"Amount": 125, "AccountNumber": 2000, "Description": "Varer"}]}
    assert dinero("POST", "/v1/{org}/vouchers/purchase/fetch", body).status_code == 200
    assert dinero("POST", "/v1.2/{org}/vouchers/purchase", body).status_code == 500  # the next real write
    assert Voucher.objects.count() == 1
