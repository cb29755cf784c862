"""End to end over real HTTP: Rackbeat's thin webhooks, where every update of a record has the same body.

Real deliveries are only ``{"key_name": "number", "key": "1021"}`` with the event in a header, so
the second update of a customer looks exactly like the first. Each must still lead to a fresh read
and reach Dinero at once — not at the next poll.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.core.models import Kind, SyncOperation, WebhookDelivery
from sandbox.rackbeat.models import Account
from sandbox.rackbeat.models import WebhookDelivery as SentDelivery
from tests.engine_fixtures import demo
from tests.test_e2e_master_data import active, dinero_contact, rackbeat

USES = (demo, active)
pytestmark = [pytest.mark.e2e]


def _an_hour_passes(connection, number: int) -> None:
    """What the receiver and the sync log recorded so far happened an hour ago."""
    earlier = timezone.now() - timedelta(hours=1)
    WebhookDelivery.objects.filter(connection=connection, key=str(number)).update(received_at=earlier)
    SyncOperation.objects.filter(connection=connection, source_key=str(number)).update(finished_at=earlier)


def test_sandbox_sends_thin_bodies_with_the_event_in_the_header_by_default(active):
    number = rackbeat("POST", "customers", {"name": "Tynd ApS", "contact_email": "t@tynd.dk"})["customer"]["number"]
    sent = SentDelivery.objects.get(event="customer.created", payload__key=str(number))
    assert sent.payload == {"key_name": "number", "key": str(number)}
    assert sent.state == SentDelivery.State.DELIVERED


def test_an_update_webhook_repeated_an_hour_later_reaches_dinero_within_seconds(active):
    number = rackbeat("POST", "customers", {"name": "Første Navn ApS", "contact_email": "a@navn.dk"})["customer"]["number"]
    rackbeat("PUT", f"customers/{number}", {"name": "Andet Navn ApS"})
    assert dinero_contact(active, f"rackbeat:customer:{number}")["Name"] == f"{number} – Andet Navn ApS"
    _an_hour_passes(active, number)

    rackbeat("PUT", f"customers/{number}", {"name": "Tredje Navn ApS"})

    updates = SentDelivery.objects.filter(event="customer.updated", payload__key=str(number)).order_by("pk")
    assert len({str(u.payload) for u in updates}) == 1 and updates.count() == 2  # identical bodies
    # No poll ran: the second identical delivery alone brought the change to Dinero.
    assert dinero_contact(active, f"rackbeat:customer:{number}")["Name"] == f"{number} – Tredje Navn ApS"
    received = WebhookDelivery.objects.filter(connection=active, event="customer.updated", key=str(number))
    assert sorted(received.values_list("outcome", flat=True)) == ["accepted", "accepted"]
    assert SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number)).state == "done"


def test_the_older_full_body_is_still_understood(active):
    Account.objects.update(webhook_body_shape=Account.WebhookBodyShape.FULL)
    number = rackbeat("POST", "customers", {"name": "Fyldig ApS", "contact_email": "f@fyldig.dk"})["customer"]["number"]
    sent = SentDelivery.objects.get(event="customer.created", payload__key=number)
    assert sent.payload["event"] == "customer.created" and sent.payload["data"] == {"number": number}
    rackbeat("PUT", f"customers/{number}", {"name": "Fyldig A/S"})
    rackbeat("PUT", f"customers/{number}", {"name": "Fyldig Holding A/S"})
    assert dinero_contact(active, f"rackbeat:customer:{number}")["Name"] == f"{number} – Fyldig Holding A/S"
