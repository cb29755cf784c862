"""One validation for a setting or mapping, whatever the form; accounts offered only where they fit."""

from __future__ import annotations

import html
import json
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from integration.console.settings_admin import IntegrationSettingsForm, settings_for
from integration.core.handlers import NeedsMapping
from integration.core.models import IntegrationSettings
from integration.transfers.invoice_mapping import map_supplier_invoice
from integration.transfers.supplier_invoices import supplier_mappings
from mappings.csv_io import preview_import
from mappings.matrix import build_grid, save_grid
from mappings.models import AccountMatrixCell, DineroAccount
from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


def _categorised(connection) -> None:
    """A chart with Dinero's categories: revenue, cost of goods, stock and a bank account."""
    seed(connection)
    categories = {1000: "Turnover", 1100: "Turnover", 1200: "Turnover", 2000: "Variable Expenses",
                  2050: "Variable Expenses", 2150: "Variable Expenses", 5800: "Turnover Assets",
                  55000: "Liquid Assets"}
    for number, category in categories.items():
        DineroAccount.objects.filter(connection=connection, number=number).update(category=category)


def _add_cell(client, connection, *, group: str = "10", account: str = "1000"):
    return client.post(reverse("admin:mappings_accountmatrixcell_add"), {
        "connection": connection.pk, "matrix": "revenue", "product_group_number": group, "vat_zone": "domestic",
        "account_number": account,
    })


def test_raw_admin_add_form_rejects_an_account_missing_from_the_chart(accountant_client, connection):
    seed(connection)
    response = _add_cell(accountant_client, connection, account="99999")
    assert response.status_code == 200
    assert "Account 99999 is not in the Dinero chart of accounts." in response.content.decode()
    assert not AccountMatrixCell.objects.filter(connection=connection).exists()


def test_raw_admin_add_form_and_editor_agree_on_a_valid_account(accountant_client, connection):
    seed(connection)
    response = _add_cell(accountant_client, connection)
    assert response.status_code == 302
    assert AccountMatrixCell.objects.get(connection=connection).account_number == 1000


def test_revenue_matrix_offers_and_accepts_only_revenue_accounts(connection):
    _categorised(connection)
    grid = build_grid(connection, "revenue")
    assert [a.number for a in grid.choices] == [1000, 1100, 1200]  # no hidden 1300, no 2000, no bank
    grid, changed = save_grid(connection, "revenue", {"cell-10-domestic": "55000"})
    assert changed == 0
    assert "must be a revenue account" in grid.errors[0].error
    cell = AccountMatrixCell(connection=connection, matrix="revenue", product_group_number="10", vat_zone="eu",
                             account_number=2000)
    with pytest.raises(ValidationError, match="must be a revenue account"):
        cell.full_clean()


def test_stock_and_consumption_pickers_offer_only_fitting_accounts(connection):
    _categorised(connection)
    form = IntegrationSettingsForm(instance=settings_for(connection))
    stock = [value for value, _label in form.fields["stock_account"].choices if value]
    consumption = [value for value, _label in form.fields["consumption_account"].choices if value]
    assert stock == ["5800"]
    assert consumption == ["2000", "2050", "2150"]
    form = IntegrationSettingsForm(instance=settings_for(connection), data={
        "item_consumption_enabled": "on", "stock_account": "1000", "consumption_account": "2000",
        "supplier_invoice_status": "draft", "sales_invoice_status": "draft",
        "customer_invoices_created_in": "rackbeat", "webhook_events": "{}",
    })
    assert not form.is_valid()
    assert "stock_account" in form.errors


def test_nonsense_webhook_events_setting_is_refused_in_the_admin(consultant_client, connection):
    settings = settings_for(connection)
    url = reverse("admin:integration_integrationsettings_change", args=[settings.pk])
    data = {
        "supplier_invoice_status": "draft", "sales_invoice_status": "draft",
        "customer_invoices_created_in": "rackbeat", "product_integration_enabled": "on",
        "webhook_events": json.dumps({"customer_invoice.booked": 5}),
    }
    response = consultant_client.post(url, data)
    assert response.status_code == 200
    content = response.content.decode()
    assert "“customer_invoice.booked” → 5: not a document kind a webhook can transfer." in content
    settings.refresh_from_db()
    assert settings.webhook_events == {}


@pytest.mark.parametrize("value, ok", [
    ({}, True),
    ({"customer_invoice.booked": "sales_invoice", "product.updated": "product"}, True),
    ({"customer_invoice.booked": 5}, False),
    ({"customer_invoice.booked": "invoice"}, False),
    ({"Customer Invoice Booked": "sales_invoice"}, False),
    (["customer_invoice.booked"], False),
])
def test_webhook_events_setting_has_one_shape_whatever_the_form(connection, value, ok):
    settings = IntegrationSettings(connection=connection, webhook_events=value)
    if ok:
        settings.full_clean()
    else:
        with pytest.raises(ValidationError) as excinfo:
            settings.full_clean()
        assert "webhook_events" in excinfo.value.message_dict


def test_json_code_fields_stay_readable_while_oauth_codes_are_redacted():
    from integration.core.clients.transport import REDACTED, Redactor

    redactor = Redactor()
    body = redactor.body('{"code": "U25", "name": "Salgsmoms", "access_token": "abc123"}')
    assert '"code": "U25"' in body and "abc123" not in body
    assert redactor.text("grant_type=authorization_code&code=s3cr3t-code&code_verifier=xyz") == (
        f"grant_type=authorization_code&code={REDACTED}&code_verifier={REDACTED}")


def _with_interest_income(connection) -> None:
    """Dinero lists 8000 Renteindtægter among its purchase accounts; its category says what it is."""
    _categorised(connection)
    DineroAccount.objects.create(connection=connection, number=8000, name="Renteindtægter", vat_code="none",
                                 category="Interest Income", is_purchase=True)


def test_supplier_matrix_offers_and_accepts_only_purchase_and_cost_accounts(connection):
    _with_interest_income(connection)
    grid = build_grid(connection, "supplier")
    assert 8000 not in [a.number for a in grid.choices] and 2000 in [a.number for a in grid.choices]
    grid, changed = save_grid(connection, "supplier", {"cell-10-domestic": "8000"})
    assert changed == 0 and "must be a purchase or cost account" in grid.errors[0].error
    cell = AccountMatrixCell(connection=connection, matrix="supplier", product_group_number="10", vat_zone="domestic",
                             account_number=8000)
    with pytest.raises(ValidationError, match="must be a purchase or cost account"):
        cell.full_clean()
    (row,) = preview_import(connection, "supplier", "product_group,vat_zone,account\n10,domestic,8000\n")
    assert "must be a purchase or cost account" in row.reason
    assert not AccountMatrixCell.objects.filter(connection=connection).exists()


def test_the_stock_account_is_never_a_bank_or_cash_account(connection):
    _categorised(connection)
    # Dinero's list of deposit accounts carries no category: only that they are bank and cash accounts.
    DineroAccount.objects.filter(connection=connection, number=55000).update(category="", is_deposit=True)
    DineroAccount.objects.create(connection=connection, number=55100, name="Kasse", is_deposit=True)
    form = IntegrationSettingsForm(instance=settings_for(connection))
    stock = [value for value, _label in form.fields["stock_account"].choices if value]
    assert stock == ["5800"]
    form = IntegrationSettingsForm(instance=settings_for(connection), data={
        "item_consumption_enabled": "on", "stock_account": "55100", "consumption_account": "2000",
        "supplier_invoice_status": "draft", "sales_invoice_status": "draft",
        "customer_invoices_created_in": "rackbeat", "webhook_events": "{}",
    })
    assert not form.is_valid() and "stock_account" in form.errors


def test_a_cell_for_a_product_group_that_does_not_exist_is_refused_on_every_path(accountant_client, connection):
    seed(connection)
    response = _add_cell(accountant_client, connection, group="999")
    assert response.status_code == 200
    assert "Product group 999 is not among this connection's product groups" in html.unescape(
        response.content.decode())
    cell = AccountMatrixCell(connection=connection, matrix="revenue", product_group_number="999",
                             vat_zone="domestic", account_number=1000)
    with pytest.raises(ValidationError, match="Product group 999"):
        cell.full_clean()
    assert not AccountMatrixCell.objects.filter(connection=connection).exists()


def test_a_history_revert_cannot_bring_back_a_cell_of_the_wrong_kind(accountant_client, connection):
    _with_interest_income(connection)
    cell = AccountMatrixCell.objects.create(connection=connection, matrix="supplier", product_group_number="10",
                                            vat_zone="domestic", account_number=8000)   # saved before the rule
    cell.account_number = 2000
    cell.save()
    old = cell.history.order_by("history_date").first()
    url = reverse("admin:mappings_accountmatrixcell_simple_history", args=[cell.pk, old.history_id])
    response = accountant_client.post(url, {
        "connection": connection.pk, "matrix": "supplier", "product_group_number": "10", "vat_zone": "domestic",
        "account_number": "8000"})
    assert response.status_code == 200 and "must be a purchase or cost account" in response.content.decode()
    cell.refresh_from_db()
    assert cell.account_number == 2000


def test_a_supplier_matrix_cell_that_makes_the_totals_differ_says_where_to_fix_it(connection):
    _with_interest_income(connection)
    AccountMatrixCell.objects.bulk_create([AccountMatrixCell(   # saved before the rule, bypassing it
        connection=connection, matrix="supplier", product_group_number="10", vat_zone="domestic", account_number=8000)])
    invoice = {"number": 7, "invoice_date": "2026-03-02", "vat_zone": "domestic", "supplier": {"vat_zone": "domestic"},
               "total_subtotal": "100.00", "total_vat": "25.00", "total_total": "125.00",
               "lines": [{"name": "Vare", "quantity": 1, "line_price": "100.00", "item": {"group": {"number": 10}}}]}
    with pytest.raises(NeedsMapping) as problem:
        map_supplier_invoice(invoice, supplier_mappings(SimpleNamespace(connection=connection)), contact_guid="")
    assert problem.value.fix_url.startswith(reverse("admin:connection-matrix", args=[connection.pk, "supplier"]))
