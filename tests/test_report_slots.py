"""Long reports never crowd out transfers: a global cap, one report per connection, no worker waiting."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from integration import tasks
from integration.books import reconciliation
from integration.core import report_slots
from integration.core.models import Reconciliation, SyncRun
from integration.triggers import start_sync


@pytest.fixture
def queued(settings):
    """Tasks go to the broker as in production; one report slot for the installation."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.REPORT_SLOTS = 1
    return settings


def _reconciliation(connection) -> Reconciliation:
    """A requested reconciliation whose task is about to run."""
    return Reconciliation.objects.create(connection=connection, period_start=date(2026, 1, 1),
                                         period_end=date(2026, 12, 31), stage="Waiting for a worker")


def test_a_reconciliation_waits_for_a_free_slot_in_the_queue_not_on_a_worker(queued, connection, other_connection,
                                                                           monkeypatch):
    ran: list[int] = []
    monkeypatch.setattr(reconciliation, "run", lambda pk: ran.append(pk))
    waiting = _reconciliation(other_connection)
    held = report_slots.claim(connection.pk, "another report", hold_seconds=600)
    assert held is not None

    tasks.run_reconciliation(waiting.pk)
    assert ran == []
    waiting.refresh_from_db()
    assert waiting.stage == "Waiting for another report to finish" and waiting.state == Reconciliation.State.RUNNING
    again = OrmQ.objects.get()
    assert again.lock > timezone.now()  # handed out only after the wait, to any worker

    report_slots.release(held, "another report")
    tasks.run_reconciliation(waiting.pk)
    assert ran == [waiting.pk]
    assert report_slots.claim(connection.pk, "next", hold_seconds=600) is not None  # released after the run


def test_a_connection_runs_one_report_at_a_time_and_others_take_the_remaining_slots(queued, connection,
                                                                                  other_connection):
    queued.REPORT_SLOTS = 3
    assert report_slots.claim(connection.pk, "first", hold_seconds=600) is not None
    assert report_slots.claim(connection.pk, "second of the same tenant", hold_seconds=600) is None
    assert report_slots.claim(other_connection.pk, "another tenant", hold_seconds=600) is not None


def test_the_cap_is_a_quarter_of_the_workers_unless_set(settings):
    settings.REPORT_SLOTS = 0
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 8}
    assert report_slots.capacity() == 2
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 1}
    assert report_slots.capacity() == 1


def test_a_slot_held_by_a_process_that_died_frees_itself_when_its_hold_ends(queued, connection, other_connection):
    assert report_slots.claim(connection.pk, "died", hold_seconds=-1) is not None
    assert report_slots.claim(other_connection.pk, "alive", hold_seconds=600) is not None


def test_a_start_sync_slice_waits_for_a_free_slot_in_the_queue(queued, connection, other_connection, monkeypatch):
    sliced: list[int] = []
    monkeypatch.setattr(start_sync, "_run_slice", lambda pk: sliced.append(pk))
    run = SyncRun.objects.create(connection=other_connection, kind=SyncRun.RunKind.START_SYNC)
    held = report_slots.claim(connection.pk, "a reconciliation", hold_seconds=600)

    start_sync.run(run.pk)
    assert sliced == []
    assert OrmQ.objects.get().lock > timezone.now()

    report_slots.release(held, "a reconciliation")
    start_sync.run(run.pk)
    assert sliced == [run.pk]
