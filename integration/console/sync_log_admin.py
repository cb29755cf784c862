"""Admin for the sync log, needs-attention list, runs, exchanges and webhook deliveries.

Every list here is read-only and sized for millions of rows: the paginator never runs a full
COUNT (see :class:`CappedCountPaginator`), filters offer only the user's own connections, and
searching a document number uses the indexed exact lookup. Changing an operation happens only
through the actions that people need — Retry, Mark as handled, and for a money document that
touched the other side the two explicit choices "It is there: link it" / "It is not there: post it
now" (DESIGN.md rule 9) — each POST-only, guarded by its permission and by the tenant check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import cached_property
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections as db_connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator, smart_split, unescape_string_literal
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.models import Connection
from accounts.tenancy import ConnectionFilter, TenantScopedAdminMixin, connections_for
from integration.console.mapping_fixes import with_next
from integration.core import lifecycle
from integration.core.clients.dinero import DineroClient
from integration.core.clients.rackbeat import RackbeatClient
from integration.core.clients.transport import Redactor
from integration.core.engine import (
    EXACTLY_ONCE_KINDS,
    find_for_link,
    link_existing,
    mark_handled,
    post_now,
    retry,
)
from integration.core.handlers import LinkRefused
from integration.core.lifecycle import person_may_post
from integration.core.models import (
    Direction,
    HttpExchange,
    Kind,
    NeedsAttention,
    SyncOperation,
    SyncRun,
    WebhookDelivery,
)

State = SyncOperation.State

# Lists never count past this many rows; beyond it the page says "more than …" and people narrow
# the list with the filters (nobody pages through 100 pages of a log).
COUNT_CAP = 10_000
# Bulk actions act on at most this many operations per click, so one click cannot hold
# thousands of row locks or queue an avalanche of tasks.
BULK_LIMIT = 500

STATE_COLOURS = {
    State.PENDING: "#1565c0",
    State.RUNNING: "#1565c0",
    State.DONE: "#2e7d32",
    State.SKIPPED: "#757575",
    State.FAILED: "#c62828",
    State.NEEDS_ATTENTION: "#ef6c00",
}

SECRET_CONNECTION_FIELDS = (
    "connection__rackbeat_api_token",
    "connection__dinero_api_key",
    "connection__visma_access_token",
    "connection__visma_refresh_token",
)


def operation_state_badge(op: SyncOperation) -> str:
    return format_html(
        '<span class="state-badge state-{}" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:9px;white-space:nowrap">{}</span>',
        op.state, STATE_COLOURS.get(op.state, "#757575"), op.get_state_display(),
    )


# --- Counting without COUNT(*) -------------------------------------------------------------------

class CappedCountPaginator(Paginator):
    """Counts at most :data:`COUNT_CAP` rows instead of the whole table.

    An exact count of a million-row log costs a full scan on every page view. Counting the first
    ``COUNT_CAP + 1`` matching rows is cheap and exact for everything a person filters down to;
    past the cap the list pages through the first ``COUNT_CAP`` rows and, for an unfiltered list
    on PostgreSQL, shows the planner's row estimate (``pg_class.reltuples``) as "about N".
    """

    count_is_exact = True
    estimate: int | None = None

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        capped = queryset.order_by().values("pk")[: COUNT_CAP + 1].count()
        if capped <= COUNT_CAP:
            return capped
        self.count_is_exact = False
        self.estimate = table_estimate(queryset)
        return COUNT_CAP


def table_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of an unfiltered table's size; None when filtered or unknown."""
    if queryset.query.where:
        return None
    connection = db_connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [queryset.model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > COUNT_CAP else None


# --- Filters -------------------------------------------------------------------------------------

class PeriodFilter(admin.SimpleListFilter):
    """Today / last 7 days / last 30 days, on the time of the last change (the list's order)."""

    title = _("time")
    parameter_name = "when"
    field_name = "updated_at"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        return [("today", _("Today")), ("7d", _("Last 7 days")), ("30d", _("Last 30 days"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        starts = {
            "today": timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0),
            "7d": now - timedelta(days=7),
            "30d": now - timedelta(days=30),
        }
        start = starts.get(self.value() or "")
        return queryset.filter(**{f"{self.field_name}__gte": start}) if start else queryset


class HasErrorFilter(admin.SimpleListFilter):
    title = _("has error")
    parameter_name = "has_error"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.exclude(last_error="")
        if self.value() == "no":
            return queryset.filter(last_error="")
        return queryset


class ProblemStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        return [(s.value, s.label) for s in (State.NEEDS_ATTENTION, State.FAILED)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(state=self.value()) if self.value() else queryset


# --- Display helpers -----------------------------------------------------------------------------

def pretty_body(text: str) -> str:
    """JSON re-indented for reading; anything else unchanged. Escaping is the template's job."""
    if not text:
        return ""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if not isinstance(parsed, dict | list):
        return text
    return json.dumps(parsed, indent=2, ensure_ascii=False)


def display_redactor(connection: Connection | None) -> Redactor:
    """Second line of defence: bodies are redacted when stored, and again when shown."""
    redactor = Redactor()
    if connection is not None:
        redactor.add(connection.rackbeat_api_token, connection.dinero_api_key,
                     connection.visma_access_token, connection.visma_refresh_token)
    return redactor


def safe_link(build: Callable[[], str]) -> str:
    """A link into Rackbeat or Dinero, or "" when none can be built for this document."""
    try:
        url = build()
    except Exception:  # a missing client, an unknown kind or an empty key: simply no link
        return ""
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""


def document_links(op: SyncOperation) -> dict[str, str]:
    """Links to the document in both web apps (empty strings where no page exists yet)."""
    if op.direction == Direction.TO_DINERO:
        rackbeat_key, dinero_key = op.source_key, op.target_id
    else:
        rackbeat_key, dinero_key = op.target_number or op.target_id, op.source_key
    # Item consumption is booked for a sales invoice: in Rackbeat the invoice is the document.
    rackbeat_kind = Kind.SALES_INVOICE if op.kind == Kind.ITEM_CONSUMPTION else op.kind

    def rackbeat() -> str:
        if not rackbeat_key:
            return ""

        return RackbeatClient(op.connection).document_url(str(rackbeat_kind), rackbeat_key)

    def dinero() -> str:
        if not dinero_key:
            return ""

        return DineroClient(op.connection).document_url(str(op.kind), dinero_key)

    return {"rackbeat": safe_link(rackbeat), "dinero": safe_link(dinero)}


def exchange_rows(exchanges: Iterable[HttpExchange], connection: Connection | None) -> list[dict[str, Any]]:
    redactor = display_redactor(connection)
    rows = []
    for exchange in exchanges:
        rows.append({
            "exchange": exchange,
            "url": redactor.text(exchange.url),
            "request": pretty_body(redactor.body(exchange.request_body)),
            "response": pretty_body(redactor.body(exchange.response_body)),
            "error": redactor.text(exchange.error),
        })
    return rows


class HandledNoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("What was done about it, e.g. “Booked by hand in Dinero as voucher 1234”."),
    )


class LinkExistingForm(forms.Form):
    reference = forms.CharField(
        label=_("Number or Guid in the other system"), max_length=128,
        help_text=_("The voucher or invoice number you found (or its Guid)."),
    )


# --- The sync log ---------------------------------------------------------------------------------

class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence is never edited by hand."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SyncOperation)
class SyncOperationAdmin(TenantScopedAdminMixin, ReadOnlyAdmin):
    list_display = ["when", "connection", "kind", "direction", "document", "state_badge", "attempts",
                    "error_excerpt"]
    list_display_links = ["when", "document"]
    list_filter = [ConnectionFilter, "kind", "state", PeriodFilter, HasErrorFilter]
    list_select_related = ["connection"]
    search_fields = ["=document_number", "document_name"]
    search_help_text = _("A document number (exact) or part of a name.")
    ordering = ["-updated_at"]
    actions = ["retry_selected", "mark_handled"]
    change_form_template = "admin/integration/syncoperation/detail.html"
    fieldsets = [
        (None, {"fields": ["connection", "kind", "direction", "document_number", "document_name",
                           "source_key", "state_badge", "trigger", "run", "attempts"]}),
        (_("Problem"), {"fields": ["last_error_class", "error_text", "hint_text", "fix_link"]}),
        (_("Result"), {"fields": ["target_id", "target_number", "outcome_text", "finished_at"]}),
        (_("Handled"), {"fields": ["handled_by", "handled_at", "handled_note"]}),
        (_("Times"), {"classes": ["collapse"],
                      "fields": ["created_at", "updated_at", "next_attempt_at", "claimed_at", "claimed_by",
                                 "intent_display"]}),
    ]
    readonly_fields = ["state_badge", "fix_link", "intent_display", "error_text", "hint_text", "outcome_text"]
    list_title = _("Sync log")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The list's own name instead of Django's "Select sync operation to view".
        return super().changelist_view(request, {"title": self.list_title, **(extra_context or {})})

    # --- queryset and search ------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The connection's encrypted secrets are never needed in the log: skip decrypting them.
        return super().get_queryset(request).defer(*SECRET_CONNECTION_FIELDS)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):  # type: ignore[no-untyped-def]
        """Numbers exactly (indexed), names by part; every word or "quoted phrase" must match.

        Django's ``=field`` search compares case-insensitively (``UPPER(number) = UPPER(term)``),
        which no plain index serves; document numbers are digits, so an exact comparison is both
        right and fast. A search of one number is looked up on the number alone: scanning a million
        names for digits would find nothing a person means.
        """
        if search_term.strip().isdigit():
            return queryset.filter(document_number=search_term.strip()), False
        for term in smart_split(search_term):
            if term.startswith(('"', "'")) and term[0] == term[-1]:
                term = unescape_string_literal(term)
            term = term.strip()
            if term:
                queryset = queryset.filter(Q(document_number=term) | Q(document_name__icontains=term))
        return queryset, False

    # --- columns --------------------------------------------------------------------------------
    @admin.display(description=_("time"), ordering="updated_at")
    def when(self, op: SyncOperation) -> str:
        return format_html("<span title='{}'>{}</span>", op.updated_at.isoformat(),
                           date_format(timezone.localtime(op.updated_at), "DATETIME_FORMAT"))

    @admin.display(description=_("document"), ordering="document_number")
    def document(self, op: SyncOperation) -> str:
        return format_html('{} <span class="quiet">{}</span>', op.document_number or op.source_key,
                           op.document_name)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, op: SyncOperation) -> str:
        return operation_state_badge(op)

    @admin.display(description=_("last error"))
    def error_excerpt(self, op: SyncOperation) -> str:
        if not op.last_error:
            return ""
        error = op.shown_last_error
        return format_html('<span title="{}">{}</span>', error, Truncator(error).chars(90))

    # The stored texts in the reader's language (integration.core.messages).
    @admin.display(description=_("last error"))
    def error_text(self, op: SyncOperation) -> str:
        return op.shown_last_error

    @admin.display(description=_("how to fix"))
    def hint_text(self, op: SyncOperation) -> str:
        return op.shown_hint

    @admin.display(description=_("outcome"))
    def outcome_text(self, op: SyncOperation) -> str:
        return op.shown_outcome

    @admin.display(description=_("where to fix it"))
    def fix_link(self, op: SyncOperation) -> str:
        if not op.fix_url:
            return ""
        return format_html('<a href="{}" class="fix-link">{}</a>', op.fix_url, gettext("Fix it here"))

    @admin.display(description=_("intent"))
    def intent_display(self, op: SyncOperation) -> str:
        return format_html("<pre>{}</pre>", json.dumps(op.intent or {}, indent=2, ensure_ascii=False))

    # --- permissions ----------------------------------------------------------------------------
    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integration.retry_syncoperation")

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integration.handle_syncoperation")

    @staticmethod
    def _allowed(request: HttpRequest, ops: Iterable[SyncOperation]) -> tuple[list[SyncOperation], int]:
        """Split into operations of the user's connections and the number refused."""
        visible = set(connections_for(request.user).values_list("pk", flat=True))
        ops = list(ops)
        allowed = [op for op in ops if op.connection_id in visible]
        return allowed, len(ops) - len(allowed)

    def _bulk(self, request: HttpRequest, queryset: QuerySet) -> tuple[list[SyncOperation], int, bool]:
        ops = list(queryset.select_related("connection").defer(*SECRET_CONNECTION_FIELDS)[: BULK_LIMIT + 1])
        truncated = len(ops) > BULK_LIMIT
        allowed, refused = self._allowed(request, ops[:BULK_LIMIT])
        return allowed, refused, truncated

    # --- actions --------------------------------------------------------------------------------
    @admin.action(description=_("Retry: read the document again now and transfer it"), permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        allowed, refused, truncated = self._bulk(request, queryset)
        for op in allowed:
            retry(op, user=request.user)
        self._report(request, ngettext("%(count)d document queued for another try.",
                                       "%(count)d documents queued for another try.", len(allowed)),
                     len(allowed), refused, truncated)

    @admin.action(description=_("Mark as handled (with a note)"), permissions=["handle"])
    def mark_handled(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        allowed, refused, truncated = self._bulk(request, queryset)
        form = HandledNoteForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            self._handle(request, allowed, form.cleaned_data["note"], refused, truncated)
            return None
        return self._note_page(request, allowed, form, action_url=request.get_full_path(), bulk=True)

    def _handle(self, request: HttpRequest, ops: list[SyncOperation], note: str, refused: int = 0,
                truncated: bool = False) -> None:
        for op in ops:
            mark_handled(op, user=request.user, note=note)
        self._report(request, ngettext("%(count)d document marked as handled.",
                                       "%(count)d documents marked as handled.", len(ops)),
                     len(ops), refused, truncated)

    def _report(self, request: HttpRequest, message: str, count: int, refused: int, truncated: bool) -> None:
        self.message_user(request, message % {"count": count},
                          messages.SUCCESS if count else messages.WARNING)
        if refused:
            self.message_user(request, ngettext(
                "%(count)d document belongs to a connection you do not have access to and was left alone.",
                "%(count)d documents belong to connections you do not have access to and were left alone.",
                refused) % {"count": refused}, messages.ERROR)
        if truncated:
            self.message_user(request, gettext(
                "Only the first %(limit)d documents were handled; run the action again for the rest."
            ) % {"limit": BULK_LIMIT}, messages.WARNING)

    def _note_page(self, request: HttpRequest, ops: list[SyncOperation], form: HandledNoteForm, *,
                   action_url: str, bulk: bool) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Mark as handled"),
            "opts": self.model._meta,
            "operations": ops,
            "form": form,
            "action_url": action_url,
            "bulk": bulk,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/integration/syncoperation/mark_handled.html", context)

    # --- the detail page and its buttons --------------------------------------------------------
    def get_urls(self):  # type: ignore[no-untyped-def]
        return [
            path("<path:object_id>/retry/", self.admin_site.admin_view(self.retry_view),
                 name=self._url_name("retry")),
            path("<path:object_id>/handle/", self.admin_site.admin_view(self.handle_view),
                 name=self._url_name("handle")),
            path("<path:object_id>/link-existing/", self.admin_site.admin_view(self.link_existing_view),
                 name=self._url_name("link_existing")),
            path("<path:object_id>/post-now/", self.admin_site.admin_view(self.post_now_view),
                 name=self._url_name("post_now")),
            *super().get_urls(),
        ]

    def _url_name(self, suffix: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{suffix}"

    def _operation_or_404(self, request: HttpRequest, object_id: str) -> SyncOperation:
        return self.tenant_object_or_404(request, object_id)

    def _detail_url(self, op: SyncOperation) -> str:
        # Always the sync log's page: a fixed document leaves the needs-attention list, and
        # coming back to that list's page for it would be a 404.
        return reverse("admin:integration_syncoperation_change", args=[op.pk])

    def _back_here(self, request: HttpRequest, op: SyncOperation) -> str:
        """This document's page, keeping the list filters it was opened with."""
        query = request.GET.urlencode()
        return f"{self._detail_url(op)}?{query}" if query else self._detail_url(op)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._retry_view)(request, object_id)

    def _retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_retry_permission(request):
            raise PermissionDenied
        op = self._operation_or_404(request, object_id)

        op = retry(op, user=request.user)
        self.message_user(request, gettext("%(document)s: %(state)s.") % {
            "document": op, "state": op.get_state_display()}, messages.SUCCESS)
        return HttpResponseRedirect(self._detail_url(op))

    def handle_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_handle_permission(request):
            raise PermissionDenied
        op = self._operation_or_404(request, object_id)
        form = HandledNoteForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            self._handle(request, [op], form.cleaned_data["note"])
            return HttpResponseRedirect(self._detail_url(op))
        return self._note_page(request, [op], form, action_url=request.path, bulk=False)

    def link_existing_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._link_existing_view)(request, object_id)

    def _link_existing_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """"It is there: link it": the document is looked up and shown, and linked once confirmed."""
        if not self.has_handle_permission(request):
            raise PermissionDenied
        op = self._operation_or_404(request, object_id)
        form = LinkExistingForm(request.POST)
        if not form.is_valid():
            self.message_user(request, gettext("Enter the number or Guid of the document you found."),
                              messages.ERROR)
            return HttpResponseRedirect(self._detail_url(op))
        reference = form.cleaned_data["reference"]
        if request.POST.get("confirm") != "yes":
            try:
                found = find_for_link(op, reference)
            except LinkRefused as exc:
                self.message_user(request, f"{exc.message} {exc.hint}".strip(), messages.ERROR)
                return HttpResponseRedirect(self._detail_url(op))
            return TemplateResponse(request, "admin/integration/syncoperation/link_confirm.html", {
                **self.admin_site.each_context(request), "opts": self.opts, "operation": op, "found": found,
                "side": lifecycle.other_side(op), "action_url": request.path, "detail_url": self._detail_url(op),
                "title": gettext("Link the document found"),
            })

        op = link_existing(op, user=request.user, reference=reference)
        linked = bool((op.intent or {}).get("linked_reference")) and op.state in (State.DONE, State.PENDING)
        level = messages.SUCCESS if linked else messages.WARNING
        self.message_user(request, gettext("%(document)s: %(state)s.") % {
            "document": op, "state": op.get_state_display()}, level)
        return HttpResponseRedirect(self._detail_url(op))

    def post_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._post_now_view)(request, object_id)

    def _post_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """"It is not there: post it now": a person's word replaces the missing answer."""
        if not self.has_retry_permission(request):
            raise PermissionDenied
        op = self._operation_or_404(request, object_id)

        allowed = person_may_post(op)
        op = post_now(op, user=request.user)
        self.message_user(request, gettext("%(document)s: %(state)s.") % {
            "document": op, "state": op.get_state_display()}, messages.SUCCESS if allowed else messages.WARNING)
        return HttpResponseRedirect(self._detail_url(op))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        op = self._operation_or_404(request, object_id)
        exchanges = list(op.exchanges.order_by("at", "pk"))
        extra = {
            "title": gettext("Document in the sync log"),
            "operation": op,
            "state_badge_html": operation_state_badge(op),
            "events": list(op.events.order_by("at", "pk")),
            "exchanges": exchange_rows(exchanges, op.connection),
            "links": document_links(op),
            # A transferred invoice is never sent twice, so Retry would only be refused.
            "can_retry": self.has_retry_permission(request) and not (
                op.state == State.DONE and op.kind in EXACTLY_ONCE_KINDS),
            "can_handle": self.has_handle_permission(request),
            "retry_url": reverse(f"admin:{self._url_name('retry')}", args=[op.pk]),
            "handle_url": reverse(f"admin:{self._url_name('handle')}", args=[op.pk]),
            "person_choice": lifecycle.person_may_choose(op),
            "may_post": lifecycle.person_may_post(op),
            "known_document": lifecycle.known_document(op),
            "other_side": lifecycle.other_side(op),
            "in_flight": lifecycle.in_flight(op),
            "link_url": reverse(f"admin:{self._url_name('link_existing')}", args=[op.pk]),
            "post_now_url": reverse(f"admin:{self._url_name('post_now')}", args=[op.pk]),
            "retention_days": _retention_days(),
            # Saving the fix comes back here, where the document shows how its retry went.
            "fix_link_url": with_next(op.fix_url, self._back_here(request, op)) if op.fix_url else "",
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


def _retention_days() -> int:
    return settings.EXCHANGE_RETENTION_DAYS


@admin.register(NeedsAttention)
class NeedsAttentionAdmin(SyncOperationAdmin):
    """Failed documents and those waiting for a person, each with what to do and where."""

    list_display = ["when", "connection", "kind", "document", "state_badge", "error_excerpt", "fix_hint"]
    list_filter = [ConnectionFilter, ProblemStateFilter, "kind", PeriodFilter]
    list_title = _("Documents that need attention")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(state__in=SyncOperation.PROBLEM_STATES)

    @admin.display(description=_("how to fix"))
    def fix_hint(self, op: SyncOperation) -> str:
        hint = op.shown_hint or gettext("Read the error, correct the cause, then press Retry.")
        if op.fix_url:
            return format_html('{} <a href="{}" class="fix-link">{}</a>', hint, op.fix_url, gettext("Fix it here"))
        return format_html("{}", hint)


# --- The evidence: runs, exchanges, webhook deliveries ---------------------------------------------

def _all_fields(model: Any) -> list[str]:
    return [f.name for f in model._meta.fields if f.name != "id"]


@admin.register(SyncRun)
class SyncRunAdmin(TenantScopedAdminMixin, ReadOnlyAdmin):
    list_display = ["started_at", "connection", "kind", "state", "progress", "created", "matched", "skipped",
                    "failed", "finished_at"]
    list_filter = [ConnectionFilter, "kind", "state"]
    list_select_related = ["connection"]
    ordering = ["-started_at"]
    fields = _all_fields(SyncRun)

    @admin.display(description=_("progress"))
    def progress(self, run: SyncRun) -> str:
        return format_html("{} / {} ({}%)", run.processed, run.total, run.progress_percent)


@admin.register(HttpExchange)
class HttpExchangeAdmin(TenantScopedAdminMixin, ReadOnlyAdmin):
    list_display = ["at", "connection", "service", "method", "short_url", "status", "duration_ms", "operation"]
    list_filter = [ConnectionFilter, "service"]
    list_select_related = ["connection", "operation"]
    ordering = ["-at"]
    fields = _all_fields(HttpExchange)
    change_form_template = "admin/integration/httpexchange/detail.html"

    @admin.display(description=_("URL"))
    def short_url(self, exchange: HttpExchange) -> str:
        return format_html('<span title="{}">{}</span>', exchange.url, Truncator(exchange.url).chars(80))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer(*SECRET_CONNECTION_FIELDS)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        exchange = self.tenant_object_or_404(request, object_id)
        extra = {"exchanges": exchange_rows([exchange], exchange.connection), "retention_days": _retention_days(),
                 **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdminMixin, ReadOnlyAdmin):
    list_display = ["received_at", "connection", "event", "key", "outcome", "operation"]
    list_filter = [ConnectionFilter, "outcome"]
    list_select_related = ["connection", "operation"]
    search_fields = ["=key"]
    ordering = ["-received_at"]
    fields = _all_fields(WebhookDelivery)
