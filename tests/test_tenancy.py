"""Accountants see only their own connections; credentials are for support consultants."""

from __future__ import annotations

from django.urls import reverse


def test_accountant_lists_only_own_connections(accountant_client, connection, other_connection):
    response = accountant_client.get(reverse("admin:accounts_connection_changelist"))
    assert response.status_code == 200
    assert connection.name in response.content.decode()
    assert other_connection.name not in response.content.decode()


def test_accountant_gets_404_on_another_tenants_connection(accountant_client, other_connection):
    url = reverse("admin:accounts_connection_change", args=[other_connection.pk])
    response = accountant_client.get(url)
    # Django's admin redirects to the index with a message for a missing object.
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response.url == reverse("admin:index")


def test_accountant_cannot_see_or_change_credentials(accountant_client, connection):
    url = reverse("admin:accounts_connection_change", args=[connection.pk])
    html = accountant_client.get(url).content.decode()
    assert "new_rackbeat_api_token" not in html
    assert "new_dinero_api_key" not in html
    assert "rb-token-1001-secret" not in html

    accountant_client.post(url, {"name": "Renamed", "alert_recipients": "", "new_rackbeat_api_token": "hijack"})
    connection.refresh_from_db()
    assert connection.rackbeat_api_token == "rb-token-1001-secret"


def test_consultant_sets_a_secret_write_only(consultant_client, connection):
    url = reverse("admin:accounts_connection_change", args=[connection.pk])
    html = consultant_client.get(url).content.decode()
    assert "new_rackbeat_api_token" in html
    assert "Set, last changed" in html
    assert "rb-token-1001-secret" not in html
    assert "dinero-key-400555-secret" not in html

    response = consultant_client.post(url, {
        "name": connection.name, "alert_recipients": "", "rackbeat_account_id": "1001",
        "dinero_organization_id": "400555", "dinero_auth_method": "api_key",
        "new_rackbeat_api_token": "fresh-token-value", "new_dinero_api_key": "",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.rackbeat_api_token == "fresh-token-value"
    assert connection.dinero_api_key == "dinero-key-400555-secret"  # empty input keeps it


def test_accountant_cannot_add_or_delete_connections(accountant_client, connection):
    assert accountant_client.get(reverse("admin:accounts_connection_add")).status_code == 403
    assert accountant_client.get(reverse("admin:accounts_connection_delete", args=[connection.pk])).status_code == 403


def test_accountant_cannot_manage_memberships(accountant_client):
    assert accountant_client.get(reverse("admin:accounts_membership_changelist")).status_code == 403


def test_roles_are_created_with_the_right_permissions(roles):
    accountant, consultant = roles
    acc = {f"{p.content_type.app_label}.{p.codename}" for p in accountant.permissions.select_related("content_type")}
    con = {f"{p.content_type.app_label}.{p.codename}" for p in consultant.permissions.select_related("content_type")}
    assert "accounts.view_connection" in acc
    assert "accounts.change_credentials" not in acc
    assert "accounts.activate_connection" not in acc
    assert "integration.change_integrationsettings" in acc
    assert "mappings.change_accountmatrixcell" in acc
    assert "integration.view_syncoperation" in acc
    assert "accounts.run_troubleshooting" in acc
    assert "accounts.change_credentials" in con
    assert "accounts.activate_connection" in con
    assert "accounts.add_connection" in con
