"""The hourly poll of Dinero invoices for connections that create their customer invoices in Dinero.

Runs every hour at 13 minutes past (Europe/Copenhagen; registered in ``integration.core.schedules``).
For each such active connection it asks Dinero for the invoices changed since the stream's cursor
(minus an overlap window, because Dinero's ``changesSince`` granularity and clock are not ours) and
queues one operation per booked invoice Guid. The engine runs each invoice exactly once, so an
invoice seen again in the overlap is not transferred twice. The cursor moves to the start of the
poll's window only when the whole listing succeeded, so nothing changed during a failed poll is lost.

Many connections: the window of every connection starts at 13 minutes past, and the polls of one
round are handed out spread over the following ``SPREAD`` (each connection at its own stable
offset, :func:`integration.core.schedules.spread`). A poll that runs later than 13 minutes past
still moves its cursor only to 13 minutes past, so the next window overlaps everything it might
have missed. A poll that finds nothing keeps no HTTP exchange, only its run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Connection
from integration.core import engine
from integration.core.clients.dinero import DineroClient
from integration.core.clients.errors import ApiError
from integration.core.clients.factory import exchange_recorder, failures_only
from integration.core.models import Direction, IntegrationSettings, Kind, PollCursor, SyncRun, Trigger
from integration.transfers.dinero_invoices import POLLED_STATUSES
from integration.triggers import polling

logger = logging.getLogger(__name__)

STREAM = "dinero_invoices"
TASK = "integration.tasks.poll_dinero_connection"
# The polls of one round start within this long after 13 minutes past.
SPREAD = timedelta(minutes=10)
OVERLAP = timedelta(minutes=15)
# The first poll of a connection looks back one schedule interval: invoices booked in Dinero before
# the connection was switched to "created in Dinero" are not copied into Rackbeat.
FIRST_POLL_LOOKBACK = timedelta(hours=1)


def dinero_client(connection: Connection) -> DineroClient:
    """The poll's client: its listings are kept in the exchange log only when they fail."""
    return DineroClient(connection, on_exchange=failures_only(exchange_recorder(connection)))


def connections_to_poll():  # type: ignore[no-untyped-def]
    return Connection.objects.filter(
        state=Connection.State.ACTIVE,
        settings__customer_invoices_created_in=IntegrationSettings.InvoicesCreatedIn.DINERO,
    )


def poll_all_connections() -> int:
    """Start the round of 13 minutes past: one poll per connection that invoices in Dinero, spread
    over ``SPREAD``. Returns how many polls were queued — in sync mode, where they run at once,
    how many invoices they queued."""
    window_start = timezone.now().replace(second=0, microsecond=0)
    if settings.Q_CLUSTER.get("sync"):
        return sum(_poll_safely(pk, window_start) for pk in connections_to_poll().values_list("pk", flat=True))
    return polling.spread_round(TASK, "dinero-poll", connections_to_poll(), span_seconds=SPREAD.total_seconds(),
                                args=(window_start.timestamp(),))


def poll_one(connection_id: int, window_start: float) -> int:
    """The poll of one connection in a round whose window started at ``window_start`` (epoch)."""
    return _poll_safely(connection_id, datetime.fromtimestamp(window_start, tz=UTC))


def _poll_safely(connection_id: int, window_start: datetime) -> int:
    connection = connections_to_poll().filter(pk=connection_id).first()
    if connection is None:
        return 0
    try:
        return poll_connection(connection, window_start=window_start).created
    except Exception:  # one broken connection must not stop the others
        logger.exception("Polling Dinero invoices failed for connection %s", connection_id)
        return 0


def poll_connection(connection: Connection, *, window_start: datetime | None = None) -> SyncRun:
    """Queue every booked Dinero invoice changed since the cursor; record the poll as a SyncRun."""

    started = window_start or timezone.now()
    run = SyncRun.objects.create(connection=connection, kind=SyncRun.RunKind.POLL_DINERO)
    cursor = PollCursor.objects.filter(connection=connection, stream=STREAM).first()
    since = (cursor.value if cursor else started - FIRST_POLL_LOOKBACK) - OVERLAP
    run.report = {"changes_since": since.isoformat(), "skipped": {}}
    client = dinero_client(connection)
    try:
        for invoice in client.iter_invoices(changes_since=since, status_filter=POLLED_STATUSES):
            run.total += 1
            run.processed += 1
            guid = str(invoice.get("Guid") or "")
            status = str(invoice.get("Status") or invoice.get("PaymentStatus") or "")
            reason = ""
            if not guid:
                reason = _("no Guid")
            elif invoice.get("DeletedAt"):
                reason = _("deleted in Dinero")
            elif status == "Draft":
                reason = _("draft")
            elif str(invoice.get("Type") or "Invoice") != "Invoice":
                reason = _("not an invoice")
            if reason:
                run.skipped += 1
                run.report["skipped"][guid or str(run.total)] = reason
                continue
            engine.enqueue(connection, Kind.SALES_INVOICE, Direction.TO_RACKBEAT, guid, trigger=Trigger.POLL,
                           run=run, document_number=str(invoice.get("Number") or ""),
                           document_name=str(invoice.get("ContactName") or ""))
            run.created += 1
    except ApiError as exc:
        run.state = SyncRun.State.FAILED
        run.error = exc.describe()
        run.finished_at = timezone.now()
        run.save()
        return run
    PollCursor.objects.update_or_create(connection=connection, stream=STREAM, defaults={"value": started})
    run.state = SyncRun.State.DONE
    run.finished_at = timezone.now()
    run.save()
    return run
