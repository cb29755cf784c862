"""The emulated Rackbeat behaves like the real one: envelopes, status codes, errors, paging, webhooks."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses
from django.test import Client

from sandbox.rackbeat import models as m
from sandbox.rackbeat.invoicing import line_figures

API = "/sandbox/rackbeat/api/"
HOOK_URL = "https://integration.example.test/webhooks/rackbeat"


@pytest.fixture
def account(request) -> m.Account:
    request.getfixturevalue("transactional_db" if "sync_webhooks" in request.fixturenames else "db")
    account = m.Account.objects.create(account_id=7001, company_name="Test Lager ApS", api_token="token-7001")
    goods = m.ProductGroup.objects.create(account=account, number=1, name="Færdigvarer", vat_domestic=Decimal("25"),
                                          vat_eu=Decimal("0"), vat_abroad=Decimal("0"))
    m.ProductGroup.objects.create(account=account, number=2, name="Ydelser", vat_domestic=Decimal("25"))
    pcs = m.Unit.objects.create(account=account, number=1, name="stk")
    terms = m.PaymentTerm.objects.create(account=account, number=1, name="Netto 8 dage", maturity_days=8)
    m.Customer.objects.create(account=account, number=1, name="Domestic A/S", contact_email="a@example.dk",
                              vat_zone="domestic", payment_terms=terms)
    m.Customer.objects.create(account=account, number=2, name="Europe GmbH", vat_zone="eu", currency="EUR",
                              address_country="DE")
    m.Supplier.objects.create(account=account, number=1, name="Leverandør ApS", vat_zone="domestic")
    m.Item.objects.create(account=account, number="ABC/123+DEF", name="Slash product", group=goods, unit=pcs,
                          sales_price=Decimal("99.95"), cost_price=Decimal("40.10"))
    m.Item.objects.create(account=account, number="P 2", name="Spaced product", group=goods, unit=pcs,
                          sales_price=Decimal("10.00"), cost_price=Decimal("3.00"))
    return account


@pytest.fixture
def api(client: Client, account: m.Account):
    """Send a JSON request with the account's bearer token; returns the response."""

    def call(method: str, path: str, body: dict | None = None, token: str | None = None, **extra):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token or account.api_token}", **extra}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method.lower())(API + path, **kwargs)

    return call


@pytest.fixture
def sync_webhooks(transactional_db, settings):
    """Real commits (deliveries wait for them), sent before the API call answers."""
    settings.SANDBOX_WEBHOOKS_SYNC = True


def register(account: m.Account, event: str) -> m.Webhook:
    return m.Webhook.objects.create(account=account, event=event, url=HOOK_URL)


# --- authentication and envelopes ----------------------------------------------------------------------

def test_missing_or_wrong_token_is_refused_with_json_401(api, client):
    assert client.get(API + "self").status_code == 401
    response = api("GET", "self", token="not-a-token")
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthenticated."


def test_self_names_the_account(api, account):
    body = api("GET", "self").json()
    assert body["user_account"]["id"] == 7001
    assert body["user_account"]["company_name"] == "Test Lager ApS"
    assert "name" in body["user"]


def test_lists_answer_206_with_paging_metadata(api):
    response = api("GET", "customers")
    assert response.status_code == 206
    body = response.json()
    assert set(body) == {"customers", "total", "pages", "limit", "page"}
    assert (body["total"], body["pages"], body["limit"], body["page"]) == (2, 1, 20, 1)


def test_paging_is_one_based_and_limit_is_capped(api, account):
    for number in range(3, 26):
        m.Customer.objects.create(account=account, number=number, name=f"Kunde {number}")
    first = api("GET", "customers?limit=10").json()
    third = api("GET", "customers?limit=10&page=3").json()
    assert first["pages"] == 3 and [c["number"] for c in first["customers"]][:2] == [1, 2]
    assert [c["number"] for c in third["customers"]] == [21, 22, 23, 24, 25]
    assert api("GET", "customers?limit=10&page=9").json()["customers"] == []
    assert api("GET", "customers?limit=5000").json()["limit"] == 1000


def test_single_objects_are_wrapped_in_their_singular_key(api):
    body = api("GET", "customers/1").json()
    assert body["customer"]["name"] == "Domestic A/S"
    assert body["customer"]["payment_terms"]["maturity_days"] == 8
    assert api("GET", "customers/999").status_code == 404


def test_product_paths_accept_double_encoded_and_urlfriendly_numbers(api):
    double = api("GET", "products/ABC%252F123%252BDEF")
    assert double.status_code == 200
    product = double.json()["product"]
    assert product["number"] == "ABC/123+DEF"
    assert product["group"]["vat_domestic"] == 25
    assert api("GET", f"products/{product['urlfriendly_number']}").json()["product"]["number"] == "ABC/123+DEF"
    assert api("GET", "products/P%25202").json()["product"]["name"] == "Spaced product"


def test_items_lists_products_and_boms_together(api, account):
    created = api("POST", "lots", {"number": "KIT 1", "name": "Startkit", "group": 1, "sales_price": 150,
                                   "lines": [{"product_id": "P 2", "quantity": 3}]})
    assert created.status_code == 201
    assert created.json()["lot"]["lines"][0] == {"id": created.json()["lot"]["lines"][0]["id"],
                                                 "product_id": "P 2", "name": "Spaced product", "quantity": 3.0}
    types = sorted(i["type"] for i in api("GET", "items").json()["items"])
    assert types == ["lot", "product", "product"]
    assert api("POST", "items", {"number": "X"}).status_code == 405


# --- writes and validation --------------------------------------------------------------------------------

def test_create_answers_201_and_validation_answers_422_with_field_paths(api):
    created = api("POST", "customers", {"name": "Ny Kunde ApS", "vat_zone": "domestic", "contact_email": "ny@x.dk"})
    assert created.status_code == 201
    assert created.json()["customer"]["number"] == 3

    refused = api("POST", "customers", {"number": 1, "customer_group_id": 77, "vat_zone": "mars"})
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert errors["name"] == ["The name field is required."]
    assert errors["number"] == ["The number has already been taken."]
    assert "customer_group_id" in errors and "vat_zone" in errors


def test_product_needs_an_existing_group(api):
    refused = api("POST", "products", {"number": "N-1", "name": "Ny", "group": 42, "sales_price": 1})
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"group": ["The selected group is invalid."]}


def test_invoice_line_with_unknown_item_names_the_line(api):
    refused = api("POST", "customer-invoices", {"customer_id": 1, "lines": [
        {"item_id": "P 2", "quantity": 1}, {"item_id": "NOPE", "quantity": 1}]})
    assert refused.status_code == 422
    assert list(refused.json()["errors"]) == ["lines.1.item_id"]


def test_updated_at_from_filters_in_copenhagen_time(api, account):
    m.Customer.objects.filter(account=account, number=1).update(updated_at="2025-03-01T10:00:00+00:00")
    m.Customer.objects.filter(account=account, number=2).update(updated_at="2025-03-01T12:00:00+00:00")
    # 12:30 in Copenhagen (UTC+1 in March) is 11:30 UTC: only customer 2 is newer.
    body = api("GET", "customers?updated_at_from=2025-03-01 12:30:00").json()
    assert [c["number"] for c in body["customers"]] == [2]
    assert api("GET", "customers?updated_at_from=yesterday").status_code == 422


def test_invoice_date_filters_take_the_calendar_date(api):
    for day in ("2025-02-28", "2025-03-01", "2025-03-31", "2025-04-01"):
        api("POST", "customer-invoices", {"customer_id": 1, "invoice_date": day, "lines": [{"item_id": "P 2", "quantity": 1}]})
    body = api("GET", "customer-invoices?invoice_date_from=2025-03-01 00:00:00&invoice_date_to=2025-03-31 23:59:59").json()
    assert sorted(i["invoice_date"] for i in body["customer_invoices"]) == ["2025-03-01", "2025-03-31"]
    assert api("GET", "customer-invoices?invoice_date_from=March").status_code == 422


# --- invoices and totals -----------------------------------------------------------------------------------

def test_line_totals_and_vat_are_rounded_to_the_ore():
    assert line_figures(Decimal("3"), Decimal("33.335"), Decimal("12.5"), Decimal("25")) == (
        Decimal("87.50"), Decimal("21.88"))


def test_sales_invoice_totals_match_rackbeats_arithmetic(api, account):
    m.Account.objects.filter(pk=account.pk).update(document_shape=m.DocumentShape.EARLY)
    response = api("POST", "customer-invoices", {"customer_id": 1, "invoice_date": "2025-02-10", "lines": [
        {"item_id": "ABC/123+DEF", "quantity": 3, "discount_percentage": 12.5},
        {"item_id": "P 2", "quantity": "7", "line_price": "1.115"},
        {"name": "Tekstlinje uden vare"},
    ]})
    assert response.status_code == 201
    invoice = response.json()["customer_invoice"]
    # 3 × 99.95 × 0.875 = 262.36875 → 262.37; VAT 65.5925 → 65.59.  7 × 1.115 = 7.805 → 7.81; VAT 1.9525 → 1.95.
    assert Decimal(str(invoice["total_subtotal"])) == Decimal("270.18")
    assert Decimal(str(invoice["total_vat"])) == Decimal("67.54")
    assert Decimal(str(invoice["total_total"])) == Decimal("337.72")
    assert invoice["due_date"] == "2025-02-18"
    assert invoice["is_booked"] is False
    first = invoice["lines"][0]
    assert first["vat_percentage"] == 25
    assert first["item"]["group"] == {"number": 1, "name": "Færdigvarer"}
    assert first["item"]["unit"]["name"] == "stk"
    assert first["item"]["inventory_enabled"] is True
    assert first["cost_price"] == 40.1
    assert invoice["lines"][2]["item"] is None
    assert invoice["customer"]["number"] == 1
    assert invoice["is_credit_note"] is False


def test_real_shape_lines_name_their_item_by_child_id_and_carry_item_cost_price(api):
    number = api("POST", "customer-invoices", {"customer_id": 1, "lines": [
        {"item_id": "ABC/123+DEF", "quantity": 3}, {"name": "Tekstlinje uden vare"}]}).json()["customer_invoice"]["number"]
    invoice = api("POST", f"customer-invoices/{number}/book").json()["customer_invoice"]
    first, text = invoice["lines"]
    assert (first["child_id"], first["child_type"]) == ("ABC/123+DEF", "product")
    assert first["item_cost_price"] == 40.1 and "cost_price" not in first
    assert first["item"] == {"number": "ABC/123+DEF", "name": "Slash product",
                             "group": {"number": 1, "name": "Færdigvarer"}}
    assert text["child_id"] is None and "item" not in text
    assert invoice["is_creditnote"] is False and "is_credit_note" not in invoice
    assert set(invoice["customer"]) == {"number", "name", "customer_group_id"}


def test_real_shape_credit_note_carries_negative_amounts(api):
    credit = api("POST", "customer-invoices", {"customer_id": 1, "is_creditnote": True, "lines": [
        {"item_id": "P 2", "quantity": 2}]}).json()["customer_invoice"]
    assert credit["is_creditnote"] is True
    assert (credit["total_subtotal"], credit["total_vat"], credit["total_total"]) == (-20.0, -5.0, -25.0)
    assert (credit["lines"][0]["quantity"], credit["lines"][0]["line_total"]) == (-2.0, -20.0)
    assert credit["lines"][0]["line_price"] == 10.0


def test_free_line_is_taxed_at_the_zones_standard_rate(api):
    domestic = api("POST", "customer-invoices", {"customer_id": 1, "lines": [
        {"name": "Montage", "quantity": 1, "line_price": 400}]}).json()["customer_invoice"]
    assert (domestic["total_vat"], domestic["total_total"]) == (100.0, 500.0)
    eu = api("POST", "customer-invoices", {"customer_id": 2, "lines": [
        {"name": "Montage", "quantity": 1, "line_price": 400}]}).json()["customer_invoice"]
    assert (eu["total_vat"], eu["total_total"]) == (0.0, 400.0)
    own_rate = api("POST", "customer-invoices", {"customer_id": 1, "lines": [
        {"name": "Momsfri ydelse", "quantity": 1, "line_price": 400, "vat_percentage": 0}]}).json()["customer_invoice"]
    assert own_rate["total_total"] == 400.0


def test_eu_customer_gets_the_groups_eu_rate(api):
    invoice = api("POST", "customer-invoices/drafts", {"customer_id": 2, "lines": [
        {"item_id": "P 2", "quantity": 2}]}).json()["customer_invoice"]
    assert invoice["vat_zone"] == "eu" and invoice["currency"] == "EUR"
    assert invoice["lines"][0]["vat_percentage"] == 0
    assert invoice["total_vat"] == 0


def test_booking_makes_the_invoice_booked_and_immutable(api):
    number = api("POST", "customer-invoices", {"customer_id": 1, "lines": [
        {"item_id": "P 2", "quantity": 1}]}).json()["customer_invoice"]["number"]
    booked = api("POST", f"customer-invoices/{number}/book", {})
    assert booked.status_code == 200
    assert booked.json()["customer_invoice"]["is_booked"] is True
    assert booked.json()["customer_invoice"]["booked_at"]
    assert api("PUT", f"customer-invoices/{number}", {"note": "x"}).status_code == 422
    assert api("POST", f"customer-invoices/{number}/book", {}).status_code == 422
    refused = api("GET", "customer-invoices?is_booked=true")
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"is_booked": ["Property 'is_booked' is not filterable"]}
    m.Account.objects.update(refuse_is_booked_filter=False)
    assert api("GET", "customer-invoices?is_booked=true").json()["total"] == 1
    assert api("GET", "customer-invoices?is_booked=false").json()["total"] == 0


def test_supplier_invoice_uses_cost_price_and_can_be_booked(api):
    created = api("POST", "supplier-invoices", {"supplier_id": 1, "supplier_invoice_number": "F-881", "lines": [
        {"item_id": "ABC/123+DEF", "quantity": 10}]})
    assert created.status_code == 201
    invoice = created.json()["supplier_invoice"]
    assert invoice["total_subtotal"] == 401.0 and invoice["total_total"] == 501.25
    assert invoice["supplier_id"] == 1 and "supplier" not in invoice and "vat_zone" not in invoice
    line = invoice["lines"][0]
    assert (line["child_id"], line["child_type"]) == ("ABC/123+DEF", "product") and "item" not in line
    assert api("POST", f"supplier-invoices/{invoice['number']}/book").json()["supplier_invoice"]["is_booked"]


def test_invoice_pdf_is_a_real_pdf(api):
    number = api("POST", "customer-invoices", {"customer_id": 1, "lines": [
        {"item_id": "P 2", "quantity": 1}]}).json()["customer_invoice"]["number"]
    response = api("GET", f"customer-invoices/{number}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.4") and response.content.rstrip().endswith(b"%%EOF")
    assert b"startxref" in response.content


# --- webhooks --------------------------------------------------------------------------------------------

def test_webhook_registration_returns_token_once_and_same_event_url_updates(api):
    created = api("POST", "webhooks", {"event": "customer.created", "url": HOOK_URL})
    assert created.status_code == 201
    hook = created.json()["webhook"]
    assert len(hook["token"]) == 32 and hook["is_active"] is True
    again = api("POST", "webhooks", {"event": "customer.created", "url": HOOK_URL, "is_active": False})
    assert again.json()["webhook"]["id"] == hook["id"]
    listing = api("GET", "webhooks")
    assert listing.status_code == 206
    assert listing.json()["total"] == 1
    assert "token" not in listing.json()["webhooks"][0]
    assert api("DELETE", f"webhooks/{hook['id']}").status_code == 200
    assert api("GET", "webhooks").json()["total"] == 0


def test_an_event_the_account_does_not_offer_is_refused_with_422(api, account):
    m.Account.objects.filter(pk=account.pk).update(refused_webhook_events="customer.updated\nlot.updated")
    refused = api("POST", "webhooks", {"event": "lot.updated", "url": HOOK_URL})
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"event": ["The selected event is invalid."]}
    assert api("POST", "webhooks", {"event": "lot.created", "url": HOOK_URL}).status_code == 201
    assert [hook["event"] for hook in api("GET", "webhooks").json()["webhooks"]] == ["lot.created"]


def test_webhook_registration_is_validated(api):
    refused = api("POST", "webhooks", {"event": "not an event", "url": "ftp://x"})
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"event", "url"}


@responses.activate
def test_booking_sends_the_webhook_with_token_headers(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    hook = register(account, "customer_invoice.booked")
    number = api("POST", "customer-invoices", {"customer_id": 1, "lines": [{"item_id": "P 2", "quantity": 1}]}
                 ).json()["customer_invoice"]["number"]
    api("POST", f"customer-invoices/{number}/book")

    assert len(responses.calls) == 1
    request = responses.calls[0].request
    assert request.headers["Rackbeat-Webhook-Token"] == hook.token
    assert request.headers["Rackbeat-Webhook-Event"] == "customer_invoice.booked"
    assert request.headers["Rackbeat-Account-Id"] == "7001"
    # Thin, as real Rackbeat sends it: the event is only in the header.
    assert json.loads(request.body) == {"key_name": "number", "key": str(number)}
    delivery = m.WebhookDelivery.objects.get()
    assert (delivery.state, delivery.status_code, delivery.attempts) == ("delivered", 200, 1)


@responses.activate
def test_older_full_shape_carries_event_and_data(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    m.Account.objects.filter(pk=account.pk).update(webhook_body_shape=m.Account.WebhookBodyShape.FULL)
    register(account, "customer.created")
    number = api("POST", "customers", {"name": "Fyldig ApS"}).json()["customer"]["number"]
    assert json.loads(responses.calls[0].request.body) == {"key": number, "key_name": "number",
                                                           "event": "customer.created", "data": {"number": number}}


@responses.activate
def test_updates_carry_old_and_new_key_and_changed_fields_in_the_full_shape(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    m.Account.objects.filter(pk=account.pk).update(webhook_body_shape=m.Account.WebhookBodyShape.FULL)
    register(account, "customer.updated")
    api("PUT", "customers/1", {"name": "Domestic Holding A/S"})
    payload = json.loads(responses.calls[0].request.body)
    assert payload["old_key"] == payload["new_key"] == 1
    assert payload["changed"] == ["name"]


@responses.activate
def test_suppress_webhooks_in_query_or_body_sends_nothing(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    register(account, "customer.created")
    assert api("POST", "customers?suppress_webhooks=true", {"name": "Stille ApS"}).status_code == 201
    assert api("POST", "customers", {"name": "Også stille ApS", "suppress_webhooks": True}).status_code == 201
    assert len(responses.calls) == 0
    api("POST", "customers", {"name": "Højlydt ApS"})
    assert len(responses.calls) == 1


@responses.activate
def test_failed_delivery_is_retried_and_logged(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=503)
    responses.add(responses.POST, HOOK_URL, status=200)
    register(account, "product.created")
    api("POST", "products", {"number": "NEW-1", "name": "Ny vare", "group": 1, "sales_price": 5})
    delivery = m.WebhookDelivery.objects.get()
    assert (delivery.state, delivery.status_code, delivery.attempts) == ("delivered", 200, 2)


@responses.activate
def test_fault_injection_drops_the_next_webhooks(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    register(account, "customer.created")
    m.Account.objects.filter(pk=account.pk).update(drop_next_webhooks=1)
    api("POST", "customers", {"name": "Tabt ApS"})
    api("POST", "customers", {"name": "Modtaget ApS"})
    assert len(responses.calls) == 1
    assert json.loads(responses.calls[0].request.body)["key"] == "4"
    assert sorted(m.WebhookDelivery.objects.values_list("state", flat=True)) == ["delivered", "dropped"]


# --- faults and the rate limit ------------------------------------------------------------------------------

def test_injected_429_and_500_are_counted_down(api, account):
    m.Account.objects.filter(pk=account.pk).update(fail_next_429=1, fail_next_500=1)
    assert api("GET", "customers").status_code == 429
    assert api("GET", "customers").status_code == 500
    assert api("GET", "customers").status_code == 206


def test_500_after_write_still_stores_the_write(api, account):
    m.Account.objects.filter(pk=account.pk).update(fail_next_500_after_write=1)
    response = api("POST", "customers", {"name": "Måske ApS"})
    assert response.status_code == 500
    assert m.Customer.objects.filter(account=account, name="Måske ApS").exists()


def test_requests_past_the_budget_get_429(api, account):
    m.Account.objects.filter(pk=account.pk).update(rate_limit_per_minute=3)
    statuses = [api("GET", "units").status_code for _ in range(4)]
    assert statuses == [206, 206, 206, 429]


def test_accounts_never_see_each_others_data(api, account):
    other = m.Account.objects.create(account_id=7002, company_name="Anden ApS", api_token="token-7002")
    assert api("GET", "customers", token=other.api_token).json()["total"] == 0
    assert api("GET", "customers/1", token=other.api_token).status_code == 404


# --- the sandbox web app ------------------------------------------------------------------------------------

APP = "/sandbox/rackbeat/app/"


@pytest.fixture
def staff_client(client, superuser, account):
    client.force_login(superuser)
    return client


def test_web_app_needs_a_staff_login(client, account):
    response = client.get(APP)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_web_app_lists_and_shows_documents_at_the_linked_paths(staff_client, account):
    assert "Domestic A/S" in staff_client.get(APP + "customers/").content.decode()
    assert "Domestic A/S" in staff_client.get(APP + "customers/1/").content.decode()
    # The integration links products with the double-encoded number, without a trailing slash.
    redirect = staff_client.get(APP + "products/ABC%252F123%252BDEF")
    assert redirect.status_code == 301
    product = staff_client.get(redirect["Location"])
    assert "Slash product" in product.content.decode()
    assert staff_client.get(APP + "product-groups/1/").status_code == 200
    assert staff_client.get(APP + "customers/404/").status_code == 404


@responses.activate
def test_sales_invoice_form_creates_books_and_sends_webhooks(staff_client, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    register(account, "customer_invoice.booked")
    form = {
        "partner": "1", "invoice_date": "2025-05-02", "book": "on",
        "lines-TOTAL_FORMS": "5", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000",
        "lines-0-item": "ABC/123+DEF", "lines-0-quantity": "2", "lines-0-discount": "10",
        "lines-1-item": "P 2", "lines-1-quantity": "1",
    }
    response = staff_client.post(APP + "customer-invoices/new/", form)
    assert response.status_code == 302
    invoice = m.CustomerInvoice.objects.get(account=account)
    assert invoice.is_booked
    assert invoice.total_subtotal == Decimal("189.91")  # 2 × 99.95 × 0.9 = 179.91, + 10.00
    assert response["Location"].endswith(f"customer-invoices/{invoice.number}/")
    assert json.loads(responses.calls[0].request.body)["key"] == str(invoice.number)


@responses.activate
def test_editing_a_customer_name_in_the_web_app_sends_customer_updated(staff_client, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    m.Account.objects.filter(pk=account.pk).update(webhook_body_shape=m.Account.WebhookBodyShape.FULL)
    register(account, "customer.updated")
    response = staff_client.post(APP + "customers/1/edit/", {
        "name": "Domestic Nord A/S", "contact_email": "a@example.dk", "address_country": "DK", "vat_zone": "domestic"})
    assert response.status_code == 302
    assert m.Customer.objects.get(account=account, number=1).name == "Domestic Nord A/S"
    assert json.loads(responses.calls[0].request.body)["changed"] == ["name"]


def test_supplier_invoice_draft_can_be_booked_from_its_page(staff_client, account):
    form = {
        "partner": "1", "invoice_date": "2025-05-02", "supplier_invoice_number": "INV-9",
        "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000",
        "lines-0-item": "P 2", "lines-0-quantity": "4", "lines-0-price": "2.50",
    }
    staff_client.post(APP + "supplier-invoices/new/", form)
    invoice = m.SupplierInvoice.objects.get(account=account)
    assert not invoice.is_booked and invoice.total_total == Decimal("12.50")
    page = staff_client.get(APP + f"supplier-invoices/{invoice.number}/")
    assert page.status_code == 200 and "Book" in page.content.decode()
    staff_client.post(APP + f"supplier-invoices/{invoice.number}/book/")
    invoice.refresh_from_db()
    assert invoice.is_booked


# --- over real HTTP: the service's own client against the emulator -------------------------------------

class _Receiver:
    """A tiny HTTP endpoint in a thread that records the webhooks it gets."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []
        self.arrived = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.end_headers()
                received_event.set()

            def log_message(self, *args):
                pass

        received_event = self.arrived
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()


@pytest.mark.e2e
def test_service_client_reads_the_seeded_company_and_gets_background_webhooks(sandbox_urls, connection, settings):
    from integration.core.clients.rackbeat import RackbeatClient
    from sandbox.seed import ensure_demo_company

    settings.SANDBOX_WEBHOOKS_SYNC = False
    settings.SANDBOX_WEBHOOK_RETRY_SECONDS = 0.1
    demo = ensure_demo_company()
    connection.set_secret("rackbeat_api_token", demo.rackbeat_token)
    connection.save()
    client = RackbeatClient(connection)

    assert client.self_info()["user_account"]["id"] == demo.rackbeat_account_id
    assert client.get_product("HYL-200/80")["name"] == "Hyldeplade 200/80 galvaniseret"
    assert client.get_lot("KIT+BASIS")["lines"]
    assert len(list(client.iter_customers())) == 30
    assert len(list(client.iter_products())) == 50
    booked = list(client.iter_customer_invoices(booked=True))
    assert booked and all(invoice["is_booked"] for invoice in booked)
    assert client.customer_invoice_pdf(booked[0]["number"]).startswith(b"%PDF")

    receiver = _Receiver()
    try:
        hook = client.create_webhook("customer_invoice.booked", receiver.url)
        draft = next(client.iter_customer_invoices(booked=False))
        # A booking by a person in Rackbeat (not through the client, which suppresses webhooks).
        staff_api = Client(HTTP_AUTHORIZATION=f"Bearer {demo.rackbeat_token}")
        assert staff_api.post(API + f"customer-invoices/{draft['number']}/book").status_code == 200
        assert receiver.arrived.wait(10)
        headers, payload = receiver.received[0]
        assert headers["Rackbeat-Webhook-Token"] == hook["token"]
        assert payload == {"key_name": "number", "key": str(draft["number"])}
        assert headers["Rackbeat-Webhook-Event"] == "customer_invoice.booked"
    finally:
        receiver.close()
