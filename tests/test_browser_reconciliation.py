"""In a real browser: an accountant closes March with the reconciliation, and a consultant previews the posting.

Both run against the Rackbeat and Dinero emulators over real HTTP, with the same month as the
end-to-end reconciliation test (one of each difference).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from mappings.models import AccountMatrixCell
from tests.conftest import login_in_browser
from tests.invoice_fixtures import SPARE_PARTS
from tests.test_e2e_invoices import _book_sales_invoice
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)
from tests.test_e2e_reconciliation import _month_with_one_of_each, _supplier_invoice

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(invoice_world: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    return invoice_world


def _differences(page) -> list[str]:
    return sorted(f"{row.get_attribute('data-kind')} {row.get_attribute('data-number')}"
                  for row in page.query_selector_all("#reconciliation-differences tr.difference"))


def test_accountant_reconciles_march_transfers_the_missing_ones_and_downloads(page, live_server, accountant, world):
    numbers = _month_with_one_of_each(world)
    connection = world["connection"]
    login_in_browser(page, live_server, accountant)
    page.goto(live_server.url + reverse("admin:connection-reconciliation", args=[connection.pk]))
    assert page.inner_text("#reconciliation-state") == "No reconciliation has been run for this connection yet."

    # The shortcuts fill both dates (their script runs under the page's Content-Security-Policy).
    shortcut = page.locator(".period-shortcut").nth(2)
    shortcut.click()
    assert page.input_value("#period-from") == shortcut.get_attribute("data-from")
    assert page.input_value("#period-to") == shortcut.get_attribute("data-to")

    page.fill("#period-from", "2026-03-01")
    page.fill("#period-to", "2026-03-31")
    page.click("#reconcile-button")
    page.wait_for_selector('#reconciliation-state[data-state="done"]')
    assert page.inner_text("#count-differences") == "6"
    assert _differences(page) == sorted([
        f"missing_in_dinero {numbers['missing']}", f"consumption_missing {numbers['missing']}",
        f"missing_in_dinero {numbers['supplier_missing']}", "extra_in_dinero 99999",
        f"total_differs {numbers['differs']}", f"consumption_doubled {numbers['doubled']}"])
    differs = page.locator('#reconciliation-differences tr[data-kind="total_differs"]')
    assert "112.32" in differs.inner_text() and "112.31" in differs.inner_text()
    assert page.locator("#sums-sales-account tr.differs").count() >= 1

    with page.expect_download() as download:
        page.click("#download-csv")
    assert download.value.suggested_filename.endswith(".csv")
    with page.expect_download() as download:
        page.click("#download-pdf")
    assert download.value.suggested_filename.endswith(".pdf")

    page.click("#transfer-missing")
    page.wait_for_selector(".messagelist >> text=Run the reconciliation again")
    page.click("#reconcile-button")
    page.wait_for_selector('#reconciliation-state[data-state="done"]')
    page.wait_for_function("document.querySelector('#count-differences').innerText === '3'")
    assert _differences(page) == sorted(["extra_in_dinero 99999", f"total_differs {numbers['differs']}",
                                         f"consumption_doubled {numbers['doubled']}"])
    # The earlier run stays in the history, one click away.
    assert page.locator("#reconciliation-history tbody tr").count() == 2


def test_consultant_previews_the_posting_and_follows_the_fix_link(page, live_server, consultant, world):
    connection, rackbeat = world["connection"], world["rackbeat"]
    AccountMatrixCell.objects.filter(connection=connection, matrix="revenue", product_group_number=SPARE_PARTS,
                                     vat_zone="domestic").delete()
    ready = _book_sales_invoice(rackbeat, [("FV-1", 2, "499.00")])
    stops = _book_sales_invoice(rackbeat, [("RD-9", 4, "29.95")])
    _supplier_invoice(world, 62001)
    login_in_browser(page, live_server, consultant)

    page.goto(live_server.url + reverse("admin:connection-matrix", args=[connection.pk, "revenue"]))
    page.click("#posting-preview-link")
    page.click("#show-preview")  # the preview spends the budget only when a person asks (a POST)
    page.wait_for_selector("#preview-summary")
    assert page.get_attribute("#preview-summary", "data-ready") == "2"
    assert page.get_attribute("#preview-summary", "data-total") == "3"
    good = page.locator(f"#preview-sales_invoice-{ready['number']}")
    assert good.get_attribute("data-stops") == "false"
    assert good.locator("tr.preview-line").first.get_attribute("data-account") == "1000"
    # Dinero's total in the totals row (its currency named in the row), Rackbeat's with its currency.
    assert good.locator(".dinero-total").inner_text() == "1,247.50"
    assert good.locator(".rackbeat-total").inner_text() == "1,247.50 DKK"
    assert page.locator("#preview-supplier_invoice-62001 .verdict").inner_text() == "Ready"

    bad = page.locator(f"#preview-sales_invoice-{stops['number']}")
    assert bad.get_attribute("data-stops") == "true"
    bad.locator(".fix-link").first.click()
    page.wait_for_url(re.compile(r"/matrix/revenue/"))
