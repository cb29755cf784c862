"""Admin for connections and memberships, scoped to the user's connections."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import ForeignObjectRel, QuerySet
from django.urls import path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import Connection, Membership
from accounts.tenancy import TenantScopedAdminMixin, TenantScopedInlineMixin, get_connection_for
from integration.console import connection_pages
from integration.console.connection_forms import ConnectionAdminForm
from integration.console.state_colours import state_badge
from integration.core.messages import render


class MembershipInline(TenantScopedInlineMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return request.user.has_perm("accounts.view_membership")


@admin.register(Connection)
class ConnectionAdmin(TenantScopedAdminMixin, SimpleHistoryAdmin):
    connection_lookup = ""
    form = ConnectionAdminForm
    list_display = ["name", "state_display", "dinero_organization_id", "rackbeat_account_id", "updated_at"]
    list_filter = ["state"]
    search_fields = ["name", "dinero_organization_id", "rackbeat_account_id"]
    readonly_fields = ["state", "state_reason_text", "state_changed_at", "public_id", "created_at", "updated_at"]
    inlines = [MembershipInline]

    @admin.display(description=_("state"), ordering="state")
    def state_display(self, obj: Connection) -> str:
        return state_badge(obj)

    @admin.display(description=_("reason"))
    def state_reason_text(self, obj: Connection) -> str:
        """The reason in the reader's language (stored as meaning, integration.core.messages)."""
        return render(obj.state_reason_meaning, obj.state_reason)

    def get_fieldsets(self, request, obj=None):  # type: ignore[no-untyped-def]
        fieldsets = [
            (None, {"fields": ["name", "alert_recipients", "language"]}),
            (_("State"), {"fields": ["state", "state_reason_text", "state_changed_at"]}),
        ]
        if request.user.has_perm("accounts.change_credentials"):
            fieldsets.insert(1, (
                _("Credentials"),
                {
                    "description": _("Secrets are stored encrypted and never shown again."),
                    "fields": [
                        "new_rackbeat_api_token", "rackbeat_account_id", "dinero_organization_id",
                        "dinero_auth_method", "new_dinero_api_key",
                    ],
                },
            ))
        else:
            fieldsets.insert(1, (_("Accounts"), {"fields": ["rackbeat_account_id", "dinero_organization_id"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("accounts.change_credentials"):
            readonly += ["rackbeat_account_id", "dinero_organization_id"]
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        if not request.user.has_perm("accounts.change_credentials"):
            kwargs["fields"] = ["name", "alert_recipients", "language"]
        return super().get_form(request, obj, change, **kwargs)

    def get_urls(self):  # type: ignore[no-untyped-def]
        # The feature modules register their pages when the admin autodiscovers them
        # (integration/admin.py imports integration.console.admin); accounts never imports them.
        extra = [
            path(f"<int:connection_id>/{page.slug}/{page.route}", self.admin_site.admin_view(self._page_view(page)),
                 name=page.url_name)
            for page in connection_pages.pages()
        ]
        return extra + super().get_urls()

    @staticmethod
    def _page_view(page: connection_pages.ConnectionPage):  # type: ignore[no-untyped-def]
        def view(request, connection_id, **kwargs):  # type: ignore[no-untyped-def]
            connection = get_connection_for(request.user, connection_id)
            if not request.user.has_perm(page.permission):
                raise PermissionDenied
            return page.view(request, connection, **kwargs)

        view.__name__ = f"connection_{page.slug.replace('-', '_')}"
        return view

    def change_view(self, request, object_id, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        connection = self.tenant_object_or_404(request, object_id)
        extra_context = extra_context or {}
        menu = []
        for page in connection_pages.menu_for(request):
            if page.route:
                continue
            menu.append((page.group, page.title, reverse(f"admin:{page.url_name}", args=[connection.pk])))
        extra_context["connection_pages"] = menu
        return super().change_view(request, object_id, form_url, extra_context)

    def get_inlines(self, request, obj):  # type: ignore[no-untyped-def]
        return self.inlines if request.user.has_perm("accounts.view_membership") else []

    def get_deleted_objects(self, objs, request):  # type: ignore[no-untyped-def]
        """What deleting connections takes with it, counted per kind of row, for an operator.

        A connection's operations, HTTP log, mappings and settings belong to nobody else and go
        with it. Django's stock page would list every one of those rows — and refuse, since the
        log's admins allow no deletion of evidence row by row. That refusal stays for everyone else
        (a support consultant may delete a connection only while it has no history); a superuser
        sees the counts instead and may confirm.
        """
        if not request.user.is_superuser:
            return super().get_deleted_objects(objs, request)
        to_delete: list[Any] = []
        total: Counter[str] = Counter({str(capfirst(Connection._meta.verbose_name_plural)): 0})
        for connection in objs:
            counts: Counter[str] = Counter()
            _count_cascade(Connection.objects.filter(pk=connection.pk), counts)
            to_delete += [f"{capfirst(Connection._meta.verbose_name)}: {connection}",
                          [f"{count} {name}" for name, count in sorted(counts.items())]]
            total[str(capfirst(Connection._meta.verbose_name_plural))] += 1
            total.update({str(capfirst(name)): count for name, count in counts.items()})
        return to_delete, dict(total), set(), []


def _count_cascade(queryset: QuerySet, counts: Counter[str]) -> None:
    """Adds the rows a delete of ``queryset`` cascades to, per verbose name, following every CASCADE."""
    for relation in queryset.model._meta.get_fields(include_hidden=True):  # reference data hides its reverse name
        if not isinstance(relation, ForeignObjectRel) or relation.many_to_many or relation.on_delete is not models.CASCADE:
            continue
        related = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": queryset})
        count = related.count()
        if count:
            counts[str(relation.related_model._meta.verbose_name_plural)] += count
            _count_cascade(related, counts)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "connection", "created_at"]
    list_select_related = ["user", "connection"]
    list_filter = ["connection"]
    autocomplete_fields = ["user"]
