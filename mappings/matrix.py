"""The account matrices as a grid: product groups × VAT zones → Dinero accounts.

``build_grid`` reads everything with a constant number of queries (groups, cells, accounts), so
the editor stays quick with hundreds of product groups; ``save_grid`` validates every submitted
cell against the cached chart of accounts and writes nothing unless all of them are valid.
Cells are saved one by one through the model so each change gets a history row with its user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Connection
from mappings.account_kinds import fits, use_of_matrix
from mappings.lookup import cell_id
from mappings.models import AccountMatrixCell, DineroAccount, ProductGroup, VatZone, account_problem

BASE_ZONES = [VatZone.DOMESTIC, VatZone.EU, VatZone.ABROAD]


@dataclass
class Cell:
    group_number: str
    zone: str
    account: int | None = None
    raw: str = ""
    error: str = ""
    label: str = ""

    @property
    def id(self) -> str:
        return cell_id(self.group_number, self.zone)


@dataclass
class Row:
    number: str
    name: str
    missing_upstream: bool = False
    unknown: bool = False  # a mapped group that was never in the cached product groups
    cells: list[Cell] = field(default_factory=list)

    @property
    def counts_for_completeness(self) -> bool:
        return not (self.missing_upstream or self.unknown)


@dataclass
class Grid:
    matrix: str
    zones: list[VatZone]
    rows: list[Row]
    accounts: dict[int, DineroAccount]
    choices: list[DineroAccount]
    chart_loaded: bool

    @property
    def purchase(self) -> bool:
        return self.matrix == AccountMatrixCell.Matrix.SUPPLIER

    @property
    def cells(self) -> list[Cell]:
        return [cell for row in self.rows for cell in row.cells]

    @property
    def errors(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.error]

    @property
    def total_cells(self) -> int:
        return sum(len(row.cells) for row in self.rows if row.counts_for_completeness)

    @property
    def empty_cells(self) -> int:
        return sum(1 for row in self.rows if row.counts_for_completeness for c in row.cells if c.account is None)

    @property
    def empty_groups(self) -> list[Row]:
        return [r for r in self.rows if r.counts_for_completeness and any(c.account is None for c in r.cells)]

    def completeness_message(self) -> str:
        if not self.total_cells:
            return _("There are no product groups yet: refresh the reference data from Rackbeat.")
        if not self.empty_cells:
            return _("All %(total)s cells are filled in.") % {"total": self.total_cells}
        return ngettext(
            "%(empty)s of %(total)s cells is empty: invoices with these groups will stop and ask for a mapping.",
            "%(empty)s of %(total)s cells are empty: invoices with these groups will stop and ask for a mapping.",
            self.empty_cells,
        ) % {"empty": self.empty_cells, "total": self.total_cells}

    def account_label(self, number: int | None) -> str:
        if number is None:
            return ""
        account = self.accounts.get(number)
        return f"{number} {account.name}" if account else str(number)


def _zones(groups: list[ProductGroup], cells: list[AccountMatrixCell]) -> list[VatZone]:
    exempt = any(g.vat_rates.get("vat_domestic_exempt") not in (None, "") for g in groups if g.vat_rates) or any(
        c.vat_zone == VatZone.DOMESTIC_EXEMPT for c in cells
    )
    return [*BASE_ZONES, VatZone.DOMESTIC_EXEMPT] if exempt else list(BASE_ZONES)


def _group_sort_key(number: str) -> tuple[int, int | str]:
    return (0, int(number)) if number.isdigit() else (1, number)


def build_grid(connection: Connection, matrix: str) -> Grid:
    """The matrix as stored, with problems of stored accounts shown in their cells."""
    groups = list(ProductGroup.objects.filter(connection=connection))
    stored = list(AccountMatrixCell.objects.filter(connection=connection, matrix=matrix))
    accounts = {a.number: a for a in DineroAccount.objects.filter(connection=connection)}
    purchase = matrix == AccountMatrixCell.Matrix.SUPPLIER
    use = use_of_matrix(matrix)
    choices = [
        a for a in accounts.values()
        if not a.is_hidden and not a.missing_upstream and (a.is_purchase or not purchase) and fits(a, use)
    ]
    choices.sort(key=lambda a: a.number)
    zones = _zones(groups, stored)
    by_key = {(c.product_group_number, c.vat_zone): c.account_number for c in stored}

    rows = [Row(number=g.number, name=g.name, missing_upstream=g.missing_upstream) for g in groups]
    known = {g.number for g in groups}
    for number in sorted({c.product_group_number for c in stored} - known):
        rows.append(Row(number=number, name="", unknown=True))
    rows.sort(key=lambda r: _group_sort_key(r.number))

    grid = Grid(matrix=matrix, zones=zones, rows=rows, accounts=accounts, choices=choices,
                chart_loaded=bool(accounts))
    for row in rows:
        for zone in zones:
            account = by_key.get((row.number, zone))
            cell = Cell(row.number, zone, account=account, raw="" if account is None else str(account),
                        label=grid.account_label(account))
            if account is not None:
                cell.error = account_problem(
                    accounts.get(account), account, purchase=purchase, chart_loaded=grid.chart_loaded, use=use
                ) or ""
            row.cells.append(cell)
    return grid


def apply_submission(grid: Grid, data: Mapping[str, str]) -> None:
    """Read every cell present in ``data`` into ``grid`` and validate it; cells absent keep their value."""
    for cell in grid.cells:
        if cell.id not in data:
            continue
        raw = (data.get(cell.id) or "").strip()
        cell.raw = raw
        cell.label = raw
        cell.error = ""
        if not raw:
            cell.account = None
            continue
        try:
            number = int(raw)
        except ValueError:
            cell.account = None
            cell.error = _("“%(value)s” is not an account number.") % {"value": raw}
            continue
        cell.account = number
        cell.label = grid.account_label(number)
        cell.error = account_problem(
            grid.accounts.get(number), number, purchase=grid.purchase, chart_loaded=grid.chart_loaded,
            use=use_of_matrix(grid.matrix),
        ) or ""


def save_grid(connection: Connection, matrix: str, data: Mapping[str, str]) -> tuple[Grid, int]:
    """Validate and save the submitted cells; return the grid and the number of cells changed.

    When any cell has an error nothing is written and the grid carries the errors.
    """
    grid = build_grid(connection, matrix)
    apply_submission(grid, data)
    if grid.errors:
        return grid, 0
    stored = {
        (c.product_group_number, c.vat_zone): c
        for c in AccountMatrixCell.objects.filter(connection=connection, matrix=matrix)
    }
    changed = 0
    with transaction.atomic():
        for cell in grid.cells:
            if cell.id not in data:
                continue
            existing = stored.get((cell.group_number, cell.zone))
            if cell.account is None:
                if existing is not None:
                    existing.delete()
                    changed += 1
            elif existing is None:
                AccountMatrixCell.objects.create(
                    connection=connection, matrix=matrix, product_group_number=cell.group_number,
                    vat_zone=cell.zone, account_number=cell.account,
                )
                changed += 1
            elif existing.account_number != cell.account:
                existing.account_number = cell.account
                existing.save()
                changed += 1
    return grid, changed
