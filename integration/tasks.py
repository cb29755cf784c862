"""Every django-q2 entry point of the service, under its stable dotted name.

The broker stores a queued task by the dotted name of its function, and so does every schedule;
both outlive a deploy. The names therefore live in this one module, above every layer, and stay
put when the code behind them moves (a migration rewrites queued tasks and schedules whose name
changed: ``integration/core/migrations/0015_stable_task_names.py``). Each entry point takes an id
(or nothing) and calls a service.
"""

from __future__ import annotations

import socket

from django.utils import timezone

from integration.books import reconciliation
from integration.core import alerts, engine, retention, worker_health
from integration.core.models import WorkerHeartbeat
from integration.transfers import transfer_checks
from integration.triggers import dinero_poll, polling, start_sync
from mappings import reference


def run_operation(op_id: int) -> str:
    op = engine.run_operation(op_id)
    return op.state if op is not None else "not claimed"


def run_due() -> int:
    return engine.run_due()


def recover_stale_claims() -> int:
    return worker_health.recover_stale_claims() + start_sync.resume_stale()


def heartbeat() -> None:
    """Proves a worker is alive; /healthz and the dashboard read the age of the newest beat."""
    WorkerHeartbeat.objects.update_or_create(name=socket.gethostname()[:100], defaults={"beat_at": timezone.now()})


def poll_all_connections() -> int:
    return polling.poll_all_connections()


def poll_connection(connection_id: int) -> int | None:
    run = polling.poll_connection(connection_id)
    return run.pk if run is not None else None


def fetch_dinero_invoices() -> int:
    """The hourly Dinero poll (13 minutes past): booked Dinero invoices → Rackbeat."""
    return dinero_poll.poll_all_connections()


def poll_dinero_connection(connection_id: int, window_start: float) -> int:
    """One connection's share of the hourly Dinero poll; its window starts at ``window_start``."""
    return dinero_poll.poll_one(connection_id, window_start)


def run_start_sync(run_id: int) -> None:
    start_sync.run(run_id)


def check_transferred_document(op_id: int) -> str:
    return transfer_checks.check_transferred_document(op_id)


def send_daily_digests() -> int:
    return alerts.send_daily_digests()


def prune_http_exchanges() -> dict[str, int]:
    return retention.prune_all()


def refresh_reference_data() -> dict[int, dict]:
    return reference.refresh_all()


def reconcile_last_month() -> int:
    return reconciliation.reconcile_last_month()


def run_reconciliation(reconciliation_id: int) -> None:
    reconciliation.run_task(reconciliation_id)


# Names older versions queued and scheduled, and the entry point each one is now.
RENAMED = {
    "integration.dinero_poll.poll_all_connections": "integration.tasks.fetch_dinero_invoices",
    "integration.alerts.send_daily_digests": "integration.tasks.send_daily_digests",
    "integration.retention.prune_all": "integration.tasks.prune_http_exchanges",
    "mappings.reference.refresh_all": "integration.tasks.refresh_reference_data",
    "integration.reconciliation.reconcile_last_month": "integration.tasks.reconcile_last_month",
    "integration.reconciliation.run_task": "integration.tasks.run_reconciliation",
}
