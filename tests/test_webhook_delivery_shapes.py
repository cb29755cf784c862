"""The first genuine deliveries teach the service what Rackbeat sends, instead of being refused.

The token is the secret; the ``Rackbeat-Account-Id`` header is a cross-check. A delivery with a
valid token and another (or no) account id is processed, recorded as a fact of the connection,
shown on its page and e-mailed once to the alert recipients. Every event name and header set
genuine deliveries carry is recorded once, at no cost to the intake once known.
"""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Connection
from integration.core.models import (
    RackbeatDeliveryShape,
    RackbeatWebhook,
    SyncOperation,
    WebhookDelivery,
)
from tests.test_webhooks import handled

USES = (handled,)
TOKEN = "a" * 32
SUPPLIER_TOKEN = "s" * 32


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.alert_recipients = "bogholder@nordlys.dk"
    connection.save()
    RackbeatWebhook.objects.create(connection=connection, event="customer.created", rackbeat_id="c", url="x",
                                   token=TOKEN)
    RackbeatWebhook.objects.create(connection=connection, event="supplier.created", rackbeat_id="s", url="x",
                                   token=SUPPLIER_TOKEN)
    return connection


def post(client, connection, *, event="customer.created", key=77, token=TOKEN, account=None, **extra):
    payload = json.dumps({"key": key, "key_name": "number"})
    headers = {"HTTP_RACKBEAT_WEBHOOK_TOKEN": token, "HTTP_RACKBEAT_WEBHOOK_EVENT": event, **extra}
    if account is not False:
        headers["HTTP_RACKBEAT_ACCOUNT_ID"] = connection.rackbeat_account_id if account is None else account
    return client.post(reverse("rackbeat-webhook", args=[connection.public_id]), data=payload,
                       content_type="application/json", **headers)


def test_valid_token_with_another_account_id_is_processed_recorded_and_alerted_once(
        client, active, handled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, active, account="9999")
        second = post(client, active, account="9999", key=78)
    assert first.status_code == 202 and second.status_code == 202
    assert handled == ["77", "78"]
    assert WebhookDelivery.objects.filter(connection=active, outcome="accepted").count() == 2
    shape = RackbeatDeliveryShape.objects.get(connection=active)
    assert (shape.event, shape.account_id, shape.expected_account_id) == ("customer.created", "9999", "1001")
    assert shape.account_differs
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bogholder@nordlys.dk"]
    assert "9999" in mail.outbox[0].body and "1001" in mail.outbox[0].body


def test_valid_token_without_account_id_is_processed_and_recorded(client, active, handled,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, active, account=False)
    assert response.status_code == 202 and handled == ["77"]
    shape = RackbeatDeliveryShape.objects.get(connection=active)
    assert shape.account_id == "" and shape.account_differs
    assert "no Rackbeat-Account-Id" in shape.account_text
    assert len(mail.outbox) == 1


def test_the_expected_account_id_is_recorded_without_an_alert(client, active, handled):
    assert post(client, active).status_code == 202
    shape = RackbeatDeliveryShape.objects.get(connection=active)
    assert not shape.account_differs
    assert "rackbeat-webhook-event" in shape.header_names and "rackbeat-account-id" in shape.header_names
    assert "rackbeat-webhook-token" in shape.header_names
    assert mail.outbox == []


def test_invalid_token_is_still_refused_whatever_the_account(client, active, handled):
    assert post(client, active, token="b" * 32, account="9999").status_code == 401
    assert post(client, active, token="b" * 32).status_code == 401
    assert not WebhookDelivery.objects.exists() and not RackbeatDeliveryShape.objects.exists()
    assert mail.outbox == []


def test_a_known_shape_costs_the_intake_no_statement(client, active, handled):
    post(client, active, key=77)
    table = RackbeatDeliveryShape._meta.db_table
    with CaptureQueriesContext(db_connection) as queries:
        assert post(client, active, key=78).status_code == 202
    assert [q["sql"] for q in queries.captured_queries if table in q["sql"]] == []
    # A new header set is a new shape, recorded once.
    post(client, active, key=79, HTTP_X_RACKBEAT_RETRY="1")
    assert RackbeatDeliveryShape.objects.filter(connection=active).count() == 2


def test_an_unregistered_event_name_with_a_webhooks_token_is_recorded_and_ignored(client, active, handled):
    response = post(client, active, event="creditor.created", token=SUPPLIER_TOKEN)
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert not SyncOperation.objects.exists() and handled == []
    shape = RackbeatDeliveryShape.objects.get(connection=active)
    assert (shape.event, shape.taken_as) == ("creditor.created", "supplier.created")
    assert WebhookDelivery.objects.get(connection=active).outcome == WebhookDelivery.Outcome.IGNORED


def test_an_unregistered_event_name_with_an_unknown_token_is_refused(client, active, handled):
    assert post(client, active, event="creditor.created", token="z" * 32).status_code == 401
    assert not RackbeatDeliveryShape.objects.exists()


def test_connection_page_shows_the_mismatch_and_the_events_and_headers_seen(
        client, active, handled, accountant_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, active, account="9999")
        post(client, active, event="creditor.created", token=SUPPLIER_TOKEN)
    page = accountant_client.get(reverse("admin:accounts_connection_change", args=[active.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="rackbeat-deliveries-seen"' in text
    assert "customer.created" in text and "creditor.created" in text
    assert "Rackbeat-Account-Id 9999, but the connection&#x27;s account is 1001" in text
    assert "rackbeat-webhook-event" in text
