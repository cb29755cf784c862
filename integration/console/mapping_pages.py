"""Per-connection admin pages for the account matrices, unit and layout mappings and their CSV files."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Connection
from integration.console.connection_pages import connection_page
from integration.console.mapping_fixes import outcome_message, retry_all, retry_fixed, waiting_context
from integration.core import csv_export
from integration.core.handlers import NeedsMapping
from mappings import csv_io
from mappings.lookup import dinero_language, dinero_unit, revenue_account, supplier_account
from mappings.matrix import build_grid, save_grid
from mappings.models import AccountMatrixCell, ReferenceRefresh
from mappings.reference import refresh_reference_data
from mappings.unit_layout import LAYOUTS, UNITS, MappingKind, MappingTable, build_table, save_table

logger = logging.getLogger(__name__)
REFRESH_PERMISSION = "mappings.refresh_reference_data"
MATRIX_TITLES = dict(AccountMatrixCell.Matrix.choices)


def admin_context(request: HttpRequest, connection: Connection, title: str, **extra) -> dict:
    return {
        **admin.site.each_context(request),
        "connection": connection,
        "title": title,
        "connection_url": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "opts": Connection._meta,
        **extra,
    }


def refresh_from_apis(request: HttpRequest, connection: Connection) -> None:
    """The "Refresh from Rackbeat and Dinero" button: fetch, then say what changed or what failed."""
    if not request.user.has_perm(REFRESH_PERMISSION):
        raise PermissionDenied
    try:
        counts = refresh_reference_data(connection)
    except Exception as exc:
        logger.warning("Reference data refresh failed for connection %s", connection.pk, exc_info=True)
        message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        hint = getattr(exc, "hint", "")
        messages.error(request, _("Refreshing from Rackbeat and Dinero failed: %(error)s %(hint)s") % {
            "error": message, "hint": hint,
        })
        return
    messages.success(request, _(
        "Refreshed: %(groups)s product groups, %(units)s units, %(layouts)s layouts, %(accounts)s Dinero "
        "accounts and %(vat)s VAT types."
    ) % {
        "groups": counts["product_groups"]["total"], "units": counts["units"]["total"],
        "layouts": counts["layouts"]["total"], "accounts": counts["accounts"]["total"],
        "vat": counts["vat_types"]["total"],
    })
    gone = sum(c["missing"] for c in counts.values())
    if gone:
        messages.warning(request, _(
            "%(count)s cached entries are no longer returned by Rackbeat or Dinero; they are marked as "
            "missing and their mappings are kept until you change them."
        ) % {"count": gone})


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go after saving: the page that sent the user here (e.g. the setup wizard), if local."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def _retry_waiting(request: HttpRequest, connection: Connection, here: str) -> HttpResponse:
    """The "Retry them now" button of a mapping page: the documents waiting on it go again."""

    if not request.user.has_perm("integration.retry_syncoperation"):
        raise PermissionDenied
    retried = retry_all(request, connection, here)
    messages.success(request, ngettext("%(count)d document was sent again.", "%(count)d documents were sent again.",
                                       len(retried)) % {"count": len(retried)})
    return HttpResponseRedirect(safe_next(request, here))


def _after_save(request: HttpRequest, connection: Connection, here: str, is_fixed) -> None:  # type: ignore[no-untyped-def]
    """Documents that waited only for what was just saved are retried (see integration.console.mapping_fixes)."""

    message = outcome_message(retry_fixed(request, connection, here, is_fixed))
    if message:
        messages.info(request, message)


def _waiting(request: HttpRequest, connection: Connection, here: str) -> dict:
    return waiting_context(request, connection, here)


def _lookup_succeeds(lookup, connection: Connection, *args: str) -> bool:  # type: ignore[no-untyped-def]

    try:
        lookup(connection, *args)
    except NeedsMapping:
        return False
    return True


def _matrix_fixed(connection: Connection, matrix: str):  # type: ignore[no-untyped-def]

    lookup = revenue_account if matrix == AccountMatrixCell.Matrix.REVENUE else supplier_account

    def is_fixed(anchor: str) -> bool:
        if not anchor.startswith("cell-"):
            return False
        group, _sep, zone = anchor.removeprefix("cell-").rpartition("-")
        return bool(group) and _lookup_succeeds(lookup, connection, group, zone)

    return is_fixed


def _table_fixed(connection: Connection, kind: MappingKind):  # type: ignore[no-untyped-def]

    prefix, lookup = ("unit-", dinero_unit) if kind is UNITS else ("layout-", dinero_language)

    def is_fixed(anchor: str) -> bool:
        return anchor.startswith(prefix) and _lookup_succeeds(lookup, connection, anchor.removeprefix(prefix))

    return is_fixed


def _refresh_state(connection: Connection) -> ReferenceRefresh | None:
    return ReferenceRefresh.objects.filter(connection=connection).first()


# --- account matrices -----------------------------------------------------------------------------

@connection_page("matrix", gettext_lazy("Account matrix"), permission="mappings.view_accountmatrixcell",
                 route="<str:matrix>/", group="Mappings", order=40)
def matrix_page(request: HttpRequest, connection: Connection, matrix: str) -> HttpResponse:
    if matrix not in AccountMatrixCell.Matrix.values:
        raise Http404("No such matrix.")
    here = reverse("admin:connection-matrix", args=[connection.pk, matrix])
    if request.method == "POST":
        if request.POST.get("action") == "refresh":
            refresh_from_apis(request, connection)
            return HttpResponseRedirect(here)
        if request.POST.get("action") == "retry-waiting":
            return _retry_waiting(request, connection, here)
        if not request.user.has_perm("mappings.change_accountmatrixcell"):
            raise PermissionDenied
        grid, changed = save_grid(connection, matrix, request.POST)
        if not grid.errors:
            messages.success(request, ngettext("Saved: %(count)s cell changed.", "Saved: %(count)s cells changed.",
                                               changed) % {"count": changed})
            _after_save(request, connection, here, _matrix_fixed(connection, matrix))
            return HttpResponseRedirect(safe_next(request, here))
        messages.error(request, ngettext("Nothing was saved: %(count)s cell needs a different account (marked below).",
                                         "Nothing was saved: %(count)s cells need a different account (marked below).",
                                         len(grid.errors)) % {"count": len(grid.errors)})
        status = 200
    else:
        grid = build_grid(connection, matrix)
        status = 200
    return render(request, "admin/mappings/matrix.html", admin_context(
        request, connection, str(MATRIX_TITLES[matrix]), grid=grid, matrix=matrix,
        refresh=_refresh_state(connection),
        can_change=request.user.has_perm("mappings.change_accountmatrixcell"),
        can_refresh=request.user.has_perm(REFRESH_PERMISSION),
        next=request.GET.get("next", ""), **_waiting(request, connection, here),
    ), status=status)


@connection_page("supplier-matrix", gettext_lazy("Supplier invoice account matrix"),
                 permission="mappings.view_accountmatrixcell", group="Mappings", order=41)
def supplier_matrix_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    return redirect("admin:connection-matrix", connection.pk, AccountMatrixCell.Matrix.SUPPLIER)


@connection_page("revenue-matrix", gettext_lazy("Revenue account matrix"),
                 permission="mappings.view_accountmatrixcell", group="Mappings", order=42)
def revenue_matrix_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    return redirect("admin:connection-matrix", connection.pk, AccountMatrixCell.Matrix.REVENUE)


# --- units and layouts ----------------------------------------------------------------------------

def _mapping_page(request: HttpRequest, connection: Connection, kind: MappingKind) -> HttpResponse:
    here = reverse(f"admin:connection-{kind.slug}", args=[connection.pk])
    change_perm = f"mappings.change_{kind.mapping._meta.model_name}"
    table: MappingTable
    if request.method == "POST":
        if request.POST.get("action") == "refresh":
            refresh_from_apis(request, connection)
            return HttpResponseRedirect(here)
        if request.POST.get("action") == "retry-waiting":
            return _retry_waiting(request, connection, here)
        if not request.user.has_perm(change_perm):
            raise PermissionDenied
        table, changed = save_table(connection, kind, request.POST)
        if not table.errors:
            messages.success(request, ngettext("Saved: %(count)s mapping changed.", "Saved: %(count)s mappings changed.",
                                               changed) % {"count": changed})
            _after_save(request, connection, here, _table_fixed(connection, kind))
            return HttpResponseRedirect(safe_next(request, here))
        messages.error(request, _("Nothing was saved: correct the rows marked below."))
        status = 200
    else:
        table = build_table(connection, kind)
        status = 200
    return render(request, "admin/mappings/mapping_table.html", admin_context(
        request, connection, str(kind.title), table=table, kind=kind, refresh=_refresh_state(connection),
        can_change=request.user.has_perm(change_perm),
        can_refresh=request.user.has_perm(REFRESH_PERMISSION),
        next=request.GET.get("next", ""), **_waiting(request, connection, here),
    ), status=status)


@connection_page("units", gettext_lazy("Unit mapping"), permission="mappings.view_unitmapping",
                 group="Mappings", order=43)
def units_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    return _mapping_page(request, connection, UNITS)


@connection_page("layouts", gettext_lazy("Layout mapping"), permission="mappings.view_layoutmapping",
                 group="Mappings", order=44)
def layouts_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    return _mapping_page(request, connection, LAYOUTS)


# --- CSV import and export ------------------------------------------------------------------------

def _session_key(connection: Connection) -> str:
    return f"mappings-csv-upload-{connection.pk}"


@connection_page("mappings-csv", gettext_lazy("Import and export mappings (CSV)"),
                 permission="mappings.view_accountmatrixcell", group="Mappings", order=45)
def csv_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    here = reverse("admin:connection-mappings-csv", args=[connection.pk])
    kind = request.GET.get("export")
    if request.method == "GET" and kind:
        if kind not in csv_io.KINDS:
            raise Http404("No such mapping.")
        return csv_export.response(csv_export.as_file(csv_io.export_csv(connection, kind)),
                                   f"connection-{connection.pk}-{kind}.csv")

    context = admin_context(request, connection, _("Import and export mappings (CSV)"),
                            kinds=list(csv_io.KINDS.items()))
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "cancel":
            request.session.pop(_session_key(connection), None)
            return HttpResponseRedirect(here)
        if action == "confirm":
            return _confirm_import(request, connection, here)
        if action == "preview":
            return _preview_import(request, connection, context)
    return render(request, "admin/mappings/csv.html", context)


def _preview_import(request: HttpRequest, connection: Connection, context: dict) -> HttpResponse:
    kind = request.POST.get("kind", "")
    if kind not in csv_io.KINDS:
        messages.error(request, _("Choose which mapping the file holds."))
        return render(request, "admin/mappings/csv.html", context, status=400)
    if not request.user.has_perm(csv_io.PERMISSIONS[kind]):
        raise PermissionDenied
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose a CSV file to upload."))
        return render(request, "admin/mappings/csv.html", context, status=400)
    try:
        text = csv_io.decode_upload(upload.read(csv_io.MAX_UPLOAD_BYTES + 1))
        rows = csv_io.preview_import(connection, kind, text)
    except csv_io.CsvProblem as exc:
        messages.error(request, str(exc))
        return render(request, "admin/mappings/csv.html", context, status=400)
    # The upload waits in the session until it is confirmed; nothing is written before that.
    request.session[_session_key(connection)] = {"kind": kind, "text": text, "name": upload.name}
    counts = {status: sum(1 for r in rows if r.status == status) for status in csv_io.STATUS_LABELS}
    return render(request, "admin/mappings/csv_preview.html", {
        **context, "rows": rows, "kind": kind, "kind_label": csv_io.KINDS[kind], "counts": counts,
        "to_write": counts[csv_io.NEW] + counts[csv_io.CHANGED], "file_name": upload.name,
    })


def _confirm_import(request: HttpRequest, connection: Connection, here: str) -> HttpResponse:
    pending = request.session.get(_session_key(connection))
    if not pending:
        messages.error(request, _("There is no upload waiting to be imported; upload the file again."))
        return HttpResponseRedirect(here)
    if not request.user.has_perm(csv_io.PERMISSIONS[pending["kind"]]):
        raise PermissionDenied
    try:
        counts = csv_io.apply_import(connection, pending["kind"], pending["text"])
    except csv_io.CsvProblem as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(here)
    request.session.pop(_session_key(connection), None)
    messages.success(request, _(
        "Imported %(kind)s: %(new)s new, %(changed)s changed, %(unchanged)s unchanged, %(error)s left out "
        "because of errors."
    ) % {"kind": csv_io.KINDS[pending["kind"]], **counts})
    return HttpResponseRedirect(here)

