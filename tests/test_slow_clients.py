"""The deployment as the README documents it keeps answering while dozens of slow clients hang on.

A slow client — a poor network, or someone trickling the headers of a request at
``/webhooks/…``, which needs no token to reach — holds whatever serves its connection until the
request is complete. Under gunicorn's sync workers three of them stop every answer, ``/healthz``
included. The documented command (``gunicorn config.wsgi -c config/gunicorn.py``) serves each
connection on a thread, so while 40 slow clients hold connections open, ``/healthz`` and a
webhook delivery are still answered.

Bounded in count (``SLOW_CLIENTS``) and time (``HOLD_SECONDS``), loopback only.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.gunicorn_server import gunicorn, shared_database

pytestmark = [pytest.mark.e2e]

SLOW_CLIENTS = 40
# The slow clients give up after this long at the latest; an answer must come well before.
HOLD_SECONDS = 90
ANSWER_WITHIN_SECONDS = 30
DEPLOYED = "config/gunicorn.py"


@pytest.fixture
def database(transactional_db) -> Iterator[str]:
    with shared_database() as (url, _path):
        yield url


class SlowClients:
    """Connections that send a webhook's headers one small piece a second, and never finish."""

    def __init__(self, url: str, count: int) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.count = count
        self.stop = threading.Event()
        self.connected = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._trickle, daemon=True) for _ in range(count)]

    def __enter__(self) -> SlowClients:
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + ANSWER_WITHIN_SECONDS
        while self.connected < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        # Every slow client has sent its first bytes: each now holds what serves its connection.
        time.sleep(1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _trickle(self) -> None:
        started = time.monotonic()
        try:
            with socket.create_connection(self.address, timeout=10) as sock:
                sock.sendall(f"POST /webhooks/rackbeat/{uuid.uuid4()}/ HTTP/1.1\r\nHost: localhost\r\n".encode())
                with self.lock:
                    self.connected += 1
                n = 0
                while not self.stop.wait(1.0) and time.monotonic() - started < HOLD_SECONDS:
                    sock.sendall(f"X-Slow-{n}: a\r\n".encode())
                    n += 1
        except OSError:
            pass  # the server closed it: that is allowed


def test_the_documented_deployment_answers_healthz_and_webhooks_while_slow_clients_hold_connections(database):
    with gunicorn(database, settings_file=DEPLOYED, extra_env={"WEB_WORKERS": "3"}) as url, \
            SlowClients(url, SLOW_CLIENTS) as slow:
        assert slow.connected == SLOW_CLIENTS
        began = time.monotonic()
        health = requests.get(f"{url}/healthz", timeout=ANSWER_WITHIN_SECONDS)
        webhook = requests.post(f"{url}/webhooks/rackbeat/{uuid.uuid4()}/", data="{}", timeout=ANSWER_WITHIN_SECONDS,
                                headers={"Content-Type": "application/json"})
        answered_after = time.monotonic() - began
        assert not slow.stop.is_set()  # the slow clients were still holding on when both answered
    assert health.status_code in (200, 503)  # answered (no worker runs in this test, so 503)
    assert webhook.status_code == 404  # an unknown address, answered
    assert answered_after < ANSWER_WITHIN_SECONDS


FEW_THREADS = 4
TRIES = 10
ANSWER_SMALL_WITHIN_SECONDS = 15


def test_a_worker_whose_threads_are_all_held_leaves_new_connections_to_a_worker_with_a_free_thread(database):
    """Two workers of 4 threads and 7 slow clients: one thread is free, and every request reaches it.

    However the 7 are spread, one worker has all its threads held. Stock ``gthread`` still accepts
    connections there and queues them behind the slow clients, so about every second request waited
    until a slow client gave up; here only the worker with the free thread listens.
    """
    env = {"WEB_WORKERS": "2", "WEB_THREADS": str(FEW_THREADS)}
    with gunicorn(database, settings_file=DEPLOYED, extra_env=env) as url, \
            SlowClients(url, 2 * FEW_THREADS - 1) as slow:
        answers = []
        for _ in range(TRIES):  # a new connection each time, so each is accepted anew
            answers.append(requests.get(f"{url}/healthz", timeout=ANSWER_SMALL_WITHIN_SECONDS,
                                        headers={"Connection": "close"}).status_code)
        assert not slow.stop.is_set()
    assert all(status in (200, 503) for status in answers), answers
