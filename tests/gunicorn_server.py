"""The service under gunicorn in a subprocess, on a free loopback port, for tests and benchmarks over real HTTP.

pytest-django's ``live_server`` shares one in-memory SQLite connection between all request threads,
so it cannot take concurrent deliveries the way production does. This starts the real thing:
``gunicorn config.wsgi`` with its own worker processes, against a database the caller names.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from django.db import connection as db

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
_LISTENING = re.compile(rb"Listening at: http://127\.0\.0\.1:(\d+)")


def database_url(db_settings: dict[str, Any]) -> str:
    """A DATABASE_URL for a PostgreSQL database described by Django settings."""
    user = db_settings.get("USER") or "postgres"
    password = f":{db_settings['PASSWORD']}" if db_settings.get("PASSWORD") else ""
    host = db_settings.get("HOST") or "127.0.0.1"
    port = db_settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db_settings['NAME']}"


@contextmanager
def shared_database() -> Iterator[tuple[str, Path | None]]:
    """The test database as another process reaches it: its URL, and the SQLite file (else None).

    PostgreSQL: the test database itself (what the test committed is there). SQLite: the test
    database lives in this process's memory, so the other process gets a file copy of it.
    """
    if db.vendor == "postgresql":
        yield database_url(db.settings_dict), None
        return
    directory = Path(tempfile.mkdtemp(prefix="served-db-"))
    try:
        path = directory / "db.sqlite3"
        target = sqlite3.connect(path)
        db.ensure_connection()
        db.connection.backup(target)
        target.close()
        yield f"sqlite:///{path}", path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def gunicorn(database: str, *, workers: int = 2, extra_env: dict[str, str] | None = None,
             startup_seconds: float = 60.0, code: Path = ROOT, settings_file: str | None = None) -> Iterator[str]:
    """Serve the service with ``workers`` processes on 127.0.0.1 (port chosen by the OS); yields its URL.

    ``code`` serves another checkout of the service (a benchmark comparing two versions);
    ``settings_file`` (say ``config/gunicorn.py``) serves it as deployed, with that file's workers.
    """
    env = {**os.environ, "DATABASE_URL": database, "DEBUG": "true", "SANDBOX_ENABLED": "true",
           "Q_SYNC": "false", "CONN_MAX_AGE": "60", **(extra_env or {})}
    with tempfile.TemporaryDirectory(prefix="gunicorn-") as directory:
        log_path = Path(directory) / "gunicorn.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(GUNICORN), "config.wsgi:application",
                 *(["--config", settings_file] if settings_file else ["--workers", str(workers)]),
                 "--bind", "127.0.0.1:0", "--log-level", "info",
                 # As deployed, no access log (gunicorn then formats no line per request); on request, to the log.
                 *(["--access-logfile", "-"] if os.environ.get("GUNICORN_ACCESS_LOG") else []),
                 *([] if settings_file else ["--graceful-timeout", "5", "--timeout", "60"]),
                 "--control-socket", str(Path(directory) / "ctl")],
                cwd=code, env=env, stdout=log, stderr=log,
            )
        try:
            yield _wait_until_listening(process, log_path, startup_seconds)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(process: subprocess.Popen, log_path: Path, startup_seconds: float) -> str:
    deadline = time.monotonic() + startup_seconds
    url = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        if not url:
            found = _LISTENING.search(log_path.read_bytes())
            if found:
                url = f"http://127.0.0.1:{int(found.group(1))}"
        if url:
            try:
                # Both workers import the application before they serve; any answer means ready.
                requests.get(f"{url}/healthz", timeout=5)
                return url
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start within {startup_seconds} s:\n{log_path.read_text(errors='replace')}")
