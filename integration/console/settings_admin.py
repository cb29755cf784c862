"""Admin for the integration settings of a connection.

One row per connection, created the first time someone opens the connection's settings. The form
speaks the product's own words, chooses accounts from the cached Dinero chart of accounts, and
refuses combinations that would only fail later in a transfer. Every change is kept in the
history with who and when, and can be reverted from there.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import Connection
from accounts.tenancy import TenantScopedAdminMixin
from integration.console.connection_pages import connection_page
from integration.core.models import IntegrationSettings
from mappings.account_kinds import CONSUMPTION, STOCK, fits
from mappings.models import DineroAccount, account_problem

PURCHASE_FIELDS = ["supplier_integration_enabled", "supplier_invoice_status", "supplier_number_in_name"]
SALES_FIELDS = [
    "customer_integration_enabled", "customer_number_in_name", "customer_invoices_created_in",
    "sales_invoice_status",
]
CONSUMPTION_FIELDS = ["item_consumption_enabled", "stock_account", "consumption_account"]
ADVANCED_FIELDS = ["product_integration_enabled", "webhook_events"]

STOCK_NOTE = gettext_lazy(
    "Item consumption covers sales invoices only: the stock still needs a manual regulation now and then "
    "(monthly, quarterly or yearly), because stock levels and the financial stock value are not "
    "synchronised."
)
SALES_STATUS_NOTE = gettext_lazy(
    "The status of sales invoices applies when invoices are created in Rackbeat. When they are created "
    "in Dinero, Dinero decides their status and they come to Rackbeat every hour at 13 minutes past; "
    "the status below is then not used."
)


def settings_for(connection: Connection) -> IntegrationSettings:
    """The connection's settings, created with the product's defaults the first time they are needed."""
    settings, _created = IntegrationSettings.objects.get_or_create(connection=connection)
    return settings


def account_choices(connection: Connection | None, current: list[int | None], use: str = "") -> list[tuple[str, str]]:
    """Accounts of the cached chart that fit ``use``, plus any currently stored (to show its problem)."""
    if connection is None:
        return [("", "—")]
    accounts = {a.number: a for a in DineroAccount.objects.filter(connection=connection)}
    usable = sorted(n for n, a in accounts.items() if not a.is_hidden and not a.missing_upstream and fits(a, use))
    choices = [("", "—")] + [(str(n), f"{n} {accounts[n].name}") for n in usable]
    for number in current:
        if number is not None and number not in usable:
            label = str(accounts[number]) if number in accounts else str(number)
            choices.append((str(number), label))
    return choices


class IntegrationSettingsForm(forms.ModelForm):
    """The settings with validation that mirrors what the transfers will need."""

    ACCOUNT_FIELDS = ("stock_account", "consumption_account")
    ACCOUNT_USES = {"stock_account": STOCK, "consumption_account": CONSUMPTION}

    class Meta:
        model = IntegrationSettings
        fields = [*PURCHASE_FIELDS, *SALES_FIELDS, *CONSUMPTION_FIELDS, *ADVANCED_FIELDS]
        widgets = {
            "supplier_invoice_status": forms.RadioSelect,
            "sales_invoice_status": forms.RadioSelect,
            "customer_invoices_created_in": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        connection = self.instance.connection if self.instance.connection_id else None
        current = [getattr(self.instance, name) for name in self.ACCOUNT_FIELDS]
        for name in self.ACCOUNT_FIELDS:
            if name in self.fields:
                choices = account_choices(connection, current, self.ACCOUNT_USES[name])
                model_field = IntegrationSettings._meta.get_field(name)
                self.fields[name] = forms.TypedChoiceField(
                    label=model_field.verbose_name.capitalize(), choices=choices, coerce=int, empty_value=None,
                    required=False,
                    help_text=_("From Dinero's chart of accounts; hidden accounts are not offered."),
                )
        if "stock_account" in self.fields:
            self.fields["stock_account"].help_text = _(
                "Balance sheet account holding the stock value (credited with the consumption)."
            )
        if "consumption_account" in self.fields:
            self.fields["consumption_account"].help_text = _(
                "Cost of goods account (debited with the consumption)."
            )
        if "sales_invoice_status" in self.fields:
            self.fields["sales_invoice_status"].help_text = SALES_STATUS_NOTE
        if "item_consumption_enabled" in self.fields:
            self.fields["item_consumption_enabled"].help_text = (
                _("Books a voucher with the cost of goods of each booked sales invoice on the stock and "
                  "consumption accounts below.") + " " + str(STOCK_NOTE)
            )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("item_consumption_enabled"):
            self._check_consumption_accounts(data)
        return data

    def _check_consumption_accounts(self, data: dict) -> None:
        connection = self.instance.connection
        accounts = {a.number: a for a in DineroAccount.objects.filter(connection=connection)}
        for name in self.ACCOUNT_FIELDS:
            number = data.get(name) if name in self.fields else getattr(self.instance, name)
            if number is None:
                self.add_error(name if name in self.fields else None, _(
                    "Automatic booking of item consumption needs a %(account)s."
                ) % {"account": IntegrationSettings._meta.get_field(name).verbose_name})
                continue
            if not accounts:
                self.add_error(name if name in self.fields else None, _(
                    "Dinero's chart of accounts has not been fetched yet; refresh the reference data first."
                ))
                continue
            problem = account_problem(accounts.get(number), number, purchase=False, chart_loaded=True,
                                      use=self.ACCOUNT_USES[name])
            if problem:
                self.add_error(name if name in self.fields else None, problem)
        stock, consumption = data.get("stock_account"), data.get("consumption_account")
        if stock is not None and stock == consumption and "consumption_account" in self.fields:
            self.add_error("consumption_account", _("The stock account and the consumption account must differ."))


@admin.register(IntegrationSettings)
class IntegrationSettingsAdmin(TenantScopedAdminMixin, SimpleHistoryAdmin):
    form = IntegrationSettingsForm
    list_display = [
        "connection", "supplier_integration_enabled", "customer_integration_enabled", "item_consumption_enabled",
        "sales_invoice_status", "customer_invoices_created_in", "updated_at",
    ]
    list_select_related = ["connection"]
    list_filter = ["supplier_integration_enabled", "customer_integration_enabled", "item_consumption_enabled",
                   "customer_invoices_created_in"]
    search_fields = ["connection__name"]
    readonly_fields = ["connection", "updated_at", "setup_completed_at"]
    fieldsets = [
        (None, {"fields": ["connection", "updated_at", "setup_completed_at"]}),
        (gettext_lazy("Purchases and suppliers"), {"fields": PURCHASE_FIELDS}),
        (gettext_lazy("Sales and customers"), {"fields": SALES_FIELDS, "description": SALES_STATUS_NOTE}),
        (gettext_lazy("Item consumption"), {"fields": CONSUMPTION_FIELDS, "description": STOCK_NOTE}),
        (gettext_lazy("Advanced"), {"fields": ADVANCED_FIELDS, "classes": ["collapse"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row per connection, created from the connection's "Integration settings" link.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: IntegrationSettings | None = None) -> bool:
        # The row lives and dies with its connection: deleting it alone (a bulk "Delete selected")
        # would only reset every setting to its default behind everyone's back.
        return False

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        if not obj.sales_from_rackbeat and "sales_invoice_status" in form.changed_data:
            messages.warning(request, SALES_STATUS_NOTE)


@connection_page("settings", gettext_lazy("Integration settings"), permission="integration.view_integrationsettings",
                 group="Setup", order=10)
def settings_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    return redirect("admin:integration_integrationsettings_change", settings_for(connection).pk)
