"""Over real HTTP against the emulators: fixing the matrix and pressing Retry transfers the invoice."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integration.core.models import SyncOperation
from tests.test_browser_sync_log import stuck_invoice  # noqa: F401  (the shared scenario)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_retry_after_fixing_the_matrix_transfers_the_invoice(client, accountant, stuck_invoice):  # noqa: F811
    from mappings.lookup import cell_id
    from tests.invoice_fixtures import SPARE_PARTS

    client.force_login(accountant)
    matrix = reverse("admin:connection-matrix", args=[stuck_invoice.connection_id, "revenue"])
    saved = client.post(matrix, {cell_id(SPARE_PARTS, "domestic"): "1300"})
    assert saved.status_code == 302, saved.content.decode()[:2000]

    response = client.post(reverse("admin:integration_syncoperation_retry", args=[stuck_invoice.pk]), follow=True)
    assert response.status_code == 200
    stuck_invoice.refresh_from_db()
    assert stuck_invoice.state == SyncOperation.State.DONE, (stuck_invoice.last_error, stuck_invoice.hint)
    assert stuck_invoice.target_id
    page = response.content.decode()
    assert "state-done" in page
    assert "Open in Dinero" in page
