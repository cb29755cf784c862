"""Admin lists of the mappings (with history and revert) and of the cached reference data.

The matrices are edited as a grid on the connection's "Account matrix" pages; these lists are for
searching across connections and for the change history, where every save shows who and when
and can be reverted.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.tenancy import TenantScopedAdminMixin
from mappings.models import (
    AccountMatrixCell,
    DineroAccount,
    DineroVatType,
    LayoutMapping,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    UnitMapping,
)


class MappingAdmin(TenantScopedAdminMixin, SimpleHistoryAdmin):
    list_select_related = ["connection"]
    list_filter = ["connection"]

    @admin.display(description=_("editor"))
    def editor_link(self, obj) -> str:  # type: ignore[no-untyped-def]
        return format_html('<a href="{}">{}</a>', self.editor_url(obj), _("open the editor"))


@admin.register(AccountMatrixCell)
class AccountMatrixCellAdmin(MappingAdmin):
    list_display = ["connection", "matrix", "product_group_number", "vat_zone", "account_number", "updated_at",
                    "editor_link"]
    list_filter = ["connection", "matrix", "vat_zone"]
    search_fields = ["product_group_number", "=account_number"]

    def editor_url(self, obj: AccountMatrixCell) -> str:
        url = reverse("admin:connection-matrix", args=[obj.connection_id, obj.matrix])
        return f"{url}#cell-{obj.product_group_number}-{obj.vat_zone}"


@admin.register(UnitMapping)
class UnitMappingAdmin(MappingAdmin):
    list_display = ["connection", "rackbeat_unit_number", "dinero_unit", "updated_at", "editor_link"]
    search_fields = ["rackbeat_unit_number"]

    def editor_url(self, obj: UnitMapping) -> str:
        return reverse("admin:connection-units", args=[obj.connection_id]) + f"#unit-{obj.rackbeat_unit_number}"


@admin.register(LayoutMapping)
class LayoutMappingAdmin(MappingAdmin):
    list_display = ["connection", "rackbeat_layout_number", "language", "updated_at", "editor_link"]
    search_fields = ["rackbeat_layout_number"]

    def editor_url(self, obj: LayoutMapping) -> str:
        return reverse("admin:connection-layouts", args=[obj.connection_id]) + f"#layout-{obj.rackbeat_layout_number}"


class ReferenceAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Read-only: these rows are only ever written by a refresh from the APIs."""

    list_select_related = ["connection"]
    list_filter = ["connection", "missing_upstream"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ProductGroup)
class ProductGroupAdmin(ReferenceAdmin):
    list_display = ["connection", "number", "name", "missing_upstream", "refreshed_at"]
    search_fields = ["number", "name"]


@admin.register(RackbeatUnit)
class RackbeatUnitAdmin(ReferenceAdmin):
    list_display = ["connection", "number", "name", "missing_upstream", "refreshed_at"]
    search_fields = ["number", "name"]


@admin.register(RackbeatLayout)
class RackbeatLayoutAdmin(ReferenceAdmin):
    list_display = ["connection", "number", "name", "language", "missing_upstream", "refreshed_at"]
    search_fields = ["number", "name"]


@admin.register(DineroAccount)
class DineroAccountAdmin(ReferenceAdmin):
    list_display = ["connection", "number", "name", "vat_code", "is_hidden", "is_purchase", "is_deposit",
                    "missing_upstream"]
    list_filter = ["connection", "is_hidden", "is_purchase", "is_deposit", "missing_upstream"]
    search_fields = ["=number", "name"]


@admin.register(DineroVatType)
class DineroVatTypeAdmin(ReferenceAdmin):
    list_display = ["connection", "code", "name", "rate", "missing_upstream"]
    search_fields = ["code", "name"]
