"""The reconciliation page of a connection: choose a period, watch it run, act on each difference.

Viewing needs ``accounts.view_connection`` (accountants and consultants of the connection; another
tenant's URL is a 404 through :mod:`integration.console.connection_pages`). Starting a run and transferring the
missing documents are person-triggered transfers, so they need ``accounts.run_troubleshooting``;
Retry and "mark handled" need the sync log's own permissions, re-checked on every POST.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.ids import id_or_404, parse_id
from accounts.models import Connection
from integration.books import reconciliation
from integration.books.reconciliation import Period, period_shortcuts
from integration.books.reconciliation_report import (
    csv_bytes,
    file_name,
    pdf_bytes,
    readable,
    readable_difference,
    readable_document,
    readable_sum,
    sum_tables,
    taken,
)
from integration.console.connection_pages import connection_page
from integration.core import csv_export, engine
from integration.core.clients.errors import ApiError
from integration.core.clients.factory import dinero_client, rackbeat_client
from integration.core.models import Direction, Kind, Reconciliation, SyncOperation, Trigger

REFRESH_SECONDS = 2
RUN_PERMISSION = "accounts.run_troubleshooting"
# What "transfer now" queues for each kind of missing document (credit notes travel as sales invoices).
TRANSFER_KINDS = {
    reconciliation.SALES_INVOICE: Kind.SALES_INVOICE,
    reconciliation.CREDIT_NOTE: Kind.SALES_INVOICE,
    reconciliation.SUPPLIER_INVOICE: Kind.SUPPLIER_INVOICE,
    reconciliation.ITEM_CONSUMPTION: Kind.ITEM_CONSUMPTION,
}


def transfer_missing(connection: Connection, record: Reconciliation, *, only: str | None = None) -> list[str]:
    """Queue every missing document of ``record`` through the normal operations; one sentence each.

    ``engine.enqueue`` keeps one row per document and never transfers a done invoice again, so
    pressing the button twice (or while a webhook arrives) still gives one document in Dinero.
    """

    outcomes = []
    seen: set[tuple[str, str]] = set()
    for difference in readable(record.result)["differences"]:
        if not difference.get("transferable"):
            continue
        key = f"{difference['kind']}:{difference['document']}:{difference['number']}"
        if only is not None and key != only:
            continue
        kind = TRANSFER_KINDS[difference["document"]]
        if (kind, difference["number"]) in seen:
            continue
        seen.add((kind, difference["number"]))
        op = engine.enqueue(connection, kind, Direction.TO_DINERO, difference["number"],
                            trigger=Trigger.TROUBLESHOOTING, document_number=difference["number"])
        op.refresh_from_db()
        label = f"{difference['document_label']} {difference['number']}"
        if op.state == SyncOperation.State.DONE and op.kind in engine.EXACTLY_ONCE_KINDS \
                and op.finished_at and op.finished_at < record.started_at:
            outcomes.append(_("%(doc)s: the sync log says it was already transferred, so it was not sent again. "
                              "If it was deleted in Dinero, use Troubleshooting or mark it handled.") % {"doc": label})
        else:
            outcomes.append(_("%(doc)s: %(state)s — %(outcome)s") % {
                "doc": label, "state": op.get_state_display(), "outcome": op.shown_outcome or op.shown_last_error or _("queued")})
    return outcomes


def _record_for(connection: Connection, run_id: Any) -> Reconciliation | None:
    runs = Reconciliation.objects.filter(connection=connection)
    if run_id:
        record = runs.filter(pk=id_or_404(run_id)).first()
        if record is None:
            raise Http404
        return reconciliation.mark_stalled(record)
    record = runs.order_by("-started_at").first()
    return reconciliation.mark_stalled(record) if record else None


def _download(record: Reconciliation, fmt: str) -> HttpResponse:
    name = file_name(record)
    if fmt == "csv":
        response = csv_export.response(csv_bytes(record), f"{name}.csv")
    else:
        response = HttpResponse(pdf_bytes(record), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


def _links(connection: Connection, record: Reconciliation | None) -> list[dict[str, Any]]:
    """The differences with the links a person needs: the operation, the document on each side."""
    if record is None or record.state != Reconciliation.State.DONE:
        return []

    try:
        dinero, rackbeat = dinero_client(connection), rackbeat_client(connection)
    except (ApiError, ValueError):
        dinero = rackbeat = None
    shown = []
    for difference in (record.result or {}).get("differences", []):
        row = readable_difference(difference)
        row["key"] = f"{row['kind']}:{row['document']}:{row['number']}"
        row["operation_url"] = (reverse("admin:integration_syncoperation_change", args=[row["operation_id"]])
                                if row.get("operation_id") else "")
        row["dinero_url"] = ""
        if dinero is not None and row.get("dinero_guid") and row.get("dinero_kind"):
            row["dinero_url"] = dinero.document_url(row["dinero_kind"], row["dinero_guid"])
        row["rackbeat_url"] = ""
        if rackbeat is not None and row["number"] and row["kind"] != reconciliation.EXTRA:
            rb_kind = "supplier_invoice" if row["document"] == reconciliation.SUPPLIER_INVOICE else "customer_invoice"
            try:
                row["rackbeat_url"] = rackbeat.document_url(rb_kind, row["number"])
            except ValueError:
                row["rackbeat_url"] = ""
        row["can_retry"] = row.get("operation_state") in (*SyncOperation.PROBLEM_STATES, SyncOperation.State.SKIPPED)
        row["can_handle"] = bool(row.get("operation_id")) and row.get("operation_state") != SyncOperation.State.DONE
        shown.append(row)
    return shown


def _operation(connection: Connection, request: HttpRequest) -> SyncOperation:
    try:
        return SyncOperation.objects.get(connection=connection, pk=id_or_404(request.POST.get("operation")))
    except SyncOperation.DoesNotExist:
        raise Http404 from None


@connection_page("reconciliation", gettext_lazy("Reconciliation with Dinero"), permission="accounts.view_connection",
                 group="Operations", order=75)
def reconciliation_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    here = reverse("admin:connection-reconciliation", args=[connection.pk])
    if request.method == "POST":
        return _post(request, connection, here)
    record = _record_for(connection, request.GET.get("run"))
    fmt = request.GET.get("format")
    if fmt in ("csv", "pdf"):
        if record is None or record.state != Reconciliation.State.DONE:
            messages.error(request, _("There is no finished reconciliation to download yet."))
            return HttpResponseRedirect(here)
        return _download(record, fmt)
    today = timezone.localdate()
    default = Period.previous_month(today)
    running = bool(record and record.state == Reconciliation.State.RUNNING)
    context = {
        **admin.site.each_context(request),
        "connection": connection,
        "title": _("Reconciliation with Dinero"),
        "connection_url": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "opts": Connection._meta,
        "record": record,
        "result": readable(record.result) if record else {},
        "documents": [readable_document(d) for d in ((record.result or {}) if record else {}).get("documents", [])],
        "sums": {name: [readable_sum(r) for r in (((record.result or {}) if record else {}).get("sums") or {}).get(name, [])]
                 for name, _title in sum_tables()},
        "running": running,
        "refresh_seconds": REFRESH_SECONDS,
        "differences": _links(connection, record),
        "taken": taken(record) if record else "",
        "shortcuts": [(label, p.start.isoformat(), p.end.isoformat()) for label, p in period_shortcuts(today)],
        "period_from": request.GET.get("from") or (record.period_start.isoformat() if record else default.start.isoformat()),
        "period_to": request.GET.get("to") or (record.period_end.isoformat() if record else default.end.isoformat()),
        "history": Reconciliation.objects.filter(connection=connection).order_by("-started_at")[:10],
        "can_run": request.user.has_perm(RUN_PERMISSION),
        "can_retry": request.user.has_perm("integration.retry_syncoperation"),
        "can_handle": request.user.has_perm("integration.handle_syncoperation"),
        "has_transferable": any(d.get("transferable") for d in ((record.result or {}) if record else {}).get(
            "differences", [])),
        "here": here,
    }
    return render(request, "admin/reconciliation/page.html", context)


def _post(request: HttpRequest, connection: Connection, here: str) -> HttpResponse:
    action = request.POST.get("action", "")
    if action == "start":
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        try:
            period = Period.parse(request.POST.get("from", ""), request.POST.get("to", ""))
        except ValueError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(here)
        record = reconciliation.start(connection, period, user=request.user)
        return HttpResponseRedirect(f"{here}?run={record.pk}")
    if action in ("transfer_missing", "transfer_one"):
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        record = _record_for(connection, request.POST.get("run"))
        if record is None or record.state != Reconciliation.State.DONE:
            messages.error(request, _("There is no finished reconciliation to act on."))
            return HttpResponseRedirect(here)
        only = request.POST.get("difference") if action == "transfer_one" else None
        outcomes = transfer_missing(connection, record, only=only)
        for outcome in outcomes:
            messages.info(request, outcome)
        if not outcomes:
            messages.info(request, _("Nothing to transfer."))
        else:
            messages.success(request, _("Run the reconciliation again to see the result in Dinero."))
        return HttpResponseRedirect(f"{here}?run={record.pk}")
    if action == "retry":
        if not request.user.has_perm("integration.retry_syncoperation"):
            raise PermissionDenied
        op = engine.retry(_operation(connection, request), user=request.user)
        messages.info(request, _("%(op)s: %(state)s.") % {"op": op, "state": op.get_state_display()})
    elif action == "handle":
        if not request.user.has_perm("integration.handle_syncoperation"):
            raise PermissionDenied
        note = request.POST.get("note", "").strip() or _("Handled from the reconciliation.")
        op = engine.mark_handled(_operation(connection, request), user=request.user, note=note)
        messages.info(request, _("%(op)s marked as handled.") % {"op": op})
    else:
        messages.error(request, _("Unknown action."))
    run = request.POST.get("run", "")
    return HttpResponseRedirect(f"{here}?run={run}" if parse_id(run) else here)
