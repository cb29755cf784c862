"""Tenant isolation: which connections a user may see, applied to every admin list and view."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Connection


def connections_for(user: User | AnonymousUser) -> QuerySet[Connection]:
    """Connections visible to ``user``: all for superusers, their memberships for everyone else."""
    if not user.is_authenticated or not user.is_active:
        return Connection.objects.none()
    if user.is_superuser:
        return Connection.objects.all()
    return Connection.objects.filter(memberships__user=user)


def get_connection_for(user: User | AnonymousUser, pk: Any) -> Connection:
    """The connection ``pk`` if ``user`` may see it, else 404 (never reveal that it exists)."""
    try:
        return connections_for(user).get(pk=pk)
    except (Connection.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such connection.") from exc


class TenantScopedAdminMixin:
    """ModelAdmin mixin limiting rows to the user's connections.

    ``connection_lookup`` is the ORM path from the model to its Connection (``"connection"`` by
    default, ``""`` for the Connection admin itself). Foreign-key choices pointing at Connection
    are limited the same way, so a form cannot attach a row to another tenant.
    """

    connection_lookup = "connection"

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        qs = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return qs
        allowed = connections_for(request.user).values("pk")
        if self.connection_lookup:
            return qs.filter(**{f"{self.connection_lookup}__in": allowed})
        return qs.filter(pk__in=allowed)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.related_model is Connection:
            kwargs["queryset"] = connections_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
