"""Every change to settings and mappings is kept with who and when, and can be reverted."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integration.console.settings_admin import settings_for
from mappings.models import AccountMatrixCell
from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(connection):
    seed(connection)
    return connection


def test_matrix_save_records_history_with_the_user(accountant_client, accountant, seeded):
    url = reverse("admin:connection-matrix", args=[seeded.pk, "revenue"])
    accountant_client.post(url, {"cell-10-domestic": "1000"})
    accountant_client.post(url, {"cell-10-domestic": "1100"})
    accountant_client.post(url, {"cell-10-domestic": ""})

    history = AccountMatrixCell.history.filter(connection=seeded).order_by("history_date")
    assert [(h.history_type, h.account_number) for h in history] == [("+", 1000), ("~", 1100), ("-", 1100)]
    assert {h.history_user for h in history} == {accountant}


def test_matrix_cell_history_page_lists_changes(accountant_client, seeded):
    url = reverse("admin:connection-matrix", args=[seeded.pk, "revenue"])
    accountant_client.post(url, {"cell-10-domestic": "1000"})
    accountant_client.post(url, {"cell-10-domestic": "1100"})
    cell = AccountMatrixCell.objects.get(connection=seeded)

    response = accountant_client.get(reverse("admin:mappings_accountmatrixcell_history", args=[cell.pk]))

    assert response.status_code == 200
    assert "accountant" in response.content.decode()


def test_matrix_cell_can_be_reverted_from_history(accountant_client, seeded):
    url = reverse("admin:connection-matrix", args=[seeded.pk, "revenue"])
    accountant_client.post(url, {"cell-10-domestic": "1000"})
    accountant_client.post(url, {"cell-10-domestic": "1100"})
    cell = AccountMatrixCell.objects.get(connection=seeded)
    first = cell.history.earliest()

    revert_url = reverse("admin:mappings_accountmatrixcell_simple_history", args=[cell.pk, first.history_id])
    assert accountant_client.get(revert_url).status_code == 200
    response = accountant_client.post(revert_url, {
        "connection": seeded.pk, "matrix": "revenue", "product_group_number": "10", "vat_zone": "domestic",
        "account_number": "1000",
    })

    assert response.status_code == 302
    cell.refresh_from_db()
    assert cell.account_number == 1000


def test_settings_changes_are_recorded_and_revertable(accountant_client, accountant, seeded):
    settings = settings_for(seeded)
    change_url = reverse("admin:integration_integrationsettings_change", args=[settings.pk])
    data = {
        "supplier_invoice_status": "draft", "supplier_number_in_name": "on",
        "customer_integration_enabled": "on", "customer_number_in_name": "on",
        "customer_invoices_created_in": "rackbeat", "sales_invoice_status": "booked",
        "stock_account": "", "consumption_account": "", "product_integration_enabled": "on", "webhook_events": "{}",
    }
    assert accountant_client.post(change_url, data).status_code == 302
    latest = settings.history.latest()
    assert latest.history_user == accountant
    assert latest.sales_invoice_status == "booked"

    original = settings.history.earliest()
    revert_url = reverse("admin:integration_integrationsettings_simple_history", args=[settings.pk, original.history_id])
    response = accountant_client.post(revert_url, {**data, "customer_integration_enabled": "", "sales_invoice_status": "draft"})

    assert response.status_code == 302
    settings.refresh_from_db()
    assert settings.sales_invoice_status == "draft"
    assert not settings.customer_integration_enabled
