"""The start sync's progress page: a progress bar while it runs, the report when it is done."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Connection
from integration.console.connection_pages import connection_page
from integration.core.models import SyncRun
from integration.triggers.start_sync import skips_of, start, vat_zones_of

REFRESH_SECONDS = 2


@connection_page("start-sync", gettext_lazy("Start sync from Dinero"), permission="accounts.view_connection",
                 group="Setup", order=30)
def start_sync_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    here = reverse("admin:connection-start-sync", args=[connection.pk])
    if request.method == "POST":
        # Starting writes to Rackbeat: the same permission as activating the connection.
        if not request.user.has_perm("accounts.activate_connection"):
            raise PermissionDenied
        if not connection.is_active:
            messages.error(request, _("Activate the integration first: the start sync reads from Dinero."))
        else:
            start(connection)
            messages.success(request, _("The start sync is running."))
        return HttpResponseRedirect(here)
    run = SyncRun.objects.filter(connection=connection, kind=SyncRun.RunKind.START_SYNC).order_by("-started_at").first()
    context = {
        **admin.site.each_context(request),
        "connection": connection,
        "title": _("Start sync from Dinero"),
        "connection_url": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "opts": Connection._meta,
        "run": run,
        "running": bool(run and run.state == SyncRun.State.RUNNING),
        "skips": skips_of(run) if run else [],
        "vat_zones": vat_zones_of(run) if run else [],
        "refresh_seconds": REFRESH_SECONDS,
        "can_start": request.user.has_perm("accounts.activate_connection") and connection.is_active,
    }
    return render(request, "admin/start_sync/progress.html", context)
