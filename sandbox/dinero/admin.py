"""The emulated Dinero in the admin: organizations with their fault switches, and what was stored."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from sandbox.dinero.models import (
    Account,
    Contact,
    Entry,
    Organization,
    Product,
    SalesDocument,
    VatType,
    Voucher,
)


class AccountInline(admin.TabularInline):
    model = Account
    extra = 0
    fields = ["number", "name", "vat_code", "category", "is_hidden", "is_deposit", "is_default"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["organization_id", "name", "is_pro", "rate_limit_per_minute", "latency_ms", "faults", "app_link"]
    search_fields = ["name", "organization_id"]
    inlines = [AccountInline]
    fieldsets = [
        (None, {"fields": ["organization_id", "name", "api_key", "is_pro", "email", "vat_number", "street",
                           "zip_code", "city"]}),
        (_("Rate limit"), {"fields": ["rate_limit_per_minute"]}),
        (_("Fault injection (rates are probabilities from 0 to 1)"), {"fields": [
            "latency_ms", "latency_jitter_ms", "rate_429", "rate_500", "rate_timeout", "rate_500_after_write",
            "rate_timeout_after_write", "fail_next_429", "fail_next_500", "fail_next_timeout",
            "fail_next_500_after_write", "fail_next_timeout_after_write", "fault_retry_after_seconds"]}),
    ]

    @admin.display(description=_("faults"))
    def faults(self, obj: Organization) -> str:
        active = [name for name in ("rate_429", "rate_500", "rate_timeout", "rate_500_after_write",
                                    "rate_timeout_after_write", "fail_next_429", "fail_next_500",
                                    "fail_next_timeout", "fail_next_500_after_write",
                                    "fail_next_timeout_after_write") if getattr(obj, name)]
        return ", ".join(active) or "–"

    @admin.display(description=_("web app"))
    def app_link(self, obj: Organization) -> str:
        return format_html('<a href="/sandbox/dinero/app/{}/">{}</a>', obj.organization_id, _("open"))


class StoredAdmin(admin.ModelAdmin):
    list_select_related = ["organization"]
    list_filter = ["organization"]
    search_fields = ["guid", "external_reference"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Contact)
class ContactAdmin(StoredAdmin):
    list_display = ["__str__", "organization", "external_reference", "updated_at", "deleted_at"]


@admin.register(Product)
class ProductAdmin(StoredAdmin):
    list_display = ["__str__", "organization", "external_reference", "updated_at", "deleted_at"]


@admin.register(SalesDocument)
class SalesDocumentAdmin(StoredAdmin):
    list_display = ["__str__", "organization", "kind", "status", "number", "external_reference", "timestamp"]
    list_filter = ["organization", "kind", "status"]


@admin.register(Voucher)
class VoucherAdmin(StoredAdmin):
    list_display = ["__str__", "organization", "kind", "status", "number", "external_reference", "timestamp"]
    list_filter = ["organization", "kind", "status"]


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["date", "organization", "voucher_type", "voucher_number", "account_number", "amount"]
    list_filter = ["organization", "voucher_type"]
    list_select_related = ["organization"]
    show_full_result_count = False


@admin.register(VatType)
class VatTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "rate", "organization"]
    list_filter = ["organization"]
