"""End to end over real HTTP: Rackbeat master data → webhook → operation → the object in Dinero.

The live test server serves both emulators; the demo connection is activated for real (its
webhooks are registered in the emulated Rackbeat), documents are written through Rackbeat's REST
API the way a Rackbeat user's changes arrive, and the result is read back from the emulated Dinero.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings

from integration.core import engine
from integration.core.models import Binding, HttpExchange, Kind, SyncOperation, WebhookDelivery
from integration.triggers import activation, polling
from mappings.models import AccountMatrixCell, UnitMapping
from tests.engine_fixtures import demo, switch_on

USES = (demo,)
pytestmark = [pytest.mark.e2e]

UNITS = {"1": "parts", "2": "box", "3": "hours", "4": "kilogram", "5": "metre", "6": "package"}


@pytest.fixture
def active(demo):
    assert activation.activate(demo) == []
    switch_on(demo)
    for group in ("1", "2", "3", "4", "5"):
        AccountMatrixCell.objects.create(connection=demo, matrix=AccountMatrixCell.Matrix.REVENUE,
                                         product_group_number=group, vat_zone="domestic",
                                         account_number=1300 if group == "4" else 1000)
    for unit, dinero_unit in UNITS.items():
        UnitMapping.objects.create(connection=demo, rackbeat_unit_number=unit, dinero_unit=dinero_unit)
    return demo


def rackbeat(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A change made by a Rackbeat user: through Rackbeat's API, webhooks not suppressed."""
    from sandbox.seed import RACKBEAT_TOKEN

    response = requests.request(method, f"{django_settings.RACKBEAT_API_URL}{path}", json=body, timeout=60,
                                headers={"Authorization": f"Bearer {RACKBEAT_TOKEN}", "Accept": "application/json"})
    assert response.status_code < 300, response.text
    return response.json()


def dinero_contact(connection, reference: str) -> dict[str, Any]:
    """The contact as Dinero answers it, read outside the service's budget (the test's own look)."""
    from integration.core.clients.dinero import DineroClient
    from integration.core.clients.ratelimit import SharedRateLimiter

    client = DineroClient(connection, limiter=SharedRateLimiter(1_000_000))
    found = client.find_contact(reference)
    assert found, f"no Dinero contact with {reference}"
    return client.get_contact(found["ContactGuid"])


def dinero_products(reference: str) -> list[dict[str, Any]]:
    from sandbox.dinero.models import Product

    return [p.data for p in Product.objects.filter(external_reference=reference, deleted_at__isnull=True)]


def test_new_customer_reaches_dinero_with_the_right_fields(active):
    created = rackbeat("POST", "customers", {
        "name": "Havnens Isenkram ApS", "contact_email": "bogholderi@havnens.dk", "company_vat": "DK31415926",
        "ean": "5790001234567", "address_street": "Havnegade 4", "address_zipcode": "5000",
        "address_city": "Odense C", "address_country": "DK", "vat_zone": "domestic", "payment_terms_id": 2,
    })["customer"]
    number = created["number"]
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    assert op.state == SyncOperation.State.DONE, op.last_error
    assert op.trigger == "webhook"
    contact = dinero_contact(active, f"rackbeat:customer:{number}")
    assert contact["Name"] == f"{number} – Havnens Isenkram ApS"
    assert contact["Email"] == "bogholderi@havnens.dk"
    assert contact["VatNumber"] == "DK31415926" and contact["EanNumber"] == "5790001234567"
    assert (contact["Street"], contact["ZipCode"], contact["City"], contact["CountryKey"]) == (
        "Havnegade 4", "5000", "Odense C", "DK")
    assert (contact["PaymentConditionType"], contact["PaymentConditionNumberOfDays"]) == ("Netto", 14)
    assert contact["IsPerson"] is False
    assert Binding.objects.get(connection=active, kind=Kind.CUSTOMER, rackbeat_key=str(number)).dinero_id == \
        op.target_id == contact["ContactGuid"]
    assert HttpExchange.objects.filter(operation=op, service="dinero", method="POST").exists()


def test_customer_update_changes_the_bound_contact_and_keeps_dinero_fields(active):
    number = rackbeat("POST", "customers", {"name": "Kunde Et", "contact_email": "a@kunde.dk"})["customer"]["number"]
    from sandbox.dinero.models import Contact

    contact = Contact.objects.get(external_reference=f"rackbeat:customer:{number}")
    contact.data["Webpage"] = "https://kunde.dk"  # typed in Dinero by a person
    contact.save()
    rackbeat("PUT", f"customers/{number}", {"name": "Kunde Et A/S"})
    updated = dinero_contact(active, f"rackbeat:customer:{number}")
    assert updated["Name"] == f"{number} – Kunde Et A/S"
    assert updated["Webpage"] == "https://kunde.dk"
    assert Contact.objects.filter(external_reference=f"rackbeat:customer:{number}").count() == 1


def test_unchanged_customer_makes_no_dinero_call(active):
    number = rackbeat("POST", "customers", {"name": "Stille Kunde", "contact_email": "s@k.dk"})["customer"]["number"]
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    op = engine.retry(op, user=None)
    assert "unchanged" in op.outcome
    assert not HttpExchange.objects.filter(operation=op, attempt=op.attempts, service="dinero").exists()


def test_new_supplier_reaches_dinero_without_the_number_when_switched_off(active):
    active.settings.supplier_number_in_name = False
    active.settings.save()
    number = rackbeat("POST", "suppliers", {
        "name": "Stålgrossisten A/S", "contact_email": "ordre@staal.dk", "address_country": "SE",
        "payment_terms_id": 4, "vat_zone": "eu",
    })["supplier"]["number"]
    contact = dinero_contact(active, f"rackbeat:supplier:{number}")
    assert contact["Name"] == "Stålgrossisten A/S"
    assert contact["CountryKey"] == "SE"
    assert contact["PaymentConditionType"] == "NettoCash"


def test_private_person_is_a_person_in_dinero(active):
    number = rackbeat("POST", "customers", {"name": "Mette Hansen", "is_person": True,
                                            "contact_email": "mette@example.dk"})["customer"]["number"]
    assert dinero_contact(active, f"rackbeat:customer:{number}")["IsPerson"] is True


def test_new_product_and_its_update_reach_dinero(active):
    rackbeat("POST", "products", {"number": "NY/200+1", "name": "Hyldeknægt", "group": 1, "unit_id": 2,
                                  "sales_price": "49.50"})
    [product] = dinero_products("rackbeat:product:NY/200+1")
    assert product["ProductNumber"] == "NY/200+1" and product["Name"] == "Hyldeknægt"
    assert Decimal(str(product["BaseAmountValue"])) == Decimal("49.50")
    assert (product["Unit"], product["AccountNumber"], product["Quantity"]) == ("box", 1000, 1)
    from urllib.parse import quote

    rackbeat("PUT", f"products/{quote(quote('NY/200+1', safe=''), safe='')}", {"sales_price": "55.00"})
    [product] = dinero_products("rackbeat:product:NY/200+1")
    assert Decimal(str(product["BaseAmountValue"])) == Decimal("55.00")


def test_new_bom_becomes_a_dinero_product(active):
    rackbeat("POST", "lots", {"number": "SÆT-9", "name": "Reolsæt komplet", "group": 1, "sales_price": "2495",
                              "lines": [{"product_id": "FV-1001", "quantity": 1}]})
    op = SyncOperation.objects.get(connection=active, kind=Kind.BOM, source_key="SÆT-9")
    assert op.state == SyncOperation.State.DONE, op.last_error
    [product] = dinero_products("rackbeat:bom:SÆT-9")
    assert product["Name"] == "Reolsæt komplet" and Decimal(str(product["BaseAmountValue"])) == Decimal("2495")


def test_unmapped_unit_stops_the_product_with_a_link(active):
    UnitMapping.objects.filter(connection=active, rackbeat_unit_number="6").delete()
    rackbeat("POST", "products", {"number": "PAL-1", "name": "Palle", "group": 5, "unit_id": 6, "sales_price": "1"})
    op = SyncOperation.objects.get(connection=active, kind=Kind.PRODUCT, source_key="PAL-1")
    assert op.state == SyncOperation.State.NEEDS_ATTENTION
    assert "unit" in op.last_error.lower() and op.fix_url.endswith("#unit-6")
    assert dinero_products("rackbeat:product:PAL-1") == []


def test_same_webhook_twice_makes_one_object(active):
    from sandbox.rackbeat.models import WebhookDelivery as SentDelivery
    from sandbox.rackbeat.webhook_sending import deliver

    number = rackbeat("POST", "customers", {"name": "To Gange", "contact_email": "to@gange.dk"})["customer"]["number"]
    sent = SentDelivery.objects.get(event="customer.created", payload__key=str(number))
    deliver(sent.pk)  # Rackbeat delivers the same webhook once more
    # Both are stored; the second read the customer again and updated the same contact.
    assert WebhookDelivery.objects.filter(connection=active, event="customer.created", key=str(number)).count() == 2
    from sandbox.dinero.models import Contact

    assert Contact.objects.filter(external_reference=f"rackbeat:customer:{number}").count() == 1
    assert SyncOperation.objects.filter(connection=active, kind=Kind.CUSTOMER, source_key=str(number)).count() == 1


def test_lost_webhook_is_picked_up_by_the_poll(active):
    from sandbox.rackbeat.models import Account

    Account.objects.filter(account_id=418001).update(drop_next_webhooks=1)
    number = rackbeat("POST", "customers", {"name": "Tabt Webhook", "contact_email": "t@w.dk"})["customer"]["number"]
    assert not SyncOperation.objects.filter(connection=active, kind=Kind.CUSTOMER, source_key=str(number)).exists()
    run = polling.poll_connection(active.pk)
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    assert op.trigger == "poll" and op.run == run and op.state == SyncOperation.State.DONE
    assert dinero_contact(active, f"rackbeat:customer:{number}")["Name"].endswith("Tabt Webhook")


def test_lost_answer_on_create_is_looked_up_not_created_twice(active):
    from sandbox.dinero.models import Contact, Organization

    Organization.objects.filter(organization_id=400555).update(fail_next_500_after_write=1)
    number = rackbeat("POST", "customers", {"name": "Usikker", "contact_email": "u@s.dk"})["customer"]["number"]
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    assert op.state == SyncOperation.State.PENDING and op.last_error_class == "UncertainOutcome"
    SyncOperation.objects.filter(pk=op.pk).update(next_attempt_at=op.created_at)
    engine.run_operation(op.pk)
    op.refresh_from_db()
    assert op.state == SyncOperation.State.DONE, op.last_error
    assert Contact.objects.filter(external_reference=f"rackbeat:customer:{number}").count() == 1


def test_switched_off_customer_integration_is_visible_as_skipped(active):
    active.settings.customer_integration_enabled = False
    active.settings.save()
    number = rackbeat("POST", "customers", {"name": "Slukket", "contact_email": "s@s.dk"})["customer"]["number"]
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    assert op.state == SyncOperation.State.SKIPPED and "customer integration is off" in op.outcome


def test_deleted_customer_is_skipped_and_the_dinero_contact_kept(active):
    number = rackbeat("POST", "customers", {"name": "Forsvinder", "contact_email": "f@f.dk"})["customer"]["number"]
    from sandbox.rackbeat.models import Customer

    Customer.objects.filter(number=number).delete()  # deleted by a person in Rackbeat
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    op = engine.retry(op, user=None)
    assert op.state == SyncOperation.State.SKIPPED
    assert "deleted in Rackbeat" in op.outcome and "Dinero keeps history" in op.outcome
    assert dinero_contact(active, f"rackbeat:customer:{number}")


def test_barred_product_is_still_updated(active):
    from urllib.parse import quote

    rackbeat("PUT", f"products/{quote(quote('FV-1001', safe=''), safe='')}", {"is_barred": True, "name": "Udgået"})
    op = SyncOperation.objects.get(connection=active, kind=Kind.PRODUCT, source_key="FV-1001")
    assert op.state == SyncOperation.State.DONE and "barred" in op.outcome
    [product] = dinero_products("rackbeat:product:FV-1001")
    assert product["Name"] == "Udgået"
