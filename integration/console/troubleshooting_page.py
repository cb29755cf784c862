"""The per-connection *Troubleshooting* page: transfer one invoice now and show what was sent and
what came back (the work itself is ``integration.triggers.troubleshooting``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Connection
from integration.console.connection_pages import connection_page
from integration.triggers.troubleshooting import CHOICES, transfer_now


class TroubleshootingForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What to transfer"), choices=CHOICES)
    number = forms.CharField(label=gettext_lazy("Invoice number"), max_length=64)


@connection_page("troubleshooting", gettext_lazy("Troubleshooting"), permission="accounts.run_troubleshooting",
                 group="Operations", order=80)
def troubleshooting_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    form = TroubleshootingForm(request.POST or None)
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            report = transfer_now(connection, form.cleaned_data["kind"], form.cleaned_data["number"])
        else:
            status = 400
    context = {
        **admin.site.each_context(request),
        "connection": connection,
        "title": _("Troubleshooting"),
        "connection_url": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "opts": Connection._meta,
        "form": form,
        "report": report,
        "operation_url": (reverse("admin:integration_syncoperation_change", args=[report.operation.pk])
                          if report and report.operation and _has_url("admin:integration_syncoperation_change")
                          else ""),
    }
    return render(request, "admin/troubleshooting/page.html", context, status=status)


def _has_url(name: str) -> bool:
    try:
        reverse(name, args=[0])
    except NoReverseMatch:
        return False
    return True
