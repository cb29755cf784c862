"""The demo company: believable, in both emulators, and safe to build again and again."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from sandbox import seed
from sandbox.dinero.models import Account as DineroAccount
from sandbox.dinero.models import Contact, Organization, Product
from sandbox.rackbeat import models as rb

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "items": rb.Item.objects.count(), "customers": rb.Customer.objects.count(),
        "suppliers": rb.Supplier.objects.count(), "invoices": rb.CustomerInvoice.objects.count(),
        "supplier_invoices": rb.SupplierInvoice.objects.count(), "contacts": Contact.objects.count(),
        "dinero_products": Product.objects.count(), "dinero_accounts": DineroAccount.objects.count(),
    }


def test_seed_builds_the_described_rackbeat_company():
    demo = seed.ensure_demo_company()
    account = rb.Account.objects.get(api_token=demo.rackbeat_token)
    assert account.account_id == demo.rackbeat_account_id

    groups = list(rb.ProductGroup.objects.filter(account=account).values_list("name", flat=True))
    assert groups == ["Færdigvarer", "Råvarer", "Reservedele", "Ydelser", "Emballage"]
    assert rb.Item.objects.filter(account=account, type="product").count() == 50
    boms = rb.Item.objects.filter(account=account, type="lot")
    assert boms.count() == 3 and all(bom.lot_lines.exists() for bom in boms)
    assert rb.Item.objects.filter(account=account, number__contains="/").exists()
    assert rb.Item.objects.filter(account=account, number__contains="+").exists()
    assert rb.Item.objects.filter(account=account, number__contains=" ").exists()
    assert set(rb.Unit.objects.filter(account=account).values_list("name", flat=True)) == {
        "stk", "kasse", "time", "kg", "m", "palle"}
    assert set(rb.Layout.objects.filter(account=account).values_list("locale", flat=True)) == {"da", "en"}

    customers = rb.Customer.objects.filter(account=account)
    assert customers.count() == 30
    assert {zone for zone in customers.values_list("vat_zone", flat=True)} == {"domestic", "eu", "abroad"}
    assert customers.filter(is_person=True).exists()
    assert not customers.filter(contact_email="").exists()
    assert rb.Supplier.objects.filter(account=account).count() == 10
    assert rb.SupplierGroup.objects.filter(account=account).count() == 2

    booked = rb.CustomerInvoice.objects.filter(account=account, is_booked=True)
    assert booked.count() >= 5
    assert all(invoice.total_total > 0 for invoice in booked)
    assert rb.SupplierInvoice.objects.filter(account=account, is_booked=True).count() >= 3


def test_seed_builds_the_dinero_side_for_the_start_sync():
    demo = seed.ensure_demo_company()
    org = Organization.objects.get(organization_id=demo.dinero_organization_id)
    assert org.api_key == demo.dinero_api_key and org.is_pro
    assert DineroAccount.objects.filter(organization=org, number=1000).exists()
    contacts = [c.data for c in Contact.objects.filter(organization=org)]
    assert any(not c.get("Email") for c in contacts) and any(c.get("Email") for c in contacts)
    products = [p.data for p in Product.objects.filter(organization=org)]
    assert any(not p.get("ProductNumber") for p in products) and any(p.get("ProductNumber") for p in products)


def test_seed_is_idempotent_and_keeps_changes():
    seed.ensure_demo_company()
    rb.Customer.objects.filter(number=1).update(name="Omdøbt ApS")
    before = _counts()
    again = seed.ensure_demo_company()
    assert _counts() == before
    assert rb.Customer.objects.get(number=1).name == "Omdøbt ApS"
    assert again.rackbeat_token == seed.RACKBEAT_TOKEN


def test_seed_command_prints_the_credentials():
    out = StringIO()
    call_command("sandbox_seed", stdout=out)
    assert seed.RACKBEAT_TOKEN in out.getvalue()
    assert seed.DINERO_API_KEY in out.getvalue()
    assert str(seed.DINERO_ORGANIZATION_ID) in out.getvalue()


def test_seed_switches_the_demo_account_to_a_variant_and_back(settings):
    settings.SANDBOX_ENABLED = True
    out = StringIO()
    call_command("sandbox_seed", "--variant", "credit-note-type", "--empty-account", stdout=out)
    account = rb.Account.objects.get(account_id=seed.RACKBEAT_ACCOUNT_ID)
    assert account.credit_note_flag == rb.CreditNoteFlag.TYPE
    assert "switched to the variant 'credit-note-type'" in out.getvalue()
    empty = rb.Account.objects.get(account_id=418002)
    assert "sandbox-empty-rackbeat-token-418002" in out.getvalue()
    assert not rb.CustomerInvoice.objects.filter(account=empty).exists()

    call_command("sandbox_seed", "--variant", "total-cost-disagrees", stdout=StringIO())
    account.refresh_from_db()
    assert account.credit_note_flag == rb.CreditNoteFlag.IS_CREDITNOTE   # every other switch back to real
    assert account.total_cost_offset == 10
