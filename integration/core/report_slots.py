"""Long reports never crowd out transfers: a global cap and one report per connection at a time.

A reconciliation of a year, or a slice of a start sync, holds a worker for minutes. Queued side by
side with transfers, twenty of them would take every worker and another tenant's invoice would
wait behind them. So a report runs only while it holds a :class:`ReportSlot`: there are
``REPORT_SLOTS`` for the installation (by default a quarter of the workers, at least one), and a
connection holds one at most. A report that finds none free goes back to the queue for
``REPORT_SLOT_WAIT_SECONDS`` — no worker sleeps on it — and the transfers queued behind it run at
once. A slot taken by a process that died frees itself when its hold (the task's timeout) ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integration.core.models import ReportSlot


def capacity() -> int:
    configured = getattr(settings, "REPORT_SLOTS", None)
    if configured:
        return max(1, int(configured))
    return max(1, int(settings.Q_CLUSTER.get("workers", 4)) // 4)


def wait_seconds() -> float:
    return float(getattr(settings, "REPORT_SLOT_WAIT_SECONDS", 5.0))


def claim(connection_id: int, holder: str, *, hold_seconds: float) -> int | None:
    """Take a free slot for ``connection_id``; its number, or None when all are taken or the
    connection already runs a report."""
    now = timezone.now()
    slots = capacity()
    ReportSlot.objects.bulk_create([ReportSlot(number=n) for n in range(slots)], ignore_conflicts=True)
    ReportSlot.objects.filter(connection__isnull=False, held_until__lt=now).update(
        connection=None, holder="", held_until=None)
    for number in range(slots):
        try:
            with transaction.atomic():
                taken = ReportSlot.objects.filter(number=number, connection__isnull=True).update(
                    connection_id=connection_id, holder=holder[:100], held_until=now + timedelta(seconds=hold_seconds))
        except IntegrityError:
            return None  # this connection's other report holds a slot
        if taken:
            return number
    return None


def release(number: int, holder: str) -> None:
    ReportSlot.objects.filter(number=number, holder=holder[:100]).update(connection=None, holder="", held_until=None)


@contextmanager
def slot(connection_id: int, holder: str, *, hold_seconds: float) -> Iterator[bool]:
    """Hold a slot for the block; yields False (and holds nothing) when none is free.

    Tasks run in-process (``Q_CLUSTER["sync"]``, development and tests) one after the other
    anyway: there the block simply runs."""
    if settings.Q_CLUSTER.get("sync"):
        yield True
        return
    number = claim(connection_id, holder, hold_seconds=hold_seconds)
    try:
        yield number is not None
    finally:
        if number is not None:
            release(number, holder)
