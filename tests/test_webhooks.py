"""The Rackbeat webhook receiver: only genuine deliveries cause work, each once, never a 500."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from accounts.models import Connection
from integration.models import (
    IntegrationSettings,
    Kind,
    RackbeatWebhook,
    SyncOperation,
    WebhookDelivery,
)
from integration.transfers import base
from integration.transfers.base import Result

TOKEN = "a" * 32


@pytest.fixture
def handled(monkeypatch):
    """Master-data handlers replaced by one that records the keys it was asked to transfer."""
    import integration.transfers  # noqa: F401

    calls: list[str] = []

    def handler(op, ctx):
        calls.append(op.source_key)
        return Result(outcome="transferred")

    for kind in (Kind.CUSTOMER, Kind.SUPPLIER, Kind.PRODUCT, Kind.BOM):
        monkeypatch.setitem(base._REGISTRY, (kind.value, "to_dinero"), handler)
    return calls


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    for event in ("customer.created", "customer.updated", "product.updated", "made.up"):
        RackbeatWebhook.objects.create(connection=connection, event=event, rackbeat_id=event, url="x", token=TOKEN)
    return connection


def post(client, connection, event="customer.created", key=77, *, token=TOKEN, account=None, body=None):
    payload = body if body is not None else json.dumps({"key": key, "key_name": "number", "event": event,
                                                         "data": {"number": key}})
    return client.post(
        reverse("rackbeat-webhook", args=[connection.public_id]), data=payload, content_type="application/json",
        HTTP_RACKBEAT_WEBHOOK_TOKEN=token, HTTP_RACKBEAT_WEBHOOK_EVENT=event,
        HTTP_RACKBEAT_ACCOUNT_ID=connection.rackbeat_account_id if account is None else account,
    )


def test_genuine_delivery_creates_the_operation_and_answers_202(client, active, handled,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, active)
    assert response.status_code == 202
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key="77")
    assert op.trigger == "webhook" and op.state == SyncOperation.State.DONE
    delivery = WebhookDelivery.objects.get(connection=active)
    assert delivery.outcome == WebhookDelivery.Outcome.ACCEPTED and delivery.operation == op
    assert handled == ["77"]


def test_same_delivery_twice_is_one_operation(client, active, handled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, active)
        second = post(client, active)
    assert first.status_code == 202
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert SyncOperation.objects.filter(connection=active).count() == 1
    assert WebhookDelivery.objects.filter(connection=active).count() == 1
    assert handled == ["77"]


def test_wrong_token_is_401_and_causes_no_work(client, active, handled):
    response = post(client, active, token="b" * 32)
    assert response.status_code == 401
    assert not SyncOperation.objects.exists() and not WebhookDelivery.objects.exists()


def test_missing_token_is_401(client, active, handled):
    assert post(client, active, token="").status_code == 401


def test_token_of_another_event_is_not_accepted(client, active, handled):
    RackbeatWebhook.objects.create(connection=active, event="supplier.created", rackbeat_id="s", url="x",
                                   token="c" * 32)
    assert post(client, active, event="customer.created", token="c" * 32).status_code == 401


def test_wrong_account_is_403(client, active, handled):
    assert post(client, active, account="9999").status_code == 403
    assert not WebhookDelivery.objects.exists()


def test_unknown_connection_is_404(client, db):
    response = client.post(reverse("rackbeat-webhook", args=[uuid.uuid4()]), data="{}",
                           content_type="application/json")
    assert response.status_code == 404


def test_inactive_connection_is_409_and_recorded_nowhere(client, active, handled):
    active.set_state(Connection.State.PAUSED)
    active.save()
    assert post(client, active).status_code == 409
    assert not WebhookDelivery.objects.exists()


def test_bad_json_is_400(client, active, handled):
    assert post(client, active, body="{not json").status_code == 400
    assert post(client, active, body="[1, 2]").status_code == 400
    assert post(client, active, body="\xff\xfe").status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_get_is_not_allowed(client, active):
    assert client.get(reverse("rackbeat-webhook", args=[active.public_id])).status_code == 405


def test_unknown_event_is_recorded_and_ignored(client, active, handled):
    response = post(client, active, event="made.up")
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == WebhookDelivery.Outcome.IGNORED and delivery.event == "made.up"
    assert not SyncOperation.objects.exists()


def test_configured_event_names_replace_the_defaults(client, active, handled, django_capture_on_commit_callbacks):
    IntegrationSettings.objects.create(connection=active, webhook_events={"made.up": "product"})
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, active, event="made.up", key="A-1").status_code == 202
        assert post(client, active, event="customer.created").json()["status"] == "ignored"
    assert SyncOperation.objects.get().kind == Kind.PRODUCT


def test_updated_event_with_same_key_but_new_body_queues_again(client, active, handled,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, active, event="customer.updated", body=json.dumps({"key": 77, "event": "customer.updated",
                                                                        "changed": ["name"]}))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, active, event="customer.updated", body=json.dumps({"key": 77, "event": "customer.updated",
                                                                        "changed": ["ean"]}))
    assert handled == ["77", "77"]
    assert SyncOperation.objects.count() == 1


def test_body_without_a_key_is_recorded_as_ignored(client, active, handled):
    response = post(client, active, body=json.dumps({"event": "customer.created", "data": {}}))
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().outcome == WebhookDelivery.Outcome.IGNORED


def test_webhook_of_one_connection_never_reaches_another(client, active, other_connection, handled):
    other_connection.set_state(Connection.State.ACTIVE)
    other_connection.save()
    # The token is right for `active`, but the address is the other connection's.
    response = post(client, other_connection, account=other_connection.rackbeat_account_id)
    assert response.status_code == 401
