"""The emulators' chaos faults, each produced on demand for one organization or account.

Dinero: latency jitter, a short Retry-After on injected 429s, and an answer lost *after* the write
committed (the client times out; the document is there). Rackbeat: 500 on reads only, webhooks sent
twice, and webhooks held back so that later ones overtake them.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import responses

from sandbox.dinero import gate
from sandbox.dinero.models import Organization, SalesDocument
from sandbox.rackbeat import models as m
from sandbox.rackbeat import webhook_faults

# Fixtures shared with the emulators' own tests (imported names are fixtures pytest finds here).
from tests.test_sandbox_dinero import ORG_ID, Dinero, api_key_token, invoice_body
from tests.test_sandbox_dinero import customer as customer
from tests.test_sandbox_dinero import dinero as dinero
from tests.test_sandbox_dinero import dinero_credentials as dinero_credentials
from tests.test_sandbox_dinero import org as org
from tests.test_sandbox_rackbeat import HOOK_URL, register
from tests.test_sandbox_rackbeat import account as account
from tests.test_sandbox_rackbeat import api as api
from tests.test_sandbox_rackbeat import sync_webhooks as sync_webhooks

# --- Dinero --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_timeout_after_the_write_leaves_the_client_without_answer_and_the_invoice_stored(
        live_server, client, org, customer, settings):
    settings.SANDBOX_DINERO_TIMEOUT_SECONDS = 2.0
    token = api_key_token(client, org.api_key)
    Organization.objects.filter(pk=org.pk).update(fail_next_timeout_after_write=1)
    guid = str(uuid.uuid4())
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{live_server.url}/sandbox/dinero/v1/{ORG_ID}/invoices",
                      json=invoice_body(customer.guid, Guid=guid), headers={"Authorization": f"Bearer {token}"},
                      timeout=0.5)
    # Committed before the answer was held back: the client's look-up by Guid finds it at once.
    assert SalesDocument.objects.filter(guid=guid).count() == 1
    assert Organization.objects.get(pk=org.pk).fail_next_timeout_after_write == 0


def test_timeout_after_the_write_is_used_up_by_writes_only(dinero, org, customer, monkeypatch):
    stalls = []
    monkeypatch.setattr(gate, "stall", lambda: stalls.append(SalesDocument.objects.count()))
    Organization.objects.filter(pk=org.pk).update(fail_next_timeout_after_write=1)
    assert dinero("GET", "/v1/{org}/invoices").status_code == 200
    assert stalls == []
    dinero("POST", "/v1/{org}/invoices", invoice_body(customer.guid))
    assert stalls == [1]  # the stall began with the invoice already stored


def test_latency_jitter_adds_a_random_delay_up_to_the_bound(org, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(gate.time, "sleep", slept.append)
    monkeypatch.setattr(gate.random, "randint", lambda low, high: high)
    Organization.objects.filter(pk=org.pk).update(latency_ms=50, latency_jitter_ms=200)
    gate.add_latency(Organization.objects.get(pk=org.pk))
    monkeypatch.setattr(gate.random, "randint", lambda low, high: low)
    gate.add_latency(Organization.objects.get(pk=org.pk))
    assert slept == [0.25, 0.05]


def test_injected_429_asks_for_the_configured_pause(dinero, org):
    Organization.objects.filter(pk=org.pk).update(fail_next_429=1, fault_retry_after_seconds=2)
    refused = dinero("GET", "/v1/{org}/invoices")
    assert refused.status_code == 429 and refused["Retry-After"] == "2"
    assert dinero("GET", "/v1/{org}/invoices").status_code == 200


def test_faults_of_one_organization_leave_another_alone(client, org, dinero):
    from sandbox.dinero.seeding import create_organization

    other = create_organization("Anden ApS", organization_id=400777, api_key="anden-api-key")
    Organization.objects.filter(pk=org.pk).update(fail_next_500=3)
    other_dinero = Dinero(client, api_key_token(client, other.api_key), org_id=400777)
    assert other_dinero("GET", "/v1/{org}/invoices").status_code == 200
    assert dinero("GET", "/v1/{org}/invoices").status_code == 500


# --- Rackbeat ------------------------------------------------------------------------------------------


def test_read_500s_hit_reads_and_leave_writes_alone(api, account):
    m.Account.objects.filter(pk=account.pk).update(fail_next_read_500=1, error_500_read_rate=0.0)
    assert api("POST", "customers", {"name": "Skrevet ApS"}).status_code == 201
    assert api("GET", "customers").status_code == 500
    assert api("GET", "customers").status_code == 206


def test_read_500_rate_of_one_fails_every_read_and_no_write(api, account):
    m.Account.objects.filter(pk=account.pk).update(error_500_read_rate=1.0)
    assert api("GET", "units").status_code == 500
    assert api("POST", "customers", {"name": "Stadig skrevet ApS"}).status_code == 201


def _bodies() -> list[dict]:
    return [json.loads(call.request.body) for call in responses.calls]


@responses.activate
def test_duplicated_webhook_sends_the_same_body_twice(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    register(account, "customer.created")
    m.Account.objects.filter(pk=account.pk).update(duplicate_next_webhooks=1)
    api("POST", "customers", {"name": "To gange ApS"})
    api("POST", "customers", {"name": "En gang ApS"})
    assert [body["key"] for body in _bodies()] == ["3", "3", "4"]
    assert _bodies()[0] == _bodies()[1]
    assert m.WebhookDelivery.objects.filter(state="delivered").count() == 3


@responses.activate
def test_held_webhook_arrives_after_a_later_one(api, account, sync_webhooks):
    responses.add(responses.POST, HOOK_URL, status=200)
    register(account, "customer.created")
    m.Account.objects.filter(pk=account.pk).update(delay_next_webhooks=1)
    api("POST", "customers", {"name": "Først ApS"})
    api("POST", "customers", {"name": "Derefter ApS"})
    assert [body["key"] for body in _bodies()] == ["4"]
    assert m.WebhookDelivery.objects.filter(state="held").count() == 1
    webhook_faults.release_held(account)
    assert [body["key"] for body in _bodies()] == ["4", "3"]
    assert not m.WebhookDelivery.objects.filter(state="held").exists()


def test_held_webhook_goes_out_by_itself_in_the_background(account, settings, monkeypatch, transactional_db):
    settings.SANDBOX_WEBHOOKS_SYNC = False
    started: list[tuple[int, float]] = []

    class Timer:
        def __init__(self, seconds, func, args):
            started.append((args[0], seconds))
            self.daemon, self.name = True, ""

        def start(self) -> None:
            pass

    monkeypatch.setattr(webhook_faults.threading, "Timer", Timer)
    m.Account.objects.filter(pk=account.pk).update(delay_next_webhooks=1, webhook_delay_max_seconds=7)
    hook = register(account, "customer.created")
    from sandbox.rackbeat import webhooks

    (delivery,) = webhooks.emit(m.Account.objects.get(pk=account.pk), "customer.created", 9)
    assert delivery.state == "held" and delivery.webhook == hook
    assert started == [(delivery.pk, 7.0)]


def test_webhook_fault_rates_decide_per_account(account, db, monkeypatch):
    m.Account.objects.filter(pk=account.pk).update(webhook_duplicate_rate=1.0, webhook_delay_rate=1.0,
                                                   webhook_delay_max_seconds=3)
    other = m.Account.objects.create(account_id=7002, company_name="Anden ApS", api_token="token-7002")
    fate = webhook_faults.decide(account)
    assert fate.duplicate and 0.5 <= (fate.hold_seconds or 0) <= 3
    assert webhook_faults.decide(other) == webhook_faults.Fate()
