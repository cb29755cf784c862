"""The WSGI application gunicorn serves: webhook deliveries through the lean stack, pages through the full one.

The Django test client brings its own handler with the full middleware, so these tests call
``config.wsgi.application`` itself with a WSGI environ, as gunicorn does.
"""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from accounts.models import Connection
from config.wsgi import application
from integration.core.models import RackbeatWebhook, WebhookDelivery

TOKEN = "b" * 32


def call(path: str, *, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None):
    environ: dict = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "testserver",
                     "HTTP_HOST": "testserver", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                     "CONTENT_TYPE": "application/json"}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}

    # As Django's test client does: the test's database connection (and its transaction) must
    # outlive the request, which a real server would close at the request's end.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        answer["body"] = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    RackbeatWebhook.objects.create(connection=connection, event="customer.created", rackbeat_id="1", url="x",
                                   token=TOKEN)
    return connection


def deliver(connection: Connection, key: int, path: str | None = None) -> dict:
    return call(path or f"/webhooks/rackbeat/{connection.public_id}/", method="POST",
                body=json.dumps({"key": key, "key_name": "number"}).encode(),
                headers={"Rackbeat-Webhook-Token": TOKEN, "Rackbeat-Webhook-Event": "customer.created",
                         "Rackbeat-Account-Id": connection.rackbeat_account_id})


@pytest.mark.django_db(transaction=True)
def test_a_delivery_is_accepted_through_the_lean_stack_with_the_security_headers(active, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    answer = deliver(active, 31)
    assert answer["status"] == 202, answer["body"]
    assert WebhookDelivery.objects.get(key="31").outcome == "accepted"
    # The security middleware ran …
    assert answer["headers"]["x-content-type-options"] == "nosniff"
    # … and none of the page middleware: no session, language, frame or CSP handling.
    assert "set-cookie" not in answer["headers"]
    assert "vary" not in answer["headers"]
    assert "x-frame-options" not in answer["headers"]
    assert "content-security-policy" not in answer["headers"]


@pytest.mark.django_db
def test_pages_keep_the_full_stack(active):
    answer = call("/admin/login/")
    assert answer["status"] == 200
    assert answer["headers"]["x-frame-options"] == "DENY"
    assert "content-security-policy" in answer["headers"]
    assert "csrftoken" in answer["headers"].get("set-cookie", "")
    assert answer["headers"]["x-content-type-options"] == "nosniff"


@pytest.mark.django_db
def test_the_nul_guard_still_turns_away_hostile_webhook_paths(active):
    assert call("/webhooks/rackbeat/\x00/", method="POST")["status"] == 404
    assert call("/webhooks/rackbeat/x/?a=%00", method="POST")["status"] in (400, 404)
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_the_full_stack_keeps_its_middleware_after_the_lean_one_was_built(settings):
    from django.conf import settings as live

    assert "django.contrib.sessions.middleware.SessionMiddleware" in live.MIDDLEWARE
    assert live.WEBHOOK_MIDDLEWARE == ["django.middleware.security.SecurityMiddleware",
                                       "config.nul_guard.RejectNulCharacters"]
