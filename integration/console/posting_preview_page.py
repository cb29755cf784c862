"""The posting preview page of a connection (linked from the setup wizard and the matrix pages)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.ids import bounded_number
from accounts.models import Connection
from integration.books.posting_preview import DEFAULT_COUNT, MAX_COUNT, preview_for_person
from integration.console.connection_pages import connection_page


@connection_page("posting-preview", gettext_lazy("Posting preview"), permission="accounts.view_connection",
                 group="Setup", order=65)
def posting_preview_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    count = bounded_number(request.POST.get("n"), default=DEFAULT_COUNT, low=1, high=MAX_COUNT, what="n")
    # Reading and the dry runs cost requests from the organization's budget: only on a person's
    # POST (CSRF-protected, so no link or image can start one), cached per mapping version.
    result, wait_seconds = (None, 0)
    if request.method == "POST":
        result, wait_seconds = preview_for_person(connection, count)
    if wait_seconds:
        messages.warning(request, _("A preview of this connection was made moments ago; to spare its request budget, "
                                    "the next one can be made in %(seconds)s seconds.") % {"seconds": wait_seconds})
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
