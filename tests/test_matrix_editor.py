"""The account matrix editor: a real grid, saved in one POST, validated cell by cell."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mappings.models import AccountMatrixCell, LayoutMapping, ProductGroup, UnitMapping
from tests.mappings_fixtures import add_groups, seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(connection):
    seed(connection)
    return connection


def url(connection, matrix="revenue"):
    return reverse("admin:connection-matrix", args=[connection.pk, matrix])


def test_grid_has_a_cell_per_group_and_zone_with_accounts_by_number_and_name(accountant_client, seeded):
    response = accountant_client.get(url(seeded))

    html = response.content.decode()
    assert response.status_code == 200
    for group in ("10", "20", "30"):
        for zone in ("domestic", "eu", "abroad"):
            assert f'id="cell-{group}-{zone}"' in html
    assert "cell-10-domestic_exempt" not in html
    template = re.search(r'<template id="account-options">(.*?)</template>', html, re.S).group(1)
    assert ">1000 Salg af varer<" in template
    assert "1300" not in template  # hidden


def test_supplier_matrix_offers_only_purchase_accounts(accountant_client, seeded):
    html = accountant_client.get(url(seeded, "supplier")).content.decode()

    template = re.search(r'<template id="account-options">(.*?)</template>', html, re.S).group(1)
    assert ">2050 Varekøb EU<" in template
    assert ">1000 " not in template


def test_exempt_column_appears_when_a_group_has_an_exempt_rate(accountant_client, seeded):
    ProductGroup.objects.filter(connection=seeded, number="10").update(vat_rates={"vat_domestic_exempt": 0})

    html = accountant_client.get(url(seeded)).content.decode()

    assert 'id="cell-20-domestic_exempt"' in html


def test_missing_upstream_group_is_flagged(accountant_client, seeded):
    ProductGroup.objects.filter(connection=seeded, number="30").update(missing_upstream=True)

    html = accountant_client.get(url(seeded)).content.decode()

    assert "no longer in Rackbeat" in html


def test_one_post_saves_every_cell(accountant_client, seeded):
    response = accountant_client.post(url(seeded), {
        "cell-10-domestic": "1000", "cell-10-eu": "1100", "cell-10-abroad": "1200", "cell-20-domestic": "1000",
    })

    assert response.status_code == 302
    cells = {(c.product_group_number, c.vat_zone): c.account_number
             for c in AccountMatrixCell.objects.filter(connection=seeded, matrix="revenue")}
    assert cells == {("10", "domestic"): 1000, ("10", "eu"): 1100, ("10", "abroad"): 1200, ("20", "domestic"): 1000}


def test_emptied_cell_is_removed(accountant_client, seeded):
    AccountMatrixCell.objects.create(connection=seeded, matrix="revenue", product_group_number="10",
                                     vat_zone="domestic", account_number=1000)

    accountant_client.post(url(seeded), {"cell-10-domestic": ""})

    assert not AccountMatrixCell.objects.filter(connection=seeded).exists()


def test_hidden_account_is_rejected_in_its_cell_and_nothing_is_saved(accountant_client, seeded):
    response = accountant_client.post(url(seeded), {"cell-10-domestic": "1000", "cell-20-eu": "1300"})

    html = response.content.decode()
    assert response.status_code == 200
    assert not AccountMatrixCell.objects.filter(connection=seeded).exists()
    cell_html = re.search(r'<td class="errors">\s*<select name="cell-20-eu".*?</td>', html, re.S).group(0)
    assert "1300 Gammel salgskonto is hidden in Dinero" in cell_html
    assert "Nothing was saved: 1 cell needs a different account" in html


def test_sales_account_is_rejected_in_the_supplier_matrix(accountant_client, seeded):
    response = accountant_client.post(url(seeded, "supplier"), {"cell-10-domestic": "1000"})

    assert "not a purchase account" in response.content.decode()
    assert not AccountMatrixCell.objects.exists()


def test_completeness_banner_counts_empty_cells(accountant_client, seeded):
    AccountMatrixCell.objects.bulk_create([
        AccountMatrixCell(connection=seeded, matrix="revenue", product_group_number=g, vat_zone=z, account_number=1000)
        for g in ("10", "20") for z in ("domestic", "eu", "abroad")
    ])

    html = accountant_client.get(url(seeded)).content.decode()

    assert "3 of 9 cells are empty: invoices with these groups will stop and ask for a mapping" in html


def test_query_count_does_not_grow_with_the_number_of_groups(accountant_client, seeded):
    add_groups(seeded, 5)
    with CaptureQueriesContext(db_connection) as few:
        accountant_client.get(url(seeded))
    add_groups_more = 200
    ProductGroup.objects.bulk_create(
        ProductGroup(connection=seeded, number=str(1000 + i), name=f"More {i}") for i in range(add_groups_more)
    )
    AccountMatrixCell.objects.bulk_create(
        AccountMatrixCell(connection=seeded, matrix="revenue", product_group_number=str(1000 + i),
                          vat_zone="domestic", account_number=1000)
        for i in range(add_groups_more)
    )
    with CaptureQueriesContext(db_connection) as many:
        response = accountant_client.get(url(seeded))

    assert response.content.decode().count('class="account-cell"') == (3 + 5 + 200) * 3
    assert len(many.captured_queries) == len(few.captured_queries)


def test_other_tenants_matrix_is_not_found(accountant_client, other_connection):
    assert accountant_client.get(url(other_connection)).status_code == 404


def test_viewer_without_change_permission_cannot_save(client, seeded, roles):
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_accountmatrixcell"))
    seeded.memberships.create(user=viewer)
    client.force_login(viewer)

    assert client.get(url(seeded)).status_code == 200
    assert client.post(url(seeded), {"cell-10-domestic": "1000"}).status_code == 403
    assert not AccountMatrixCell.objects.exists()


def test_refresh_button_fetches_reference_data(accountant_client, connection, monkeypatch):
    from integration.console import mapping_pages
    from mappings.reference import refresh_reference_data
    from tests.mappings_fixtures import FakeDinero, FakeRackbeat

    monkeypatch.setattr(mapping_pages, "refresh_reference_data",
                        lambda c: refresh_reference_data(c, rackbeat=FakeRackbeat(), dinero=FakeDinero()))

    response = accountant_client.post(url(connection), {"action": "refresh"}, follow=True)

    assert "Refreshed: 3 product groups" in response.content.decode()
    assert ProductGroup.objects.filter(connection=connection).count() == 3


def test_refresh_failure_is_shown_not_raised(accountant_client, connection, monkeypatch):
    from integration.console import mapping_pages
    from integration.core.clients.errors import AuthenticationFailed

    def fail(_connection):
        raise AuthenticationFailed("Rackbeat rejected the API token.")

    monkeypatch.setattr(mapping_pages, "refresh_reference_data", fail)

    response = accountant_client.post(url(connection), {"action": "refresh"}, follow=True)

    assert response.status_code == 200
    assert "Rackbeat rejected the API token." in response.content.decode()


def test_unit_mapping_page_saves_and_validates(accountant_client, seeded):
    units = reverse("admin:connection-units", args=[seeded.pk])

    html = accountant_client.get(units).content.decode()
    assert 'id="unit-2"' in html and "Kasse" in html
    accountant_client.post(units, {"unit-1": "parts", "unit-2": "box"})
    bad = accountant_client.post(units, {"unit-1": "furlong"})

    assert dict(UnitMapping.objects.filter(connection=seeded).values_list("rackbeat_unit_number", "dinero_unit")) == {
        "1": "parts", "2": "box"}
    assert "is not one of Dinero" in bad.content.decode()


def test_layout_mapping_page_suggests_and_saves(accountant_client, seeded):
    layouts = reverse("admin:connection-layouts", args=[seeded.pk])

    html = accountant_client.get(layouts).content.decode()
    assert "language: en-GB" in html
    accountant_client.post(layouts, {"layout-1": "da-DK", "layout-2": "en-GB"})

    assert LayoutMapping.objects.get(connection=seeded, rackbeat_layout_number="2").language == "en-GB"
