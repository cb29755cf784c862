"""Admin lists of what was learnt about each connection's Rackbeat (read-only; refusals deletable).

Deleting a refused list filter makes the client send that filter again on the next listing (and
learn again if Rackbeat still refuses it). Event answers are renewed by every activation.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.tenancy import TenantScopedAdminMixin
from integration.core.models import RackbeatEventAnswer, RackbeatShapeCheck, RefusedListFilter


class _ReadOnly(TenantScopedAdminMixin, admin.ModelAdmin):
    list_select_related = ["connection"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in self.model._meta.fields]


@admin.register(RefusedListFilter)
class RefusedListFilterAdmin(_ReadOnly):
    list_display = ["connection", "path", "name", "refused_at"]
    list_filter = ["path", "name"]


@admin.register(RackbeatEventAnswer)
class RackbeatEventAnswerAdmin(_ReadOnly):
    list_display = ["connection", "event", "accepted", "answer", "asked_at"]
    list_filter = ["accepted", "event"]


@admin.register(RackbeatShapeCheck)
class RackbeatShapeCheckAdmin(_ReadOnly):
    list_display = ["connection", "checked_at", "outcome", "found", "renamed", "missing", "checked_by"]
    list_filter = ["outcome"]
    exclude = ["report"]
