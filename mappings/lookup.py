"""The questions transfers ask the mappings: which account, which unit, which language.

Every answer is either a value that is safe to send to Dinero or a ``NeedsMapping`` naming exactly
what is missing and linking to the cell or row where a person fixes it. There is never a fallback
to a default account: a wrong account is worse than a document that waits.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Connection
from integration.core.handlers import NeedsMapping
from mappings.models import (
    AccountMatrixCell,
    LayoutMapping,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    UnitMapping,
    VatZone,
    matrix_account_problem,
)

MATRIX_WORDS = {
    AccountMatrixCell.Matrix.REVENUE: (gettext_lazy("revenue account"), gettext_lazy("revenue account matrix")),
    AccountMatrixCell.Matrix.SUPPLIER: (
        gettext_lazy("supplier invoice account"), gettext_lazy("supplier invoice account matrix")
    ),
}


def matrix_url(connection: Connection, matrix: str, group_number: str = "", vat_zone: str = "") -> str:
    url = reverse("admin:connection-matrix", args=[connection.pk, matrix])
    if group_number and vat_zone:
        url += f"#{cell_id(group_number, vat_zone)}"
    return url


def cell_id(group_number: str, vat_zone: str) -> str:
    return f"cell-{group_number}-{vat_zone}"


def _group_label(connection: Connection, group_number: str) -> str:
    group = ProductGroup.objects.filter(connection=connection, number=group_number).first()
    if group is None or not group.name:
        return _("product group %(number)s") % {"number": group_number}
    return _("product group %(number)s “%(name)s”") % {"number": group_number, "name": group.name}


def _zone_label(vat_zone: str) -> str:
    try:
        return str(VatZone(vat_zone).label)
    except ValueError:
        return vat_zone


def _matrix_account(connection: Connection, matrix: str, group_number: str, vat_zone: str) -> int:
    group_number = str(group_number or "").strip()
    vat_zone = str(vat_zone or "").strip()
    what, where = MATRIX_WORDS[matrix]
    if not group_number:
        raise NeedsMapping(
            _("An invoice line has a product without a product group, so no %(what)s can be chosen.")
            % {"what": what},
            hint=_("Put the product in a product group in Rackbeat, then press Retry."),
            fix_url=matrix_url(connection, matrix),
        )
    if vat_zone not in VatZone.values:
        raise NeedsMapping(
            _("Unknown VAT zone “%(zone)s”: the %(where)s has columns for the VAT zones domestic, EU and abroad.")
            % {"zone": vat_zone, "where": where},
            hint=_("Correct the VAT zone of the customer or supplier in Rackbeat, then press Retry."),
            fix_url=matrix_url(connection, matrix),
        )
    cell = AccountMatrixCell.objects.filter(
        connection=connection, matrix=matrix, product_group_number=group_number, vat_zone=vat_zone
    ).first()
    problem = matrix_account_problem(connection, matrix, cell.account_number) if cell is not None else ""
    if cell is not None and not problem:
        return cell.account_number
    # Only a document that stops needs the words and the link naming the cell.
    url = matrix_url(connection, matrix, group_number, vat_zone)
    subject = _("%(group)s × VAT zone %(zone)s") % {
        "group": _group_label(connection, group_number), "zone": _zone_label(vat_zone)
    }
    if cell is None:
        raise NeedsMapping(
            _("No %(what)s for %(subject)s. Set it in the %(where)s.")
            % {"what": what, "subject": subject, "where": where},
            hint=_("Choose a Dinero account in the highlighted cell, save, then press Retry."),
            fix_url=url,
        )
    raise NeedsMapping(
        _("%(problem)s It is mapped for %(subject)s. Choose another account in the %(where)s.")
        % {"problem": problem, "subject": subject, "where": where},
        hint=_("Refresh the reference data if the account was changed in Dinero, then press Retry."),
        fix_url=url,
    )


def revenue_account(connection: Connection, group_number: str, vat_zone: str) -> int:
    """The Dinero revenue account for an invoice line of ``group_number`` in ``vat_zone``."""
    return _matrix_account(connection, AccountMatrixCell.Matrix.REVENUE, group_number, vat_zone)


def supplier_account(connection: Connection, group_number: str, vat_zone: str) -> int:
    """The Dinero account for a supplier invoice line of ``group_number`` in ``vat_zone``."""
    return _matrix_account(connection, AccountMatrixCell.Matrix.SUPPLIER, group_number, vat_zone)


def _named(model, connection: Connection, number: str, label: str) -> str:
    row = model.objects.filter(connection=connection, number=number).first()
    if row is None or not row.name or row.name == number:
        return f"{label} {number}"
    return f"{label} {number} “{row.name}”"


def dinero_unit(connection: Connection, rackbeat_unit_number: str) -> str:
    """The Dinero unit (one of Dinero's 19 fixed strings) for a Rackbeat unit."""
    number = str(rackbeat_unit_number or "").strip()
    mapping = UnitMapping.objects.filter(connection=connection, rackbeat_unit_number=number).first() if number else None
    if mapping is None:
        # The link is only for a document that stops.
        url = reverse("admin:connection-units", args=[connection.pk])
        subject = _named(RackbeatUnit, connection, number, _("Rackbeat unit")) if number else _("an empty unit")
        raise NeedsMapping(
            _("No Dinero unit for %(subject)s. Set it in the unit mapping.") % {"subject": subject},
            hint=_("Choose the matching Dinero unit, save, then press Retry."),
            fix_url=f"{url}#unit-{number}" if number else url,
        )
    return mapping.dinero_unit


def dinero_language(connection: Connection, rackbeat_layout_number: str) -> str:
    """The Dinero invoice language (``da-DK`` or ``en-GB``) for a Rackbeat layout."""
    number = str(rackbeat_layout_number or "").strip()
    mapping = (
        LayoutMapping.objects.filter(connection=connection, rackbeat_layout_number=number).first() if number else None
    )
    if mapping is None:
        # The link is only for a document that stops.
        url = reverse("admin:connection-layouts", args=[connection.pk])
        subject = _named(RackbeatLayout, connection, number, _("Rackbeat layout")) if number else _("an empty layout")
        raise NeedsMapping(
            _("No Dinero language for %(subject)s. Set it in the layout mapping.") % {"subject": subject},
            hint=_("Choose Danish or English for the layout, save, then press Retry."),
            fix_url=f"{url}#layout-{number}" if number else url,
        )
    return mapping.language
