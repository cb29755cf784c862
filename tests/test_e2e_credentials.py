"""End to end over real HTTP: each kind of login rejected during a transfer, and a Visma Connect
login outliving its one-hour access token.

A rejected login — the Dinero API key, the Visma Connect refresh token, the Rackbeat API token — is
a definite state: the connection is broken with "Login rejected" and what to do, the alert
recipients get one e-mail, the documents wait (nothing is lost) and are transferred once a person
reconnects.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Connection
from integration.core import engine
from integration.core.messages import render
from integration.core.models import Kind, SyncOperation
from integration.triggers import activation
from tests.engine_fixtures import demo
from tests.test_e2e_master_data import active, dinero_contact, rackbeat

USES = (demo, active)
pytestmark = [pytest.mark.e2e]


@pytest.fixture
def watched(active) -> Connection:
    active.alert_recipients = "drift@demo.dk"
    active.save()
    return active


def new_customer(name: str) -> str:
    return str(rackbeat("POST", "customers", {"name": name, "contact_email": "k@demo.dk"})["customer"]["number"])


def operation(connection: Connection, number: str) -> SyncOperation:
    return SyncOperation.objects.get(connection=connection, kind=Kind.CUSTOMER, source_key=number)


def assert_broken_once_and_waiting(connection: Connection, number: str, hint: str) -> str:
    """The first document waits; a second change while broken is refused (409) for Rackbeat to retry."""
    connection.refresh_from_db()
    assert connection.state == Connection.State.BROKEN
    assert connection.state_reason.startswith("Login rejected:") and hint in connection.state_reason
    op = operation(connection, number)
    assert op.state == SyncOperation.State.PENDING and op.last_error_class == "AuthenticationFailed"
    assert "Waiting for the connection to be repaired" in op.events.order_by("pk").last().message
    later = new_customer("Mens Den Var Afbrudt")
    assert not SyncOperation.objects.filter(connection=connection, source_key=later).exists()
    assert [message.to for message in mail.outbox] == [["drift@demo.dk"]]
    # The alert is written in the connection's language, the reason with it (stored as meaning).
    with translation.override(connection.mail_language):
        assert render(connection.state_reason_meaning) in mail.outbox[0].body
    return later


def redeliver_refused() -> None:
    from sandbox.rackbeat.models import WebhookDelivery as SentDelivery
    from sandbox.rackbeat.webhook_sending import deliver

    for sent in SentDelivery.objects.exclude(state=SentDelivery.State.DELIVERED):
        deliver(sent.pk)


def assert_resumed(connection: Connection, numbers: list[str]) -> None:
    assert activation.activate(connection) == []
    engine.run_due()
    redeliver_refused()  # Rackbeat retries a refused delivery (for about a day)
    for number in numbers:
        op = operation(connection, number)
        assert op.state == SyncOperation.State.DONE, op.last_error
        assert dinero_contact(connection, f"rackbeat:customer:{number}")


@pytest.mark.parametrize(("secret", "hint"), [
    ("dinero_api_key", "Create a new API key in Dinero"),
    ("rackbeat_api_token", "enter new credentials"),
])
def test_a_rejected_key_breaks_the_connection_once_and_documents_wait(watched, secret, hint):
    right = getattr(watched, secret)
    watched.set_secret(secret, "revoked-" + right)
    watched.save()
    first = new_customer("Afvist Nøgle")

    later = assert_broken_once_and_waiting(watched, first, hint)

    watched.set_secret(secret, right)
    watched.save()
    assert_resumed(watched, [first, later])


def _visma_login(connection: Connection, *, access_expired: bool) -> None:
    """The connection logged in with Visma Connect at the sandbox (as the consent page leaves it)."""
    from sandbox.dinero import gate
    from sandbox.dinero.models import Organization, VismaConsent, VismaRefreshToken

    consent = VismaConsent.objects.create(client_id="isv_sandbox", scope="dineropublicapi:read "
                                          "dineropublicapi:write offline_access")
    consent.organizations.add(Organization.objects.get(organization_id=int(connection.dinero_organization_id)))
    access = gate.issue_access_token(consent=consent)
    refresh = VismaRefreshToken.objects.create(consent=consent, token=secrets.token_urlsafe(32))
    expires = timezone.now() - timedelta(minutes=1) if access_expired else access.expires_at
    if access_expired:
        type(access).objects.filter(pk=access.pk).update(expires_at=expires)
    connection.dinero_auth_method = Connection.DineroAuth.VISMA_CONNECT
    connection.set_secret("visma_access_token", access.token)
    connection.set_secret("visma_refresh_token", refresh.token)
    connection.visma_access_token_expires_at = expires
    connection.save()


def test_visma_connect_connection_transfers_after_its_access_token_expired(watched):
    _visma_login(watched, access_expired=True)
    spent = watched.visma_refresh_token

    number = new_customer("Visma Efter En Time")

    assert operation(watched, number).state == SyncOperation.State.DONE
    watched.refresh_from_db()
    assert watched.visma_refresh_token != spent  # rotated and saved
    assert watched.visma_access_token_expires_at > timezone.now() + timedelta(minutes=50)
    assert mail.outbox == []


def test_revoked_visma_login_breaks_the_connection_once_with_the_reconnect_hint(watched, client, superuser):
    from sandbox.dinero.models import VismaRefreshToken

    _visma_login(watched, access_expired=True)
    VismaRefreshToken.objects.all().delete()  # the person withdrew the consent at Visma
    first = new_customer("Visma Tilbagekaldt")

    later = assert_broken_once_and_waiting(watched, first, "Connect with Visma")

    client.force_login(superuser)
    page = client.get(reverse("admin:accounts_connection_change", args=[watched.pk])).content.decode()
    assert "Login rejected" in page and "Connect with Visma" in page

    _visma_login(watched, access_expired=False)  # the person logged in again
    assert_resumed(watched, [first, later])


def test_rejected_dinero_login_during_a_transfer_by_number_is_logged_breaks_and_alerts(watched):
    from integration.triggers import troubleshooting

    right_key = watched.dinero_api_key
    watched.set_secret("dinero_api_key", "revoked-" + right_key)
    watched.save()

    report = troubleshooting.transfer_now(watched, troubleshooting.SALES_TO_DINERO, "1021")

    assert "Create a new API key in Dinero" in report.message and not report.succeeded
    op = SyncOperation.objects.get(connection=watched, kind=Kind.SALES_INVOICE, source_key="1021")
    assert op.state == SyncOperation.State.PENDING and op.last_error_class == "AuthenticationFailed"
    assert op.trigger == "troubleshooting"
    assert "Waiting for the connection to be repaired" in op.events.order_by("pk").last().message
    watched.refresh_from_db()
    assert watched.state == Connection.State.BROKEN and watched.state_reason.startswith("Login rejected:")
    assert [message.to for message in mail.outbox] == [["drift@demo.dk"]]
