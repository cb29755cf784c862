"""The dashboard of one connection: is it healthy, what moved, what waits, when it runs next.

Every figure is read through an index that starts with the connection (or a tiny table), so the
page stays fast however long the sync log grows. The 30-day chart is plain SVG drawn on the
server: no JavaScript and nothing loaded from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_q.models import OrmQ, Schedule

from accounts.models import Connection
from accounts.tenancy import connections_for
from integration.console.connection_pages import connection_page
from integration.console.state_colours import state_colour
from integration.core.models import Kind, SyncOperation, WorkerHeartbeat
from integration.core.schedules import DINERO_POLL, POLL_FUNCS, RACKBEAT_POLL

State = SyncOperation.State

CHART_DAYS = 30
CHART_WIDTH = 720
CHART_HEIGHT = 160
# A worker beats every minute; the same limit as /healthz.
HEARTBEAT_MAX_AGE_SECONDS = 180


@dataclass
class ChartDay:
    day: date
    transfers: int
    failures: int


def start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def counts_by_state(connection: Connection, since: datetime) -> dict[str, int]:
    rows = (SyncOperation.objects.filter(connection=connection, updated_at__gte=since)
            .order_by().values("state").annotate(n=Count("pk")))
    counts = {state.value: 0 for state in State}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def last_success_per_kind(connection: Connection) -> list[tuple[str, SyncOperation | None]]:
    """The newest done operation of each kind (one indexed look-up per kind)."""
    done = SyncOperation.objects.filter(connection=connection, state=State.DONE).order_by("-updated_at")
    return [(label, done.filter(kind=value).only("pk", "updated_at", "document_number", "document_name",
                                                  "kind").first())
            for value, label in Kind.choices]


def chart_days(connection: Connection, *, days: int = CHART_DAYS) -> list[ChartDay]:
    """Per local day: documents transferred and documents that failed or need attention."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    rows = (SyncOperation.objects.filter(connection=connection, updated_at__gte=since)
            .filter(state__in=[State.DONE, *SyncOperation.PROBLEM_STATES])
            .annotate(day=TruncDate("updated_at", tzinfo=timezone.get_current_timezone()))
            .order_by().values("day", "state").annotate(n=Count("pk")))
    by_day = {first + timedelta(days=i): ChartDay(first + timedelta(days=i), 0, 0) for i in range(days)}
    for row in rows:
        entry = by_day.get(row["day"])
        if entry is None:
            continue
        if row["state"] == State.DONE:
            entry.transfers += row["n"]
        else:
            entry.failures += row["n"]
    return list(by_day.values())


def chart_bars(days: list[ChartDay], *, width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> dict[str, Any]:
    """Geometry of a two-series bar chart, for the SVG in the template."""
    top = max([1, *(d.transfers for d in days), *(d.failures for d in days)])
    slot = width / max(1, len(days))
    bar = max(1.0, slot / 2 - 1)
    bars = []
    for i, d in enumerate(days):
        x = i * slot
        t = round(height * d.transfers / top, 1)
        f = round(height * d.failures / top, 1)
        bars.append({
            "day": d.day, "transfers": d.transfers, "failures": d.failures,
            "x_transfers": round(x, 1), "y_transfers": round(height - t, 1), "h_transfers": t,
            "x_failures": round(x + bar, 1), "y_failures": round(height - f, 1), "h_failures": f,
            "label": i % 5 == 0 or i == len(days) - 1,
            "x_label": round(x + bar, 1),
        })
    return {"bars": bars, "bar_width": round(bar, 1), "width": width, "height": height, "top": top,
            "total_transfers": sum(d.transfers for d in days), "total_failures": sum(d.failures for d in days)}


def worker_heartbeat() -> dict[str, Any]:
    beat = WorkerHeartbeat.objects.order_by("-beat_at").first()
    if beat is None:
        return {"at": None, "age_seconds": None, "ok": False}
    age = (timezone.now() - beat.beat_at).total_seconds()
    return {"at": beat.beat_at, "age_seconds": int(age), "ok": age <= HEARTBEAT_MAX_AGE_SECONDS, "name": beat.name}


def queue_depth() -> int:
    return OrmQ.objects.count()


def connection_queue(connection: Connection) -> dict[str, Any]:
    """This connection's own work: due now, waiting (due or later), running, and whether the
    oldest due document has waited longer than a worker's heartbeat may be old."""
    now = timezone.now()
    pending = SyncOperation.objects.filter(connection=connection, state=State.PENDING)
    oldest = pending.filter(next_attempt_at__lte=now).order_by("next_attempt_at").values_list(
        "next_attempt_at", flat=True).first()
    waited = int((now - oldest).total_seconds()) if oldest is not None else 0
    return {"due": pending.filter(next_attempt_at__lte=now).count(), "waiting": pending.count(),
            "running": SyncOperation.objects.filter(connection=connection, state=State.RUNNING).count(),
            "oldest_due_minutes": waited // 60, "delayed": waited > HEARTBEAT_MAX_AGE_SECONDS}


def installation_health(user: Any) -> dict[str, Any] | None:
    """The whole installation's queue and workers: for operators (superusers) only, since it
    reveals how busy the other tenants are."""
    if not getattr(user, "is_superuser", False):
        return None
    return {"queue_depth": queue_depth(), "heartbeat": worker_heartbeat()}


def next_polls() -> list[dict[str, Any]]:
    """The poll schedules (Rackbeat changes, Dinero invoices) and when each runs next."""


    # The schedule's stored name is English data; people read it in their own language.
    labels = {RACKBEAT_POLL: gettext("Poll Rackbeat (safety net)"), DINERO_POLL: gettext("Fetch Dinero invoices")}
    return [{"name": labels.get(s.func) or s.name or s.func, "func": s.func, "next_run": s.next_run}
            for s in Schedule.objects.filter(func__in=POLL_FUNCS).order_by("next_run")]


def attention_counts(connections: QuerySet[Connection]) -> QuerySet[Connection]:
    """Annotate each connection with the number of documents that need a person."""
    problems = (SyncOperation.objects.filter(connection=OuterRef("pk"), state__in=SyncOperation.PROBLEM_STATES)
                .order_by().values("connection").annotate(n=Count("pk")).values("n"))
    return connections.annotate(attention=Subquery(problems))


def connection_health(user: Any) -> list[dict[str, Any]]:
    """Every connection ``user`` may see, with its state and how many documents need attention."""
    rows = []
    for connection in attention_counts(connections_for(user).order_by("name")).only(
            "pk", "name", "state", "state_reason", "state_reason_meaning"):
        rows.append({
            "connection": connection,
            "attention": connection.attention or 0,
            "dashboard_url": reverse("admin:connection-dashboard", args=[connection.pk]),
            "attention_url": (reverse("admin:integration_needsattention_changelist")
                              + f"?connection={connection.pk}"),
        })
    return rows


@connection_page("dashboard", _("Dashboard"), group="Operations", order=10)
def dashboard(request: HttpRequest, connection: Connection) -> HttpResponse:
    now = timezone.now()
    today = counts_by_state(connection, start_of_today())
    week = counts_by_state(connection, now - timedelta(days=7))
    attention = SyncOperation.objects.filter(connection=connection, state__in=SyncOperation.PROBLEM_STATES).count()
    log_url = reverse("admin:integration_syncoperation_changelist")
    context = {
        **request_context(request),
        "title": gettext("Dashboard: %(name)s") % {"name": connection.name},
        "connection": connection,
        "attention": attention,
        "attention_url": reverse("admin:integration_needsattention_changelist") + f"?connection={connection.pk}",
        "log_url": f"{log_url}?connection={connection.pk}",
        "states": [(s.value, s.label, today[s.value], week[s.value]) for s in State],
        "last_success": last_success_per_kind(connection),
        "chart": chart_bars(chart_days(connection)),
        "queue": connection_queue(connection),
        "installation": installation_health(request.user),
        "polls": next_polls(),
        "state_colour": _state_colour(connection),
    }
    return TemplateResponse(request, "admin/dashboard/connection.html", context)


def request_context(request: HttpRequest) -> dict[str, Any]:
    return admin.site.each_context(request)


def _state_colour(connection: Connection) -> str:
    return state_colour(connection)
