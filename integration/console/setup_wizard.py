"""The setup wizard: the consultant's ten-minute setup of a connection, one step per page.

credentials → activate → start sync → purchases and the supplier matrix → sales and the revenue
matrix → units and layouts → a summary, in plain words, of what will happen from now on. Every
step can be opened again later from the connection's page (``?step=…``); each step checks its
own permission when something is saved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import modelform_factory
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Connection
from integration.console.connection_forms import CredentialsMixin
from integration.console.connection_pages import connection_page
from integration.console.mapping_pages import admin_context, refresh_from_apis
from integration.console.settings_admin import (
    CONSUMPTION_FIELDS,
    PURCHASE_FIELDS,
    SALES_FIELDS,
    STOCK_NOTE,
    IntegrationSettingsForm,
    settings_for,
)
from integration.core.models import IntegrationSettings, SyncRun
from integration.triggers.activation import activate
from integration.triggers.start_sync import start
from mappings.matrix import build_grid
from mappings.models import AccountMatrixCell
from mappings.unit_layout import LAYOUTS, UNITS, build_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    permission: str  # needed to save this step; everyone who sees the wizard may look


STEPS = [
    Step("credentials", gettext_lazy("Credentials"), "accounts.change_credentials"),
    Step("activate", gettext_lazy("Activate integration"), "accounts.activate_connection"),
    Step("start-sync", gettext_lazy("Start sync"), "accounts.activate_connection"),
    Step("purchases", gettext_lazy("Purchases and suppliers"), "integration.change_integrationsettings"),
    Step("sales", gettext_lazy("Sales and customers"), "integration.change_integrationsettings"),
    Step("units-layouts", gettext_lazy("Units and layouts"), "mappings.change_unitmapping"),
    Step("summary", gettext_lazy("Summary"), "integration.change_integrationsettings"),
]
STEP_BY_SLUG = {s.slug: s for s in STEPS}


class CredentialsForm(CredentialsMixin, forms.ModelForm):
    class Meta:
        model = Connection
        fields = ["dinero_organization_id", "dinero_auth_method", "language"]


class StartSyncForm(forms.Form):
    choice = forms.ChoiceField(
        label=gettext_lazy("Start sync from Dinero to Rackbeat"),
        choices=[
            ("run", gettext_lazy("Run it now: copy customers, suppliers, supplier groups and products from Dinero "
                                 "to Rackbeat")),
            ("skip", gettext_lazy("Skip it: Rackbeat already has its customers, suppliers and products")),
        ],
        widget=forms.RadioSelect,
        help_text=gettext_lazy("Products need a product number, customers and suppliers an e-mail address in "
                               "Dinero, or they are skipped; the run lists which and why."),
    )


PurchaseForm = modelform_factory(IntegrationSettings, form=IntegrationSettingsForm, fields=PURCHASE_FIELDS)
SalesForm = modelform_factory(IntegrationSettings, form=IntegrationSettingsForm,
                              fields=[*SALES_FIELDS, *CONSUMPTION_FIELDS])


def step_url(connection: Connection, slug: str) -> str:
    return f"{reverse('admin:connection-setup', args=[connection.pk])}?step={slug}"


def _next_slug(slug: str) -> str:
    index = [s.slug for s in STEPS].index(slug)
    return STEPS[min(index + 1, len(STEPS) - 1)].slug


def _optional_url(name: str, connection: Connection) -> str:
    """URL of a page another part of the service provides, or "" while it is not installed."""
    try:
        return reverse(name, args=[connection.pk])
    except NoReverseMatch:
        return ""


DONE = "done"
INCOMPLETE = "incomplete"  # saved, but something it needs is still missing


def _matrix_complete(connection: Connection, matrix: str) -> bool:
    grid = build_grid(connection, matrix)
    return bool(grid.total_cells) and not grid.empty_cells


def latest_start_sync(connection: Connection) -> SyncRun | None:
    return (SyncRun.objects.filter(connection=connection, kind=SyncRun.RunKind.START_SYNC)
            .order_by("-started_at").first())


def step_states(connection: Connection, settings: IntegrationSettings) -> dict[str, str]:
    """Each step's true state, read from what it produced (not from which pages were opened)."""
    progress = settings.setup_progress or {}
    has_credentials = bool(connection.rackbeat_api_token and connection.dinero_organization_id and (
        connection.dinero_api_key or connection.visma_refresh_token))
    states = {
        "credentials": DONE if has_credentials else "",
        "activate": DONE if connection.state in (Connection.State.ACTIVE, Connection.State.PAUSED)
        else INCOMPLETE if connection.state == Connection.State.BROKEN else "",
        "summary": DONE if settings.setup_completed_at is not None else "",
    }
    run = latest_start_sync(connection)
    if (run is not None and run.state == SyncRun.State.DONE) or progress.get("start-sync") == "skipped":
        states["start-sync"] = DONE
    elif run is not None:
        states["start-sync"] = INCOMPLETE
    if "purchases" in progress:
        needs_matrix = settings.supplier_integration_enabled
        states["purchases"] = (DONE if not needs_matrix or _matrix_complete(connection, AccountMatrixCell.Matrix.SUPPLIER)
                               else INCOMPLETE)
    if "sales" in progress:
        needs_matrix = settings.customer_integration_enabled and settings.sales_from_rackbeat
        states["sales"] = (DONE if not needs_matrix or _matrix_complete(connection, AccountMatrixCell.Matrix.REVENUE)
                           else INCOMPLETE)
    tables = [build_table(connection, kind) for kind in (UNITS, LAYOUTS)]
    if "units-layouts" in progress or all(t.rows and not t.missing for t in tables):
        states["units-layouts"] = DONE if not any(t.missing for t in tables) else INCOMPLETE
    return states


def _record_progress(settings: IntegrationSettings, slug: str, value: str) -> None:
    settings.setup_progress = {**(settings.setup_progress or {}), slug: value}
    settings.save()


# --- what will happen from now on ---------------------------------------------------------------

def summary_lines(connection: Connection, settings: IntegrationSettings) -> list[str]:
    """The settings in plain words, as the consultant explains them to the customer."""
    lines: list[str] = []
    if connection.state == Connection.State.ACTIVE:
        lines.append(_("The integration is active."))
    else:
        lines.append(_("The integration is not active (%(state)s): nothing is transferred until it is "
                       "activated.") % {"state": connection.get_state_display()})

    if settings.supplier_integration_enabled:
        lines.append(_("New suppliers created in Rackbeat are created in Dinero%(number)s.") % {
            "number": _(", with the supplier number in the name") if settings.supplier_number_in_name else ""})
        status = (_("booked purchase vouchers") if settings.supplier_invoice_status == "booked"
                  else _("draft purchase vouchers"))
        lines.append(_("Booked supplier invoices in Rackbeat are created in Dinero as %(status)s, on the "
                       "accounts of the supplier invoice account matrix.") % {"status": status})
    else:
        lines.append(_("Suppliers and supplier invoices are not transferred: the supplier integration is off."))

    if settings.customer_integration_enabled:
        lines.append(_("New customers created in Rackbeat are created in Dinero%(number)s.") % {
            "number": _(", with the customer number in the name") if settings.customer_number_in_name else ""})
        if settings.sales_from_rackbeat:
            lines.append({
                IntegrationSettings.SalesInvoiceStatus.DRAFT:
                    _("Booked sales invoices in Rackbeat are created in Dinero as draft invoices"),
                IntegrationSettings.SalesInvoiceStatus.BOOKED:
                    _("Booked sales invoices in Rackbeat are created in Dinero as booked invoices"),
                IntegrationSettings.SalesInvoiceStatus.BOOKED_EMAILED:
                    _("Booked sales invoices in Rackbeat are created in Dinero as booked invoices and e-mailed "
                      "to the customer"),
            }[settings.sales_invoice_status] + _(", with revenue accounts from the revenue account matrix."))
        else:
            lines.append(_("Sales invoices are created in Dinero and transferred to Rackbeat every hour at 13 "
                           "minutes past (13:13, 14:13, 15:13 …)."))
    else:
        lines.append(_("Customers and sales invoices are not transferred: the customer integration is off."))

    if settings.product_integration_enabled:
        lines.append(_("Products and bills of materials created or changed in Rackbeat are transferred to Dinero."))

    if settings.item_consumption_enabled:
        lines.append(_("Item consumption is booked on %(stock)s/%(consumption)s (stock account/consumption "
                       "account) for each booked sales invoice.") % {
            "stock": settings.stock_account, "consumption": settings.consumption_account})
        lines.append(str(STOCK_NOTE))
    else:
        lines.append(_("Item consumption is not booked automatically."))
    return lines


def missing_mappings(connection: Connection, settings: IntegrationSettings) -> list[tuple[str, str]]:
    """What is still unmapped, as (sentence, link to fix it)."""
    missing: list[tuple[str, str]] = []
    matrices = []
    if settings.supplier_integration_enabled:
        matrices.append(AccountMatrixCell.Matrix.SUPPLIER)
    if settings.customer_integration_enabled and settings.sales_from_rackbeat:
        matrices.append(AccountMatrixCell.Matrix.REVENUE)
    for matrix in matrices:
        grid = build_grid(connection, matrix)
        if grid.empty_cells or not grid.total_cells:
            missing.append((f"{AccountMatrixCell.Matrix(matrix).label}: {grid.completeness_message()}",
                            reverse("admin:connection-matrix", args=[connection.pk, matrix])))
    for kind in (UNITS, LAYOUTS):
        table = build_table(connection, kind)
        if table.missing:
            names = ", ".join(f"{r.number} {r.name}".strip() for r in table.missing[:10])
            missing.append((_("%(title)s: not mapped yet: %(names)s") % {"title": kind.title, "names": names},
                            reverse(f"admin:connection-{kind.slug}", args=[connection.pk])))
    return missing


# --- the page -------------------------------------------------------------------------------------

@connection_page("setup", gettext_lazy("Setup wizard"), permission="accounts.view_connection", group="Setup",
                 order=1)
def setup_page(request: HttpRequest, connection: Connection) -> HttpResponse:
    slug = request.GET.get("step") or request.POST.get("step") or STEPS[0].slug
    step = STEP_BY_SLUG.get(slug, STEPS[0])
    settings = settings_for(connection)
    if request.method == "POST" and not request.user.has_perm(step.permission):
        raise PermissionDenied
    handler = STEP_HANDLERS[step.slug]
    context = handler(request, connection, settings)
    if isinstance(context, HttpResponse):
        return context
    states = step_states(connection, settings)
    steps = [
        {"slug": s.slug, "title": s.title, "url": step_url(connection, s.slug), "current": s.slug == step.slug,
         "state": states.get(s.slug, ""), "done": states.get(s.slug) == DONE}
        for s in STEPS
    ]
    return render(request, "admin/setup/wizard.html", admin_context(
        request, connection, _("Set up %(connection)s") % {"connection": connection},
        step=step, steps=steps, can_save=request.user.has_perm(step.permission),
        next_url=step_url(connection, _next_slug(step.slug)), settings=settings, **context,
    ))


def _credentials(request: HttpRequest, connection: Connection, settings: IntegrationSettings):  # type: ignore[no-untyped-def]
    form = CredentialsForm(request.POST or None, instance=connection)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The credentials were saved. Next: activate the integration."))
        return HttpResponseRedirect(step_url(connection, "activate"))
    return {"form": form, "visma_url": _optional_url("visma-connect-start", connection)}


def _activate(request: HttpRequest, connection: Connection, settings: IntegrationSettings):  # type: ignore[no-untyped-def]
    if request.method != "POST":
        return {}

    try:
        problems = activate(connection)
    except Exception as exc:
        logger.warning("Activation of connection %s failed", connection.pk, exc_info=True)
        problems = [_("The check could not be completed: %(error)s") % {"error": getattr(exc, "message", exc)}]
    connection.refresh_from_db()
    if problems:
        return {"problems": problems}
    messages.success(request, _("Both Rackbeat and Dinero answered: the integration is active."))
    if request.user.has_perm("mappings.refresh_reference_data"):
        refresh_from_apis(request, connection)
    return HttpResponseRedirect(step_url(connection, "start-sync"))


def _start_sync(request: HttpRequest, connection: Connection, settings: IntegrationSettings):  # type: ignore[no-untyped-def]
    form = StartSyncForm(request.POST or None)
    here = step_url(connection, "start-sync")
    run = latest_start_sync(connection)
    context = {"form": form, "progress_url": _optional_url("admin:connection-start-sync", connection), "run": run,
               "running": bool(run and run.state == SyncRun.State.RUNNING), "refresh_seconds": 2}
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["choice"] == "skip":
            settings.start_sync_requested = False
            _record_progress(settings, "start-sync", "skipped")
            return HttpResponseRedirect(step_url(connection, "purchases"))
        if not connection.is_active:
            messages.error(request, _("Activate the integration first: the start sync reads from Dinero."))
            return context
        settings.start_sync_requested = True
        _record_progress(settings, "start-sync", "started")

        try:
            start(connection)
        except Exception as exc:
            logger.warning("Start sync of connection %s could not start", connection.pk, exc_info=True)
            messages.error(request, _("The start sync could not start: %(error)s") % {
                "error": getattr(exc, "message", exc)})
            return context
        messages.success(request, _("The start sync is running; you can follow it here or continue the setup "
                                    "meanwhile."))
        # The consultant stays in the wizard: this step shows the run's progress.
        return HttpResponseRedirect(here)
    return context


def _settings_step(form_class, matrix: str, slug: str, next_slug: str):  # type: ignore[no-untyped-def]
    def handler(request: HttpRequest, connection: Connection, settings: IntegrationSettings):  # type: ignore[no-untyped-def]
        form = form_class(request.POST or None, instance=settings)
        if request.method == "POST" and form.is_valid():
            saved = form.save()
            _record_progress(saved, slug, "saved")
            messages.success(request, _("The settings were saved."))
            return HttpResponseRedirect(step_url(connection, next_slug))
        here = step_url(connection, slug)
        grid = build_grid(connection, matrix)
        return {
            "form": form, "grid": grid, "matrix_title": AccountMatrixCell.Matrix(matrix).label,
            "matrix_url": f"{reverse('admin:connection-matrix', args=[connection.pk, matrix])}?{urlencode({'next': here})}",
        }

    return handler


def _units_layouts(request: HttpRequest, connection: Connection, settings: IntegrationSettings):  # type: ignore[no-untyped-def]
    here = step_url(connection, "units-layouts")
    if request.method == "POST":
        _record_progress(settings, "units-layouts", "seen")
        return HttpResponseRedirect(step_url(connection, "summary"))
    return {
        "tables": [
            (build_table(connection, kind),
             f"{reverse(f'admin:connection-{kind.slug}', args=[connection.pk])}?{urlencode({'next': here})}")
            for kind in (UNITS, LAYOUTS)
        ],
    }


def _summary(request: HttpRequest, connection: Connection, settings: IntegrationSettings):  # type: ignore[no-untyped-def]
    if request.method == "POST":
        settings.setup_completed_at = timezone.now()
        settings.save()
        messages.success(request, _("The setup is complete. Every step can be changed later from here."))
        return HttpResponseRedirect(reverse("admin:accounts_connection_change", args=[connection.pk]))
    return {"summary": summary_lines(connection, settings), "missing": missing_mappings(connection, settings)}


STEP_HANDLERS = {
    "credentials": _credentials,
    "activate": _activate,
    "start-sync": _start_sync,
    "purchases": _settings_step(PurchaseForm, AccountMatrixCell.Matrix.SUPPLIER, "purchases", "sales"),
    "sales": _settings_step(SalesForm, AccountMatrixCell.Matrix.REVENUE, "sales", "units-layouts"),
    "units-layouts": _units_layouts,
    "summary": _summary,
}
