"""Recovery in about a minute: dead workers' claims, lost tasks, and a cluster that stops when told."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import Connection
from integration.core import engine, worker_health
from integration.core.models import Direction, Kind, SyncOperation, WorkerHeartbeat

State = SyncOperation.State


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    return connection


def claimed(connection, worker: str, key: str = "1001", minutes_ago: float = 1) -> SyncOperation:
    return SyncOperation.objects.create(
        connection=connection, kind=Kind.SALES_INVOICE, direction=Direction.TO_DINERO, source_key=key,
        state=State.RUNNING, claimed_by=worker, claimed_at=timezone.now() - timedelta(minutes=minutes_ago),
        attempts=1,
    )


def finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def not_inline(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}


def test_a_claim_of_a_process_gone_from_this_host_is_given_back_at_once(active, not_inline):
    worker = f"{socket.gethostname()}:{finished_pid()}"
    op = claimed(active, worker)
    started_at = op.claimed_at
    assert worker_health.release_claims_of_dead_workers() == 1
    op.refresh_from_db()
    assert op.state == State.PENDING and op.claimed_by == ""
    started, died = op.events.all()
    # The attempt's own entry (written with an outcome that never came) is written by the recovery,
    # at the moment the attempt started.
    assert (started.message, started.at, started.attempt) == (f"Attempt 1 started by {worker}.", started_at, 1)
    assert "died during attempt 1" in died.message
    assert OrmQ.objects.count() == 1  # queued again at once


def test_a_live_process_on_this_host_keeps_its_claim_even_with_an_old_heartbeat(active):
    me = f"{socket.gethostname()}:{os.getpid()}"
    WorkerHeartbeat.objects.create(name=me, beat_at=timezone.now() - timedelta(hours=1))
    op = claimed(active, me)
    assert worker_health.release_claims_of_dead_workers() == 0
    op.refresh_from_db()
    assert op.state == State.RUNNING


def test_a_worker_on_another_host_is_dead_when_its_heartbeat_stopped(active, other_connection, settings):
    settings.WORKER_DEAD_AFTER_SECONDS = 45
    silent = claimed(active, "other-host:4242")
    WorkerHeartbeat.objects.create(name="other-host:4242", beat_at=timezone.now() - timedelta(seconds=46))
    beating = claimed(active, "other-host:5151", key="1002")
    WorkerHeartbeat.objects.create(name="other-host:5151", beat_at=timezone.now() - timedelta(seconds=5))
    unknown = claimed(active, "web-host:77", key="1003")
    assert worker_health.release_claims_of_dead_workers() == 1
    states = dict(SyncOperation.objects.values_list("pk", "state"))
    assert states == {silent.pk: State.PENDING, beating.pk: State.RUNNING, unknown.pk: State.RUNNING}


def test_the_recovery_schedule_also_gives_back_claims_older_than_the_stale_limit(active, settings):
    settings.STALE_CLAIM_MINUTES = 15
    hung = claimed(active, "other-host:1", minutes_ago=16)
    WorkerHeartbeat.objects.create(name="other-host:1", beat_at=timezone.now())
    fresh = claimed(active, "other-host:1", key="1002", minutes_ago=1)
    assert worker_health.recover_stale_claims() == 1
    assert dict(SyncOperation.objects.values_list("pk", "state")) == {hung.pk: State.PENDING, fresh.pk: State.RUNNING}


def test_a_beat_is_named_like_the_claims_of_its_process():
    assert engine.worker_name() == f"{socket.gethostname()}:{os.getpid()}"


@pytest.mark.django_db
def test_a_beat_is_written_and_old_ones_are_pruned():
    worker_health.beat("host:1")
    WorkerHeartbeat.objects.create(name="host:2", beat_at=timezone.now() - timedelta(days=2))
    assert worker_health.prune_heartbeats() == 1
    assert list(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["host:1"]


# --- lost tasks -----------------------------------------------------------------------------------

def pending_with_task_queued(connection, seconds_ago: float) -> SyncOperation:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    return SyncOperation.objects.create(
        connection=connection, kind=Kind.SALES_INVOICE, direction=Direction.TO_DINERO, source_key="1001",
        next_attempt_at=at, enqueued_at=at,
    )


def test_a_task_lost_with_a_dead_worker_is_queued_again_within_a_minute(active, not_inline):
    op = pending_with_task_queued(active, engine.LOST_TASK_SECONDS + 1)
    assert engine.LOST_TASK_SECONDS <= 60
    assert engine.run_due() == 1
    op.refresh_from_db()
    assert op.enqueued_at > timezone.now() - timedelta(seconds=5)


def test_a_task_merely_waiting_in_a_busy_queue_is_not_duplicated(active, not_inline):
    pending_with_task_queued(active, engine.LOST_TASK_SECONDS + 1)
    OrmQ.objects.create(key="integration", payload="waiting", lock=timezone.now() - timedelta(seconds=70))
    assert engine.run_due() == 0


# --- stopping -------------------------------------------------------------------------------------

def test_killing_a_tree_reaches_the_grandchildren():
    script = ("import subprocess, sys, time; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
              "print(p.pid, flush=True); time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())
    assert grandchild in worker_health.descendants(child.pid)
    worker_health.kill_tree(child.pid)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    for _ in range(600):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        # A killed process lingers as a zombie until reaped by its (now dead) parent's init.
        if open(f"/proc/{grandchild}/stat").read().rsplit(")", 1)[-1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild survived")


def test_the_cluster_stop_is_bounded_and_a_second_signal_kills_at_once(monkeypatch):
    from django_q.cluster import Cluster

    worker_health.bound_cluster_stop()
    worker_health.bound_cluster_stop()  # idempotent
    assert Cluster.sig_handler.bounded
    killed, timers = [], []
    monkeypatch.setattr(worker_health, "kill_tree", killed.append)
    ended: list[bool] = []  # the real one gives back the claims and ends the process (tests/test_cluster_stop.py)
    monkeypatch.setattr(worker_health, "_end_after_kill", lambda: ended.append(True))

    class Timer:
        def __init__(self, seconds, func, args):
            self.seconds, self.func, self.args, self.daemon = seconds, func, args, False
            timers.append(self)

        def start(self):
            pass

    monkeypatch.setattr(worker_health.threading, "Timer", Timer)
    stops = []
    cluster = Cluster.__new__(Cluster)
    cluster.stop = lambda: stops.append(True)
    Cluster.sig_handler(cluster, signal.SIGTERM, None)
    assert stops == [True] and killed == []
    assert timers[0].seconds == worker_health.stop_seconds()
    timers[0].func(*timers[0].args)  # the deadline passes with the cluster still stopping
    assert killed == [os.getpid()] and ended == [True]
    Cluster.sig_handler(cluster, signal.SIGINT, None)
    assert killed == [os.getpid(), os.getpid()] and stops == [True]
