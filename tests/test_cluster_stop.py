"""``qcluster`` stops within ``Q_STOP_SECONDS`` + a few seconds under any supervisor.

A supervisor sends SIGTERM (systemd, most others) or SIGINT (a terminal's Ctrl-C) either to the
main process or to its whole process group. Each of the four is sent to a real ``qcluster``
(its own session, two worker processes, SQLite file or PostgreSQL) once every worker has
reported: the main process must end within the bound and leave no process of its tree behind.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection as db

from integration.core.worker_health import descendants
from tests.gunicorn_server import ROOT, shared_database

pytestmark = [pytest.mark.e2e]

STOP_SECONDS = 4
WORKERS = 2
# What the bound allows beyond Q_STOP_SECONDS: the kill, reaping, releasing claims.
SLACK_SECONDS = 5
STARTUP_SECONDS = 120


@pytest.fixture
def database(transactional_db) -> Iterator[tuple[str, Path | None]]:
    with shared_database() as served:
        yield served


def _heartbeats(path: Path | None) -> int:
    if path is None:
        with db.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM integration_workerheartbeat WHERE name LIKE '%%:%%'")
            return cursor.fetchone()[0]
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute("SELECT COUNT(*) FROM integration_workerheartbeat WHERE name LIKE '%:%'").fetchone()[0]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("target", ["process", "group"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_qcluster_stops_within_the_bound_whoever_gets_the_signal(database, signum, target, tmp_path):
    url, path = database
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true", "Q_SYNC": "false", "Q_WORKERS": str(WORKERS),
           "Q_STOP_SECONDS": str(STOP_SECONDS), "WORKER_HEARTBEAT_SECONDS": "1"}
    log = (tmp_path / "qcluster.log").open("wb")
    process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while _heartbeats(path) < WORKERS:
            assert process.poll() is None, (tmp_path / "qcluster.log").read_text()
            assert time.monotonic() < deadline, "the workers never reported"
            time.sleep(0.2)
        tree = descendants(process.pid)
        assert tree
        sent = time.monotonic()
        if target == "group":
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        try:
            process.wait(timeout=STOP_SECONDS + SLACK_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"qcluster still running {STOP_SECONDS + SLACK_SECONDS} s after {signum.name} to the "
                        f"{target}:\n{(tmp_path / 'qcluster.log').read_text()[-3000:]}")
        took = time.monotonic() - sent
        leftover = [pid for pid in tree if _alive(pid)]
        assert leftover == [], f"left behind after {took:.1f} s: {leftover}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
