"""CSV export and import of the matrices and mappings: round trip, per-row preview, confirm."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mappings import csv_io
from mappings.models import AccountMatrixCell, LayoutMapping, UnitMapping
from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(connection):
    seed(connection)
    return connection


def cell(connection, group, zone, account, matrix="revenue"):
    AccountMatrixCell.objects.create(connection=connection, matrix=matrix, product_group_number=group,
                                     vat_zone=zone, account_number=account)


def test_matrix_round_trip_to_another_connection(seeded, other_connection):
    seed(other_connection)
    cell(seeded, "10", "domestic", 1000)
    cell(seeded, "20", "eu", 1100)

    text = csv_io.export_csv(seeded, "revenue")
    counts = csv_io.apply_import(other_connection, "revenue", text)

    assert text.splitlines()[0] == "product_group,product_group_name,vat_zone,account,account_name"
    assert "10,Færdigvarer,domestic,1000,Salg af varer" in text
    assert counts["new"] == 2
    assert sorted(AccountMatrixCell.objects.filter(connection=other_connection).values_list(
        "product_group_number", "vat_zone", "account_number")) == [("10", "domestic", 1000), ("20", "eu", 1100)]


@pytest.mark.parametrize("language", ["da", "sv"])
def test_matrix_file_opens_in_danish_and_swedish_spreadsheets_and_imports_anywhere(seeded, other_connection, language):
    from django.utils import translation

    seed(other_connection)
    cell(seeded, "10", "domestic", 1000)
    cell(seeded, "20", "eu", 1100)
    with translation.override(language):
        text = csv_io.export_csv(seeded, "revenue")
    assert text.splitlines()[0] == "product_group;product_group_name;vat_zone;account;account_name"

    with translation.override("en"):
        counts = csv_io.apply_import(other_connection, "revenue", text)
    assert counts["new"] == 2
    assert sorted(AccountMatrixCell.objects.filter(connection=other_connection).values_list(
        "product_group_number", "vat_zone", "account_number")) == [("10", "domestic", 1000), ("20", "eu", 1100)]


def test_unit_and_layout_round_trip_by_name(seeded, other_connection):
    seed(other_connection, units=[{"number": 7, "name": "Kasse"}], layouts=[{"number": 9, "name": "English"}])
    UnitMapping.objects.create(connection=seeded, rackbeat_unit_number="2", dinero_unit="box")
    LayoutMapping.objects.create(connection=seeded, rackbeat_layout_number="2", language="en-GB")

    csv_io.apply_import(other_connection, "units", csv_io.export_csv(seeded, "units"))
    csv_io.apply_import(other_connection, "layouts", csv_io.export_csv(seeded, "layouts"))

    assert UnitMapping.objects.get(connection=other_connection).rackbeat_unit_number == "7"
    assert LayoutMapping.objects.get(connection=other_connection).rackbeat_layout_number == "9"


def test_preview_says_new_changed_unchanged_and_error_with_reason(seeded):
    cell(seeded, "10", "domestic", 1000)
    cell(seeded, "10", "eu", 1000)
    text = (
        "product_group;vat_zone;account\n"
        "10;domestic;1000\n"
        "10;eu;1100\n"
        "20;abroad;1200\n"
        "99;domestic;1000\n"
        "30;domestic;1300\n"
        "30;mars;1000\n"
    )

    rows = csv_io.preview_import(seeded, "revenue", text)

    assert [r.status for r in rows] == ["unchanged", "changed", "new", "error", "error", "error"]
    assert "Product group 99 is not among this connection's product groups" in rows[3].reason
    assert "hidden in Dinero" in rows[4].reason
    assert "“mars” is not a VAT zone" in rows[5].reason
    assert AccountMatrixCell.objects.get(connection=seeded, vat_zone="eu").account_number == 1000


def test_missing_columns_are_a_readable_problem(seeded):
    with pytest.raises(csv_io.CsvProblem, match="missing: vat_zone"):
        csv_io.preview_import(seeded, "revenue", "product_group,account\n10,1000\n")


def upload(text, name="setup.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_upload_previews_without_writing_and_confirm_saves(accountant_client, seeded):
    page = reverse("admin:connection-mappings-csv", args=[seeded.pk])

    preview = accountant_client.post(page, {"action": "preview", "kind": "revenue",
                                            "file": upload("product_group,vat_zone,account\n10,domestic,1000\n")})

    assert preview.status_code == 200
    assert "1 new, 0 changed, 0 unchanged, 0 with errors." in preview.content.decode()
    assert not AccountMatrixCell.objects.exists()

    confirmed = accountant_client.post(page, {"action": "confirm"}, follow=True)

    assert "Imported Revenue account matrix: 1 new" in confirmed.content.decode()
    assert AccountMatrixCell.objects.get(connection=seeded).account_number == 1000


def test_confirm_without_a_pending_upload_asks_for_the_file(accountant_client, seeded):
    page = reverse("admin:connection-mappings-csv", args=[seeded.pk])

    response = accountant_client.post(page, {"action": "confirm"}, follow=True)

    assert "upload the file again" in response.content.decode()


def test_confirm_rechecks_the_permission(client, seeded):
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_accountmatrixcell"))
    seeded.memberships.create(user=viewer)
    client.force_login(viewer)
    session = client.session
    session[f"mappings-csv-upload-{seeded.pk}"] = {"kind": "revenue", "text": "product_group,vat_zone,account\n"
                                                   "10,domestic,1000\n", "name": "x.csv"}
    session.save()
    page = reverse("admin:connection-mappings-csv", args=[seeded.pk])

    assert client.post(page, {"action": "confirm"}).status_code == 403
    assert client.post(page, {"action": "preview", "kind": "revenue", "file": upload("x")}).status_code == 403
    assert not AccountMatrixCell.objects.exists()


def test_export_download_is_csv(accountant_client, seeded):
    cell(seeded, "10", "domestic", 1000)

    response = accountant_client.get(reverse("admin:connection-mappings-csv", args=[seeded.pk]) + "?export=revenue")

    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    assert b"10,F\xc3\xa6rdigvarer,domestic,1000" in response.content
    danish = accountant_client.get(reverse("admin:connection-mappings-csv", args=[seeded.pk]) + "?export=revenue",
                                   HTTP_ACCEPT_LANGUAGE="da")
    assert b"10;F\xc3\xa6rdigvarer;domestic;1000" in danish.content


# --- formula injection: exported cells never run in a spreadsheet, and still import -------------

HOSTILE_NAMES = ['=HYPERLINK("http://evil.example","x")', "+45 kasse", "-5 kg", "@SUM(A1)", "'=already quoted",
                 "\tTab"]


def test_export_neutralises_cells_a_spreadsheet_would_run_and_imports_them_back(seeded, other_connection):
    from mappings.models import RackbeatUnit

    for connection in (seeded, other_connection):
        for i, name in enumerate(HOSTILE_NAMES):
            RackbeatUnit.objects.create(connection=connection, number=f"h{i}", name=name)
    for i in range(len(HOSTILE_NAMES)):
        UnitMapping.objects.create(connection=seeded, rackbeat_unit_number=f"h{i}", dinero_unit="box")

    text = csv_io.export_csv(seeded, "units")

    import csv
    import io

    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    runnable = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert runnable == [], f"cells a spreadsheet would run: {runnable}"
    assert "'=HYPERLINK" in text
    # The same file imported into another connection finds every unit by its real name.
    counts = csv_io.apply_import(other_connection, "units", text)
    assert counts == {"new": len(HOSTILE_NAMES), "changed": 0, "unchanged": 0, "error": 0}
    assert set(UnitMapping.objects.filter(connection=other_connection).values_list("dinero_unit", flat=True)) == {"box"}
    # And imported into the connection it came from, nothing changes.
    again = csv_io.preview_import(seeded, "units", text)
    assert {r.status for r in again} == {"unchanged"}
