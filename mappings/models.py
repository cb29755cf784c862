"""Account matrices, unit and layout mappings, and the reference data they are chosen from.

Reference data (Rackbeat product groups, units, layouts; Dinero accounts and VAT types) is cached
per connection. A row that disappears upstream is kept and flagged ``missing_upstream`` so the
matrix editor can show it as gone instead of silently dropping a mapping.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Connection
from mappings.account_kinds import fits, misfit_message, use_of_matrix


class VatZone(models.TextChoices):
    DOMESTIC = "domestic", _("Domestic")
    EU = "eu", _("EU")
    ABROAD = "abroad", _("Abroad (outside the EU)")
    DOMESTIC_EXEMPT = "domestic_exempt", _("Domestic, VAT exempt")


# Dinero's fixed set of units (exact API strings, from the OpenAPI document).
DINERO_UNITS: list[tuple[str, str]] = [
    ("parts", _("Parts (pcs.)")),
    ("hours", _("Hours")),
    ("km", _("Kilometres")),
    ("day", _("Day")),
    ("week", _("Week")),
    ("month", _("Month")),
    ("kilogram", _("Kilogram")),
    ("cubicMetre", _("Cubic metre")),
    ("set", _("Set")),
    ("litre", _("Litre")),
    ("box", _("Box")),
    ("case", _("Case")),
    ("carton", _("Carton")),
    ("metre", _("Metre")),
    ("package", _("Package")),
    ("shipment", _("Shipment")),
    ("squareMetre", _("Square metre")),
    ("session", _("Session")),
    ("tonne", _("Tonne")),
]

DINERO_LANGUAGES: list[tuple[str, str]] = [("da-DK", _("Danish (da-DK)")), ("en-GB", _("English (en-GB)"))]


class ReferenceRow(models.Model):
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    missing_upstream = models.BooleanField(
        _("missing upstream"), default=False,
        help_text=_("No longer returned by the API at the last refresh."),
    )
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class ProductGroup(ReferenceRow):
    number = models.CharField(_("number"), max_length=40)
    name = models.CharField(_("name"), max_length=255)
    vat_rates = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["connection", "number"]
        constraints = [models.UniqueConstraint(fields=["connection", "number"], name="unique_product_group")]
        verbose_name = _("product group")
        verbose_name_plural = _("product groups")
        permissions = [("refresh_reference_data", "Can refresh reference data from Rackbeat and Dinero")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class RackbeatUnit(ReferenceRow):
    number = models.CharField(_("number"), max_length=40)
    name = models.CharField(_("name"), max_length=255)

    class Meta:
        ordering = ["connection", "name"]
        constraints = [models.UniqueConstraint(fields=["connection", "number"], name="unique_rackbeat_unit")]
        verbose_name = _("Rackbeat unit")
        verbose_name_plural = _("Rackbeat units")

    def __str__(self) -> str:
        return self.name


class RackbeatLayout(ReferenceRow):
    number = models.CharField(_("number"), max_length=40)
    name = models.CharField(_("name"), max_length=255)
    language = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["connection", "number"]
        constraints = [models.UniqueConstraint(fields=["connection", "number"], name="unique_rackbeat_layout")]
        verbose_name = _("Rackbeat layout")
        verbose_name_plural = _("Rackbeat layouts")

    def __str__(self) -> str:
        return self.name


class DineroAccount(ReferenceRow):
    number = models.PositiveIntegerField(_("account number"))
    name = models.CharField(_("name"), max_length=255)
    vat_code = models.CharField(_("VAT code"), max_length=20, blank=True)
    category = models.CharField(max_length=100, blank=True)
    is_hidden = models.BooleanField(default=False)
    is_purchase = models.BooleanField(_("purchase account"), default=False)
    is_deposit = models.BooleanField(_("deposit account"), default=False)

    class Meta:
        ordering = ["connection", "number"]
        constraints = [models.UniqueConstraint(fields=["connection", "number"], name="unique_dinero_account")]
        verbose_name = _("Dinero account")
        verbose_name_plural = _("Dinero accounts")

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class DineroVatType(ReferenceRow):
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=255)
    rate = models.DecimalField(max_digits=7, decimal_places=4, default=0)

    class Meta:
        ordering = ["connection", "code"]
        constraints = [models.UniqueConstraint(fields=["connection", "code"], name="unique_vat_type")]
        verbose_name = _("Dinero VAT type")
        verbose_name_plural = _("Dinero VAT types")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class AccountMatrixCell(models.Model):
    """One cell of an account matrix: product group × VAT zone → Dinero account."""

    class Matrix(models.TextChoices):
        SUPPLIER = "supplier", _("Supplier invoice account matrix")
        REVENUE = "revenue", _("Revenue account matrix")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="matrix_cells")
    matrix = models.CharField(_("matrix"), max_length=10, choices=Matrix.choices)
    product_group_number = models.CharField(_("product group"), max_length=40)
    vat_zone = models.CharField(_("VAT zone"), max_length=20, choices=VatZone.choices)
    account_number = models.PositiveIntegerField(_("Dinero account"))
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["connection", "matrix", "product_group_number", "vat_zone"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "matrix", "product_group_number", "vat_zone"], name="unique_matrix_cell"
            )
        ]
        verbose_name = _("account matrix cell")
        verbose_name_plural = _("account matrix cells")

    def __str__(self) -> str:
        return (f"{self.get_matrix_display()}: {self.product_group_number} × {self.get_vat_zone_display()} → "
                f"{self.account_number}")

    def clean_fields(self, exclude=None) -> None:  # type: ignore[no-untyped-def]
        """Every way in (raw admin form, history revert, editor, CSV) refuses a cell the matrix cannot use:
        an account of the wrong kind, or a product group this connection does not have."""
        super().clean_fields(exclude)
        if not self.connection_id:
            return
        problems = {}
        if not (exclude and "product_group_number" in exclude) and self.product_group_number:
            problems["product_group_number"] = product_group_problem(self.connection, self.product_group_number)
        if not (exclude and "account_number" in exclude) and self.account_number is not None:
            problems["account_number"] = matrix_account_problem(self.connection, self.matrix, self.account_number)
        problems = {field: problem for field, problem in problems.items() if problem}
        if problems:
            raise ValidationError(problems)


class UnitMapping(models.Model):
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="unit_mappings")
    rackbeat_unit_number = models.CharField(_("Rackbeat unit"), max_length=40)
    dinero_unit = models.CharField(_("Dinero unit"), max_length=20, choices=DINERO_UNITS)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "rackbeat_unit_number"], name="unique_unit_mapping")
        ]
        verbose_name = _("unit mapping")
        verbose_name_plural = _("unit mappings")

    def __str__(self) -> str:
        return f"{self.rackbeat_unit_number} → {self.dinero_unit}"


class LayoutMapping(models.Model):
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="layout_mappings")
    rackbeat_layout_number = models.CharField(_("Rackbeat layout"), max_length=40)
    language = models.CharField(_("Dinero language"), max_length=5, choices=DINERO_LANGUAGES)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "rackbeat_layout_number"], name="unique_layout_mapping")
        ]
        verbose_name = _("layout mapping")
        verbose_name_plural = _("layout mappings")

    def __str__(self) -> str:
        return f"{self.rackbeat_layout_number} → {self.language}"


class ReferenceRefresh(models.Model):
    """When the reference data of a connection was last fetched, with counts or the error.

    The matrix editor shows it ("refreshed 5 minutes ago"), and the lookups only judge an account
    number against the chart once the chart has been fetched at least once.
    """

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="reference_refresh")
    refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(_("error at the last refresh"), blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("reference data refresh")
        verbose_name_plural = _("reference data refreshes")

    def __str__(self) -> str:
        return f"Reference data of {self.connection}"


# --- the one validation of an account, whatever form, file or editor it came from ---------------

def chart_loaded(connection: Connection) -> bool:
    """True once Dinero's chart of accounts has been fetched for ``connection``."""
    return DineroAccount.objects.filter(connection=connection).exists()


def account_problem(account: DineroAccount | None, number: int, *, purchase: bool, chart_loaded: bool,
                    use: str = "") -> str | None:
    """Why account ``number`` cannot be used, judged against its cached row; None when it can.

    ``use`` names what the account is for beyond purchases (see ``mappings.account_kinds``).
    Before the chart was ever fetched there is nothing to judge against and Dinero itself answers.
    """
    if account is None:
        if not chart_loaded:
            return None
        return gettext("Account %(number)s is not in the Dinero chart of accounts.") % {"number": number}
    if account.missing_upstream:
        return gettext("Account %(account)s no longer exists in Dinero.") % {"account": account}
    if account.is_hidden:
        return gettext("Account %(account)s is hidden in Dinero.") % {"account": account}
    if purchase and not account.is_purchase:
        return gettext("Account %(account)s cannot be used on supplier invoices (not a purchase account).") % {
            "account": account
        }
    if use and not fits(account, use):
        return misfit_message(account, use)
    return None


def check_account(connection: Connection, number: int, *, purchase: bool = False, use: str = "") -> str | None:
    """Why ``number`` cannot be used in ``connection``'s Dinero, or None when it can."""
    account = DineroAccount.objects.filter(connection=connection, number=number).first()
    loaded = account is not None or chart_loaded(connection)
    return account_problem(account, number, purchase=purchase, chart_loaded=loaded, use=use)


def product_group_problem(connection: Connection, number: str) -> str | None:
    """Why a matrix cannot have a row for product group ``number``; None when it can.

    Before Rackbeat's product groups were ever fetched there is nothing to judge against.
    """
    groups = ProductGroup.objects.filter(connection=connection)
    group = groups.filter(number=str(number).strip()).first()
    if group is None and not groups.exists():
        return None
    if group is None:
        return gettext("Product group %(number)s is not among this connection's product groups. Refresh the "
                       "reference data or choose a product group that exists.") % {"number": number or "–"}
    if group.missing_upstream:
        return gettext("Product group %(number)s no longer exists in Rackbeat.") % {"number": number}
    return None


def matrix_account_problem(connection: Connection, matrix: str, number: int) -> str | None:
    """The one validation of an account in a matrix cell, whatever form or file it came from."""
    return check_account(connection, number, **_matrix_use(matrix))


def chart_account_problem(account: DineroAccount, matrix: str) -> str | None:
    """:func:`matrix_account_problem` of an account already read from the chart."""
    return account_problem(account, account.number, chart_loaded=True, **_matrix_use(matrix))


def _matrix_use(matrix: str) -> dict[str, Any]:
    return {"purchase": matrix == AccountMatrixCell.Matrix.SUPPLIER, "use": use_of_matrix(matrix)}
