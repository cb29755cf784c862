"""The lookups transfers use: an account, unit or language, or a NeedsMapping that says what and where."""

from __future__ import annotations

import pytest

from integration.core.handlers import NeedsMapping
from mappings import lookup
from mappings.models import AccountMatrixCell, DineroAccount, LayoutMapping, UnitMapping
from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(connection):
    seed(connection)
    return connection


def cell(connection, matrix, group, zone, account):
    return AccountMatrixCell.objects.create(connection=connection, matrix=matrix, product_group_number=group,
                                            vat_zone=zone, account_number=account)


def test_mapped_revenue_account_is_returned(seeded):
    cell(seeded, "revenue", "10", "domestic", 1000)

    assert lookup.revenue_account(seeded, "10", "domestic") == 1000


def test_a_mapped_cell_and_its_account_are_read_in_one_statement(seeded, django_assert_num_queries):
    cell(seeded, AccountMatrixCell.Matrix.REVENUE, "10", "domestic", 1000)
    cell(seeded, AccountMatrixCell.Matrix.SUPPLIER, "10", "domestic", 2000)
    # The product group's name and the link to the cell are only for a document that stops.
    with django_assert_num_queries(1) as queries:
        assert lookup.revenue_account(seeded, "10", "domestic") == 1000
    assert "productgroup" not in queries.captured_queries[0]["sql"]
    with django_assert_num_queries(1):
        assert lookup.supplier_account(seeded, "10", "domestic") == 2000


def test_revenue_accounts_of_several_groups_come_from_one_statement_and_leave_problems_out(
        seeded, django_assert_num_queries):
    cell(seeded, "revenue", "10", "domestic", 1000)
    cell(seeded, "revenue", "20", "domestic", 1300)   # hidden in Dinero: its own question names it
    cell(seeded, "revenue", "30", "eu", 1000)          # another VAT zone
    with django_assert_num_queries(1):
        assert lookup.revenue_accounts(seeded, ["10", "20", "30", " 10 "], "domestic") == {"10": 1000, " 10 ": 1000}
    with django_assert_num_queries(0):
        assert lookup.revenue_accounts(seeded, ["10"], "nowhere") == {}
        assert lookup.revenue_accounts(seeded, ["", " "], "domestic") == {}
    with pytest.raises(NeedsMapping, match="hidden in Dinero"):
        lookup.revenue_account(seeded, "20", "domestic")


def test_unmapped_vat_zone_stops_invoice_with_hint(seeded):
    with pytest.raises(NeedsMapping) as caught:
        lookup.revenue_account(seeded, "20", "eu")

    assert str(caught.value.message) == (
        "No revenue account for product group 20 “Råvarer” × VAT zone EU. Set it in the revenue account matrix."
    )
    assert caught.value.fix_url == f"/admin/accounts/connection/{seeded.pk}/matrix/revenue/#cell-20-eu"


def test_unmapped_supplier_cell_names_the_supplier_matrix(seeded):
    with pytest.raises(NeedsMapping) as caught:
        lookup.supplier_account(seeded, 10, "abroad")

    assert "supplier invoice account matrix" in caught.value.message
    assert caught.value.fix_url.endswith("/matrix/supplier/#cell-10-abroad")


def test_hidden_account_in_the_matrix_is_refused(seeded):
    cell(seeded, "revenue", "10", "domestic", 1300)

    with pytest.raises(NeedsMapping) as caught:
        lookup.revenue_account(seeded, "10", "domestic")

    assert "1300 Gammel salgskonto is hidden in Dinero" in caught.value.message
    assert caught.value.fix_url.endswith("#cell-10-domestic")


def test_account_missing_upstream_is_refused(seeded):
    cell(seeded, "revenue", "10", "domestic", 1000)
    DineroAccount.objects.filter(connection=seeded, number=1000).update(missing_upstream=True)

    with pytest.raises(NeedsMapping, match="no longer exists in Dinero"):
        lookup.revenue_account(seeded, "10", "domestic")


def test_sales_account_is_refused_in_the_supplier_matrix(seeded):
    cell(seeded, "supplier", "10", "domestic", 1000)

    with pytest.raises(NeedsMapping, match="not a purchase account"):
        lookup.supplier_account(seeded, "10", "domestic")


def test_unknown_vat_zone_is_a_readable_stop(seeded):
    with pytest.raises(NeedsMapping, match="Unknown VAT zone “mars”"):
        lookup.revenue_account(seeded, "10", "mars")


def test_mappings_of_another_connection_are_not_used(seeded, other_connection):
    cell(other_connection, "revenue", "10", "domestic", 1000)

    with pytest.raises(NeedsMapping):
        lookup.revenue_account(seeded, "10", "domestic")


def test_a_mapped_unit_and_layout_build_no_link(seeded, monkeypatch):
    UnitMapping.objects.create(connection=seeded, rackbeat_unit_number="7", dinero_unit="parts")
    LayoutMapping.objects.create(connection=seeded, rackbeat_layout_number="7", language="da-DK")

    def no_link(*args, **kwargs):
        raise AssertionError("a link is built only for a document that stops")

    monkeypatch.setattr(lookup, "reverse", no_link)
    assert lookup.dinero_unit(seeded, "7") == "parts"
    assert lookup.dinero_language(seeded, "7") == "da-DK"


def test_unit_lookup_returns_dinero_unit_or_names_the_unit(seeded):
    UnitMapping.objects.create(connection=seeded, rackbeat_unit_number="1", dinero_unit="parts")

    assert lookup.dinero_unit(seeded, 1) == "parts"
    with pytest.raises(NeedsMapping) as caught:
        lookup.dinero_unit(seeded, "2")
    assert str(caught.value.message) == "No Dinero unit for Rackbeat unit 2 “Kasse”. Set it in the unit mapping."
    assert caught.value.fix_url == f"/admin/accounts/connection/{seeded.pk}/units/#unit-2"


def test_layout_lookup_returns_language_or_names_the_layout(seeded):
    LayoutMapping.objects.create(connection=seeded, rackbeat_layout_number="2", language="en-GB")

    assert lookup.dinero_language(seeded, "2") == "en-GB"
    with pytest.raises(NeedsMapping) as caught:
        lookup.dinero_language(seeded, "1")
    assert str(caught.value.message) == (
        "No Dinero language for Rackbeat layout 1 “Standard”. Set it in the layout mapping."
    )
    assert caught.value.fix_url.endswith("/layouts/#layout-1")
