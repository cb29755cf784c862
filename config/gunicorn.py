"""gunicorn's settings for production: ``gunicorn config.wsgi -c config/gunicorn.py``.

Threaded workers (``gthread``): a client that sends its request slowly — a slow network, or an
attacker trickling headers at ``/webhooks/…``, which needs no token — holds one thread, not a whole
process. With sync workers three such clients stop every answer, ``/healthz`` included; here
``WEB_WORKERS`` × ``WEB_THREADS`` (3 × 32) requests are served at once, so dozens of slow clients
leave the others answered (tests/test_slow_clients.py). A worker listens only while one of its
threads is free (config/web_worker.py), so a connection is never queued behind slow clients on one
worker while another has threads idle. A thread opens a database connection only
for a request that needs one (kept ``CONN_MAX_AGE`` seconds), so PostgreSQL's ``max_connections``
must cover the busiest moment: web threads plus ``qcluster`` workers on every host.
"""

from __future__ import annotations

import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
worker_class = "config.web_worker.FreeThreadWorker"
workers = int(os.environ.get("WEB_WORKERS", "3"))
threads = int(os.environ.get("WEB_THREADS", "32"))
# A request of ours answers in well under a second; a worker silent this long is restarted.
timeout = 60
# Rackbeat and the proxy reuse connections; an idle one is closed after this long.
keepalive = 5
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = 30
