"""The hourly poll of Dinero invoices for connections that create their customer invoices in Dinero.

Runs every hour at 13 minutes past (Europe/Copenhagen; registered in ``integration.core.schedules``).
For each such active connection it asks Dinero for the invoices changed since the stream's cursor
(minus an overlap window, because Dinero's ``changesSince`` granularity and clock are not ours) and
queues one operation per booked invoice Guid. The engine runs each invoice exactly once, so an
invoice seen again in the overlap is not transferred twice. The cursor moves to the moment the poll
*started* only when the whole listing succeeded, so nothing changed during a failed poll is lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Connection
from integration.core import engine
from integration.core.clients.errors import ApiError
from integration.core.clients.factory import dinero_client
from integration.core.models import Direction, IntegrationSettings, Kind, PollCursor, SyncRun, Trigger
from integration.transfers.dinero_invoices import POLLED_STATUSES

logger = logging.getLogger(__name__)

STREAM = "dinero_invoices"
OVERLAP = timedelta(minutes=15)
# The first poll of a connection looks back one schedule interval: invoices booked in Dinero before
# the connection was switched to "created in Dinero" are not copied into Rackbeat.
FIRST_POLL_LOOKBACK = timedelta(hours=1)


def connections_to_poll():  # type: ignore[no-untyped-def]
    return Connection.objects.filter(
        state=Connection.State.ACTIVE,
        settings__customer_invoices_created_in=IntegrationSettings.InvoicesCreatedIn.DINERO,
    )


def poll_all_connections() -> int:
    """Poll every connection that invoices in Dinero; returns how many invoices were queued."""
    queued = 0
    for connection in connections_to_poll():
        try:
            queued += poll_connection(connection).created
        except Exception:  # one broken connection must not stop the others
            logger.exception("Polling Dinero invoices failed for connection %s", connection.pk)
    return queued


def poll_connection(connection: Connection) -> SyncRun:
    """Queue every booked Dinero invoice changed since the cursor; record the poll as a SyncRun."""

    started = timezone.now()
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
