"""The integration settings admin: each setting's effect on validation, tenancy, history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integration.console.settings_admin import IntegrationSettingsForm, settings_for
from integration.core.models import IntegrationSettings
from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(connection):
    seed(connection)
    return connection


def form_data(**overrides):
    data = {
        "supplier_integration_enabled": "on", "supplier_invoice_status": "booked", "supplier_number_in_name": "on",
        "customer_integration_enabled": "on", "customer_number_in_name": "on",
        "customer_invoices_created_in": "rackbeat", "sales_invoice_status": "booked_emailed",
        "item_consumption_enabled": "", "stock_account": "", "consumption_account": "",
        "product_integration_enabled": "on", "webhook_events": "{}",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != "" or k in ("stock_account", "consumption_account")}


def test_item_consumption_requires_both_accounts(seeded):
    form = IntegrationSettingsForm(form_data(item_consumption_enabled="on"), instance=settings_for(seeded))

    assert not form.is_valid()
    assert "needs a stock account" in str(form.errors["stock_account"])
    assert "needs a consumption account" in str(form.errors["consumption_account"])


def test_item_consumption_with_chart_accounts_is_accepted(seeded):
    form = IntegrationSettingsForm(form_data(item_consumption_enabled="on", stock_account="5800",
                                             consumption_account="2000"), instance=settings_for(seeded))

    assert form.is_valid(), form.errors
    saved = form.save()
    assert (saved.stock_account, saved.consumption_account) == (5800, 2000)


def test_hidden_account_is_not_offered_and_not_accepted(seeded):
    settings = settings_for(seeded)
    form = IntegrationSettingsForm(instance=settings)
    assert "1300" not in [str(v) for v, _label in form.fields["stock_account"].choices]

    IntegrationSettings.objects.filter(pk=settings.pk).update(stock_account=1300)
    settings.refresh_from_db()
    form = IntegrationSettingsForm(form_data(item_consumption_enabled="on", stock_account="1300",
                                             consumption_account="2000"), instance=settings)

    assert not form.is_valid()
    assert "hidden in Dinero" in str(form.errors["stock_account"])


def test_accounts_are_not_required_while_item_consumption_is_off(seeded):
    form = IntegrationSettingsForm(form_data(), instance=settings_for(seeded))

    assert form.is_valid(), form.errors


def test_without_a_fetched_chart_item_consumption_cannot_be_enabled(connection):
    form = IntegrationSettingsForm(form_data(item_consumption_enabled="on"), instance=settings_for(connection))

    assert not form.is_valid()


def test_admin_page_shows_fieldsets_and_the_stock_note(accountant_client, seeded):
    response = accountant_client.get(reverse("admin:connection-settings", args=[seeded.pk]), follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    for heading in ("Purchases and suppliers", "Sales and customers", "Item consumption"):
        assert heading in html
    assert "the stock still needs a manual regulation now and then" in html
    assert "When they are created in Dinero, Dinero decides their status" in html


def test_sales_status_change_while_invoices_come_from_dinero_explains_itself(accountant_client, seeded):
    settings = settings_for(seeded)
    url = reverse("admin:integration_integrationsettings_change", args=[settings.pk])

    response = accountant_client.post(url, form_data(customer_invoices_created_in="dinero",
                                                     sales_invoice_status="booked"), follow=True)

    assert response.status_code == 200
    assert "the status below is then not used" in response.content.decode()
    settings.refresh_from_db()
    assert settings.customer_invoices_created_in == "dinero"


def test_other_tenants_settings_are_hidden(accountant_client, other_connection):
    other = settings_for(other_connection)

    response = accountant_client.get(reverse("admin:integration_integrationsettings_change", args=[other.pk]))

    assert response.status_code == 302 or response.status_code == 404
    assert accountant_client.get(reverse("admin:connection-settings", args=[other_connection.pk])).status_code == 404
