"""The tenant chokepoint, case by case: the attacks that were reported, and what the base class adds."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core import checks
from django.urls import reverse

from accounts.checks import tenant_admins_are_scoped
from accounts.models import Connection
from integration.console.settings_admin import settings_for
from mappings.models import UnitMapping
from tests.isolation_world import MARKER_B, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def _login(client, user):
    client.force_login(user)
    return client


def test_consultant_cannot_revert_another_tenants_connection_from_its_history(client, world):
    a, b, _ = world
    _login(client, a.users["consultant"])
    first = b.connection.history.earliest()
    url = reverse("admin:accounts_connection_simple_history", args=[b.connection.pk, first.history_id])

    assert client.get(url).status_code == 404
    response = client.post(url, {"name": "Taken over", "alert_recipients": "evil@example.com",
                                 "rackbeat_account_id": "666", "dinero_organization_id": "1",
                                 "dinero_auth_method": "api_key"})

    assert response.status_code == 404
    b.connection.refresh_from_db()
    assert b.connection.name.endswith("Lager") and b.connection.rackbeat_account_id == "2222"


def test_accountant_cannot_revert_another_tenants_integration_settings(client, world):
    a, b, _ = world
    _login(client, a.users["accountant"])
    settings = settings_for(b.connection)
    first = settings.history.earliest()
    url = reverse("admin:integration_integrationsettings_simple_history", args=[settings.pk, first.history_id])

    assert client.post(url, {"supplier_integration_enabled": "", "supplier_invoice_status": "booked"}).status_code == 404
    settings.refresh_from_db()
    assert settings.supplier_integration_enabled is True


@pytest.mark.parametrize("model", ["accounts_connection", "integration_integrationsettings",
                                   "mappings_unitmapping", "mappings_layoutmapping", "mappings_accountmatrixcell"])
def test_history_list_of_another_tenants_object_is_404(client, world, model):
    a, b, _ = world
    _login(client, a.users["accountant"])
    model_class = {m._meta.label_lower.replace(".", "_"): m for m in admin.site._registry}[model]
    obj = b.connection if model_class is Connection else model_class.objects.get(connection=b.connection)

    response = client.get(reverse(f"admin:{model}_history", args=[obj.pk]))

    assert response.status_code == 404
    assert MARKER_B.lower() not in response.content.decode().lower()


def test_own_history_and_revert_still_work(client, world):
    a, _b, _ = world
    _login(client, a.users["accountant"])
    mapping = UnitMapping.objects.get(connection=a.connection)
    first = mapping.history.earliest()

    assert client.get(reverse("admin:mappings_unitmapping_history", args=[mapping.pk])).status_code == 200
    url = reverse("admin:mappings_unitmapping_simple_history", args=[mapping.pk, first.history_id])
    response = client.post(url, {"connection": a.connection.pk, "rackbeat_unit_number": mapping.rackbeat_unit_number,
                                 "dinero_unit": "parts"})

    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.dinero_unit == "parts"


def test_a_deleted_objects_history_is_shown_only_to_its_own_tenant(client, world):
    a, b, _ = world
    mine = UnitMapping.objects.get(connection=a.connection)
    theirs = UnitMapping.objects.get(connection=b.connection)
    mine_pk, theirs_pk = mine.pk, theirs.pk
    mine.delete()
    theirs.delete()
    _login(client, a.users["consultant"])

    assert client.get(reverse("admin:mappings_unitmapping_history", args=[mine_pk])).status_code == 200
    assert client.get(reverse("admin:mappings_unitmapping_history", args=[theirs_pk])).status_code == 404


@pytest.mark.parametrize("changelist", ["mappings_unitmapping", "mappings_layoutmapping",
                                        "mappings_accountmatrixcell", "mappings_productgroup",
                                        "accounts_membership", "integration_syncoperation"])
def test_list_filters_offer_only_own_connections(client, world, changelist):
    a, b, _ = world
    _login(client, a.users["consultant"])

    html = client.get(reverse(f"admin:{changelist}_changelist")).content.decode()

    assert a.connection.name in html
    assert b.connection.name not in html


def test_membership_form_offers_only_people_of_own_connections(client, world):
    a, b, _ = world
    _login(client, a.users["consultant"])

    response = client.post(reverse("admin:accounts_membership_add"),
                           {"user": b.users["accountant"].pk, "connection": a.connection.pk})

    assert response.status_code == 200  # the form again, with an error
    assert not a.connection.memberships.filter(user=b.users["accountant"]).exists()
    assert b.users["accountant"].username not in response.content.decode()


def test_form_cannot_move_a_row_to_another_tenant(client, world):
    a, b, _ = world
    _login(client, a.users["consultant"])
    mapping = UnitMapping.objects.get(connection=a.connection)

    client.post(reverse("admin:mappings_unitmapping_change", args=[mapping.pk]), {
        "connection": b.connection.pk, "rackbeat_unit_number": "moved", "dinero_unit": "parts"})

    mapping.refresh_from_db()
    assert mapping.connection == a.connection


def test_support_consultants_do_not_see_the_task_queue(client, world):
    a, _b, _ = world
    _login(client, a.users["consultant"])
    assert client.get("/admin/django_q/failure/").status_code == 403


def test_check_refuses_an_admin_for_tenant_data_that_is_not_scoped():
    site = admin.AdminSite(name="probe")

    class Careless(admin.ModelAdmin):
        pass

    admin.site._registry[UnitMapping], saved = Careless(UnitMapping, site), admin.site._registry[UnitMapping]
    try:
        errors = tenant_admins_are_scoped()
    finally:
        admin.site._registry[UnitMapping] = saved

    assert [e.id for e in errors] == ["accounts.E001"]
    assert errors[0].level == checks.ERROR
    assert tenant_admins_are_scoped() == []


def test_accountant_cannot_reach_the_delete_confirmation_of_integration_settings(client, world):
    a, _b, _ = world
    _login(client, a.users["accountant"])
    own = settings_for(a.connection)
    changelist = reverse("admin:integration_integrationsettings_changelist")

    bulk = client.post(changelist, {"action": "delete_selected", "_selected_action": [str(own.pk)]})
    assert b"Are you sure" not in bulk.content and bulk.status_code in (200, 302, 403)
    single = client.get(reverse("admin:integration_integrationsettings_delete", args=[own.pk]))
    assert single.status_code == 403
    assert type(own).objects.filter(pk=own.pk).exists()


def test_superuser_deletes_a_connection_with_history_after_a_confirmation_that_says_what_goes(client, world):
    _a, b, root = world
    _login(client, root)
    url = reverse("admin:accounts_connection_delete", args=[b.connection.pk])
    operations = b.connection.operations.count()
    assert operations and b.connection.history.count()

    confirmation = client.get(url)
    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "Are you sure" in page and "permission" not in page
    assert f"{operations} sync log" in page and "1 product groups" in page  # what goes, counted

    done = client.post(url, {"post": "yes"})
    assert done.status_code == 302
    assert not Connection.objects.filter(pk=b.connection.pk).exists()
    assert Connection.objects.filter(pk=_a.connection.pk).exists()


def test_the_delete_confirmation_of_a_connection_is_for_superusers_only(client, world):
    a, _b, _ = world
    for role in ("accountant", "consultant"):
        _login(client, a.users[role])
        assert client.post(reverse("admin:accounts_connection_delete", args=[a.connection.pk]),
                           {"post": "yes"}).status_code == 403
    assert Connection.objects.filter(pk=a.connection.pk).exists()
