"""Activation against the emulators over real HTTP: each problem in plain words, webhooks kept in step."""

from __future__ import annotations

import pytest

from accounts.models import Connection
from integration.core.models import IntegrationSettings, RackbeatWebhook
from integration.triggers import activation
from integration.triggers.webhooks import DEFAULT_WEBHOOK_EVENTS
from tests.engine_fixtures import demo

USES = (demo,)

pytestmark = [pytest.mark.e2e]


def registered_in_rackbeat() -> list[tuple[str, str]]:
    from sandbox.rackbeat import models as rb

    return sorted(rb.Webhook.objects.values_list("event", "url"))


def test_activation_checks_both_sides_and_registers_every_webhook(demo):
    assert activation.activate(demo) == []
    demo.refresh_from_db()
    assert demo.state == Connection.State.ACTIVE
    assert demo.rackbeat_account_id == "418001"
    assert IntegrationSettings.objects.filter(connection=demo).exists()
    url = activation.webhook_url(demo)
    assert registered_in_rackbeat() == sorted((event, url) for event in DEFAULT_WEBHOOK_EVENTS)
    hooks = RackbeatWebhook.objects.filter(connection=demo)
    assert hooks.count() == len(DEFAULT_WEBHOOK_EVENTS)
    assert all(len(hook.token) == 32 for hook in hooks)


def test_activating_twice_registers_nothing_twice(demo):
    assert activation.activate(demo) == []
    assert activation.activate(demo) == []
    assert len(registered_in_rackbeat()) == len(DEFAULT_WEBHOOK_EVENTS)


def test_wrong_rackbeat_token_says_to_create_a_new_one(demo):
    demo.set_secret("rackbeat_api_token", "not-a-valid-token")
    demo.save()
    problems = activation.activate(demo)
    assert problems == ["Rackbeat rejected the API token. Create a new token in Rackbeat under Settings › API "
                        "and enter it on the credentials step."]
    demo.refresh_from_db()
    assert demo.state == Connection.State.DRAFT
    assert registered_in_rackbeat() == []


def test_wrong_dinero_api_key_says_to_create_a_new_one(demo):
    demo.set_secret("dinero_api_key", "wrong-key")
    demo.save()
    assert activation.activate(demo) == [
        "Dinero rejected the API key. Create a new API key in Dinero under Integrations › API keys and enter it "
        "on the credentials step."]


def test_company_id_without_access_names_the_company_id(demo):
    from sandbox.dinero.seeding import create_organization

    create_organization("Andet ApS", organization_id=400999, api_key="another-key")
    demo.dinero_organization_id = "400999"
    demo.save()
    problems = activation.activate(demo)
    assert len(problems) == 1 and "no access to the company id 400999" in problems[0]


def test_dinero_without_pro_is_refused_clearly(demo):
    from sandbox.dinero.models import Organization

    Organization.objects.filter(organization_id=400555).update(is_pro=False)
    assert activation.activate(demo) == [
        "The Dinero company 400555 has no Dinero Pro subscription, which the integration requires. Upgrade to "
        "Dinero Pro, then activate again."]


def test_missing_credentials_are_named_before_any_call(db):
    connection = Connection.objects.create(name="Tom")
    problems = activation.activate(connection)
    assert problems == [
        "Enter the Rackbeat API token on the credentials step (Rackbeat: Settings › API).",
        "Enter the Dinero company id (shown in the lower-left corner in Dinero, e.g. 400555).",
    ]


def test_pause_removes_the_webhooks_and_resume_registers_them_again(demo):
    activation.activate(demo)
    assert activation.pause(demo) == []
    demo.refresh_from_db()
    assert demo.state == Connection.State.PAUSED
    assert registered_in_rackbeat() == []
    assert not RackbeatWebhook.objects.filter(connection=demo).exists()
    assert activation.resume(demo) == []
    demo.refresh_from_db()
    assert demo.state == Connection.State.ACTIVE
    assert len(registered_in_rackbeat()) == len(DEFAULT_WEBHOOK_EVENTS)


def test_deleting_a_connection_removes_its_webhooks(demo):
    activation.activate(demo)
    demo.delete()
    assert registered_in_rackbeat() == []


def test_deleting_a_connection_is_not_blocked_by_an_unreachable_rackbeat(demo, settings):
    activation.activate(demo)
    settings.RACKBEAT_API_URL = "http://127.0.0.1:9/api/"
    demo.delete()
    assert not Connection.objects.filter(pk=demo.pk).exists()


def test_changed_event_names_replace_the_registrations(demo):
    activation.activate(demo)
    IntegrationSettings.objects.filter(connection=demo).update(webhook_events={"customer.updated": "customer"})
    assert activation.activate(demo) == []
    assert [event for event, _url in registered_in_rackbeat()] == ["customer.updated"]


def test_activation_learns_the_companys_country_and_with_it_the_language_of_e_mails(demo):
    from sandbox.rackbeat import models as rb

    rb.Account.objects.update(address_country="SE")
    assert activation.activate(demo) == []
    demo.refresh_from_db()
    assert demo.company_country == "SE" and demo.language == "" and demo.mail_language == "sv"
