"""Workers: schedules, heartbeat, and real OS processes racing for the same documents or dying mid-way.

The multi-process tests need a database every process can open: they run on PostgreSQL
(``DATABASE_URL``) and are skipped on SQLite, whose test database lives in one process's memory.
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.utils import timezone

from accounts.models import Connection
from integration import tasks
from integration.core import engine, schedules, worker_health
from integration.core.models import Direction, Kind, SyncOperation, Trigger, WorkerHeartbeat
from tests.engine_fixtures import demo, switch_on

USES = (demo,)

SHARED_DB = pytest.mark.skipif(
    "sqlite" in django_settings.DATABASES["default"]["ENGINE"],
    reason="real worker processes need a shared database: run with DATABASE_URL pointing at PostgreSQL",
)


def test_schedules_are_created_once_with_their_timetable(db):
    from django_q.models import Schedule

    schedules.ensure_schedules()
    schedules.ensure_schedules()
    by_name = {s.name: s for s in Schedule.objects.all()}
    assert len(by_name) == Schedule.objects.count() == len(schedules.recurring())
    assert by_name["Fetch Dinero invoices"].cron == "13 * * * *"
    assert by_name["Fetch Dinero invoices"].func == "integration.tasks.fetch_dinero_invoices"
    assert by_name["Worker heartbeat"].minutes == 1
    assert by_name["Run due operations"].minutes == 1
    assert by_name["Recover stale claims"].minutes == 1
    assert by_name["Poll Rackbeat (safety net)"].minutes == django_settings.POLL_INTERVAL_MINUTES
    assert by_name["Daily digest e-mails"].cron == "0 7 * * *"
    assert by_name["Prune old HTTP exchanges"].cron == "30 3 * * *"
    assert by_name["Prune old HTTP exchanges"].func == "integration.tasks.prune_http_exchanges"
    assert by_name["Refresh reference data"].cron == "0 5 * * *"


def test_changed_interval_corrects_the_schedule(db, settings):
    from django_q.models import Schedule

    schedules.ensure_schedules()
    settings.POLL_INTERVAL_MINUTES = 3
    schedules.ensure_schedules()
    assert Schedule.objects.get(name="Poll Rackbeat (safety net)").minutes == 3


def test_every_scheduled_function_can_be_imported(db):
    from importlib import import_module

    for item in schedules.recurring():
        module, _, name = item.func.rpartition(".")
        assert callable(getattr(import_module(module), name)), item.func


def test_heartbeat_is_written(db):
    tasks.heartbeat()
    tasks.heartbeat()
    beat = WorkerHeartbeat.objects.get()
    assert timezone.now() - beat.beat_at < timedelta(minutes=1)


# --- real processes ----------------------------------------------------------------------------------

def _worker_settings() -> dict:
    names = ("RACKBEAT_API_URL", "RACKBEAT_APP_URL", "DINERO_API_URL", "DINERO_APP_URL", "DINERO_TOKEN_URL",
             "DINERO_CLIENT_ID", "DINERO_CLIENT_SECRET", "PUBLIC_BASE_URL")
    return {name: getattr(django_settings, name) for name in names}


def _database_url() -> str:
    conf = db_connection.settings_dict
    return f"postgres://{conf['USER']}:{conf['PASSWORD'] or ''}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


@pytest.fixture
def customers_waiting(demo, settings):
    """Ten Rackbeat customers whose operations are queued but not yet run."""
    from sandbox.rackbeat import models as rb

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    Connection.objects.filter(pk=demo.pk).update(state=Connection.State.ACTIVE, rackbeat_account_id="418001")
    demo.refresh_from_db()
    switch_on(demo)
    numbers = list(rb.Customer.objects.order_by("number").values_list("number", flat=True)[:10])
    ops = [engine.enqueue(demo, Kind.CUSTOMER, Direction.TO_DINERO, n, trigger=Trigger.POLL) for n in numbers]
    return demo, ops


@SHARED_DB
@pytest.mark.e2e
def test_two_worker_processes_handle_each_document_once(customers_waiting):
    from sandbox.dinero.models import Contact
    from tests import worker_process

    _connection, ops = customers_waiting
    ids = [op.pk for op in ops]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=worker_process.run_operations,
                               args=(_database_url(), _worker_settings(), order))
               for order in (ids, list(reversed(ids)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    for op in SyncOperation.objects.filter(pk__in=ids):
        assert op.state == SyncOperation.State.DONE, op.last_error
        # One claim per attempt: a second claim happens only after a recorded transient failure
        # (e.g. a timeout on a loaded machine) whose backoff had passed — never two workers at once.
        assert op.attempts == 1 + op.transient_failures
        assert Contact.objects.filter(external_reference=f"rackbeat:customer:{op.source_key}").count() == 1


@SHARED_DB
@pytest.mark.e2e
def test_worker_killed_mid_operation_is_recovered_without_a_duplicate(customers_waiting, settings):
    from sandbox.dinero.models import Contact
    from tests import worker_process

    _connection, ops = customers_waiting
    op = ops[0]
    context = multiprocessing.get_context("spawn")
    worker = context.Process(target=worker_process.die_after_creating_in_dinero,
                             args=(_database_url(), _worker_settings(), op.pk))
    worker.start()
    worker.join(timeout=300)
    assert worker.exitcode == 9
    op.refresh_from_db()
    assert op.state == SyncOperation.State.RUNNING
    reference = f"rackbeat:customer:{op.source_key}"
    assert Contact.objects.filter(external_reference=reference).count() == 1

    # The claim goes stale; the schedule gives it back and another worker finishes it.
    SyncOperation.objects.filter(pk=op.pk).update(
        claimed_at=timezone.now() - timedelta(minutes=settings.STALE_CLAIM_MINUTES + 1))
    assert worker_health.recover_stale_claims() == 1
    engine.run_operation(op.pk)
    op.refresh_from_db()
    assert op.state == SyncOperation.State.DONE, op.last_error
    assert "updated" in op.outcome
    assert Contact.objects.filter(external_reference=reference).count() == 1
