"""Refreshing the cached reference data: upsert, never delete, flag what disappeared."""

from __future__ import annotations

import pytest

from integration.core.clients.errors import AuthenticationFailed
from mappings.models import (
    DineroAccount,
    DineroVatType,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    ReferenceRefresh,
)
from tests.mappings_fixtures import GROUPS, FakeDinero, FakeRackbeat, seed

pytestmark = pytest.mark.django_db


def test_refresh_caches_groups_units_layouts_accounts_and_vat_types(connection):
    counts = seed(connection)

    assert counts["product_groups"]["created"] == 3
    assert ProductGroup.objects.get(connection=connection, number="20").name == "Råvarer"
    assert ProductGroup.objects.get(connection=connection, number="20").vat_rates["vat_domestic"] == 25
    assert set(RackbeatUnit.objects.filter(connection=connection).values_list("name", flat=True)) == {"Stk", "Kasse"}
    assert RackbeatLayout.objects.get(connection=connection, number="2").language == "en"
    assert DineroVatType.objects.filter(connection=connection).count() == 2
    assert ReferenceRefresh.objects.get(connection=connection).refreshed_at is not None


def test_accounts_know_hidden_purchase_and_deposit(connection):
    seed(connection)

    assert DineroAccount.objects.get(connection=connection, number=1300).is_hidden
    assert DineroAccount.objects.get(connection=connection, number=2050).is_purchase
    assert not DineroAccount.objects.get(connection=connection, number=1000).is_purchase
    assert DineroAccount.objects.get(connection=connection, number=55000).is_deposit


def test_group_that_disappears_upstream_is_flagged_not_deleted(connection):
    seed(connection)
    counts = seed(connection, groups=[g for g in GROUPS if g["number"] != 20])

    group = ProductGroup.objects.get(connection=connection, number="20")
    assert group.missing_upstream
    assert counts["product_groups"]["missing"] == 1
    assert not ProductGroup.objects.get(connection=connection, number="10").missing_upstream


def test_group_that_comes_back_is_no_longer_missing(connection):
    seed(connection, groups=GROUPS[:1])
    seed(connection)

    assert not ProductGroup.objects.filter(connection=connection, missing_upstream=True).exists()


def test_failing_api_leaves_the_cache_untouched_and_records_the_error(connection):
    seed(connection)
    with pytest.raises(AuthenticationFailed):
        from mappings.reference import refresh_reference_data

        refresh_reference_data(connection, rackbeat=FakeRackbeat(groups=[], fail=AuthenticationFailed("Token rejected")),
                               dinero=FakeDinero())

    assert ProductGroup.objects.filter(connection=connection, missing_upstream=False).count() == 3
    assert ReferenceRefresh.objects.get(connection=connection).error == "Token rejected"


def test_refresh_touches_only_its_own_connection(connection, other_connection):
    seed(connection)
    seed(other_connection, groups=[])

    assert ProductGroup.objects.filter(connection=connection, missing_upstream=False).count() == 3
    assert not ProductGroup.objects.filter(connection=other_connection).exists()


def test_refresh_all_covers_active_connections_and_survives_a_failure(connection, other_connection, monkeypatch):
    from mappings import reference

    connection.state = other_connection.state = "active"
    connection.save()
    other_connection.save()

    def fake_refresh(conn):
        if conn.pk == other_connection.pk:
            raise AuthenticationFailed("Token rejected")
        return {"ok": True}

    monkeypatch.setattr(reference, "refresh_reference_data", fake_refresh)
    results = reference.refresh_all()

    assert results[connection.pk] == {"ok": True}
    assert "Token rejected" in results[other_connection.pk]["error"]
