"""Knowing quickly that a worker died, and stopping workers quickly when asked.

**Heartbeats per worker process.** Every django-q2 worker process (and any process that runs an
operation) writes a ``WorkerHeartbeat`` row named like its claims (``host:pid``) every
``WORKER_HEARTBEAT_SECONDS`` from a small background thread. A claim whose worker has not beaten
for ``WORKER_DEAD_AFTER_SECONDS`` — or, on the same host, whose process no longer exists — is
given back at once, instead of after ``STALE_CLAIM_MINUTES``. The heartbeat threads also do that
sweep, so recovery does not wait for a schedule. A worker that is alive but stuck keeps beating;
its claim is recovered by the older rule (``STALE_CLAIM_MINUTES``).

**Bounded stop.** django-q2's cluster stops gracefully on SIGTERM/SIGINT: the sentinel stops the
pusher and lets the workers finish every task already fetched — and its pusher can block forever
putting a task into a full queue, so ``qcluster`` could hang for minutes. Here the first signal
starts that graceful stop *and* a deadline of ``Q_STOP_SECONDS``; a process tree still alive then
is killed (a second signal kills at once), the claims of the killed workers are given back, and the
main process ends — it may itself be stuck when the signal went to the whole process group (the
sentinel dies with it, possibly holding a lock the graceful stop waits for). Nothing is lost by
that: a killed worker's claim is released, tasks fetched but never run are queued again by
``run_due`` (see ``engine.LOST_TASK_SECONDS``); every transfer looks documents up before creating
them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.cluster import Cluster

from integration.core import engine
from integration.core.engine import release_claims, worker_name
from integration.core.models import SyncOperation, WorkerHeartbeat

logger = logging.getLogger(__name__)

_started_in_pid: int | None = None
_lock = threading.Lock()


# --- heartbeats -------------------------------------------------------------------------------------

def heartbeat_seconds() -> float:
    return float(getattr(settings, "WORKER_HEARTBEAT_SECONDS", 10))


def dead_after() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "WORKER_DEAD_AFTER_SECONDS", 45)))


def beat(name: str) -> None:
    WorkerHeartbeat.objects.update_or_create(name=name[:100], defaults={"beat_at": timezone.now()})


def start_heartbeat(**_signal_kwargs: Any) -> None:
    """Start this process's heartbeat thread (once per process; a forked child starts its own)."""
    global _started_in_pid
    if settings.Q_CLUSTER.get("sync"):
        return  # tasks run inline in the calling process (development, tests): no worker to watch
    with _lock:
        if _started_in_pid == os.getpid():
            return
        _started_in_pid = os.getpid()

    name = worker_name()
    thread = threading.Thread(target=_beat_forever, args=(name,), name="heartbeat", daemon=True)
    thread.start()


def _beat_forever(name: str) -> None:
    stop = threading.Event()
    while not stop.is_set():
        try:
            beat(name)
            release_claims_of_dead_workers()
        except Exception:  # a database hiccup must not end the heartbeat for good
            logger.exception("Worker heartbeat failed")
        finally:
            # The thread holds its own connection; give it back between beats.
            connection.close()
        stop.wait(heartbeat_seconds())


def _local_pid(worker: str) -> int | None:
    """The pid of a claimer on this host (claims are named ``host:pid``), else None."""
    host, _, pid = worker.rpartition(":")
    return int(pid) if host == socket.gethostname()[:len(host)] and host and pid.isdigit() else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_workers(claimers: set[str]) -> set[str]:
    """The claimers known to be dead.

    On this host the process table decides (a process that exists is alive, whatever its
    heartbeat says). Elsewhere a heartbeat older than ``WORKER_DEAD_AFTER_SECONDS`` does; a
    claimer without heartbeats on another host (a web process running troubleshooting) is left
    to the ``STALE_CLAIM_MINUTES`` rule.
    """

    if not claimers:
        return set()
    beats = dict(WorkerHeartbeat.objects.filter(name__in=claimers).values_list("name", "beat_at"))
    cutoff = timezone.now() - dead_after()
    dead = set()
    for worker in claimers:
        pid = _local_pid(worker)
        if pid is not None:
            if not _process_exists(pid):
                dead.add(worker)
        elif worker in beats and beats[worker] < cutoff:
            dead.add(worker)
    return dead


def release_claims_of_dead_workers() -> int:
    """Give the claims of dead workers back to the queue; returns how many."""

    claimers = set(SyncOperation.objects.filter(state=SyncOperation.State.RUNNING)
                   .exclude(claimed_by="").values_list("claimed_by", flat=True).distinct())
    dead = dead_workers(claimers)
    if not dead:
        return 0
    return release_claims(SyncOperation.objects.filter(state=SyncOperation.State.RUNNING, claimed_by__in=dead),
                          reason="dead")


def prune_heartbeats(older_than: timedelta = timedelta(days=1)) -> int:
    deleted, _ = WorkerHeartbeat.objects.filter(beat_at__lt=timezone.now() - older_than).delete()
    return deleted


def recover_stale_claims() -> int:
    """Give back the claims of dead workers, and claims older than STALE_CLAIM_MINUTES (hung)."""
    cutoff = timezone.now() - timedelta(minutes=settings.STALE_CLAIM_MINUTES)
    recovered = release_claims_of_dead_workers()
    stale = SyncOperation.objects.filter(state=SyncOperation.State.RUNNING, claimed_at__lt=cutoff)
    recovered += engine.release_claims(stale, reason="stale")
    prune_heartbeats()
    return recovered


# --- bounded stop -------------------------------------------------------------------------------------

def stop_seconds() -> float:
    return float(getattr(settings, "Q_STOP_SECONDS", 10))


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields follow the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def kill_tree(pid: int) -> None:
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def bound_cluster_stop() -> None:
    """Make django-q2's ``Cluster`` stop within ``Q_STOP_SECONDS`` of SIGTERM/SIGINT."""

    graceful = Cluster.sig_handler
    if getattr(graceful, "bounded", False):
        return

    def sig_handler(self: Any, signum: int, frame: Any) -> None:
        if getattr(self, "_stop_deadline", None) is not None:
            logger.warning("Second stop signal: killing the worker processes now")
            kill_tree(os.getpid())
            return
        me = os.getpid()
        deadline = threading.Timer(stop_seconds(), _overdue, args=(me,))
        deadline.daemon = True
        self._stop_deadline = deadline
        deadline.start()
        graceful(self, signum, frame)

    sig_handler.bounded = True  # type: ignore[attr-defined]
    Cluster.sig_handler = sig_handler  # type: ignore[method-assign]


def _overdue(pid: int) -> None:
    logger.warning("The cluster did not stop within %s s: killing its processes", stop_seconds())
    kill_tree(pid)
    _end_after_kill()


def _end_after_kill() -> None:
    """Give back what the killed workers held, then end this process whatever it is waiting for.

    When the signal went to the whole process group, the sentinel died with it — possibly while
    holding a lock of the stop event the graceful stop waits on — so the main thread may never
    return. The claims of workers that are gone are released here, not left to the next sweep.
    """
    try:
        _reap_children()
        released = release_claims_of_dead_workers()
        if released:
            logger.warning("Gave back %s operations held by the killed worker processes", released)
    except Exception:
        logger.exception("Could not give back the claims of the killed worker processes")
    finally:
        connection.close()
        logging.shutdown()
        os._exit(1)


def _reap_children() -> None:
    """Collect this process's dead children, so none of them is taken for alive."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
