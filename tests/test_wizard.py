"""The setup wizard: every step reachable, each saving step guarded, a summary in plain words."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Connection
from integration.console import mapping_pages, setup_wizard
from integration.console.settings_admin import settings_for
from integration.console.setup_wizard import STEPS, summary_lines
from integration.core.models import IntegrationSettings
from mappings.models import AccountMatrixCell
from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


def step(connection, slug):
    return reverse("admin:connection-setup", args=[connection.pk]) + f"?step={slug}"


@pytest.fixture
def fake_engine(monkeypatch):
    """Activation and start sync as the engine provides them, recorded instead of calling the APIs."""
    calls = {"activate": [], "start": []}
    problems: list[str] = []

    def activate(connection):
        calls["activate"].append(connection.pk)
        if not problems:
            connection.set_state(Connection.State.ACTIVE)
            connection.save()
        return list(problems)

    def start(connection):
        calls["start"].append(connection.pk)

    monkeypatch.setattr(setup_wizard, "activate", activate)
    monkeypatch.setattr(setup_wizard, "start", start)
    monkeypatch.setattr(mapping_pages, "refresh_reference_data", lambda c: seed(c))
    return calls, problems


def test_every_step_renders_with_a_step_indicator(consultant_client, connection):
    for s in STEPS:
        response = consultant_client.get(step(connection, s.slug))
        html = response.content.decode()
        assert response.status_code == 200, s.slug
        assert 'id="setup-steps"' in html
        assert 'aria-current="step"' in html


def test_wizard_is_listed_on_the_connection_page(consultant_client, connection):
    html = consultant_client.get(reverse("admin:accounts_connection_change", args=[connection.pk])).content.decode()

    assert reverse("admin:connection-setup", args=[connection.pk]) in html


def test_credentials_are_write_only_and_kept_when_left_empty(consultant_client, connection):
    html = consultant_client.get(step(connection, "credentials")).content.decode()
    assert "rb-token-1001-secret" not in html
    assert "Set, last changed" in html

    response = consultant_client.post(step(connection, "credentials"), {
        "step": "credentials", "dinero_organization_id": "400999", "dinero_auth_method": "api_key",
        "new_rackbeat_api_token": "", "new_dinero_api_key": "new-key",
    })

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.dinero_organization_id == "400999"
    assert connection.rackbeat_api_token == "rb-token-1001-secret"
    assert connection.dinero_api_key == "new-key"


def test_accountant_cannot_change_credentials_or_activate(accountant_client, connection, fake_engine):
    assert "Only a support consultant" in accountant_client.get(step(connection, "credentials")).content.decode()
    assert accountant_client.post(step(connection, "credentials"), {"dinero_organization_id": "1"}).status_code == 403
    assert accountant_client.post(step(connection, "activate"), {}).status_code == 403
    assert fake_engine[0]["activate"] == []


def test_activation_problems_are_shown_in_plain_words(consultant_client, connection, fake_engine):
    calls, problems = fake_engine
    assert calls["activate"] == []
    problems.append("The Dinero organization 400555 has no Dinero Pro subscription. Upgrade in Dinero, then activate again.")

    response = consultant_client.post(step(connection, "activate"), {"step": "activate"})

    assert response.status_code == 200
    assert "has no Dinero Pro subscription" in response.content.decode()
    connection.refresh_from_db()
    assert connection.state == Connection.State.DRAFT


def test_a_failed_check_of_an_active_connection_never_says_active_and_not_activated(consultant_client, connection,
                                                                                     fake_engine):
    _calls, problems = fake_engine
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    problems.append("Dinero could not be checked (HTTP 500). Try again in a few minutes.")
    html = consultant_client.post(step(connection, "activate"), {"step": "activate"}).content.decode()
    assert "The connection is now: Active." in html
    assert "not activated" not in html
    assert "The check found problems; nothing was changed:" in html


def test_successful_activation_fetches_reference_data_and_moves_on(consultant_client, connection, fake_engine):
    response = consultant_client.post(step(connection, "activate"), {"step": "activate"})

    assert response.status_code == 302
    assert response["Location"].endswith("?step=start-sync")
    assert connection.reference_refresh.refreshed_at is not None


def test_start_sync_sets_the_flag_and_starts(consultant_client, connection, fake_engine):
    connection.set_state(Connection.State.ACTIVE)
    connection.save()

    consultant_client.post(step(connection, "start-sync"), {"step": "start-sync", "choice": "run"})

    assert settings_for(connection).start_sync_requested
    assert fake_engine[0]["start"] == [connection.pk]


def test_start_sync_before_activation_is_refused_with_a_reason(consultant_client, connection, fake_engine):
    response = consultant_client.post(step(connection, "start-sync"), {"step": "start-sync", "choice": "run"}, follow=True)

    assert "Activate the integration first" in response.content.decode()
    assert fake_engine[0]["start"] == []


def test_sales_step_validates_item_consumption_like_the_admin(consultant_client, connection):
    seed(connection)
    response = consultant_client.post(step(connection, "sales"), {
        "step": "sales", "customer_integration_enabled": "on", "customer_invoices_created_in": "rackbeat",
        "sales_invoice_status": "booked", "item_consumption_enabled": "on", "stock_account": "1300",
        "consumption_account": "",
    })

    html = response.content.decode()
    assert response.status_code == 200
    assert "needs a consumption account" in html
    assert not settings_for(connection).item_consumption_enabled


def test_purchase_step_saves_and_shows_matrix_completeness(consultant_client, connection):
    seed(connection)
    html = consultant_client.get(step(connection, "purchases")).content.decode()
    assert "9 of 9 cells are empty" in html

    response = consultant_client.post(step(connection, "purchases"), {
        "step": "purchases", "supplier_integration_enabled": "on", "supplier_invoice_status": "booked",
    })

    assert response["Location"].endswith("?step=sales")
    assert settings_for(connection).supplier_invoice_status == "booked"


def test_summary_says_what_will_happen(connection):
    settings = settings_for(connection)
    IntegrationSettings.objects.filter(pk=settings.pk).update(
        customer_integration_enabled=True, sales_invoice_status="booked_emailed", item_consumption_enabled=True,
        stock_account=5800, consumption_account=2000,
    )
    settings.refresh_from_db()

    lines = summary_lines(connection, settings)

    assert any(line.startswith("Booked sales invoices in Rackbeat are created in Dinero as booked invoices and "
                               "e-mailed to the customer") for line in lines)
    assert "Item consumption is booked on 5800/2000 (stock account/consumption account) for each booked sales invoice." in lines


def test_summary_lists_missing_mappings_and_finish_marks_setup_done(consultant_client, connection):
    seed(connection)
    settings = settings_for(connection)
    IntegrationSettings.objects.filter(pk=settings.pk).update(customer_integration_enabled=True)
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number="10",
                                     vat_zone="domestic", account_number=1000)

    html = consultant_client.get(step(connection, "summary")).content.decode()
    assert "8 of 9 cells are empty" in html
    assert "Unit mapping: not mapped yet: 1 Stk, 2 Kasse" in html

    consultant_client.post(step(connection, "summary"), {"step": "summary"})
    settings.refresh_from_db()
    assert settings.setup_completed_at is not None


def test_other_tenants_wizard_is_not_found(accountant_client, other_connection):
    assert accountant_client.get(step(other_connection, "summary")).status_code == 404


def test_the_activation_step_says_what_happens_to_invoices_booked_before_go_live(consultant_client, connection):
    from django.utils import timezone

    page = consultant_client.get(step(connection, "activate")).content.decode()
    assert 'id="go-live-boundary"' in page and "never transferred automatically" in page
    assert "went live at" not in page
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    page = consultant_client.get(step(connection, "activate")).content.decode()
    assert "This connection went live at" in page
    assert timezone.localtime(connection.state_changed_at).strftime("%Y") in page


def test_sales_step_explains_the_status_once(consultant_client, connection):
    from integration.console.settings_admin import SALES_STATUS_NOTE

    html = consultant_client.get(step(connection, "sales")).content.decode()
    assert html.count(str(SALES_STATUS_NOTE)[:40]) == 1


def test_credentials_step_chooses_the_language_of_e_mails(consultant_client, connection):
    html = consultant_client.get(step(connection, "credentials")).content.decode()
    assert 'name="language"' in html
