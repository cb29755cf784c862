"""End to end over real HTTP: the sandbox's Rackbeat sends its webhooks with another account id, with
none, or under an event name nobody registered — genuine deliveries are processed (or, for an
unknown name, stored as ignored) and what they carried is on the connection page."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from integration.core.models import Kind, RackbeatDeliveryShape, SyncOperation, WebhookDelivery
from tests.engine_fixtures import demo
from tests.test_e2e_master_data import active, rackbeat

USES = (demo, active)
pytestmark = [pytest.mark.e2e]


def _account(**switches) -> None:
    from sandbox.rackbeat.models import Account

    Account.objects.filter(account_id=418001).update(**switches)


@pytest.mark.parametrize(("header", "shown"), [
    ("other", "Rackbeat-Account-Id 9418001, but the connection&#x27;s account is 418001"),
    ("none", "no Rackbeat-Account-Id header"),
])
def test_a_delivery_with_another_or_no_account_id_is_processed_and_shown(active, client, superuser, header, shown):
    active.alert_recipients = "drift@demo.dk"
    active.save()
    _account(webhook_account_header=header)
    number = rackbeat("POST", "customers", {"name": "Anden Konto", "contact_email": "a@k.dk"})["customer"]["number"]

    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key=str(number))
    assert op.trigger == "webhook" and op.state == SyncOperation.State.DONE, op.last_error
    shape = RackbeatDeliveryShape.objects.get(connection=active, event="customer.created")
    assert shape.account_differs
    assert [message.to for message in mail.outbox] == [["drift@demo.dk"]]

    client.force_login(superuser)
    page = client.get(reverse("admin:accounts_connection_change", args=[active.pk])).content.decode()
    assert shown in page and "customer.created" in page and "rackbeat-webhook-token" in page


def test_an_event_name_nobody_registered_is_recorded_and_the_poll_moves_the_record(active):
    _account(sent_webhook_event_names="customer.created=debtor.created")
    number = rackbeat("POST", "customers", {"name": "Nyt Navn", "contact_email": "n@n.dk"})["customer"]["number"]

    delivery = WebhookDelivery.objects.get(connection=active, key=str(number))
    assert delivery.event == "debtor.created" and delivery.outcome == WebhookDelivery.Outcome.IGNORED
    shape = RackbeatDeliveryShape.objects.get(connection=active, event="debtor.created")
    assert shape.taken_as == "customer.created" and not shape.account_differs
