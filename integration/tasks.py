"""Thin django-q2 entry points: each takes an id (or nothing) and calls a service."""

from __future__ import annotations

import socket

from django.utils import timezone


def run_operation(op_id: int) -> str:
    from integration import engine

    op = engine.run_operation(op_id)
    return op.state if op is not None else "not claimed"


def run_due() -> int:
    from integration import engine

    return engine.run_due()


def recover_stale_claims() -> int:
    from integration import engine, start_sync

    return engine.recover_stale_claims() + start_sync.resume_stale()


def heartbeat() -> None:
    """Proves a worker is alive; /healthz and the dashboard read the age of the newest beat."""
    from integration.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(name=socket.gethostname()[:100], defaults={"beat_at": timezone.now()})


def poll_all_connections() -> int:
    from integration import polling

    return polling.poll_all_connections()


def poll_connection(connection_id: int) -> int | None:
    from integration import polling

    run = polling.poll_connection(connection_id)
    return run.pk if run is not None else None


def run_start_sync(run_id: int) -> None:
    from integration import start_sync

    start_sync.run(run_id)


def check_transferred_document(op_id: int) -> str:
    from integration import transfer_checks

    return transfer_checks.check_transferred_document(op_id)
