"""System check: every admin class for tenant data goes through the tenant chokepoint.

A ModelAdmin for a model that belongs to a connection but does not use
:class:`accounts.tenancy.TenantScopedAdminMixin` would list every tenant's rows; the service
refuses to start (``manage.py check`` fails) instead of shipping such a page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core import checks
from django.core.exceptions import FieldDoesNotExist

from accounts.models import Connection
from accounts.tenancy import TenantScopedAdminMixin, connection_path


@checks.register(checks.Tags.admin, checks.Tags.security)
def tenant_admins_are_scoped(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for model, model_admin in admin.site._registry.items():
        path = connection_path(model)
        if path is None:
            continue
        if not isinstance(model_admin, TenantScopedAdminMixin):
            errors.append(checks.Error(
                f"The admin of {model._meta.label} shows tenant data but is not tenant-scoped.",
                hint="Derive it from accounts.tenancy.TenantScopedAdminMixin (connection_lookup="
                     f"{path!r}).",
                obj=type(model_admin), id="accounts.E001",
            ))
        elif not _leads_to_connection(model, model_admin.connection_lookup):
            errors.append(checks.Error(
                f"The admin of {model._meta.label} scopes by {model_admin.connection_lookup!r}, "
                f"which does not lead to a connection.",
                hint=f"Set connection_lookup = {path!r}.", obj=type(model_admin), id="accounts.E002",
            ))
    return errors


def _leads_to_connection(model: Any, lookup: str) -> bool:


    if not lookup:
        return model._meta.concrete_model is Connection
    try:
        return get_fields_from_path(model, lookup)[-1].related_model is Connection
    except (FieldDoesNotExist, NotRelationField):
        return False
