"""Event names are learnt at activation, not assumed: refused events are recorded and left to the poll."""

from __future__ import annotations

import pytest

from accounts.models import Connection
from integration.core.models import IntegrationSettings, RackbeatEventAnswer, RackbeatWebhook
from integration.triggers import activation
from integration.triggers.webhooks import DEFAULT_WEBHOOK_EVENTS
from tests.engine_fixtures import demo

USES = (demo,)

pytestmark = [pytest.mark.e2e]


def _refuse_in_sandbox(*events: str) -> None:
    from sandbox.rackbeat import models as rb

    rb.Account.objects.update(refused_webhook_events="\n".join(events))


def test_refused_events_are_recorded_with_rackbeats_answer_and_do_not_stop_activation(demo):
    _refuse_in_sandbox("customer_invoice.booked", "supplier.updated")

    assert activation.activate(demo) == []

    demo.refresh_from_db()
    assert demo.state == Connection.State.ACTIVE
    answers = {a.event: a for a in RackbeatEventAnswer.objects.filter(connection=demo)}
    assert set(answers) == set(DEFAULT_WEBHOOK_EVENTS)
    refused = sorted(event for event, a in answers.items() if not a.accepted)
    assert refused == ["customer_invoice.booked", "supplier.updated"]
    assert "The selected event is invalid." in answers["supplier.updated"].answer
    assert [a.event for a in activation.refused_events(demo)] == refused
    registered = set(RackbeatWebhook.objects.filter(connection=demo).values_list("event", flat=True))
    assert registered == set(DEFAULT_WEBHOOK_EVENTS) - set(refused)


def test_an_event_rackbeat_starts_offering_is_registered_at_the_next_activation(demo):
    _refuse_in_sandbox("lot.updated")
    activation.activate(demo)
    assert not RackbeatEventAnswer.objects.get(connection=demo, event="lot.updated").accepted

    _refuse_in_sandbox()
    assert activation.activate(demo) == []

    answer = RackbeatEventAnswer.objects.get(connection=demo, event="lot.updated")
    assert answer.accepted and answer.answer == ""
    assert RackbeatWebhook.objects.filter(connection=demo, event="lot.updated").exists()


def test_configured_event_names_replace_what_was_learnt(demo):
    _refuse_in_sandbox("customer.updated")
    activation.activate(demo)
    IntegrationSettings.objects.filter(connection=demo).update(
        webhook_events={"customer.updated": "customer", "customer.changed": "customer"})

    activation.activate(demo)

    answers = dict(RackbeatEventAnswer.objects.filter(connection=demo).values_list("event", "accepted"))
    assert answers == {"customer.updated": False, "customer.changed": True}


def test_connection_page_shows_accepted_and_refused_events(demo, client, superuser):
    _refuse_in_sandbox("customer_invoice.booked")
    activation.activate(demo)
    client.force_login(superuser)

    page = client.get(f"/admin/accounts/connection/{demo.pk}/change/").content.decode()

    assert "customer_invoice.booked" in page and "The selected event is invalid." in page
    assert "the poll" in page
