"""The web's gunicorn worker: threaded, and taking a new connection only when a thread is free for it.

gunicorn's ``gthread`` worker accepts connections until it holds ``worker_connections`` (1,000)
of them and queues each on its thread pool. A worker whose threads are all held by slow clients
(someone trickling a request's headers at ``/webhooks/…``) therefore still accepts the next
connection and leaves it waiting behind them, while another worker's threads are idle: with 40
slow clients over 3 workers of 32 threads, a webhook delivery could wait for a slow client to give
up (tests/test_slow_clients.py).

Here a worker listens only while fewer of its connections are being served than it has threads;
connections kept alive between requests, or accepted but not yet sending, hold no thread and do
not count. A full worker leaves new connections to the others, and when every worker is full they
wait in the listening socket's backlog, served first come first served as threads come free.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker


class FreeThreadWorker(ThreadWorker):
    """``gthread`` that accepts a connection only while one of its threads is free to serve it."""

    def served(self) -> int:
        """Connections a thread serves or will serve next: neither kept alive nor waiting for data."""
        idle = len(self.keepalived_conns) + len(getattr(self, "pending_conns", ()))
        return self.nr_conns - idle

    def set_accept_enabled(self, enabled: bool) -> None:
        # gunicorn's loop enables accepting whenever it holds fewer than worker_connections.
        super().set_accept_enabled(enabled and self.served() < self.cfg.threads)

    def enqueue_req(self, conn) -> None:
        # A new connection, or a kept-alive one with its next request: one more for the threads.
        super().enqueue_req(conn)
        if self.served() >= self.cfg.threads:
            super().set_accept_enabled(False)
