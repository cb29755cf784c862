"""E-mails and the reports they attach are written in the connection's language, not the site's."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone, translation

from accounts.languages import country_code, language_for_country
from integration.books.reconciliation_report import email_differences
from integration.core import alerts
from integration.core.models import Reconciliation
from tests.pdf_text import pdf_lines


@pytest.mark.parametrize(("country", "language"), [
    ("DK", "da"), ("dk", "da"), ("Danmark", "da"), ("SE", "sv"), ("Sverige", "sv"), ("Sweden", "sv"),
    ("NO", "en"), ("DE", "en"), ("", "da"), (None, "da"),
])
def test_language_follows_the_companys_country(country, language):
    assert language_for_country(country) == language


def test_unknown_country_names_are_no_country():
    assert country_code("Atlantis") == "" and country_code(" se ") == "SE"


def test_chosen_language_wins_over_the_country(connection):
    connection.company_country = "SE"
    assert connection.mail_language == "sv"
    connection.language = "en"
    assert connection.mail_language == "en"


@pytest.mark.parametrize(("language", "subject"), [
    ("da", "Leverancer fra Rackbeat"), ("sv", "Leveranser från Rackbeat"), ("en", "Rackbeat deliveries carry"),
])
def test_alert_is_written_in_the_connections_language_whatever_the_site_speaks(connection, language, subject):
    connection.alert_recipients = "bogholder@nordlys.dk"
    connection.language = language
    connection.save()
    with translation.override("en" if language != "en" else "da"):
        assert alerts.notify_delivery_account(connection, "12345", "invoice.booked")
        assert translation.get_language() == ("en" if language != "en" else "da")
    [message] = mail.outbox
    assert subject in message.subject


def _reconciliation(connection) -> Reconciliation:
    now = timezone.now()
    difference = {"kind": "missing_in_dinero", "document": "sales_invoice", "number": "10006", "message": "",
                  "date": "2026-12-07", "rackbeat_total": "4910.53", "dinero_total": "", "currency": "DKK",
                  "transferable": True}
    return Reconciliation.objects.create(
        connection=connection, period_start=date(2026, 11, 1), period_end=date(2026, 11, 30),
        state=Reconciliation.State.DONE, trigger=Reconciliation.Trigger.SCHEDULE,
        started_at=now - timedelta(seconds=3), finished_at=now, differences=1,
        result={"counts": {}, "differences": [difference], "documents": [], "notes": [], "sums": {}})


@pytest.mark.parametrize(("language", "missing", "amount", "period"), [
    ("da", "Mangler i Dinero", "4.910,53 DKK", "01.11.2026 – 30.11.2026"),
    ("sv", "Saknas i Dinero", "4\xa0910,53 DKK", "2026-11-01 – 2026-11-30"),
])
def test_month_end_reconciliation_mail_and_its_reports_are_in_the_connections_language(
        connection, language, missing, amount, period):
    connection.alert_recipients = "bogholder@nordlys.dk"
    connection.language = language
    connection.save()
    assert email_differences(_reconciliation(connection))
    [message] = mail.outbox
    assert period in message.subject
    assert missing in message.body and amount in message.body
    assert missing in message.alternatives[0][0]
    (csv_name, csv_content, _csv_type), (pdf_name, pdf_content, _pdf_type) = message.attachments
    assert csv_name.endswith(".csv") and pdf_name.endswith(".pdf")
    # Django hands text attachments back as text.
    text = csv_content.decode("utf-8") if isinstance(csv_content, bytes) else csv_content
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert any(missing in row and "4910,53" in row for row in rows)
    assert missing in pdf_lines(pdf_content)


def test_connection_without_a_language_writes_in_its_countrys(connection):
    connection.alert_recipients = "bogholder@nordlys.dk"
    connection.company_country = "SE"
    connection.save()
    assert email_differences(_reconciliation(connection))
    assert "Saknas i Dinero" in mail.outbox[0].body
