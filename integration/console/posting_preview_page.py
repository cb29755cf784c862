"""The posting preview page of a connection (linked from the setup wizard and the matrix pages)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.ids import bounded_number
from accounts.models import Connection
from integration.books.posting_preview import DEFAULT_COUNT, MAX_COUNT, preview
from integration.console.connection_pages import connection_page


def preview_url(connection: Connection, *, show: bool = True) -> str:
    url = reverse("admin:connection-posting-preview", args=[connection.pk])
    return f"{url}?show=1&n={DEFAULT_COUNT}" if show else url


@connection_page("posting-preview", gettext_lazy("Posting preview"), permission="accounts.view_connection",
                 group="Setup", order=65)
def posting_preview_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    count = bounded_number(request.GET.get("n"), default=DEFAULT_COUNT, low=1, high=MAX_COUNT, what="n")
    # Reading and the dry runs cost requests from the shared budget: only when asked for.
    result = preview(connection, count) if request.GET.get("show") else None
    context = {
        **admin.site.each_context(request),
        "connection": connection,
        "title": _("Posting preview"),
        "connection_url": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "opts": Connection._meta,
        "count": count,
        "max_count": MAX_COUNT,
        "result": result,
        "revenue_matrix_url": reverse("admin:connection-matrix", args=[connection.pk, "revenue"]),
        "supplier_matrix_url": reverse("admin:connection-matrix", args=[connection.pk, "supplier"]),
    }
    return render(request, "admin/posting_preview/page.html", context)
