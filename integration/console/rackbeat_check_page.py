"""The "Rackbeat shape check" page of a connection, and the summary on the connection's own page.

GET shows the latest report (field by field, plus the webhook registrations) and the earlier runs;
POST ("Check Rackbeat") runs the check now — a few read-only requests to Rackbeat — and shows it.
Running needs the permission to add shape checks (consultants); accountants can read the reports.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.ids import id_or_404
from accounts.models import Connection
from integration.books.rackbeat_check import run_check
from integration.console.connection_pages import connection_page
from integration.core.models import RackbeatShapeCheck

RUN_PERMISSION = "integration.add_rackbeatshapecheck"
HISTORY = 10


@connection_page("rackbeat-check", gettext_lazy("Rackbeat shape check"),
                 permission="integration.view_rackbeatshapecheck", group="Setup", order=25)
def rackbeat_check_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    here = reverse("admin:connection-rackbeat-check", args=[connection.pk])
    if request.method == "POST":
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        if not connection.rackbeat_api_token:
            messages.error(request, _("Enter the Rackbeat API token first: the check reads from Rackbeat."))
            return HttpResponseRedirect(here)

        check = run_check(connection, checked_by=request.user.get_username())
        level = messages.SUCCESS if check.outcome == RackbeatShapeCheck.Outcome.OK else messages.WARNING
        messages.add_message(request, level, _("Rackbeat checked: %(outcome)s.") % {
            "outcome": check.get_outcome_display()})
        return HttpResponseRedirect(here)
    checks = list(RackbeatShapeCheck.objects.filter(connection=connection)[:HISTORY])
    chosen = checks[0] if checks else None
    if request.GET.get("check"):
        chosen = RackbeatShapeCheck.objects.filter(connection=connection, pk=id_or_404(request.GET["check"])).first()
    context = {
        **admin.site.each_context(request),
        "connection": connection,
        "title": _("Rackbeat shape check"),
        "connection_url": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "opts": Connection._meta,
        "check": chosen,
        "history": checks,
        "can_run": request.user.has_perm(RUN_PERMISSION),
        "here": here,
    }
    return render(request, "admin/rackbeat_check/page.html", context)
