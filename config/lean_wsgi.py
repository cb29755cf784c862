"""Rackbeat's webhook deliveries through a lean middleware stack; everything else through the full one.

A delivery is a machine posting a small JSON body: it has no session, user, language, CSRF token,
flash messages or page to frame, and it is the one request this service must answer hundreds of
times a second when a customer books in bulk. So requests under ``/webhooks/`` are served by a
second Django handler whose middleware is ``WEBHOOK_MIDDLEWARE`` — the security middleware (HTTPS
redirect, HSTS, nosniff) and the NUL guard — while the admin and every page keep ``MIDDLEWARE``.
Both handlers share the URL map, views, database connections and settings; only the middleware
differs. The view itself authenticates each delivery by its token (see integration.triggers.webhooks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

WEBHOOK_PREFIX = "/webhooks/"


@contextmanager
def _middleware(middleware: list[str]):  # type: ignore[no-untyped-def]
    # Django reads settings.MIDDLEWARE once, when a handler loads its middleware; the lean handler
    # does so at start-up, before any request, with its own list in place for that moment.
    saved = settings.MIDDLEWARE
    settings.MIDDLEWARE = middleware
    try:
        yield
    finally:
        settings.MIDDLEWARE = saved


class LeanWSGIHandler(WSGIHandler):
    """Django's WSGI handler with ``WEBHOOK_MIDDLEWARE`` instead of ``MIDDLEWARE``."""

    def load_middleware(self, is_async: bool = False) -> None:
        with _middleware(list(settings.WEBHOOK_MIDDLEWARE)):
            super().load_middleware(is_async)


class PathDispatch:
    """One WSGI application: paths under ``/webhooks/`` to the lean handler, the rest to the full one."""

    def __init__(self, full: WSGIHandler, lean: WSGIHandler) -> None:
        self.full = full
        self.lean = lean

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # PATH_INFO is below SCRIPT_NAME, as Django's URL map sees it.
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return self.lean(environ, start_response)
        return self.full(environ, start_response)
