"""The service's own admin site: its name in header and titles, a home page built around the
connections, and navigation grouped by task.

Internal tables — the task queue, HTTP exchanges, webhook deliveries, the cached reference data
and the sandboxes — are left out of accountants' and consultants' navigation entirely and shown
to superusers in a group of their own. (The data stays reachable where it belongs: an operation's
page shows its HTTP calls; the matrix editors show the reference data.)

Installed through ``integration.console.admin_app.ServiceAdminConfig`` in INSTALLED_APPS, so ``admin.site`` and every
``@admin.register`` keep working unchanged.

A theme such as django-unfold was weighed and not taken: it needs every ModelAdmin to inherit
its classes and restyles the templates our dozen custom pages extend, in modules that several
people change in parallel; a stylesheet and four templates over the stock admin give the same
result at a fraction of the risk.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite, ModelAdmin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from accounts.ids import checked_selection
from integration.console.home import home_context

SERVICE_NAME = _("Rackbeat ⇄ Dinero")

# Navigation by task: (group key, title, [(app label, model name), …]) in the order shown.
TASK_GROUPS: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("transfers", _("Follow the transfers"), [
        ("integration", "needsattention"), ("integration", "syncoperation"), ("integration", "syncrun"),
    ]),
    ("setup", _("Connections and settings"), [
        ("accounts", "connection"), ("integration", "integrationsettings"), ("accounts", "membership"),
        ("auth", "user"), ("auth", "group"),
    ]),
    ("mappings", _("Mappings: lists and change history"), [
        ("mappings", "accountmatrixcell"), ("mappings", "unitmapping"), ("mappings", "layoutmapping"),
    ]),
]
TASK_MODELS = {model for _key, _title, models in TASK_GROUPS for model in models}
INTERNAL_GROUP = "internal"


def is_internal(app_label: str, model_name: str) -> bool:
    """Everything not in a task group: queue, exchanges, deliveries, reference data, sandboxes."""
    return (app_label, model_name) not in TASK_MODELS


class ServiceAdminSite(AdminSite):
    site_header = SERVICE_NAME
    site_title = SERVICE_NAME
    index_title = _("Your connections")
    # Navigation is the task bar in the header; the stock sidebar would take a quarter of a
    # 1,366 px screen from the sync log's columns.
    enable_nav_sidebar = False
    site_url = None  # "View site" would only lead back here

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        """Every view of every ModelAdmin passes here: a bulk action's ticked ids are checked first."""
        model_admin = getattr(view, "__self__", None)
        if isinstance(model_admin, ModelAdmin):
            view = checked_selection(model_admin.model, view)
        return super().admin_view(view, cacheable)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if not request.user.is_superuser:
            for app in apps:
                app["models"] = [m for m in app["models"]
                                 if not is_internal(app["app_label"], m["object_name"].lower())]
            apps = [app for app in apps if app["models"]]
        if app_label is not None:
            return apps
        return task_groups(apps, superuser=request.user.is_superuser)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        return super().index(request, {**home_context(request), **(extra_context or {})})


def task_groups(apps: list[dict[str, Any]], *, superuser: bool) -> list[dict[str, Any]]:
    """The stock app list regrouped by task; internal models last, in one group, for superusers."""
    by_key = {(app["app_label"], m["object_name"].lower()): m for app in apps for m in app["models"]}
    groups = []
    for key, title, members in TASK_GROUPS:
        models = [by_key[member] for member in members if member in by_key]
        if models:
            groups.append({"name": title, "app_label": key, "app_url": models[0]["admin_url"],
                           "has_module_perms": True, "models": models, "internal": False})
    if superuser:
        internal = []
        for app in apps:
            for model in app["models"]:
                if is_internal(app["app_label"], model["object_name"].lower()):
                    internal.append({**model, "name": f"{app['name']}: {model['name']}"})
        if internal:
            groups.append({"name": _("Internal tables (operators only)"), "app_label": INTERNAL_GROUP,
                           "app_url": internal[0]["admin_url"], "has_module_perms": True, "models": internal,
                           "internal": True})
    return groups

