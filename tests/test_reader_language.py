"""Every page read like a Danish and a Swedish accountant: no English, no internal keys, no decimal points.

The pages are the admin's URL map (tests/url_map.py, classified as the isolation test does: each
list, each page of one connection, each object page of its rows), with the setup wizard at each
step, over a connection holding data in every state: an operation in each state with a stored
error, hint and timeline written by the engine's own code, a reconciliation with each kind of
difference and every note, the Rackbeat shape check. Each page is requested in Danish and in
Swedish; the reconciliation's CSV and PDF are read too. A page fails when its visible text holds

* an English message of the catalogue (a msgid whose translation differs, compared by its fixed
  parts of at least five words, so product names and one-word labels never match by accident);
* an internal key (``domestic``, ``eu``, ``sales_invoice``, ``missing``, ``not placed``, …);
* a number with a decimal point.

Visible text is the text of the page without tags, scripts, styles and templates, and without
``<pre>``/``<code>`` blocks: those show raw evidence (a request body, an answer of Rackbeat or
Dinero) exactly as it was sent, which is data and not words. Numbers that legitimately contain a
point: a Danish thousands separator (``3.885,00``), a date (``07.12.2026``) and an IP address.
"""

from __future__ import annotations

import csv
import gettext
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from integration.books.reconciliation import Difference, _currency_message, _draft_message, _voucher_label
from integration.books.reconciliation_keys import (
    CONSUMPTION_DOUBLED,
    CONSUMPTION_DRAFT,
    CONSUMPTION_MISSING,
    DOUBLED,
    DRAFT,
    EXTRA,
    MISSING,
    TOTAL,
    UNPLACED,
)
from integration.books.reconciliation_report import csv_bytes
from integration.console.setup_wizard import STEPS
from integration.core import engine
from integration.core.clients.errors import AuthenticationFailed
from integration.core.handlers import TotalsMismatch, VatMismatch
from integration.core.messages import Key, Message, Money, encode, stored, with_texts
from integration.core.models import Kind, Reconciliation, SyncOperation, Trigger
from tests.isolation_world import build_world
from tests.pdf_text import pdf_lines
from tests.test_isolation_url_map import LISTING, offline, plan  # noqa: F401  (offline is a fixture)
from tests.url_map import endpoints

pytestmark = pytest.mark.django_db

LANGUAGES = ("da", "sv")
State = SyncOperation.State


# --- what a Danish or Swedish reader must not meet -------------------------------------------------------

def _english_catalogue(language: str) -> list[str]:
    """The fixed parts (≥ 5 words) of every msgid whose translation into ``language`` differs."""
    path = Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.mo"
    with path.open("rb") as mo:
        catalogue = gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    fragments = set()
    for msgid, msgstr in catalogue.items():
        if not isinstance(msgid, str) or not msgid or msgstr == msgid:
            continue
        for part in re.split(r"%\(\w+\)[sd]|%[sd]|<[^>]*>|\{[^}]*\}|\n", msgid):
            part = " ".join(part.split()).strip(" .,:;–—-")
            if len(part.split()) >= 5:
                fragments.add(part)
    return sorted(fragments, key=len, reverse=True)


INTERNAL_KEYS = re.compile(
    r"(?<![\w-])(domestic|abroad|sales_invoice|supplier_invoice|credit_note|item_consumption|manual_voucher|"
    r"purchase_voucher|missing_in_dinero|extra_in_dinero|doubled_in_dinero|draft_in_dinero|total_differs|"
    r"consumption_missing|consumption_doubled|consumption_draft|needs_attention|nothing_to_book|not placed|"
    r"missing|eu)(?![\w-])")
NUMBER = re.compile(r"\d+(?:[.,]\d+)+")
ALLOWED_POINTS = (
    re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?"),   # Danish thousands separators
    re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}"),         # a date, 07.12.2026
    re.compile(r"\d{1,3}(?:\.\d{1,3}){3}"),         # an IP address
)


def decimal_points(text: str) -> list[str]:
    found = []
    for match in NUMBER.finditer(text):
        token = match.group()
        if "." in token and not any(allowed.fullmatch(token) for allowed in ALLOWED_POINTS):
            found.append(token)
    return found


class _Visible(HTMLParser):
    SKIPPED = {"script", "style", "template", "pre", "code", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    reader = _Visible()
    reader.feed(html)
    return " ".join(" ".join(reader.parts).split())


def problems(text: str, english: list[str]) -> list[str]:
    text = " ".join(text.split())
    found = [f"English: “{fragment}”" for fragment in english if fragment in text]
    found += [f"internal key: “{m.group()}” in “…{text[max(0, m.start() - 40):m.end() + 40]}…”"
              for m in INTERNAL_KEYS.finditer(text)]
    found += [f"decimal point: {token}" for token in decimal_points(text)]
    return found


def test_the_checks_catch_what_they_are_for():
    english = ["Compare the lines in both systems"]
    assert problems("Sammenlign linjerne. Compare the lines in both systems (rounding)", english)
    assert problems("Momszone: domestic", [])
    assert problems("Momszone eu, beløb", [])
    assert problems("Beløb 4910.53 DKK", []) == ["decimal point: 4910.53"]
    assert problems("Tid: 1.1 s", []) == ["decimal point: 1.1"]
    assert not problems("Beløb 3.885,00 EUR den 07.12.2026 fra 127.0.0.1, EU-moms, Europa", [])
    assert visible_text("<p>a<script>1.5</script><pre>1.5</pre> b</p>") == "a b"


# --- a connection with data in every state -------------------------------------------------------------

def _operation(connection: Any, state: str, number: str, **texts: Any) -> SyncOperation:
    op = SyncOperation.objects.create(connection=connection, kind=Kind.SALES_INVOICE, source_key=number,
                                      document_number=number, document_name="Kunde ApS", state=state, attempts=1,
                                      finished_at=timezone.now(), **stored(**texts))
    engine.record_event(op, Message(gettext_noop("Queued (%(trigger)s)."), trigger=Key("trigger", Trigger.WEBHOOK)))
    engine.record_event(op, Message(gettext_noop("Attempt %(n)s started by %(worker)s."), n=1, worker="web-1:4242"))
    return op


def operations_in_every_state(connection: Any, person: Any) -> None:
    totals = TotalsMismatch(Decimal("4910.53"), Decimal("4910.50"), "DKK")
    attention = _operation(connection, State.NEEDS_ATTENTION, "10006", last_error=totals.message, hint=totals.hint)
    engine.record_event(attention, engine._describe_outcome(attention))
    vat = VatMismatch(Decimal("982.11"), Decimal("982.10"), "EUR")
    _operation(connection, State.NEEDS_ATTENTION, "10007", last_error=vat.message, hint=vat.hint)

    failed = engine._failed(SyncOperation(), Message(gettext_noop("The transfer returned no result.")), "NoResult")
    op = _operation(connection, State.FAILED, "10008")
    SyncOperation.objects.filter(pk=op.pk).update(**with_texts({k: v for k, v in failed.items() if k != "state"},
                                                                engine.TEXT_FIELDS))
    op.refresh_from_db()
    engine.record_event(op, engine._describe_outcome(op))

    pending = _operation(connection, State.PENDING, "10009", last_error="Dinero: 503 Service Unavailable")
    SyncOperation.objects.filter(pk=pending.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    pending.refresh_from_db()
    engine.record_event(pending, engine._describe_outcome(pending))

    _operation(connection, State.RUNNING, "10010")
    done = _operation(connection, State.DONE, "10011", outcome=Message(
        gettext_noop("Booked in Dinero as %(label)s %(number)s."), label=Key("kind", Kind.SALES_INVOICE),
        number="1042"))
    engine.record_event(done, engine._describe_outcome(done))
    handled = _operation(connection, State.NEEDS_ATTENTION, "10012", last_error=totals.message, hint=totals.hint)
    engine.mark_handled(handled, user=person, note="Rettet i Dinero")
    engine.retry(handled, user=person)
    linked = _operation(connection, State.NEEDS_ATTENTION, "10013")
    engine.link_existing(linked, user=person, reference="")


def reconciliation_with_every_difference(connection: Any) -> Reconciliation:
    """A finished month with each kind of difference, built with the reconciliation's own texts."""
    voucher = {"VoucherNumber": 17, "Guid": "5c1e", "Status": "Booked", "CurrencyKey": "DKK",
               "VoucherTotals": [{"Type": "Total", "Total": 1250.0}]}
    line = {"date": "2026-03-12", "rackbeat_total": "4910.53", "dinero_total": "4910.50"}
    differences = [
        Difference(MISSING, "sales_invoice", "10006", Message(gettext_noop(
            "No transfer was ever started for it (no webhook or poll reached the service).")), **line),
        Difference(MISSING, "supplier_invoice", "60002", Message(gettext_noop("Its transfer is %(state)s: %(why)s"),
                   state=Key("operation_state_in_sentence", State.NEEDS_ATTENTION),
                   why=TotalsMismatch(Decimal("1250"), Decimal("1249.99"), "DKK").message), **line),
        Difference(EXTRA, "sales_invoice", "99999", Message(gettext_noop(
            "It carries the reference of Rackbeat invoice %(n)s, which does not exist in Rackbeat."), n="99999")),
        Difference(DOUBLED, "supplier_invoice", "60011", Message(gettext_noop(
            "Dinero holds %(n)s purchase vouchers for supplier invoice %(number)s (by its reference or its file): "
            "%(which)s."), n=2, number="60011", which=_voucher_label(voucher))),
        Difference(DRAFT, "sales_invoice", "10014", _draft_message(Key("dinero_kind", "invoice"), "7a2b",
                                                                   left_by_settings=True)),
        Difference(TOTAL, "sales_invoice", "10015", Message(gettext_noop(
            "Rackbeat's total is %(rb)s, Dinero's is %(dn)s (difference %(diff)s)."),
            rb=Money(Decimal("112.32"), "DKK"), dn=Money(Decimal("89.85"), "DKK"), diff=Money(Decimal("-22.47"), "DKK"))),
        Difference(TOTAL, "sales_invoice", "10016", _currency_message("EUR", "DKK")),
        Difference(CONSUMPTION_MISSING, "item_consumption", "10006", Message(gettext_noop(
            "No consumption voucher is booked for invoice %(number)s."), number="10006") + Message(gettext_noop(
                "Expected consumption: %(amount)s."), amount=Money(Decimal("1295.00"), "DKK"))),
        Difference(CONSUMPTION_DOUBLED, "item_consumption", "10017", Message(gettext_noop(
            "%(n)s consumption vouchers are booked for invoice %(number)s."), n=2, number="10017")),
        Difference(CONSUMPTION_DRAFT, "item_consumption", "10018", _draft_message(
            Key("dinero_kind", "manual_voucher"), "9f0c")),
    ]
    notes = [
        Message(gettext_noop("%(doc)s %(n)s is summed under “%(key)s”: %(why)s"),
                doc=Message(gettext_noop("Invoice")), n="10019", key=Key("account_row", UNPLACED),
                why=Message(gettext_noop("Drafts are not booked, so Dinero's sums per account leave them out."))),
        Message(gettext_noop("Rackbeat document %(n)s: its Dinero %(kind)s is dated %(date)s."),
                n="10020", kind=Key("dinero_kind", "credit_note"), date=date(2026, 4, 2)),
        Message(gettext_noop("The supplier integration is off, so supplier invoices are not expected in Dinero.")),
    ]
    zone_row = {"currency": "DKK", "rackbeat_excl": "4910.53", "dinero_excl": "4910.50", "rackbeat_incl": "6138.16",
                "dinero_incl": "6138.13", "dinero_booked_dkk": "4910.50", "differs": True}
    account_row = {"currency": "DKK", "rackbeat": "1295.00", "dinero": "1295.00", "dinero_other": "0.00",
                   "differs": False}
    documents = [{"document": "sales_invoice", "number": "10006", "date": "2026-03-12", "party": "Kunde ApS",
                  "zone": zone, "rackbeat_total": "4910.53", "dinero_total": "4910.50", "dinero_number": "1042",
                  "dinero_status": "Booked", "dinero_guid": "7a2b", "consumption": consumption}
                 for zone, consumption in (("domestic", "booked"), ("eu", "missing"), ("abroad", "draft"))]
    result = {
        "period": {"start": "2026-03-01", "end": "2026-03-31", "label": "2026-03"},
        "counts": {"rackbeat_sales": 1234, "rackbeat_purchases": 2, "dinero_sales": 1233, "matched": 1230},
        "differences": [d.as_dict() for d in differences],
        "documents": documents,
        "sums": {"sales_by_zone": [{"key": zone, **zone_row} for zone in ("domestic", "eu", "abroad")],
                 "purchases_by_zone": [{"key": "domestic", **zone_row}],
                 "sales_by_account": [{"key": "1000", **account_row}, {"key": UNPLACED, **account_row}],
                 "purchases_by_account": [{"key": "2000", **account_row}]},
        "notes": [encode(note) for note in notes],
        "slices": 1,
        "seconds": 1.1,
    }
    started = timezone.now() - timedelta(seconds=1.1)
    return Reconciliation.objects.create(
        connection=connection, period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
        state=Reconciliation.State.DONE, started_at=started, finished_at=timezone.now(),
        differences=len(differences), result=result, **stored(stage=Message(gettext_noop("Done"))))


@pytest.fixture
def reader_world(offline):  # noqa: F811
    a, b, root = build_world()
    operations_in_every_state(a.connection, root)
    # A broken connection: its reason is shown on the home page, the dashboard and the wizard.
    engine.mark_connection_broken(a.connection, AuthenticationFailed("401 Unauthorized", service="dinero"))
    record = reconciliation_with_every_difference(a.connection)
    return a, b, root, record


# --- reading ---------------------------------------------------------------------------------------------

def _pages(a: Any, b: Any) -> list[str]:
    urls: list[str] = []
    for endpoint in endpoints():
        probes = plan(endpoint, a, b)
        assert not isinstance(probes, str), f"{endpoint.route}: {probes}"
        urls += [p.url for p in probes if p.expect == LISTING]
    setup = [u for u in urls if u.rstrip("/").endswith("/setup")]
    urls += [f"{u}?step={step.slug}" for u in setup for step in STEPS]
    # The map visits one object page per model; every operation's page is read (one per state).
    for op in SyncOperation.objects.filter(connection=a.connection):
        urls.append(reverse("admin:integration_syncoperation_change", args=[op.pk]))
        if op.state in SyncOperation.PROBLEM_STATES:
            urls.append(reverse("admin:integration_needsattention_change", args=[op.pk]))
    return sorted(set(urls))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_reads_in_the_readers_language(reader_world, language):
    a, b, root, _record = reader_world
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(root)
    english = _english_catalogue(language)
    failures = []
    pages = _pages(a, b)
    states = set(SyncOperation.objects.filter(connection=a.connection).values_list("state", flat=True))
    assert states == set(State.values), f"the world lacks operations in {set(State.values) - states}"
    for url in pages:
        response = client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        failures += [f"{url}: {p}" for p in problems(visible_text(response.content.decode()), english)]
    assert not failures, f"{len(failures)} problems in {language}:\n" + "\n".join(failures)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reconciliations_csv_and_pdf_read_in_the_readers_language(reader_world, language):
    a, _b, root, record = reader_world
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(root)
    english = _english_catalogue(language)
    page = reverse("admin:connection-reconciliation", args=[a.connection.pk]) + f"?run={record.pk}"
    csv_response = client.get(page + "&format=csv")
    pdf_response = client.get(page + "&format=pdf")
    assert csv_response["Content-Type"].startswith("text/csv")
    assert pdf_response["Content-Type"] == "application/pdf"
    csv_text = _csv_text(csv_response.content.decode("utf-8-sig"), delimiter=";")
    pdf_text = " ".join(pdf_lines(pdf_response.content))
    assert "10006" in csv_text and "10006" in pdf_text
    failures = [f"CSV: {p}" for p in problems(csv_text, english)]
    failures += [f"PDF: {p}" for p in problems(pdf_text, english)]
    assert not failures, f"{len(failures)} problems in {language}:\n" + "\n".join(failures)


def _csv_text(text: str, *, delimiter: str) -> str:
    """The CSV's cells as a Danish or Swedish spreadsheet reads them: separated by semicolons."""
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    assert max(len(row) for row in rows) > 5, "the CSV is not separated by semicolons"
    return "\n".join(" | ".join(row) for row in rows)


def test_csv_bytes_of_a_result_without_meaning_still_reads(connection):
    """A reconciliation stored before messages were stored as meaning shows its texts as stored."""
    record = Reconciliation(connection=connection, period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
                            result={"differences": [{"kind": MISSING, "document": "sales_invoice", "number": "1",
                                                     "date": "", "rackbeat_total": "", "dinero_total": "",
                                                     "label": "Mangler i Dinero", "document_label": "Salgsfaktura",
                                                     "message": "Gammel tekst."}]})
    assert "Gammel tekst." in csv_bytes(record).decode("utf-8-sig")
