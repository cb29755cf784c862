"""The real processes of a chaos run: one gunicorn and N ``manage.py qcluster``, each in its own
process group so a SIGKILL takes the whole cluster (its sentinel and worker children) at once, as
a crashed container would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def served_environment(base: str, database_url: str) -> dict[str, str]:
    """This process's environment for a service whose vendors are the emulators it serves at ``base``.

    The machine's own ``DJANGO_*`` and ``Q_*`` variables are dropped; callers add what their run
    needs (settings module, budgets, clock) on top.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "Q_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "PUBLIC_BASE_URL": base,
        "RACKBEAT_API_URL": f"{base}/sandbox/rackbeat/api/", "RACKBEAT_APP_URL": f"{base}/sandbox/rackbeat/app/",
        "DINERO_API_URL": f"{base}/sandbox/dinero", "DINERO_APP_URL": f"{base}/sandbox/dinero/app/",
        "DINERO_TOKEN_URL": f"{base}/sandbox/dinero/oauth/token",
        "DINERO_CLIENT_ID": "sandbox-client", "DINERO_CLIENT_SECRET": "sandbox-secret",
        "VISMA_CONNECT_AUTHORIZE_URL": f"{base}/sandbox/visma/connect/authorize",
        "VISMA_CONNECT_TOKEN_URL": f"{base}/sandbox/visma/connect/token",
        "Q_SYNC": "false",
    })
    return env


def recreate_database(pg_url: str, database: str) -> None:
    """Drop and create a throwaway PostgreSQL database for a run (server URL without a database)."""
    import psycopg

    with psycopg.connect(f"{pg_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    # The suite's own fixed command lines (this interpreter, manage.py, gunicorn): nothing untrusted.
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,  # noqa: S603
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen | None, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it if it has not ended within ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill(process)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group (the cluster and every child it forked)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    port: int
    web_workers: int = 2
    web_threads: int = 16
    web: subprocess.Popen | None = None
    workers: list[subprocess.Popen | None] = field(default_factory=list)
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self, *, wait_seconds: float = 60.0) -> None:
        # Threads, because the emulated Dinero holds a request open for a whole "timeout" fault.
        self.web = _start([PYTHON, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                           "--workers", str(self.web_workers), "--threads", str(self.web_threads),
                           "--worker-class", "gthread", "--timeout", "120", "--graceful-timeout", "5"],
                          self.env, self.logs / "gunicorn.log")
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.web.returncode}; see {self.logs / 'gunicorn.log'}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code < 600:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer within a minute")

    def start_worker(self, slot: int) -> None:
        self.starts += 1
        process = _start([PYTHON, "manage.py", "qcluster"], self.env, self.logs / f"qcluster-{slot}.log")
        while len(self.workers) <= slot:
            self.workers.append(None)
        self.workers[slot] = process

    def kill_worker(self, slot: int) -> None:
        process = self.workers[slot]
        if process is not None:
            kill(process)
        self.workers[slot] = None

    def stop_all(self) -> None:
        for process in self.workers:
            stop(process)
        stop(self.web)

    def dead(self) -> list[str]:
        """Processes that ended on their own (not killed by the suite)."""
        found = [f"qcluster {slot} (exit {p.returncode})" for slot, p in enumerate(self.workers)
                 if p is not None and p.poll() is not None]
        if self.web is not None and self.web.poll() is not None:
            found.append(f"gunicorn (exit {self.web.returncode})")
        return found


def run_manage(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as handle:
        subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603
                       stdout=handle, stderr=subprocess.STDOUT, check=True, stdin=subprocess.DEVNULL, timeout=600)
