"""Texts for people stored as meaning and shown in the reader's language."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_noop

from integration.core import engine
from integration.core.clients.errors import AuthenticationFailed
from integration.core.handlers import TotalsMismatch, VatMismatch
from integration.core.messages import Key, Message, Money, Quantity, Sentences, decode, encode, render, stored
from integration.core.models import Kind, OperationEvent, SyncOperation, Trigger
from tests.operations_fixtures import make_operation

State = SyncOperation.State


def _in(language: str, value) -> str:
    with translation.override(language):
        return str(value)


# --- the message itself ------------------------------------------------------------------------------

def test_a_message_keeps_every_parameter_type_through_json():
    message = Message(gettext_noop("Queued (%(trigger)s)."), trigger=Key("trigger", Trigger.WEBHOOK),
                      total=Money(Decimal("1234.50"), "EUR"), quantity=Quantity(Decimal("3.000")),
                      rate=Decimal("0.25"), day=date(2026, 12, 7),
                      at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC), count=3, name="Kunde ApS",
                      inner=Sentences(Message(gettext_noop("Done")), "10006", separator=" "))
    stored_json = json.loads(json.dumps(encode(message)))
    assert decode(stored_json) == message


def test_the_same_stored_message_reads_in_each_readers_language():
    data = encode(Message(gettext_noop("Queued (%(trigger)s)."), trigger=Key("trigger", Trigger.TROUBLESHOOTING)))
    with translation.override("en"):
        assert render(data) == "Queued (Troubleshooting)."
    with translation.override("da"):
        assert render(data) == "Sat i kø (Fejlsøgning)."
    with translation.override("sv"):
        assert render(data).startswith("Köad (")


def test_amounts_are_shown_with_the_readers_separators_and_their_currency():
    amount = Money(Decimal("3885.00"), "EUR")
    assert _in("en", amount) == "3,885.00 EUR"
    assert _in("da", amount) == "3.885,00 EUR"
    assert _in("sv", amount).replace("\xa0", " ") in ("3 885,00 EUR", "3.885,00 EUR")


def test_dates_are_shown_in_the_readers_date_format():
    assert _in("da", Message("%(day)s", day=date(2026, 12, 7))) == "07.12.2026"


def test_a_row_written_before_meaning_was_stored_shows_its_text():
    assert render(None, "Dinero answered 503.") == "Dinero answered 503."
    op = SyncOperation(last_error="Dinero answered 503.", last_error_meaning=None)
    with translation.override("da"):
        assert op.shown_last_error == "Dinero answered 503."


def test_unreadable_stored_meaning_is_shown_as_text_never_an_error():
    assert render({"money": "not a number", "currency": "DKK"}) == str({"money": "not a number", "currency": "DKK"})
    # A translation whose placeholders do not fit the parameters falls back to the English text.
    assert render({"message": "Total %(total)s", "params": {}}) == "Total %(total)s"


def test_text_columns_keep_the_english_rendering_for_search():
    with translation.override("da"):
        values = stored(last_error=Message(gettext_noop("Queued (%(trigger)s)."), trigger=Key("trigger", "poll")))
    assert values["last_error"] == "Queued (Poll)."
    assert values["last_error_meaning"]["message"] == "Queued (%(trigger)s)."
    assert stored(hint="plain")["hint_meaning"] is None


# --- what the engine and the transfers record ----------------------------------------------------------

def test_totals_mismatch_reads_in_the_readers_language_and_str_still_works():
    problem = TotalsMismatch(Decimal("4910.53"), Decimal("4910.50"), "DKK")
    assert "4,910.50 DKK" in _in("en", problem)
    danish = _in("da", problem)
    assert "4.910,50 DKK" in danish and "-0,03 DKK" in danish
    assert "4910.53" not in danish


def test_vat_mismatch_names_both_figures_with_currency():
    problem = VatMismatch(Decimal("25.00"), Decimal("24.99"), "SEK")
    assert "24,99 SEK" in _in("da", problem)


def test_timeline_and_problem_are_stored_as_meaning(db, connection):
    op = engine.enqueue(connection, Kind.SALES_INVOICE, "to_dinero", "10006", trigger=Trigger.WEBHOOK)
    event = OperationEvent.objects.filter(operation=op).first()
    assert event.message == "Queued (Webhook)."
    assert event.message_meaning["message"] == "Queued (%(trigger)s)."
    with translation.override("da"):
        assert event.shown_message == "Sat i kø (Webhook)."

    SyncOperation.objects.filter(pk=op.pk).update(state=State.RUNNING, claimed_by="w", claimed_at=op.claimed_at)
    op.refresh_from_db()
    problem = TotalsMismatch(Decimal("100.00"), Decimal("99.00"), "DKK")
    engine._record(op, {"state": State.NEEDS_ATTENTION, "last_error_class": "TotalsMismatch",
                        "last_error": problem.message, "hint": problem.hint, "fix_url": ""},
                   claimed_at=op.claimed_at, worker="w", connection_problem=None)
    op.refresh_from_db()
    assert op.last_error.startswith("Dinero's total 99.00 DKK differs")
    with translation.override("da"):
        assert "99,00 DKK" in op.shown_last_error
        assert op.shown_hint != op.hint
        last = op.events.order_by("-pk").first()
        assert "99,00 DKK" in last.shown_message


def test_operation_page_shows_stored_texts_in_the_readers_language(superuser, client, connection):
    client.force_login(superuser)
    problem = TotalsMismatch(Decimal("1295.00"), Decimal("1294.00"), "EUR")
    op = make_operation(connection, state=State.NEEDS_ATTENTION,
                        **stored(last_error=problem.message, hint=problem.hint))
    engine.record_event(op, Message(gettext_noop("Queued (%(trigger)s)."), trigger=Key("trigger", Trigger.POLL)))
    page = client.get(reverse("admin:integration_syncoperation_change", args=[op.pk]),
                      HTTP_ACCEPT_LANGUAGE="da").content.decode()
    assert "1.294,00 EUR" in page
    assert "1294.00" not in page
    assert "Sat i kø" in page


def test_the_error_filter_and_the_number_search_still_find_rows_with_meaning(superuser, client, connection):
    client.force_login(superuser)
    problem = TotalsMismatch(Decimal("1.00"), Decimal("2.00"), "DKK")
    with_error = make_operation(connection, state=State.NEEDS_ATTENTION, number="10006",
                                **stored(last_error=problem.message, hint=problem.hint))
    without = make_operation(connection, number="10007")
    log = reverse("admin:integration_syncoperation_changelist")
    listed = {o.pk for o in client.get(log, {"has_error": "yes"}).context["cl"].result_list}
    assert with_error.pk in listed and without.pk not in listed
    found = {o.pk for o in client.get(log, {"q": "10006"}).context["cl"].result_list}
    assert found == {with_error.pk}


def test_a_broken_connections_reason_reads_in_the_readers_language(superuser, client, connection):
    engine.mark_connection_broken(connection, AuthenticationFailed("401 Unauthorized", service="dinero"))
    connection.refresh_from_db()
    assert connection.state_reason.startswith("Login rejected: 401 Unauthorized")
    client.force_login(superuser)
    page = client.get(reverse("admin:connection-dashboard", args=[connection.pk]), HTTP_ACCEPT_LANGUAGE="da")
    text = page.content.decode()
    with translation.override("da"):
        assert render(connection.state_reason_meaning) in text
    assert "Login rejected" not in text
