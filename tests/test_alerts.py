"""The daily digest and the breakage alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Connection
from integration.core.alerts import notify_connection_broken, send_daily_digests
from integration.core.models import SyncOperation
from tests.operations_fixtures import make_operation

State = SyncOperation.State


@pytest.fixture(autouse=True)
def _clean(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_BASE_URL = "https://integration.example.com"
    cache.clear()


@pytest.fixture
def recipients(connection, other_connection):
    # These connections chose English e-mails; tests/test_mail_language.py covers the others.
    connection.alert_recipients = "bogholder@nordlys.dk\nchef@nordlys.dk"
    connection.language = "en"
    connection.save()
    other_connection.alert_recipients = "regnskab@fjord.dk"
    other_connection.language = "en"
    other_connection.save()
    return connection


def test_no_digest_when_nothing_needs_attention(recipients, other_connection):
    make_operation(recipients)
    make_operation(other_connection, state=State.SKIPPED)
    assert send_daily_digests() == 0
    assert mail.outbox == []


def test_digest_goes_to_each_connections_own_recipients(recipients, other_connection):
    attention = make_operation(recipients, state=State.NEEDS_ATTENTION, number="5001", name="Nordic Bikes",
                               last_error="No revenue account for product group 1 × EU.",
                               hint="Fill in the revenue matrix.", fix_url="/admin/matrix/revenue/#cell-1-eu")
    failed = make_operation(recipients, state=State.FAILED, number="5002", last_error="Dinero answered 503.",
                            age=timedelta(days=3))
    make_operation(recipients)  # done: not reported
    make_operation(other_connection)

    assert send_daily_digests() == 1
    [message] = mail.outbox
    assert message.to == ["bogholder@nordlys.dk", "chef@nordlys.dk"]
    assert recipients.name in message.subject and "2 documents" in message.subject
    assert "5001" in message.body and "5002" in message.body
    assert "No revenue account for product group 1 × EU." in message.body
    assert "https://integration.example.com/admin/matrix/revenue/#cell-1-eu" in message.body
    assert f"/admin/integration/syncoperation/{attention.pk}/change/" in message.body
    assert f"/admin/integration/syncoperation/{failed.pk}/change/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert 'href="https://integration.example.com/admin/matrix/revenue/#cell-1-eu"' in html


def test_digest_text_indents_every_line_of_a_multi_line_reason(recipients):
    make_operation(recipients, state=State.FAILED, number="5003",
                   last_error="Dinero's total differs.\nRackbeat: 3.885,00 EUR\r\nDinero: 3.884,99 EUR",
                   hint="Compare the lines.\nThen press Retry.")
    send_daily_digests()
    body = mail.outbox[0].body
    assert "  Dinero's total differs.\n  Rackbeat: 3.885,00 EUR\n  Dinero: 3.884,99 EUR\n" in body
    assert "Compare the lines.\n  Then press Retry." in body


def test_digest_escapes_document_names_in_html(recipients):
    make_operation(recipients, state=State.FAILED, name="<b>Evil</b> ApS", last_error="x")
    send_daily_digests()
    html = mail.outbox[0].alternatives[0][0]
    assert "<b>Evil</b>" not in html
    assert "&lt;b&gt;Evil&lt;/b&gt;" in html


def test_no_digest_without_recipients(connection):
    make_operation(connection, state=State.FAILED, last_error="x")
    assert send_daily_digests() == 0


def _break(connection: Connection, reason: str) -> None:
    connection.set_state(Connection.State.BROKEN, reason)
    connection.save()


def test_breakage_alert_is_sent_once_with_the_reason(recipients):
    _break(recipients, "Dinero refused the API key: it was revoked or changed.")
    assert notify_connection_broken(recipients) is True
    assert notify_connection_broken(recipients) is False
    [message] = mail.outbox
    assert message.to == ["bogholder@nordlys.dk", "chef@nordlys.dk"]
    assert "has stopped" in message.subject
    assert "Dinero refused the API key: it was revoked or changed." in message.body
    assert "Dinero refused the API key" in message.alternatives[0][0]


def test_a_new_breakage_after_a_repair_alerts_again(recipients):
    _break(recipients, "Dinero Pro subscription ended.")
    notify_connection_broken(recipients)
    recipients.set_state(Connection.State.ACTIVE)
    recipients.save()
    assert notify_connection_broken(recipients) is False  # not broken: nothing to say
    recipients.set_state(Connection.State.BROKEN, "Rackbeat webhooks keep failing.")
    recipients.state_changed_at = timezone.now() + timedelta(seconds=1)
    recipients.save()
    assert notify_connection_broken(recipients) is True
    assert [m.subject for m in mail.outbox].count(mail.outbox[0].subject) == 2
    assert "Rackbeat webhooks keep failing." in mail.outbox[1].body


def test_failed_send_is_retried_on_the_next_report(recipients, monkeypatch):
    _break(recipients, "Credentials rejected.")

    def boom(*args, **kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", boom)
    with pytest.raises(OSError):
        notify_connection_broken(recipients)
    monkeypatch.undo()
    assert notify_connection_broken(recipients) is True
