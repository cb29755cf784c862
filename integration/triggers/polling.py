"""The polling safety net: what a lost webhook did not bring, the next poll does.

Every ``POLL_INTERVAL_MINUTES`` each active connection asks Rackbeat for what changed since its
last poll — customers, suppliers, products, BOMs (``updated_at_from``) and booked customer and
supplier invoices (``is_booked`` + ``updated_at_from``) — and feeds the same operations webhooks
create (trigger *poll*). Nothing is ever transferred twice: operations have natural keys, a done
invoice stays done, and unchanged master data makes no Dinero call.

Cursors: one per connection and stream, set to the time taken *before* the request, and each
request reaches back ``POLL_OVERLAP_MINUTES`` further, so a change saved while a poll ran (or with
a slightly different clock) is seen next time. A connection's first poll starts at its activation
(its webhooks were registered just before), and no poll ever reaches back past it — the overlap
stops at the go-live moment — and an invoice booked in Rackbeat before it is not queued even when
it changes later (see :func:`integration.core.lifecycle.booked_before_go_live`): history from
before the integration was switched on is not transferred automatically. A stream whose
integration is off is not fetched; its cursor moves on, so switching the integration on later
does not transfer what was booked while it was off.

Each poll is a :class:`~integration.core.models.SyncRun` with counts per stream. A poll still running
(younger than ten minutes) for the same connection makes the next one skip instead of overlapping.

Many connections: the schedule starts a round every interval, and each connection's poll is handed
out at its own stable offset within the round (:func:`integration.core.schedules.spread`), so ten
thousand connections do not all ask Rackbeat in the same second. A poll that finds nothing costs
one list request per stream and a few statements: the cursors are read and written once per poll,
and the list requests are kept in the HTTP exchange log only when they fail (the run's report has
what each stream saw and queued).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from accounts.models import Connection
from integration.core import dispatch, engine, lifecycle, schedules
from integration.core.clients.errors import ApiError
from integration.core.clients.factory import exchange_recorder, failures_only
from integration.core.clients.rackbeat import RackbeatClient, parse_rackbeat_time
from integration.core.models import (
    Binding,
    Direction,
    IntegrationSettings,
    Kind,
    PollCursor,
    SyncOperation,
    SyncRun,
    Trigger,
)

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Stream:
    name: str
    kind: str
    fetch: Callable[[Any, datetime], Iterable[dict[str, Any]]]
    enabled: Callable[[IntegrationSettings], bool]


def _products_on(s: IntegrationSettings) -> bool:
    return s.customer_integration_enabled and s.product_integration_enabled


STREAMS: tuple[Stream, ...] = (
    Stream("customers", Kind.CUSTOMER, lambda c, since: c.iter_customers(updated_since=since),
           lambda s: s.customer_integration_enabled),
    Stream("suppliers", Kind.SUPPLIER, lambda c, since: c.iter_suppliers(updated_since=since),
           lambda s: s.supplier_integration_enabled),
    Stream("products", Kind.PRODUCT, lambda c, since: c.iter_products(updated_since=since), _products_on),
    Stream("lots", Kind.BOM, lambda c, since: c.iter_lots(updated_since=since), _products_on),
    Stream("customer_invoices", Kind.SALES_INVOICE,
           lambda c, since: c.iter_customer_invoices(booked=True, updated_since=since),
           lambda s: s.customer_integration_enabled and s.sales_from_rackbeat),
    Stream("supplier_invoices", Kind.SUPPLIER_INVOICE,
           lambda c, since: c.iter_supplier_invoices(booked=True, updated_since=since),
           lambda s: s.supplier_integration_enabled),
)


def rackbeat_client(connection: Connection) -> RackbeatClient:
    """The poll's client: its listings are kept in the exchange log only when they fail."""
    return RackbeatClient(connection, on_exchange=failures_only(exchange_recorder(connection)))


def _already_current(connection: Connection, kind: str, key: str, updated_at: datetime | None) -> bool:
    """True when nothing changed since we last handled the record: a done operation finished well
    after its last change, or the record is one this service wrote (the start sync) and Rackbeat
    has not changed it since — sending it back to Dinero would only echo Dinero's own data."""
    if updated_at is None:
        return False
    written_at = (Binding.objects.filter(connection=connection, kind=kind, rackbeat_key=key)
                  .values_list("rackbeat_written_at", flat=True).first())
    if written_at is not None and updated_at <= written_at:
        return True
    finished = (
        SyncOperation.objects.filter(connection=connection, kind=kind, direction=Direction.TO_DINERO,
                                     source_key=key, state=SyncOperation.State.DONE)
        .values_list("finished_at", flat=True).first()
    )
    return bool(finished) and finished >= updated_at + timedelta(minutes=1)


def _key(row: dict[str, Any]) -> str:
    value = row.get("number")
    return "" if value in (None, "") else str(value)


def _start_run(connection_id: int) -> tuple[Connection, SyncRun] | None:
    """The connection (locked, so two polls starting together cannot both pass the check) and its
    new poll run; None when it is not active or a poll of it is still running."""
    now = timezone.now()
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(pk=connection_id).first()
        if connection is None or not connection.is_active:
            return None
        running = SyncRun.objects.filter(connection=connection, kind=SyncRun.RunKind.POLL_RACKBEAT,
                                         state=SyncRun.State.RUNNING)
        started = list(running.values_list("started_at", flat=True))
        # A poll still marked running this long after it started was interrupted (its worker killed).
        if any(at > now - timedelta(minutes=settings.POLL_STALE_MINUTES) for at in started):
            return None
        if started:
            running.update(state=SyncRun.State.FAILED, finished_at=now,
                           error=_("Stopped without finishing (the worker was interrupted)."))
        return connection, SyncRun.objects.create(connection=connection, kind=SyncRun.RunKind.POLL_RACKBEAT,
                                                  started_at=now, heartbeat_at=now)


def poll_connection(connection_id: int) -> SyncRun | None:
    """Poll one connection; None when it is not active or another poll of it is running."""
    started = _start_run(connection_id)
    if started is None:
        return None
    connection, run = started
    integration_settings, _created = IntegrationSettings.objects.get_or_create(connection=connection)
    client = rackbeat_client(connection)
    overlap = timedelta(minutes=settings.POLL_OVERLAP_MINUTES)
    report: dict[str, Any] = {"streams": {}}
    errors: list[str] = []
    cursors = dict(PollCursor.objects.filter(connection=connection).values_list("stream", "value"))
    moved: dict[str, datetime] = {}
    for stream in STREAMS:
        taken_at = timezone.now()
        cursor = cursors.get(stream.name)
        entry: dict[str, Any] = {"seen": 0, "queued": 0}
        report["streams"][stream.name] = entry
        if not stream.enabled(integration_settings):
            entry["off"] = True
            moved[stream.name] = taken_at
            continue
        # The first poll starts at the activation itself (the webhooks were registered before it),
        # and the overlap never reaches back past it.
        went_live = connection.state_changed_at
        since = cursor - overlap if cursor else (went_live or taken_at)
        if went_live is not None and since < went_live:
            since = went_live
        entry["since"] = since.isoformat()
        try:
            for row in stream.fetch(client, since):
                key = _key(row)
                if not key:
                    continue
                entry["seen"] += 1
                if _already_current(connection, stream.kind, key, parse_rackbeat_time(row.get("updated_at"))):
                    continue
                if stream.kind in lifecycle.MONEY_KINDS and lifecycle.booked_before_go_live(connection, row):
                    entry["before_go_live"] = entry.get("before_go_live", 0) + 1
                    continue

                engine.enqueue(connection, stream.kind, Direction.TO_DINERO, key, trigger=Trigger.POLL, run=run,
                               document_number=key, document_name=str(row.get("name") or "")[:255])
                entry["queued"] += 1
        except ApiError as exc:
            entry["error"] = exc.describe()
            errors.append(f"{stream.name}: {exc.describe()}")
            logger.warning("Poll of %s for connection %s failed: %s", stream.name, connection.pk, exc.describe())
            continue
        moved[stream.name] = taken_at
    _move_cursors(connection, moved)
    streams = report["streams"].values()
    seen = sum(e["seen"] for e in streams)
    finished = timezone.now()
    run.state = SyncRun.State.FAILED if errors else SyncRun.State.DONE
    run.finished_at = run.heartbeat_at = finished
    run.total = run.processed = seen
    run.created = sum(e["queued"] for e in streams)
    run.report = report
    run.error = "\n".join(errors)
    run.save(update_fields=["state", "finished_at", "heartbeat_at", "total", "processed", "created", "report",
                            "error"])
    return run


def _move_cursors(connection: Connection, values: dict[str, datetime]) -> None:
    """Every stream's new cursor in one statement."""
    if values:
        PollCursor.objects.bulk_create(
            [PollCursor(connection=connection, stream=stream, value=value) for stream, value in values.items()],
            update_conflicts=True, unique_fields=["connection", "stream"], update_fields=["value", "updated_at"],
        )


def poll_all_connections() -> int:
    """Start a round: one poll task per active connection, each handed out at its own stable
    offset within the interval (all at once in sync mode, or with a broker that cannot delay)."""

    interval = max(1, settings.POLL_INTERVAL_MINUTES) * 60
    return spread_round("integration.tasks.poll_connection", "poll",
                        Connection.objects.filter(state=Connection.State.ACTIVE), span_seconds=interval)


def spread_round(func: str, name: str, connections: Any, *, span_seconds: float, args: tuple[Any, ...] = ()) -> int:
    """Queue ``func(connection_id, *args)`` for each of ``connections``, spread over the span."""

    count = 0
    sync = bool(settings.Q_CLUSTER.get("sync"))
    round_start = timezone.now()
    for pk in connections.order_by("pk").values_list("pk", flat=True):
        due = round_start + timedelta(seconds=schedules.spread(pk, span_seconds))
        if sync or not dispatch.queue_at(func, pk, *args, due=due, task_name=f"{name}-{pk}"):
            async_task(func, pk, *args, task_name=f"{name}-{pk}", sync=sync)
        count += 1
    return count
