"""System checks of this app: tenant-scoped admins, and encryption keys that really are keys.

A ModelAdmin for a model that belongs to a connection but does not use
:class:`accounts.tenancy.TenantScopedAdminMixin` would list every tenant's rows; the service
refuses to start (``manage.py check`` fails) instead of shipping such a page. Likewise a
``FIELD_ENCRYPTION_KEYS`` entry that is not a Fernet key would break only at the first secret saved
or read; ``check`` (and so every ``runserver``, ``migrate`` and ``check --deploy``) refuses it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured

from accounts.crypto import fernet_for
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


@checks.register(checks.Tags.security)
def encryption_keys_are_fernet_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    keys = tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", ()))
    try:
        fernet_for(keys)
    except ImproperlyConfigured as exc:
        # The message names no key: the output of a check ends up in deploy logs.
        return [checks.Error(f"FIELD_ENCRYPTION_KEYS cannot encrypt: {exc}", id="accounts.E003",
                             hint="Each comma-separated entry must be a Fernet key (44 characters of url-safe "
                                  "base64), the newest first.")]
    return []


def _leads_to_connection(model: Any, lookup: str) -> bool:


    if not lookup:
        return model._meta.concrete_model is Connection
    try:
        return get_fields_from_path(model, lookup)[-1].related_model is Connection
    except (FieldDoesNotExist, NotRelationField):
        return False
