"""In a real browser: an accountant finds a stuck invoice in the sync log, fixes the mapping, retries.

The invoice is booked in the Rackbeat emulator; its operation waits in "needs attention" because
the revenue matrix has no account for product group 20 × domestic. The accountant filters the log,
opens the document, follows "Fix it here" to the matrix cell, chooses the account and saves — and is
back on the document, which the real sales invoice handler has meanwhile transferred to the Dinero
emulator (saving a fix retries the documents that waited only for it).
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Connection
from integration.core.models import Direction, Kind, SyncOperation, Trigger
from tests.conftest import login_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stuck_invoice(sandbox_urls, settings, connection):
    """A booked sales invoice whose spare-parts line has no revenue account yet."""
    e2e = pytest.importorskip("tests.test_e2e_invoices", reason="the invoice e2e world is not available")
    from mappings.lookup import cell_id, matrix_url
    from mappings.models import AccountMatrixCell
    from tests.invoice_fixtures import SPARE_PARTS, build_world

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    build_world(connection)
    AccountMatrixCell.objects.filter(connection=connection, matrix="revenue", product_group_number=SPARE_PARTS,
                                     vat_zone="domestic").delete()
    Connection.objects.filter(pk=connection.pk).update(state=Connection.State.ACTIVE)
    connection.refresh_from_db()
    e2e._seed_rackbeat(connection)
    e2e._seed_dinero(connection)
    from integration.core.clients.factory import rackbeat_client

    rackbeat = rackbeat_client(connection)
    created = rackbeat.create_customer_invoice({
        "customer_id": 501, "invoice_date": "2026-03-31",
        "lines": [{"item_id": "RD-9", "quantity": 4, "line_price": "29.95"}],
    })
    invoice = rackbeat.book_customer_invoice(created["number"])
    number = str(invoice["number"])
    return SyncOperation.objects.create(
        connection=connection, kind=Kind.SALES_INVOICE, direction=Direction.TO_DINERO, source_key=number,
        document_number=number, document_name="Kunde A/S", state=SyncOperation.State.NEEDS_ATTENTION,
        trigger=Trigger.WEBHOOK, attempts=1,
        last_error="No revenue account for product group 20 Reservdelar and VAT zone Domestic.",
        hint="Choose the revenue account in the revenue account matrix, then press Retry.",
        fix_url=matrix_url(connection, "revenue") + f"#{cell_id(SPARE_PARTS, 'domestic')}",
    )


def test_accountant_fixes_a_missing_mapping_and_retries(page, live_server, accountant, stuck_invoice):
    from mappings.lookup import cell_id
    from tests.invoice_fixtures import SPARE_PARTS

    login_in_browser(page, live_server, accountant)
    page.goto(live_server.url + reverse("admin:integration_syncoperation_changelist"))

    # Filter the log to the documents that need attention and open the stuck invoice.
    page.click("#changelist-filter >> text=Needs attention")
    page.wait_for_url(re.compile(r"state__exact=needs_attention"))
    page.click(f"#result_list >> text={stuck_invoice.document_number}")
    page.wait_for_url(re.compile(rf"/syncoperation/{stuck_invoice.pk}/change/"))
    assert "No revenue account for product group 20" in page.inner_text(".operation-summary")
    detail_url = page.url

    # Follow the fix link to the matrix cell, choose the account and save.
    page.click(".operation-summary >> text=Fix it here")
    page.wait_for_url(re.compile(r"/matrix/revenue/"))
    cell = f"#{cell_id(SPARE_PARTS, 'domestic')}"
    page.focus(cell)  # the matrix fills a cell's choices when it is touched
    page.select_option(cell, "1300")
    page.click("#save-matrix")

    # Saving brings the accountant back to the document, which went again by itself: the fix was
    # all it waited for.
    page.wait_for_selector(".operation-summary .state-badge.state-done")
    assert page.url.split("#")[0] == detail_url
    stuck_invoice.refresh_from_db()
    assert stuck_invoice.state == SyncOperation.State.DONE
    assert stuck_invoice.target_id
    assert "Done" in page.inner_text(".operation-summary")
