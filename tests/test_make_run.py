"""`make run`'s Ctrl-C stops the worker gracefully: one stop signal, never the "kill now" of a second.

The test runs the real Makefile target in a pseudo-terminal and presses Ctrl-C the way a terminal
does (SIGINT to the foreground process group), on a throwaway SQLite database.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from integration.core.worker_health import descendants

ROOT = Path(__file__).resolve().parent.parent
# Generous: migrate, the demo data and two Django processes starting on a loaded machine.
START_TIMEOUT = 600
STOP_TIMEOUT = 120

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until(fd: int, pid: int, wanted: list[str], seen: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = "".join(seen)
        if all(w in text for w in wanted):
            return True
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return all(w in "".join(seen) for w in wanted)
            if not chunk:
                return all(w in "".join(seen) for w in wanted)
            seen.append(chunk.decode(errors="replace"))
    return False


def test_ctrl_c_stops_make_run_with_one_graceful_stop(tmp_path):
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    # -o: the shared virtualenv is already installed; make must not reinstall into it.
    args = ["make", "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", f"PORT={_free_port()}",
            "run"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal session of its own, as a person's shell would give
        # A suite started in the background by a non-interactive shell inherits SIGINT ignored, and
        # an ignored signal stays ignored across exec (bash cannot even trap it): a person's terminal
        # delivers Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(ROOT)
        os.execvpe("make", args, env)
    seen: list[str] = []
    try:
        started = _read_until(fd, pid, ["Quit the server with", "running."], seen, START_TIMEOUT)
        assert started, "make run did not start:\n" + "".join(seen)[-3000:]
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground process group
        _read_until(fd, pid, ["\x00never"], seen, STOP_TIMEOUT)  # until make's output ends
        # The terminal closes a moment before make itself has exited: give it the stop bound to end.
        deadline = time.monotonic() + STOP_TIMEOUT
        waited, _status = os.waitpid(pid, os.WNOHANG)
        while waited == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            waited, _status = os.waitpid(pid, os.WNOHANG)
        output = "".join(seen)
        assert waited == pid, "make run still running after Ctrl-C:\n" + output[-3000:]
        assert "Second stop signal" not in output, output[-3000:]
        assert "stopped" in output.lower(), output[-3000:]
    finally:
        for leftover in [*descendants(pid), pid]:  # only what this test started
            try:
                os.kill(leftover, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.close(fd)
