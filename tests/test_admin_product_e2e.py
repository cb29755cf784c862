"""Against the emulators over real HTTP: hidden Dinero accounts, a mistyped troubleshooting number."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Connection
from integration.core.models import Kind, SyncOperation
from integration.triggers.troubleshooting import SALES_TO_DINERO, transfer_now
from mappings.matrix import build_grid
from mappings.models import DineroAccount
from mappings.reference import refresh_reference_data
from tests.engine_fixtures import demo  # noqa: F401  (fixture)

pytestmark = [pytest.mark.e2e]


def test_reference_refresh_stores_hidden_accounts_and_the_matrices_leave_them_out(demo):  # noqa: F811
    refresh_reference_data(demo)
    hidden = DineroAccount.objects.get(connection=demo, number=9300)  # "Kassedifferencer (skjult)"
    assert hidden.is_hidden
    assert DineroAccount.objects.get(connection=demo, number=1000).category == "Turnover"
    revenue = [a.number for a in build_grid(demo, "revenue").choices]
    assert 9300 not in revenue and 58100 not in revenue and 1000 in revenue  # no hidden, no stock account
    assert 9300 not in [a.number for a in build_grid(demo, "supplier").choices]


def test_a_mistyped_number_leaves_no_needs_attention_row(demo, accountant_client, accountant):  # noqa: F811
    Connection.objects.filter(pk=demo.pk).update(state=Connection.State.ACTIVE)
    demo.memberships.create(user=accountant)
    demo.refresh_from_db()

    report = transfer_now(demo, SALES_TO_DINERO, "999999")

    assert report.message.startswith("Rackbeat has no invoice with the number 999999.")
    assert report.exchanges and report.exchanges[0].status == 404
    op = SyncOperation.objects.get(connection=demo, kind=Kind.SALES_INVOICE, source_key="999999")
    assert op.state == SyncOperation.State.SKIPPED
    assert not SyncOperation.objects.filter(connection=demo, state__in=SyncOperation.PROBLEM_STATES).exists()
    page = accountant_client.get(reverse("admin:integration_needsattention_changelist")).content.decode()
    assert "999999" not in page
