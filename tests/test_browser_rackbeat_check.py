"""The "Check Rackbeat" button in a real browser: from the connection page to the stored report."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integration.core.models import RackbeatShapeCheck
from integration.triggers import activation
from tests.conftest import ARTIFACTS, login_in_browser
from tests.test_rackbeat_check import (
    invoice_world,  # noqa: F401
    world,  # noqa: F401  (fixtures, requested below)
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_check_rackbeat_button_shows_the_report_field_by_field(page, live_server, world, consultant):  # noqa: F811
    from sandbox.rackbeat import models as rb

    connection = world["connection"]
    rb.Account.objects.update(refused_webhook_events="customer_invoice.booked")
    activation.register_webhooks(connection)
    login_in_browser(page, live_server, consultant)

    page.goto(live_server.url + reverse("admin:accounts_connection_change", args=[connection.pk]))
    summary = page.inner_text("#rackbeat-summary")
    assert "customer_invoice.booked" in summary and "The selected event is invalid." in summary
    assert "not been checked yet" in summary

    page.click("#connection-check-rackbeat")
    page.wait_for_selector("#rackbeat-check-report")

    assert page.url.endswith(reverse("admin:connection-rackbeat-check", args=[connection.pk]))
    assert "Rackbeat checked: Everything needed was found." in page.inner_text(".messagelist")
    credit = page.locator("table[data-section='Credit note']")
    flag_row = credit.locator("tr.rackbeat-field", has_text="credit-note flag")
    assert "found" in flag_row.inner_text() and "is_creditnote" in flag_row.inner_text()
    assert "negative" in credit.inner_text()
    supplier = page.locator("table[data-section='Booked supplier invoice']")
    assert "fetched supplier.vat_zone" in supplier.locator("tr", has_text="VAT zone").inner_text()
    assert page.locator("tr.rackbeat-field[data-status='missing']", has_text="credited invoice number").count() == 1
    webhooks = page.inner_text("#rackbeat-check-webhooks")
    assert "Refused by Rackbeat at activation" in webhooks and "supplier.updated" in webhooks
    assert RackbeatShapeCheck.objects.filter(connection=connection, checked_by="consultant").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rackbeat-check-report.png"), full_page=True)

    page.goto(live_server.url + reverse("admin:accounts_connection_change", args=[connection.pk]))
    assert "Everything needed was found" in page.inner_text("#rackbeat-latest-check")
