"""The admin site as a product: its name, navigation by task, internal tables out of sight."""

from __future__ import annotations

from django.urls import reverse


def _index(client) -> str:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_header_and_title_carry_the_service_name(accountant_client):
    content = _index(accountant_client)
    assert "Django" not in content
    assert "<title>Your connections | Rackbeat ⇄ Dinero</title>" in content


def test_accountant_and_consultant_see_no_internal_tables(accountant_client, consultant_client):
    for client in (accountant_client, consultant_client):
        content = _index(client)
        for url_name in ("integration_httpexchange_changelist", "integration_webhookdelivery_changelist",
                         "django_q_ormq_changelist", "django_q_schedule_changelist",
                         "mappings_dineroaccount_changelist", "mappings_productgroup_changelist",
                         "sandbox_dinero_organization_changelist"):
            assert reverse(f"admin:{url_name}") not in content, url_name
        assert reverse("admin:integration_needsattention_changelist") in content
        assert 'id="internal-tables"' not in content


def test_superuser_sees_internal_tables_in_their_own_group(client, superuser):
    client.force_login(superuser)
    content = _index(client)
    internal = content[content.index('id="internal-tables"'):]
    assert reverse("admin:integration_httpexchange_changelist") in internal
    assert reverse("admin:django_q_ormq_changelist") in internal
    assert reverse("admin:integration_syncoperation_changelist") not in internal


def test_an_app_page_hides_internal_tables_from_non_superusers(consultant_client):
    response = consultant_client.get(reverse("admin:app_list", args=["integration"]))
    content = response.content.decode()
    assert reverse("admin:integration_syncoperation_changelist") in content
    assert reverse("admin:integration_httpexchange_changelist") not in content


def test_favicon_is_linked_on_every_page(accountant_client, connection):
    content = accountant_client.get(reverse("admin:connection-dashboard", args=[connection.pk])).content.decode()
    assert 'rel="icon"' in content and "service/favicon.svg" in content


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("service/favicon.svg")
