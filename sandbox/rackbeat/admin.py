"""Admin for the emulated Rackbeat: accounts with their fault injection switches, data, webhook log."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from sandbox.rackbeat import models as m
from sandbox.rackbeat import webhook_sending


@admin.register(m.Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("account_id", "company_name", "document_shape", "rate_limit_per_minute", "latency_ms",
                    "error_429_rate", "error_500_rate", "webhook_drop_rate")
    search_fields = ("company_name", "account_id")
    fieldsets = (
        (None, {"fields": ("account_id", "company_name", "api_token", "user_name", "user_email", "company_vat",
                           "address_street", "address_zipcode", "address_city", "address_country")}),
        (_("Rate limit"), {"fields": ("rate_limit_per_minute",)}),
        (_("How this Rackbeat speaks"), {"fields": ("document_shape", "credit_note_signs", "refuse_is_booked_filter",
                                                     "supplier_invoices_without_dates", "credit_note_flag",
                                                     "lines_naming_unknown_items", "total_cost_offset")}),
        (_("Webhooks"), {"fields": ("webhook_body_shape", "refused_webhook_events", "webhook_account_header",
                                     "sent_webhook_event_names")}),
        (_("Fault injection"), {"fields": (
            "latency_ms", "error_429_rate", "fail_next_429", "error_500_rate", "fail_next_500",
            "error_500_after_write_rate", "fail_next_500_after_write", "webhook_drop_rate", "drop_next_webhooks",
            "error_500_read_rate", "fail_next_read_500", "webhook_duplicate_rate", "duplicate_next_webhooks",
            "webhook_delay_rate", "delay_next_webhooks", "webhook_delay_max_seconds",
        )}),
    )


class OwnedAdmin(admin.ModelAdmin):
    list_filter = ("account",)
    list_select_related = ("account",)


@admin.register(m.ProductGroup)
class ProductGroupAdmin(OwnedAdmin):
    list_display = ("number", "name", "account", "vat_domestic", "vat_eu", "vat_abroad", "vat_domestic_exempt")


@admin.register(m.Unit, m.Layout, m.PaymentTerm, m.CustomerGroup, m.SupplierGroup)
class SimpleAdmin(OwnedAdmin):
    list_display = ("number", "name", "account")


@admin.register(m.Customer, m.Supplier)
class PartnerAdmin(OwnedAdmin):
    list_display = ("number", "name", "contact_email", "vat_zone", "address_country", "account")
    search_fields = ("name", "contact_email")


class LotLineInline(admin.TabularInline):
    model = m.LotLine
    fk_name = "lot"
    extra = 0
    raw_id_fields = ("product",)


class ProductUnitInline(admin.TabularInline):
    model = m.ProductUnit
    extra = 0
    verbose_name = _("alternative unit")


@admin.register(m.Item)
class ItemAdmin(OwnedAdmin):
    list_display = ("number", "name", "type", "group", "sales_price", "cost_price", "account")
    list_filter = ("account", "type")
    search_fields = ("number", "name")
    inlines = [LotLineInline, ProductUnitInline]


class LineInline(admin.TabularInline):
    model = m.InvoiceLine
    extra = 0
    raw_id_fields = ("item",)
    fields = ("position", "item", "name", "quantity", "unit", "line_price", "discount_percentage", "vat_percentage",
              "cost_price", "line_total", "line_vat")


@admin.register(m.CustomerInvoice)
class CustomerInvoiceAdmin(OwnedAdmin):
    list_display = ("number", "customer", "invoice_date", "total_total", "currency", "is_booked", "account")
    list_filter = ("account", "is_booked")
    raw_id_fields = ("customer",)
    inlines = [LineInline]


@admin.register(m.SupplierInvoice)
class SupplierInvoiceAdmin(OwnedAdmin):
    list_display = ("number", "supplier", "invoice_date", "total_total", "currency", "is_booked", "account")
    list_filter = ("account", "is_booked")
    raw_id_fields = ("supplier",)
    inlines = [LineInline]


@admin.register(m.Webhook)
class WebhookAdmin(OwnedAdmin):
    list_display = ("id", "event", "url", "is_active", "failures_since_last_success", "account")


@admin.action(description=_("Send the selected deliveries again"))
def resend(modeladmin, request, queryset) -> None:
    for delivery in queryset.exclude(state=m.WebhookDelivery.State.DELIVERED):
        webhook_sending.redeliver(delivery)
    modeladmin.message_user(request, _("The deliveries were sent again; see their state."))


@admin.register(m.WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "event", "url", "state", "status_code", "attempts", "account")
    list_filter = ("account", "state", "event")
    list_select_related = ("account",)
    readonly_fields = [f.name for f in m.WebhookDelivery._meta.fields]
    actions = [resend]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False
