"""Retention: the bodies of old HTTP exchanges of successful transfers are removed.

Evidence of what went wrong is kept: exchanges of operations that failed, need attention, or are
still pending or running keep their bodies however old they are. For documents that were
transferred (done) or needed no transfer (skipped, including those marked as handled), the
request and response bodies older than ``EXCHANGE_RETENTION_DAYS`` are blanked and the exchange is
flagged ``bodies_pruned`` — method, URL, status and duration stay, so the timeline still reads
right. Exchanges not tied to any operation (activation checks, reference-data refreshes) follow
the same age rule.

Polls that found nothing to do (a run that is done and queued nothing) are deleted once older than
``POLL_RUN_RETENTION_DAYS``: every connection polls Rackbeat every ten minutes and Dinero every
hour, 168 runs a day, and an empty one says nothing after a week. Polls that queued work or failed
stay with the rest of the log.

Stored webhook deliveries (one row per delivery Rackbeat made, kept as evidence of what arrived)
are deleted once older than ``WEBHOOK_DELIVERY_RETENTION_DAYS``: by then the operation each one
caused has its own timeline, which stays.

The work is done in small batches of ids, each its own short transaction, so neither table is
ever locked for long and the workers keep writing while the schedule runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integration.core.models import HttpExchange, SyncOperation, SyncRun, WebhookDelivery

BATCH_SIZE = 1000
FINISHED_STATES = (SyncOperation.State.DONE, SyncOperation.State.SKIPPED)
POLL_KINDS = (SyncRun.RunKind.POLL_RACKBEAT, SyncRun.RunKind.POLL_DINERO)


def prunable(cutoff: datetime):  # type: ignore[no-untyped-def]
    return HttpExchange.objects.filter(at__lt=cutoff, bodies_pruned=False).filter(
        Q(operation__isnull=True) | Q(operation__state__in=FINISHED_STATES)
    )


def prune_exchanges(*, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> int:
    """Blank the bodies of old exchanges of finished operations; returns how many were pruned."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EXCHANGE_RETENTION_DAYS)
    pruned = 0
    last_pk = 0
    while True:
        ids = list(prunable(cutoff).filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return pruned
        with transaction.atomic():
            # The state is checked again in the UPDATE: a retry that started since the ids were
            # read keeps its evidence.
            pruned += prunable(cutoff).filter(pk__in=ids).update(
                request_body="", response_body="", bodies_pruned=True
            )
        last_pk = ids[-1]


def prune_webhook_deliveries(*, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> int:
    """Delete stored webhook deliveries older than the retention; returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    deleted = 0
    while True:
        # Oldest first by primary key: ids grow with arrival, so each batch is read from the start
        # of the table and the loop ends at the first batch with nothing left before the cutoff.
        ids = list(WebhookDelivery.objects.filter(received_at__lt=cutoff).order_by("pk")
                   .values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            count, _by_model = WebhookDelivery.objects.filter(pk__in=ids).delete()
        deleted += count


def prune_idle_polls(*, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> int:
    """Delete poll runs that queued nothing and are older than the retention; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.POLL_RUN_RETENTION_DAYS)
    idle = SyncRun.objects.filter(kind__in=POLL_KINDS, state=SyncRun.State.DONE, created=0, error="",
                                  started_at__lt=cutoff)
    deleted = 0
    while True:
        ids = list(idle.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            count, _by_model = idle.filter(pk__in=ids).delete()
        deleted += count


def prune_all() -> dict[str, int]:
    """The daily retention schedule: exchange bodies, old webhook deliveries, idle poll runs."""
    return {"exchanges": prune_exchanges(), "webhook_deliveries": prune_webhook_deliveries(),
            "idle_polls": prune_idle_polls()}
