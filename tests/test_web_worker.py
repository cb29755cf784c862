"""The web worker listens only while a thread is free; idle connections hold none (config/web_worker.py)."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

from gunicorn.workers.gthread import ThreadWorker

from config.web_worker import FreeThreadWorker


class Listening(FreeThreadWorker):
    """The worker's counting; gunicorn's listener switch and thread pool are replaced by records."""

    def __init__(self, threads: int) -> None:  # no arbiter, no sockets: the counts only
        self.cfg = SimpleNamespace(threads=threads)
        self.nr_conns = 0
        self.keepalived_conns: deque = deque()
        self.pending_conns: deque = deque()
        self.listening = True
        self.queued: list[object] = []

    def switch(self, enabled: bool) -> None:
        self.listening = enabled


def test_a_worker_stops_listening_when_its_last_thread_takes_a_connection(monkeypatch):
    monkeypatch.setattr(ThreadWorker, "set_accept_enabled", lambda self, enabled: self.switch(enabled))
    monkeypatch.setattr(ThreadWorker, "enqueue_req", lambda self, conn: self.queued.append(conn))
    worker = Listening(threads=2)
    for conn in ("a", "b"):
        worker.nr_conns += 1
        worker.enqueue_req(conn)
        assert worker.listening is (conn == "a")
    worker.set_accept_enabled(True)  # gunicorn's loop asks again: still no thread free
    assert not worker.listening
    worker.nr_conns -= 1  # a request finished and its connection closed
    worker.set_accept_enabled(True)
    assert worker.listening


def test_connections_kept_alive_or_not_yet_sending_hold_no_thread(monkeypatch):
    monkeypatch.setattr(ThreadWorker, "set_accept_enabled", lambda self, enabled: self.switch(enabled))
    worker = Listening(threads=2)
    worker.nr_conns = 5
    worker.keepalived_conns.extend(["k1", "k2", "k3"])
    worker.pending_conns.append("p1")
    assert worker.served() == 1
    worker.set_accept_enabled(True)
    assert worker.listening
    worker.keepalived_conns.pop()  # its next request came: a thread serves it
    worker.set_accept_enabled(True)
    assert not worker.listening
    worker.set_accept_enabled(False)  # gunicorn's own bound (worker_connections) still applies
    assert not worker.listening
