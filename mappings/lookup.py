"""The questions transfers ask the mappings: which account, which unit, which language.

Every answer is either a value that is safe to send to Dinero or a ``NeedsMapping`` naming exactly
what is missing and linking to the cell or row where a person fixes it. There is never a fallback
to a default account: a wrong account is worse than a document that waits.
"""

from __future__ import annotations

import functools

from django.db import connections
from django.urls import reverse
from django.utils.translation import gettext_noop

from accounts.models import Connection
from integration.core.handlers import NeedsMapping
from integration.core.messages import Key, Message, Sentences, register_labels
from integration.core.row_reads import all_rows, column, instance, one_row, prepared, reading, table
from mappings.models import (
    AccountMatrixCell,
    DineroAccount,
    LayoutMapping,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    UnitMapping,
    VatZone,
    chart_account_problem,
    matrix_account_problem,
)

register_labels("matrix_vat_zone", dict(VatZone.choices))

MATRIX_WORDS = {
    AccountMatrixCell.Matrix.REVENUE: (Message(gettext_noop("revenue account")),
                                       Message(gettext_noop("revenue account matrix"))),
    AccountMatrixCell.Matrix.SUPPLIER: (Message(gettext_noop("supplier invoice account")),
                                        Message(gettext_noop("supplier invoice account matrix"))),
}


def matrix_url(connection: Connection, matrix: str, group_number: str = "", vat_zone: str = "") -> str:
    url = reverse("admin:connection-matrix", args=[connection.pk, matrix])
    if group_number and vat_zone:
        url += f"#{cell_id(group_number, vat_zone)}"
    return url


def cell_id(group_number: str, vat_zone: str) -> str:
    return f"cell-{group_number}-{vat_zone}"


def _group_label(connection: Connection, group_number: str) -> Message:
    group = ProductGroup.objects.filter(connection=connection, number=group_number).first()
    if group is None or not group.name:
        return Message(gettext_noop("product group %(number)s"), number=group_number)
    return Message(gettext_noop("product group %(number)s “%(name)s”"),
                   number=group_number, name=group.name)


def _zone_label(vat_zone: str) -> Key | str:
    return Key("matrix_vat_zone", vat_zone) if vat_zone in VatZone.values else vat_zone


def _matrix_account(connection: Connection, matrix: str, group_number: str, vat_zone: str) -> int:
    group_number = str(group_number or "").strip()
    vat_zone = str(vat_zone or "").strip()
    what, where = MATRIX_WORDS[matrix]
    if not group_number:
        raise NeedsMapping(
            Message(gettext_noop(
                "An invoice line has a product without a product group, so no %(what)s can be chosen."),
                what=what),
            hint=Message(gettext_noop("Put the product in a product group in Rackbeat, then press Retry.")),
            fix_url=matrix_url(connection, matrix),
        )
    if vat_zone not in VatZone.values:
        raise NeedsMapping(
            Message(gettext_noop(
                "Unknown VAT zone “%(zone)s”: the %(where)s has columns for the VAT zones domestic, EU and "
                "abroad."),
                zone=vat_zone, where=where),
            hint=Message(gettext_noop(
                "Correct the VAT zone of the customer or supplier in Rackbeat, then press Retry.")),
            fix_url=matrix_url(connection, matrix),
        )
    # The usual answer in one statement: the cell's account as Dinero's chart has it.
    account = _cell_account(connection, matrix, group_number, vat_zone)
    if account is not None and not chart_account_problem(account, matrix):
        return account.number
    cell = AccountMatrixCell.objects.filter(
        connection=connection, matrix=matrix, product_group_number=group_number, vat_zone=vat_zone).first()
    problem = matrix_account_problem(connection, matrix, cell.account_number) if cell is not None else ""
    if cell is not None and not problem:
        return cell.account_number
    # Only a document that stops needs the words and the link naming the cell.
    url = matrix_url(connection, matrix, group_number, vat_zone)
    subject = Message(gettext_noop("%(group)s × VAT zone %(zone)s"),
                      group=_group_label(connection, group_number), zone=_zone_label(vat_zone))
    if cell is None:
        raise NeedsMapping(
            Message(gettext_noop("No %(what)s for %(subject)s. Set it in the %(where)s."),
                    what=what, subject=subject, where=where),
            hint=Message(gettext_noop(
                "Choose a Dinero account in the highlighted cell, save, then press Retry.")),
            fix_url=url,
        )
    raise NeedsMapping(
        Message(gettext_noop(
            "%(problem)s It is mapped for %(subject)s. Choose another account in the %(where)s."),
            problem=problem, subject=subject, where=where),
        hint=Message(gettext_noop(
            "Refresh the reference data if the account was changed in Dinero, then press Retry.")),
        fix_url=url,
    )


def _cell_account(connection: Connection, matrix: str, group_number: str, vat_zone: str) -> DineroAccount | None:
    """The chart's row of the account in the matrix cell, or None (no cell, or not in the chart)."""
    return _cell_accounts(connection, matrix, [group_number], vat_zone).get(group_number)


def _cell_accounts(connection: Connection, matrix: str, group_numbers: list[str],
                   vat_zone: str) -> dict[str, DineroAccount]:
    """The chart's rows of the accounts in the cells of ``group_numbers`` × ``vat_zone``, by group
    (a group without a cell, or whose account is not in the chart, is left out); one statement."""
    db = reading(DineroAccount)
    fields = DineroAccount._meta.concrete_fields
    rows = all_rows(db, _cell_accounts_sql(db.alias, len(group_numbers)), [
        prepared(AccountMatrixCell, "connection", connection.pk, db), prepared(AccountMatrixCell, "matrix", matrix, db),
        prepared(AccountMatrixCell, "vat_zone", vat_zone, db),
        *(prepared(AccountMatrixCell, "product_group_number", group, db) for group in group_numbers),
    ])
    return {row[0]: instance(DineroAccount, db.alias, fields, row[1:]) for row in rows}


@functools.lru_cache(maxsize=64)
def _cell_accounts_sql(alias: str, groups: int) -> str:
    """Only identifiers from the models' metadata are interpolated (quoted)."""
    db = connections[alias]

    def account(name: str) -> str:
        return column(DineroAccount, name, db, alias="a")

    def cell(name: str) -> str:
        return column(AccountMatrixCell, name, db, alias="c")

    columns = ", ".join(account(field.name) for field in DineroAccount._meta.concrete_fields)
    joined = f"{cell('connection')} = {account('connection')} AND {cell('account_number')} = {account('number')}"
    where = (f"{cell('connection')} = %s AND {cell('matrix')} = %s AND {cell('vat_zone')} = %s "
             f"AND {cell('product_group_number')} IN ({', '.join(['%s'] * groups)})")
    return (f"SELECT {cell('product_group_number')}, {columns} FROM {table(AccountMatrixCell, db)} c "  # noqa: S608
            f"JOIN {table(DineroAccount, db)} a ON {joined} WHERE {where}")


def revenue_account(connection: Connection, group_number: str, vat_zone: str) -> int:
    """The Dinero revenue account for an invoice line of ``group_number`` in ``vat_zone``."""
    return _matrix_account(connection, AccountMatrixCell.Matrix.REVENUE, group_number, vat_zone)


def revenue_accounts(connection: Connection, group_numbers: list[str], vat_zone: str) -> dict[str, int]:
    """:func:`revenue_account` of several groups in one statement, for the cells that answer it
    without a problem; a group left out is asked on its own, which names what is missing."""
    vat_zone = str(vat_zone or "").strip()
    wanted: dict[str, list[str]] = {}  # each group as stored → as asked
    for group in group_numbers:
        wanted.setdefault(str(group or "").strip(), []).append(group)
    wanted.pop("", None)
    if not wanted or vat_zone not in VatZone.values:
        return {}
    matrix = AccountMatrixCell.Matrix.REVENUE
    found = _cell_accounts(connection, matrix, list(wanted), vat_zone)
    return {asked: account.number for group, account in found.items()
            if not chart_account_problem(account, matrix) for asked in wanted[group]}


def supplier_account(connection: Connection, group_number: str, vat_zone: str) -> int:
    """The Dinero account for a supplier invoice line of ``group_number`` in ``vat_zone``."""
    return _matrix_account(connection, AccountMatrixCell.Matrix.SUPPLIER, group_number, vat_zone)


def _named(model, connection: Connection, number: str, label: Message) -> Sentences:
    row = model.objects.filter(connection=connection, number=number).first()
    if row is None or not row.name or row.name == number:
        return Sentences(label, number)
    return Sentences(label, number, f"“{row.name}”")


def dinero_unit(connection: Connection, rackbeat_unit_number: str) -> str:
    """The Dinero unit (one of Dinero's 19 fixed strings) for a Rackbeat unit."""
    number = str(rackbeat_unit_number or "").strip()
    mapping = one_row(UnitMapping, connection=connection, rackbeat_unit_number=number) if number else None
    if mapping is None:
        # The link is only for a document that stops.
        url = reverse("admin:connection-units", args=[connection.pk])
        subject = _named(RackbeatUnit, connection, number, Message(gettext_noop(
            "Rackbeat unit"))) if number else Message(gettext_noop(
            "an empty unit"))
        raise NeedsMapping(
            Message(gettext_noop("No Dinero unit for %(subject)s. Set it in the unit mapping."),
                    subject=subject),
            hint=Message(gettext_noop("Choose the matching Dinero unit, save, then press Retry.")),
            fix_url=f"{url}#unit-{number}" if number else url,
        )
    return mapping.dinero_unit


def dinero_language(connection: Connection, rackbeat_layout_number: str) -> str:
    """The Dinero invoice language (``da-DK`` or ``en-GB``) for a Rackbeat layout."""
    number = str(rackbeat_layout_number or "").strip()
    mapping = (
        one_row(LayoutMapping, connection=connection, rackbeat_layout_number=number) if number else None
    )
    if mapping is None:
        # The link is only for a document that stops.
        url = reverse("admin:connection-layouts", args=[connection.pk])
        subject = _named(RackbeatLayout, connection, number, Message(gettext_noop(
            "Rackbeat layout"))) if number else Message(gettext_noop(
            "an empty layout"))
        raise NeedsMapping(
            Message(gettext_noop("No Dinero language for %(subject)s. Set it in the layout mapping."),
                    subject=subject),
            hint=Message(gettext_noop("Choose Danish or English for the layout, save, then press Retry.")),
            fix_url=f"{url}#layout-{number}" if number else url,
        )
    return mapping.language
