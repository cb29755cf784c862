"""django-q2's broker as the cluster runs it: one prepared statement per poll and per finished task."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ

from integration.core import queue_broker
from integration.core.queue_broker import LeanORM

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def naps(monkeypatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr(queue_broker, "sleep", taken.append)
    return taken


def _queued(payload: str, *, lock=None, key: str = Conf.CLUSTER_NAME) -> int:
    return OrmQ.objects.create(key=key, payload=payload, lock=lock or timezone.now() - timedelta(seconds=1)).pk


def test_the_cluster_runs_the_lean_broker():
    assert isinstance(get_broker(), LeanORM)


def test_a_poll_hands_out_the_due_tasks_oldest_first_in_one_statement_and_locks_them(naps, monkeypatch):
    monkeypatch.setattr(Conf, "BULK", 10)
    first, second = _queued("first"), _queued("second")
    later = _queued("later", lock=timezone.now() + timedelta(minutes=5))
    other_queue = _queued("elsewhere", key="another-cluster")
    broker = get_broker()

    with CaptureQueriesContext(connection) as statements:
        handed = broker.dequeue()

    assert handed == [(first, "first"), (second, "second")]
    assert len(statements) == 1, [s["sql"] for s in statements]
    assert naps == []
    # Locked until the retry time: not handed out again while a worker runs it.
    for pk in (first, second):
        assert OrmQ.objects.get(pk=pk).lock > timezone.now() + timedelta(seconds=Conf.RETRY - 60)
    assert broker.dequeue() is None
    assert naps == [Conf.POLL]
    assert OrmQ.objects.filter(pk__in=[later, other_queue]).count() == 2


def test_at_most_bulk_tasks_a_poll(naps, monkeypatch):
    monkeypatch.setattr(Conf, "BULK", 2)
    queued = [_queued(f"task {n}") for n in range(3)]
    broker = get_broker()
    assert [pk for pk, _ in broker.dequeue()] == queued[:2]
    assert [pk for pk, _ in broker.dequeue()] == queued[2:]


def test_a_finished_task_is_deleted_by_one_statement(naps):
    done, waiting = _queued("done"), _queued("waiting")
    with CaptureQueriesContext(connection) as statements:
        get_broker().acknowledge(done)
    assert len(statements) == 1
    assert list(OrmQ.objects.values_list("pk", flat=True)) == [waiting]


def test_stale_connections_are_closed_once_every_few_seconds_not_every_poll(naps, monkeypatch):
    broker = get_broker()
    closed: list[bool] = []
    monkeypatch.setattr(queue_broker.db, "close_old_connections", lambda: closed.append(True))
    clock = iter([100.0, 101.0, 104.9, 105.0, 106.0])
    monkeypatch.setattr(queue_broker, "monotonic", lambda: next(clock))
    for _ in range(5):
        broker.dequeue()
    assert closed == [True, True]  # at 100.0 and 105.0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED: two pushers at once")
def test_two_pushers_never_hand_out_one_task_twice(naps):
    queued = {_queued(f"task {n}") for n in range(60)}
    handed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def push(slot: int) -> None:
        broker = LeanORM(list_key=Conf.CLUSTER_NAME)
        start.wait()
        try:
            for _ in range(40):
                handed[slot].extend(pk for pk, _ in broker.dequeue() or [])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=push, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = handed[0] + handed[1]
    assert sorted(together) == sorted(queued)
    assert len(together) == len(set(together))
