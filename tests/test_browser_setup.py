"""A consultant sets up a connection in a real browser: the wizard against the sandbox, then a matrix.

Screenshots of the last page of each test are saved by the ``page`` fixture (test-artifacts/).
"""

from __future__ import annotations

import re

import pytest

from accounts.models import Connection
from integration.core.models import IntegrationSettings
from mappings.models import AccountMatrixCell
from tests.conftest import login_in_browser
from tests.mappings_fixtures import seed

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wizard_url(live_server, connection, step):
    return f"{live_server.url}/admin/accounts/connection/{connection.pk}/setup/?step={step}"


def test_consultant_walks_the_setup_wizard_against_the_sandbox(page, live_server, sandbox_urls, consultant):
    from sandbox.seed import ensure_demo_company

    demo = ensure_demo_company()
    connection = Connection.objects.create(name="Browser Demo ApS")
    connection.memberships.create(user=consultant)
    login_in_browser(page, live_server, consultant)

    page.goto(wizard_url(live_server, connection, "credentials"))
    page.fill("#id_new_rackbeat_api_token", demo.rackbeat_token)
    page.fill("#id_dinero_organization_id", str(demo.dinero_organization_id))
    page.fill("#id_new_dinero_api_key", demo.dinero_api_key)
    page.click("text=Save credentials")
    page.wait_for_url(re.compile(r"step=activate"))

    page.click("#activate")
    page.wait_for_url(re.compile(r"step=start-sync"))
    connection.refresh_from_db()
    assert connection.state == Connection.State.ACTIVE

    page.check("input[name=choice][value=skip]")
    page.click("text=Continue")
    page.wait_for_url(re.compile(r"step=purchases"))

    page.check("#id_supplier_integration_enabled")
    page.check("input[name=supplier_invoice_status][value=booked]")
    page.click("text=Save and continue")
    page.wait_for_url(re.compile(r"step=sales"))

    page.check("#id_customer_integration_enabled")
    page.check("input[name=sales_invoice_status][value=booked_emailed]")
    page.click("text=Save and continue")
    page.wait_for_url(re.compile(r"step=units-layouts"))

    page.goto(wizard_url(live_server, connection, "summary"))
    summary = page.inner_text("#setup-summary")
    assert "created in Dinero as booked invoices and e-mailed to the customer" in summary
    page.click("#finish-setup")
    page.wait_for_url(re.compile(r"/change/"))

    settings = IntegrationSettings.objects.get(connection=connection)
    assert settings.setup_completed_at is not None
    assert settings.supplier_invoice_status == "booked"


def test_accountant_fills_and_saves_the_revenue_matrix(page, live_server, accountant, connection):
    seed(connection)
    login_in_browser(page, live_server, accountant)

    page.goto(f"{live_server.url}/admin/accounts/connection/{connection.pk}/matrix/revenue/")
    assert "9 of 9 cells are empty" in page.inner_text("#completeness")
    page.select_option("#cell-10-domestic", "1000")
    page.select_option("#cell-10-eu", "1100")
    page.select_option("#cell-20-abroad", "1200")
    page.click("#save-matrix")
    page.wait_for_selector("text=Saved: 3 cells changed.")

    assert "6 of 9 cells are empty" in page.inner_text("#completeness")
    assert page.eval_on_selector("#cell-10-eu", "el => el.value") == "1100"
    assert dict(AccountMatrixCell.objects.filter(connection=connection).values_list("vat_zone", "account_number")
                .filter(product_group_number="10")) == {"domestic": 1000, "eu": 1100}


def test_hidden_account_error_is_shown_in_its_cell(page, live_server, accountant, connection):
    seed(connection)
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number="20",
                                     vat_zone="eu", account_number=1300)
    login_in_browser(page, live_server, accountant)

    page.goto(f"{live_server.url}/admin/accounts/connection/{connection.pk}/matrix/revenue/")

    assert "hidden in Dinero" in page.inner_text("#row-20")
