"""CSV export and import of the account matrices and the unit and layout mappings.

A consultant reuses a standard setup across customers, so the files name things the way they are
shared between Rackbeat accounts: product groups by number and VAT zone by its API name
(``domestic``, ``eu``, ``abroad``, ``domestic_exempt``), units and layouts by name (their numbers
differ from account to account). An import is always previewed row by row first — new, changed,
unchanged or error with the reason — and only rows without errors are written when confirmed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Connection
from integration.core.csv_cells import read_cell
from integration.core.csv_export import CsvSheet
from mappings.account_kinds import use_of_matrix
from mappings.models import (
    DINERO_LANGUAGES,
    DINERO_UNITS,
    AccountMatrixCell,
    DineroAccount,
    LayoutMapping,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    UnitMapping,
    VatZone,
    account_problem,
    product_group_problem,
)

KINDS: dict[str, str] = {
    AccountMatrixCell.Matrix.SUPPLIER: gettext_lazy("Supplier invoice account matrix"),
    AccountMatrixCell.Matrix.REVENUE: gettext_lazy("Revenue account matrix"),
    "units": gettext_lazy("Unit mapping"),
    "layouts": gettext_lazy("Layout mapping"),
}
MATRIX_COLUMNS = ["product_group", "product_group_name", "vat_zone", "account", "account_name"]
UNIT_COLUMNS = ["rackbeat_unit", "dinero_unit"]
LAYOUT_COLUMNS = ["rackbeat_layout", "language"]
PERMISSIONS = {
    AccountMatrixCell.Matrix.SUPPLIER: "mappings.change_accountmatrixcell",
    AccountMatrixCell.Matrix.REVENUE: "mappings.change_accountmatrixcell",
    "units": "mappings.change_unitmapping",
    "layouts": "mappings.change_layoutmapping",
}
MAX_UPLOAD_BYTES = 2 * 1024 * 1024

NEW, CHANGED, UNCHANGED, ERROR = "new", "changed", "unchanged", "error"
STATUS_LABELS = {
    NEW: gettext_lazy("new"), CHANGED: gettext_lazy("changed"),
    UNCHANGED: gettext_lazy("unchanged"), ERROR: gettext_lazy("error"),
}


class CsvProblem(ValueError):
    """The file as a whole cannot be read (encoding, missing columns)."""


@dataclass
class ImportRow:
    line: int
    subject: str
    old: str = ""
    new: str = ""
    status: str = ERROR
    reason: str = ""
    key: tuple[str, ...] = ()
    value: str = ""

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])


# --- export ---------------------------------------------------------------------------------------

class _Rows:
    """The file's rows, written by the one CSV writer (the reader's dialect, cells never formulas)."""

    def __init__(self) -> None:
        self.sheet = CsvSheet()

    def writerow(self, cells: list) -> None:
        self.sheet.row(*cells)


def export_csv(connection: Connection, kind: str) -> str:
    """The mapping as a CSV text in the active language's dialect (``;`` in da/sv, ``,`` in en).

    Column names and VAT zones stay the shared API names, so a file made in one language imports
    in any other; the import reads either separator.
    """
    writer = _Rows()
    if kind in AccountMatrixCell.Matrix.values:
        groups = dict(ProductGroup.objects.filter(connection=connection).values_list("number", "name"))
        accounts = dict(DineroAccount.objects.filter(connection=connection).values_list("number", "name"))
        writer.writerow(MATRIX_COLUMNS)
        cells = AccountMatrixCell.objects.filter(connection=connection, matrix=kind)
        for cell in sorted(cells, key=lambda c: (_number_key(c.product_group_number), c.vat_zone)):
            writer.writerow([
                cell.product_group_number, groups.get(cell.product_group_number, ""), cell.vat_zone,
                cell.account_number, accounts.get(cell.account_number, ""),
            ])
    elif kind == "units":
        names = dict(RackbeatUnit.objects.filter(connection=connection).values_list("number", "name"))
        writer.writerow(UNIT_COLUMNS)
        for m in UnitMapping.objects.filter(connection=connection).order_by("rackbeat_unit_number"):
            writer.writerow([names.get(m.rackbeat_unit_number, m.rackbeat_unit_number), m.dinero_unit])
    elif kind == "layouts":
        names = dict(RackbeatLayout.objects.filter(connection=connection).values_list("number", "name"))
        writer.writerow(LAYOUT_COLUMNS)
        for m in LayoutMapping.objects.filter(connection=connection).order_by("rackbeat_layout_number"):
            writer.writerow([names.get(m.rackbeat_layout_number, m.rackbeat_layout_number), m.language])
    else:
        raise CsvProblem(_("Unknown mapping “%(kind)s”.") % {"kind": kind})
    return writer.sheet.text()


def _number_key(number: str) -> tuple[int, int | str]:
    return (0, int(number)) if number.isdigit() else (1, number)


# --- reading --------------------------------------------------------------------------------------

def decode_upload(content: bytes) -> str:
    if len(content) > MAX_UPLOAD_BYTES:
        raise CsvProblem(_("The file is larger than 2 MB; a mapping file is normally a few kilobytes."))
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CsvProblem(_("The file could not be read as text. Save it as CSV (UTF-8) and upload it again."))


def _records(text: str, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvProblem(
            _("The first line must name the columns %(columns)s; missing: %(missing)s.")
            % {"columns": ", ".join(required), "missing": ", ".join(missing)}
        )
    records = []
    for index, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): read_cell((v or "").strip()).strip() for k, v in raw.items() if isinstance(v, str)}
        if any(row.values()):
            records.append((index, row))
    return records


# --- preview --------------------------------------------------------------------------------------

def preview_import(connection: Connection, kind: str, text: str) -> list[ImportRow]:
    """What importing ``text`` would do, row by row. Writes nothing."""
    if kind in AccountMatrixCell.Matrix.values:
        return _preview_matrix(connection, kind, text)
    if kind == "units":
        return _preview_named(connection, text, RackbeatUnit, UnitMapping, "rackbeat_unit_number",
                              "dinero_unit", UNIT_COLUMNS, dict(DINERO_UNITS), _("Rackbeat unit"))
    if kind == "layouts":
        return _preview_named(connection, text, RackbeatLayout, LayoutMapping, "rackbeat_layout_number",
                              "language", LAYOUT_COLUMNS, dict(DINERO_LANGUAGES), _("Rackbeat layout"))
    raise CsvProblem(_("Unknown mapping “%(kind)s”.") % {"kind": kind})


def _status(old: str, new: str) -> str:
    if not old:
        return NEW
    return UNCHANGED if old == new else CHANGED


def _preview_matrix(connection: Connection, matrix: str, text: str) -> list[ImportRow]:
    groups = {g.number: g for g in ProductGroup.objects.filter(connection=connection)}
    accounts = {a.number: a for a in DineroAccount.objects.filter(connection=connection)}
    stored = {
        (c.product_group_number, c.vat_zone): c.account_number
        for c in AccountMatrixCell.objects.filter(connection=connection, matrix=matrix)
    }
    zones = {z.value: z for z in VatZone}
    seen: dict[tuple[str, str], int] = {}
    rows = []
    for line, record in _records(text, ["product_group", "vat_zone", "account"]):
        group_number = record.get("product_group", "")
        zone = record.get("vat_zone", "").lower()
        raw_account = record.get("account", "")
        row = ImportRow(line=line, subject=f"{group_number} × {zone}", new=raw_account, key=(group_number, zone))
        rows.append(row)
        group = groups.get(group_number)
        problem = product_group_problem(connection, group_number) if group_number else None
        if group is None or problem:
            row.reason = problem or _(
                "Product group %(number)s is not among this connection's product groups. Refresh the "
                "reference data or leave the row out."
            ) % {"number": group_number or "–"}
            continue
        row.subject = f"{group.number} {group.name} × {zones[zone].label if zone in zones else zone}"
        if zone not in zones:
            row.reason = _("“%(zone)s” is not a VAT zone; use domestic, eu, abroad or domestic_exempt.") % {
                "zone": record.get("vat_zone", "")
            }
            continue
        if (group_number, zone) in seen:
            row.reason = _("The same cell is already on line %(line)s.") % {"line": seen[(group_number, zone)]}
            continue
        seen[(group_number, zone)] = line
        old = stored.get((group_number, zone))
        row.old = "" if old is None else str(old)
        try:
            number = int(raw_account)
        except ValueError:
            row.reason = _("“%(value)s” is not an account number.") % {"value": raw_account}
            continue
        account = accounts.get(number)
        row.new = str(account) if account else str(number)
        if old is not None and old in accounts:
            row.old = str(accounts[old])
        problem = account_problem(account, number, purchase=matrix == AccountMatrixCell.Matrix.SUPPLIER,
                                  chart_loaded=bool(accounts), use=use_of_matrix(matrix))
        if problem:
            row.reason = problem
            continue
        row.value = str(number)
        row.status = _status("" if old is None else str(old), row.value)
    return rows


def _preview_named(connection, text, reference, mapping, key_field, value_field, columns, choices,
                   label) -> list[ImportRow]:  # type: ignore[no-untyped-def]
    by_name: dict[str, list] = {}
    for ref in reference.objects.filter(connection=connection, missing_upstream=False):
        by_name.setdefault(ref.name.strip().lower(), []).append(ref)
    stored = {getattr(m, key_field): getattr(m, value_field) for m in mapping.objects.filter(connection=connection)}
    lower_choices = {value.lower(): value for value in choices}
    seen: dict[str, int] = {}
    rows = []
    name_column, value_column = columns
    for line, record in _records(text, columns):
        name = record.get(name_column, "")
        raw_value = record.get(value_column, "")
        row = ImportRow(line=line, subject=name, new=raw_value)
        rows.append(row)
        matches = by_name.get(name.lower(), [])
        if not matches:
            row.reason = _("There is no %(label)s called “%(name)s” in this connection.") % {
                "label": label, "name": name
            }
            continue
        if len(matches) > 1:
            row.reason = _("%(count)s Rackbeat entries are called “%(name)s”; map them in the editor instead.") % {
                "count": len(matches), "name": name
            }
            continue
        ref = matches[0]
        row.key = (ref.number,)
        if ref.number in seen:
            row.reason = _("The same entry is already on line %(line)s.") % {"line": seen[ref.number]}
            continue
        seen[ref.number] = line
        row.old = stored.get(ref.number, "")
        value = lower_choices.get(raw_value.lower())
        if value is None:
            row.reason = _("“%(value)s” is not one of Dinero's choices: %(choices)s.") % {
                "value": raw_value, "choices": ", ".join(choices)
            }
            continue
        row.value = value
        row.status = _status(row.old, value)
    return rows


# --- apply ----------------------------------------------------------------------------------------

def apply_import(connection: Connection, kind: str, text: str) -> dict[str, int]:
    """Preview again against today's data and write the new and changed rows; errors are left out."""
    rows = preview_import(connection, kind, text)
    counts = {NEW: 0, CHANGED: 0, UNCHANGED: 0, ERROR: 0}
    with transaction.atomic():
        for row in rows:
            counts[row.status] += 1
            if row.status not in (NEW, CHANGED):
                continue
            if kind in AccountMatrixCell.Matrix.values:
                group_number, zone = row.key
                cell = AccountMatrixCell.objects.filter(
                    connection=connection, matrix=kind, product_group_number=group_number, vat_zone=zone
                ).first() or AccountMatrixCell(
                    connection=connection, matrix=kind, product_group_number=group_number, vat_zone=zone
                )
                cell.account_number = int(row.value)
                cell.save()
            elif kind == "units":
                UnitMapping.objects.update_or_create(
                    connection=connection, rackbeat_unit_number=row.key[0], defaults={"dinero_unit": row.value}
                )
            else:
                LayoutMapping.objects.update_or_create(
                    connection=connection, rackbeat_layout_number=row.key[0], defaults={"language": row.value}
                )
    return counts
