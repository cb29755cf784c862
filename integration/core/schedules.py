"""The recurring work of the service, as django-q2 schedules created idempotently by name.

Created (or corrected) after every ``migrate`` through ``post_migrate``, so a fresh database and an
upgraded one end up with the same set. A schedule's next run is kept when it exists, so a deploy
does not shift the timetable. Fixed times are cron expressions evaluated in the cluster's time
zone (Europe/Copenhagen): Dinero invoices are fetched at 13 minutes past every hour, as the
product promises.

The two polls run once per round for every connection, so a round does not poll everything at
the same second: each connection's poll is handed out at a stable offset within the round
(:func:`spread`), the same in every round, so each connection is still polled once per interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule


@dataclass(frozen=True)
class Recurring:
    name: str
    func: str
    minutes: int | None = None
    cron: str | None = None


RACKBEAT_POLL = "integration.tasks.poll_all_connections"
DINERO_POLL = "integration.tasks.fetch_dinero_invoices"
# The schedules the dashboard shows as "next poll".
POLL_FUNCS = (RACKBEAT_POLL, DINERO_POLL)


# The golden ratio's fraction: consecutive ids land as far apart as possible, and any number of
# connections covers the span evenly (no two of ten thousand closer than a fraction of a second).
_SPREAD_STEP = 0.6180339887498949


def spread(connection_id: int, span_seconds: float) -> float:
    """The stable offset (seconds, from 0 up to ``span_seconds``) of a connection's poll in its round."""
    return (int(connection_id) * _SPREAD_STEP) % 1.0 * max(float(span_seconds), 0.0)


def recurring() -> list[Recurring]:
    return [
        Recurring("Worker heartbeat", "integration.tasks.heartbeat", minutes=1),
        Recurring("Run due operations", "integration.tasks.run_due", minutes=1),
        # Dead workers' claims; the workers' own heartbeat threads release them sooner.
        Recurring("Recover stale claims", "integration.tasks.recover_stale_claims", minutes=1),
        Recurring("Poll Rackbeat (safety net)", RACKBEAT_POLL,
                  minutes=max(1, settings.POLL_INTERVAL_MINUTES)),
        Recurring("Fetch Dinero invoices", DINERO_POLL, cron="13 * * * *"),
        Recurring("Daily digest e-mails", "integration.tasks.send_daily_digests", cron="0 7 * * *"),
        Recurring("Prune old HTTP exchanges", "integration.tasks.prune_http_exchanges", cron="30 3 * * *"),
        Recurring("Refresh reference data", "integration.tasks.refresh_reference_data", cron="0 5 * * *"),
        # The 2nd, so documents of the month's last day booked the next morning are in.
        Recurring("Reconcile last month", "integration.tasks.reconcile_last_month", cron="0 6 2 * *"),
    ]


def ensure_schedules(**kwargs: Any) -> None:
    """Create or correct every schedule of :func:`recurring` (safe to call any number of times)."""

    for item in recurring():
        wanted: dict[str, Any] = {"func": item.func, "repeats": -1}
        if item.cron:
            wanted.update(schedule_type=Schedule.CRON, cron=item.cron, minutes=None)
        else:
            wanted.update(schedule_type=Schedule.MINUTES, minutes=item.minutes, cron=None)
        existing = Schedule.objects.filter(name=item.name).order_by("pk")
        schedule = existing.first()
        if schedule is None:
            Schedule.objects.create(name=item.name, next_run=timezone.now(), **wanted)
            continue
        existing.exclude(pk=schedule.pk).delete()
        changed = [field for field, value in wanted.items() if getattr(schedule, field) != value]
        if changed:
            for field in changed:
                setattr(schedule, field, wanted[field])
            if "cron" in changed or "minutes" in changed or "schedule_type" in changed:
                schedule.next_run = timezone.now()
            schedule.save()
