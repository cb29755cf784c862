"""Is everything from Rackbeat in Dinero for this period? — the reconciliation.

For one connection and one period it reads, *from the two systems and not from our own log*:

* Rackbeat: every booked sales invoice, credit note and supplier invoice dated in the period
  (``invoice_date_from``/``_to``, pages of 1,000, dates checked again on our side);
* Dinero: the period's invoices and sales credit notes (``GET …/invoices`` and ``…/sales/creditnotes``
  with ``startDate``/``endDate``, pages of 1,000, matched on our ``ExternalReference``), each purchase
  voucher by the Guid our operation stored, and the ledger entries of the period (one request) —
  which show the item-consumption vouchers and the sums per account as they are booked.

It reports documents missing in Dinero, documents in Dinero that no Rackbeat document of the period
explains, totals that differ to the øre, doubled documents, consumption vouchers missing or doubled,
and the sums per VAT zone and per revenue/supplier account on both sides.

Every request goes through the normal clients, so the shared per-organization and per-token budgets
(rule 8) are respected: a long period takes longer instead of crowding out transfers. Progress is
written to the :class:`~integration.core.models.Reconciliation` row as the run goes.

A period of any size runs in slices, like the start sync: a task reads for
``RECONCILIATION_SLICE_SECONDS`` (well inside the task's time limit), keeps every answer it has
read on the row and queues the next task, which replays the comparison from those answers without
asking either system again and reads on from where the last one stopped. A spent request budget
ends a slice the same way, only later.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from accounts.models import Connection
from integration.books.reconciliation_keys import (  # noqa: F401  (the report and the page read them here too)
    CONSUMPTION_DOUBLED,
    CONSUMPTION_DRAFT,
    CONSUMPTION_MISSING,
    CREDIT_NOTE,
    DIFFERENCE_LABELS,
    DINERO_STATUS_LABELS,
    DOCUMENT_LABELS,
    DOUBLED,
    DRAFT,
    EXTRA,
    ITEM_CONSUMPTION,
    MISSING,
    SALES_INVOICE,
    SUM_KEY_LABELS,
    SUPPLIER_INVOICE,
    TOTAL,
    UNKNOWN_ZONE,
    UNPLACED,
    difference_label,
    dinero_status_label,
    document_label,
    sum_key_label,
)
from integration.books.reconciliation_report import email_differences
from integration.core import dispatch, report_slots
from integration.core.clients.errors import ApiError, BudgetExhausted, NotFound
from integration.core.clients.factory import dinero_client, rackbeat_client
from integration.core.clients.rackbeat_documents import RelatedRecords, is_credit_note, party_name
from integration.core.handlers import NeedsMapping
from integration.core.messages import Key, Message, Money, Sentences, Text, encode, meaning, set_texts, stored
from integration.core.models import Direction, IntegrationSettings, Kind, Reconciliation, SyncOperation
from integration.transfers.invoice_mapping import (
    ZERO,
    consumption_amount,
    external_reference,
    invoice_vat_zone,
    line_total,
    map_sales_invoice,
    map_supplier_invoice,
    money,
    ore,
    purchase_amount_includes_vat,
    sales_external_reference,
    supplier_vat_zone,
)
from integration.transfers.sales_invoices import sales_mappings
from integration.transfers.supplier_invoices import supplier_mappings

logger = logging.getLogger(__name__)

TASK = "integration.tasks.run_reconciliation"
# Below the broker's retry window (Q_CLUSTER["retry"], 900 s) so a long run is never delivered twice.
TASK_TIMEOUT_SECONDS = 840
# Where a paused run keeps the answers it has read (in ``result`` until the run is done).
RESUME_KEY = "_answers"
# A running reconciliation whose heartbeat is older than this lost its worker.
STALLED_AFTER = timedelta(minutes=16)

SALES_PREFIX = external_reference("customer-invoice", "")
SUPPLIER_PREFIX = external_reference("supplier-invoice", "")
CONSUMPTION_TEXT = re.compile(r"^Vareforbrug (?:faktura|kreditnota) (?P<number>\S+)$")
# Per VAT zone and currency: the document currency's amounts on both sides, and the DKK Dinero booked.
ZONE_COLUMNS = ["rackbeat_excl", "dinero_excl", "rackbeat_incl", "dinero_incl", "dinero_booked_dkk"]


# --- periods --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        return cls(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        first = 3 * (quarter - 1) + 1
        return cls(cls.month(year, first).start, cls.month(year, first + 2).end)

    @classmethod
    def half_year(cls, year: int, half: int) -> Period:
        """Denmark's half-yearly VAT period (January–June, July–December)."""
        return cls(cls.month(year, 6 * (half - 1) + 1).start, cls.month(year, 6 * half).end)

    @classmethod
    def previous_month(cls, today: date) -> Period:
        last = today.replace(day=1) - timedelta(days=1)
        return cls.month(last.year, last.month)

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        """A period from two ``YYYY-MM-DD`` texts; ValueError with a readable message otherwise."""
        try:
            first, last = date.fromisoformat(str(start).strip()), date.fromisoformat(str(end).strip())
        except ValueError:
            raise ValueError(_("Enter both dates as YYYY-MM-DD.")) from None
        if last < first:
            raise ValueError(_("The period ends before it starts."))
        if (last - first).days > 366:
            raise ValueError(_("Choose a period of at most one year."))
        return cls(first, last)

    @classmethod
    def shortcut(cls, text: str) -> Period:
        """``2026-03`` (a month) or ``2026-Q1`` (a quarter)."""
        text = str(text).strip().upper()
        quarter = re.fullmatch(r"(\d{4})-?Q([1-4])", text)
        if quarter:
            return cls.quarter(int(quarter.group(1)), int(quarter.group(2)))
        month = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
        if month and 1 <= int(month.group(2)) <= 12:
            return cls.month(int(month.group(1)), int(month.group(2)))
        raise ValueError(_("Write a month as 2026-03 or a quarter as 2026-Q1."))

    @property
    def dates(self) -> tuple[date, date]:
        return self.start, self.end

    def contains(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    @property
    def label(self) -> str:
        if self == Period.month(self.start.year, self.start.month):
            return f"{self.start:%Y-%m}"
        if self.start.month in (1, 4, 7, 10) and self == Period.quarter(self.start.year, (self.start.month + 2) // 3):
            return f"{self.start.year}-Q{(self.start.month + 2) // 3}"
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def period_shortcuts(today: date) -> list[tuple[str, Period]]:
    """The periods offered as one-click choices (Dinero's API does not expose the VAT period)."""
    this_quarter = (today.month - 1) // 3 + 1
    last_quarter = (today.year, this_quarter - 1) if this_quarter > 1 else (today.year - 1, 4)
    last_half = (today.year, 1) if today.month > 6 else (today.year - 1, 2)
    return [
        (_("Last month"), Period.previous_month(today)),
        (_("This month"), Period.month(today.year, today.month)),
        (_("Last quarter"), Period.quarter(*last_quarter)),
        (_("This quarter"), Period.quarter(today.year, this_quarter)),
        (_("Last half-year"), Period.half_year(*last_half)),
    ]


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value or "")[:10])
    except ValueError:
        return None


def _amount(value: Any) -> Decimal:
    try:
        return money(value)
    except NeedsMapping:
        return ZERO


def _signed(value: Decimal, credit_note: bool) -> Decimal:
    """Credit notes count negative on both sides, whatever sign the system stores them with."""
    return -abs(value) if credit_note else value


# --- starting and running -------------------------------------------------------------------------

def start(connection: Connection, period: Period, *, trigger: str = Reconciliation.Trigger.PERSON,
          user: Any = None) -> Reconciliation:
    """Store the run and queue its task (in sync mode it runs once the transaction commits)."""

    name = ""
    if user is not None:
        name = (user.get_full_name() if hasattr(user, "get_full_name") else "") or getattr(user, "username", "")
    reconciliation = Reconciliation.objects.create(
        connection=connection, period_start=period.start, period_end=period.end, trigger=trigger,
        requested_by=str(name)[:150], heartbeat_at=timezone.now(),
        **stored(stage=Message(gettext_noop("Waiting for a worker"))))
    if django_settings.Q_CLUSTER.get("sync"):
        transaction.on_commit(lambda: async_task(TASK, reconciliation.pk, sync=True))
        if not transaction.get_connection().in_atomic_block:
            reconciliation.refresh_from_db()
    else:
        async_task(TASK, reconciliation.pk, task_name=f"reconciliation-{reconciliation.pk}",
                   timeout=TASK_TIMEOUT_SECONDS)
    return reconciliation


def run_task(reconciliation_id: int) -> None:
    """The queued task: run the reconciliation in a report slot, or wait for one without a worker."""
    record = Reconciliation.objects.filter(pk=reconciliation_id, state=Reconciliation.State.RUNNING).only(
        "pk", "connection_id").first()
    if record is None:
        return
    with report_slots.slot(record.connection_id, f"reconciliation-{reconciliation_id}",
                           hold_seconds=TASK_TIMEOUT_SECONDS) as held:
        if held:
            run(reconciliation_id)
            return
    _wait_for_slot(record)


def _wait_for_slot(record: Reconciliation) -> None:
    due = timezone.now() + timedelta(seconds=report_slots.wait_seconds())
    Reconciliation.objects.filter(pk=record.pk).update(
        heartbeat_at=timezone.now(), **stored(stage=Message(gettext_noop(
            "Waiting for another report to finish"))))
    name = f"reconciliation-{record.pk}"
    if not dispatch.queue_at(TASK, record.pk, due=due, task_name=name):
        schedule(TASK, record.pk, name=f"{name}-{int(due.timestamp())}", schedule_type=Schedule.ONCE,
                 next_run=due, repeats=1)


def run(reconciliation_id: int) -> Reconciliation:
    """Run one stored reconciliation to the end; a failure is recorded on the row, never raised."""

    record = Reconciliation.objects.select_related("connection").get(pk=reconciliation_id)
    if record.state != Reconciliation.State.RUNNING:
        return record
    connection = record.connection
    reconciler = Reconciler(record, rackbeat_client(connection), dinero_client(connection),
                            slice_seconds=float(getattr(django_settings, "RECONCILIATION_SLICE_SECONDS", 600)))
    try:
        report = reconciler.run()
    except SliceOver:
        return _next_slice(record, reconciler)
    except Paused as pause:
        return _pause(record, reconciler, pause.due_at)
    except ApiError as exc:
        return _finish(record, error=Message(gettext_noop("The reconciliation stopped: %(error)s %(hint)s"),
                                             error=exc.describe(), hint=exc.hint))
    except Exception as exc:  # a bug must end as a readable row, not a run that seems to go on forever
        logger.exception("Reconciliation %s failed", reconciliation_id)
        return _finish(record, error=Message(gettext_noop(
            "The reconciliation stopped unexpectedly: %(error)s"),
            error=f"{type(exc).__name__}: {exc}"))
    record = _finish(record, result=report)
    if record.trigger == Reconciliation.Trigger.SCHEDULE:
        email_differences(record)
    return record


def _pause(record: Reconciliation, reconciler: Reconciler, due_at: float) -> Reconciliation:
    """Keep what was read and continue when the shared budget has room: no worker sleeps on it."""

    when = datetime.fromtimestamp(due_at, tz=UTC)
    record.result = {RESUME_KEY: reconciler.answers, "slices": reconciler.slices}
    record.heartbeat_at = timezone.now()
    fields = set_texts(record, stage=Message(gettext_noop(
        "Waiting for the request budget until %(time)s (%(stage)s)"),
        time=when, stage=meaning(record, "stage")))
    record.save(update_fields=["result", "heartbeat_at", *fields])
    schedule(TASK, record.pk, name=f"reconciliation-{record.pk}-{int(due_at)}", schedule_type=Schedule.ONCE,
             next_run=when, repeats=1)
    return record


def _next_slice(record: Reconciliation, reconciler: Reconciler) -> Reconciliation:
    """The slice's time is over: keep what was read, say how far the run is, queue the next slice."""

    record.result = {RESUME_KEY: reconciler.answers, "slices": reconciler.slices}
    record.heartbeat_at = timezone.now()
    fields = set_texts(record, stage=Message(gettext_noop(
        "Slice %(n)s done, the next one continues: %(stage)s"),
        n=reconciler.slices, stage=meaning(record, "stage")))
    record.save(update_fields=["result", "heartbeat_at", "processed", "total", *fields])
    _queue_next_slice(record.pk)
    return record


def _queue_next_slice(reconciliation_id: int) -> None:
    if django_settings.Q_CLUSTER.get("sync"):
        transaction.on_commit(lambda: async_task(TASK, reconciliation_id, sync=True))
    else:
        async_task(TASK, reconciliation_id, task_name=f"reconciliation-{reconciliation_id}",
                   timeout=TASK_TIMEOUT_SECONDS)


def _finish(record: Reconciliation, *, result: dict[str, Any] | None = None, error: Text = "") -> Reconciliation:
    now = timezone.now()
    record.finished_at = now
    record.heartbeat_at = now
    if error:
        record.state = Reconciliation.State.FAILED
        set_texts(record, error=error, stage=Message(gettext_noop("Stopped")))
    else:
        record.state = Reconciliation.State.DONE
        record.result = result or {}
        record.differences = len(record.result.get("differences", []))
        set_texts(record, stage=Message(gettext_noop("Done")))
        record.processed = record.total
    record.save()
    return record


def mark_stalled(record: Reconciliation) -> Reconciliation:
    """A run whose worker stopped answering ends as failed, so the page does not wait forever."""
    if record.state == Reconciliation.State.RUNNING and record.heartbeat_at \
            and timezone.now() - record.heartbeat_at > STALLED_AFTER:
        record.state = Reconciliation.State.FAILED
        fields = set_texts(record, error=Message(gettext_noop(
            "The worker running this reconciliation stopped answering. Start it again.")))
        record.finished_at = timezone.now()
        record.save(update_fields=["state", "finished_at", *fields])
    return record


def reconcile_last_month() -> int:
    """The month-end schedule: reconcile last month for every active connection. Returns how many."""
    period = Period.previous_month(timezone.localdate())
    count = 0
    for connection in Connection.objects.filter(state=Connection.State.ACTIVE):
        start(connection, period, trigger=Reconciliation.Trigger.SCHEDULE)
        count += 1
    return count


# --- the comparison -------------------------------------------------------------------------------

@dataclass
class Difference:
    kind: str
    document: str
    number: str
    message: Text
    date: str = ""
    rackbeat_total: str = ""
    dinero_total: str = ""
    currency: str = ""
    dinero_guid: str = ""
    dinero_kind: str = ""
    operation_id: int | None = None
    operation_state: str = ""
    transferable: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The difference as stored in the result: its message as meaning, its labels read from the keys
        when the result is shown (:func:`integration.books.reconciliation_report.readable`)."""
        return {**self.__dict__, "message": encode(self.message)}


class Sums:
    """Amounts per key (VAT zone or account) and currency, Rackbeat's and Dinero's side by side.

    Amounts of different currencies are never added together: each currency is its own row.
    """

    def __init__(self, *, compare_dkk_only: Iterable[str] = ()) -> None:
        self.rows: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
        # Columns compared only in DKK rows (Dinero's ledger is in DKK whatever the document's currency).
        self.compare_dkk_only = set(compare_dkk_only)

    def add(self, key: Any, currency: str, column: str, amount: Decimal) -> None:
        self.rows[(str(key), currency or "DKK")][column] += amount

    def keys(self) -> set[str]:
        return {key for key, _currency in self.rows}

    def as_list(self, columns: Iterable[str]) -> list[dict[str, str]]:
        columns = list(columns)
        out = []
        for key, currency in sorted(self.rows, key=lambda k: (not k[0].isdigit(), int(k[0]) if k[0].isdigit() else 0,
                                                             k[0], k[1] != "DKK", k[1])):
            amounts = self.rows[(key, currency)]
            row: dict[str, Any] = {"key": key, "currency": currency, **{c: str(ore(amounts[c])) for c in columns}}
            pairs = [(c, c.replace("rackbeat", "dinero")) for c in columns if c.startswith("rackbeat")]
            row["differs"] = any(amounts[a] != amounts[b] for a, b in pairs
                                 if currency == "DKK" or b not in self.compare_dkk_only)
            out.append(row)
        return out


class SliceOver(Exception):
    """The slice has read for its time; the run continues in the next task."""


class Paused(Exception):
    """The request budget has no room now; the run continues at ``due_at`` (epoch seconds)."""

    def __init__(self, due_at: float) -> None:
        super().__init__(due_at)
        self.due_at = due_at


class _RememberedReads:
    """A Rackbeat client whose reads go through :meth:`Reconciler.read` (kept across a pause).

    A record Rackbeat does not have is answered as ``NotFound``, as the real client does.
    """

    def __init__(self, reconciler: Reconciler, client: Any) -> None:
        self.reconciler = reconciler
        self.client = client

    def __getattr__(self, name: str) -> Any:
        def remembered(key: Any) -> Any:
            value = self.reconciler.read(f"rackbeat:{name}:{key}", getattr(self.client, name), key)
            if value is None:
                raise NotFound(f"Rackbeat has no {name.removeprefix('get_')} {key}.", service="rackbeat")
            return value

        return remembered


class Reconciler:
    """Reads both systems for one stored reconciliation and builds its report."""

    def __init__(self, record: Reconciliation, rackbeat: Any, dinero: Any, *, slice_seconds: float = 600) -> None:
        self.record = record
        # This task's slice: it ends at the first request after the deadline, having made at least one.
        self.slice_deadline = time.monotonic() + slice_seconds
        self.requests_in_slice = 0
        self.slices = int((record.result or {}).get("slices") or 0) + 1
        self.connection = record.connection
        self.settings, _created = IntegrationSettings.objects.get_or_create(connection=self.connection)
        self.rackbeat = rackbeat
        self.dinero = dinero
        self.period = Period(record.period_start, record.period_end)
        self.differences: list[Difference] = []
        self.notes: list[str] = []
        self.documents: list[dict[str, Any]] = []
        self.zone_sums = {"sales": Sums(), "purchases": Sums()}
        self.account_sums = {"sales": Sums(compare_dkk_only=["dinero"]), "purchases": Sums(compare_dkk_only=["dinero"])}
        # Dinero voucher Guid → "sales"/"purchases": whose ledger entries count on Dinero's side.
        self.voucher_side: dict[str, str] = {}
        # Dinero voucher Guid → (VAT zone, currency) of the Rackbeat document it stands for.
        self.voucher_row: dict[str, tuple[str, str]] = {}
        # Every answer read so far (see read()); kept on the row while a run waits for the budget.
        self.answers: dict[str, Any] = dict((record.result or {}).get(RESUME_KEY) or {})
        # Items and suppliers not embedded in Rackbeat's documents: read once per run, through the
        # same answers, so a pause does not read them again.
        self.related = RelatedRecords(_RememberedReads(self, rackbeat))  # type: ignore[arg-type]

    # reading, once per run even across pauses
    def read(self, key: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` read once per run (lists in full); None when the API has no such thing.

        The answers are kept, so a run paused for the request budget continues where it stopped
        instead of reading everything again.
        """
        if key in self.answers:
            return self.answers[key]
        if self.requests_in_slice and time.monotonic() >= self.slice_deadline:
            raise SliceOver
        self.requests_in_slice += 1
        try:
            value = func(*args, **kwargs)
            if value is not None and not isinstance(value, dict | list):
                value = list(value)
        except NotFound:
            value = None
        except BudgetExhausted as exc:
            raise Paused(exc.due_at) from exc
        self.answers[key] = value
        return value

    # progress
    def progress(self, stage: Text, *, processed: int | None = None, total: int | None = None) -> None:
        updates: dict[str, Any] = {**stored(stage=stage), "heartbeat_at": timezone.now()}
        updates["stage"] = updates["stage"][:200]
        if processed is not None:
            updates["processed"] = processed
        if total is not None:
            updates["total"] = total
        Reconciliation.objects.filter(pk=self.record.pk).update(**updates)
        for field, value in updates.items():
            setattr(self.record, field, value)

    def step(self) -> None:
        self.record.processed += 1
        if self.record.processed % 10 == 0 or self.record.processed == self.record.total:
            self.progress(meaning(self.record, "stage"), processed=self.record.processed)

    # reading
    def _rackbeat_list(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Booked documents dated in the period; checked here too (a filter may be ignored or refused)."""
        return [row for row in rows if row.get("is_booked", True) and self.period.contains(_day(row.get("invoice_date")))]

    def _full(self, row: dict[str, Any], kind: str, read: Any) -> dict[str, Any]:
        """A list row with its lines (read once when the list does not carry them), completed with
        the items and supplier Rackbeat does not embed (rackbeat_documents.RelatedRecords)."""
        if not isinstance(row.get("lines"), list):
            row = self.read(f"rackbeat:{kind}:{row.get('number')}", read, row.get("number")) or row
        complete = self.related.supplier_invoice if kind == "supplier_invoice" else self.related.customer_invoice
        return complete(row)  # its reads go through read(), which turns a spent budget into a pause

    def run(self) -> dict[str, Any]:
        started = timezone.now()
        self.progress(Message(gettext_noop("Reading Rackbeat's booked sales invoices and credit notes")))
        sales = self._rackbeat_list(self.read("rackbeat:sales", self.rackbeat.iter_customer_invoices, booked=None,
                                              dated=self.period.dates) or [])
        self.progress(Message(gettext_noop("Reading Rackbeat's booked supplier invoices")))
        purchases = self._rackbeat_list(self.read("rackbeat:purchases", self.rackbeat.iter_supplier_invoices,
                                                  booked=None, dated=self.period.dates) or [])
        self.progress(Message(gettext_noop("Reading Dinero's invoices and credit notes")), processed=0,
                      total=len(sales) + len(purchases) + 2)
        dinero_sales = self._dinero_sales()
        dinero_count = sum(len(rows) for rows in dinero_sales.values())
        self.progress(Message(gettext_noop("Reading Dinero's ledger entries for the period")))
        entries = self.read("dinero:entries", self.dinero.entries, self.period.start, self.period.end) or []
        self.step()

        self.progress(Message(gettext_noop("Comparing sales invoices and credit notes")))
        self._compare_sales(sales, dinero_sales, entries)
        self.progress(Message(gettext_noop("Comparing supplier invoices with purchase vouchers")))
        self._compare_purchases(purchases, entries)
        self._account_sums_from_ledger(entries)
        self.step()

        finished = timezone.now()
        return {
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat(),
                       "label": self.period.label},
            "settings": {
                "customer_integration": self.settings.customer_integration_enabled and self.settings.sales_from_rackbeat,
                "supplier_integration": self.settings.supplier_integration_enabled,
                "item_consumption": self.settings.item_consumption_enabled,
            },
            "counts": {
                "rackbeat_sales": len(sales), "rackbeat_purchases": len(purchases),
                "dinero_sales": dinero_count,
                "matched": sum(1 for d in self.documents if d.get("dinero_guid")),
            },
            "differences": [d.as_dict() for d in sorted(self.differences, key=_difference_order)],
            "documents": self.documents,
            "sums": {
                "sales_by_zone": self.zone_sums["sales"].as_list(ZONE_COLUMNS),
                "purchases_by_zone": self.zone_sums["purchases"].as_list(ZONE_COLUMNS),
                "sales_by_account": self.account_sums["sales"].as_list(["rackbeat", "dinero", "dinero_other"]),
                "purchases_by_account": self.account_sums["purchases"].as_list(["rackbeat", "dinero", "dinero_other"]),
            },
            "notes": [encode(note) for note in self.notes],
            "slices": self.slices,
            "seconds": round((finished - started).total_seconds(), 1),
        }

    def _dinero_sales(self) -> dict[str, list[dict[str, Any]]]:
        """The period's Dinero invoices and credit notes by ExternalReference ("" for none)."""
        by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for kind, rows in (("invoice", self.read("dinero:invoices", self.dinero.iter_invoices, dated=self.period.dates)),
                           ("credit_note", self.read("dinero:credit_notes", self.dinero.iter_credit_notes,
                                                     dated=self.period.dates))):
            for row in rows or []:
                # Dinero lists drafts whatever their date; the period is ours to apply.
                if not self.period.contains(_day(row.get("Date"))) or row.get("DeletedAt"):
                    continue
                by_reference[str(row.get("ExternalReference") or "")].append({**row, "_kind": kind})
        return by_reference

    def _operations(self, kinds: Iterable[str]) -> dict[str, SyncOperation]:
        ops = SyncOperation.objects.filter(connection=self.connection, direction=Direction.TO_DINERO,
                                           kind__in=list(kinds))
        return {op.source_key: op for op in ops}

    # sales
    def _compare_sales(self, sales: list[dict[str, Any]], dinero_sales: dict[str, list[dict[str, Any]]],
                       entries: list[dict[str, Any]]) -> None:
        expected = self.settings.customer_integration_enabled and self.settings.sales_from_rackbeat
        if not self.settings.sales_from_rackbeat:
            self.notes.append(Message(gettext_noop(
                "Customer invoices are created in Dinero for this connection, so sales invoices are not "
                "expected to come from Rackbeat.")))
        elif not self.settings.customer_integration_enabled:
            self.notes.append(Message(gettext_noop(
                "The customer integration is off, so sales invoices are not expected in Dinero.")))
        ops = self._operations([Kind.SALES_INVOICE, Kind.CREDIT_NOTE])
        consumption_ops = self._operations([Kind.ITEM_CONSUMPTION])
        consumption = self._consumption_vouchers(entries)
        numbers = set()
        for row in sales:
            invoice = self._full(row, "customer_invoice", self.rackbeat.get_customer_invoice)
            number = str(invoice.get("number") or row.get("number"))
            numbers.add(number)
            credit = is_credit_note(invoice)
            document = CREDIT_NOTE if credit else SALES_INVOICE
            zone = invoice_vat_zone(invoice) or UNKNOWN_ZONE
            currency = _currency(invoice, "customer")
            rb_excl = _signed(ore(_amount(invoice.get("total_subtotal"))), credit)
            rb_incl = _signed(ore(_amount(invoice.get("total_total"))), credit)
            self.zone_sums["sales"].add(zone, currency, "rackbeat_excl", rb_excl)
            self.zone_sums["sales"].add(zone, currency, "rackbeat_incl", rb_incl)
            self._sales_accounts(invoice, credit, currency)
            op = ops.get(number)
            found = dinero_sales.pop(sales_external_reference(number), [])
            if not found and op is not None and op.target_id:
                found = self._dinero_sales_by_guid(op)
            base = {"document": document, "number": number, "date": str(invoice.get("invoice_date") or "")[:10],
                    "rackbeat_total": str(rb_incl), "currency": currency, "operation_id": op.pk if op else None,
                    "operation_state": op.state if op else ""}
            line = {**base, "party": party_name(invoice.get("customer")), "zone": zone, "dinero_total": "",
                    "dinero_number": "", "dinero_status": "", "dinero_guid": "", "dinero_kind": "",
                    "consumption": ""}
            if found:
                first = found[0]
                dn_excl = _signed(ore(_amount(first.get("TotalExclVat"))), credit)
                dn_incl = _signed(ore(_amount(first.get("TotalInclVat"))), credit)
                line.update(dinero_total=str(dn_incl), dinero_number=str(first.get("Number") or ""),
                            dinero_status=str(first.get("Status") or ""), dinero_guid=str(first.get("Guid") or ""),
                            dinero_kind=first["_kind"])
                dn_currency = str(first.get("Currency") or first.get("CurrencyKey") or "DKK").upper()
                self.voucher_side[line["dinero_guid"]] = "sales"
                self.voucher_row[line["dinero_guid"]] = (zone, dn_currency)
                self.zone_sums["sales"].add(zone, dn_currency, "dinero_excl", dn_excl)
                self.zone_sums["sales"].add(zone, dn_currency, "dinero_incl", dn_incl)
                if dn_currency != currency:
                    self._add(TOTAL, line, _currency_message(currency, dn_currency))
                if len(found) > 1:
                    self._add(DOUBLED, line, Message(gettext_noop(
                        "Dinero holds %(n)s documents with the reference %(ref)s: %(which)s."),
                        n=len(found), ref=sales_external_reference(number),
                        which=Sentences(*(Sentences(Key("dinero_kind", f["_kind"]), f.get("Number") or f.get("Guid"))
                                                     for f in found), separator=", ")))
                if abs(dn_incl) != abs(rb_incl):
                    self._add(TOTAL, line, Message(
                        gettext_noop("Rackbeat's total is %(rb)s, Dinero's is %(dn)s (difference %(diff)s)."),
                        rb=Money(rb_incl, currency), dn=Money(dn_incl, dn_currency),
                        diff=Money(dn_incl - rb_incl, currency)))
                if _is_draft(first):
                    self._add(DRAFT, line, _draft_message(
                        first["_kind"].replace("_", " "), line["dinero_guid"],
                        left_by_settings=self.settings.sales_invoice_status == IntegrationSettings.SalesInvoiceStatus.DRAFT))
            elif expected:
                self._add(MISSING, line, self._missing_reason(op), transferable=True)
            line["consumption"] = self._check_consumption(invoice, line, consumption.pop(number, set()),
                                                          consumption_ops.get(number))
            self.documents.append(line)
            self.step()
        self._extra_sales(dinero_sales, numbers, expected)
        for number, guids in consumption.items():
            self._add(EXTRA, {"document": ITEM_CONSUMPTION, "number": number, "dinero_guid": sorted(guids)[0],
                              "dinero_kind": "manual_voucher"},
                      Message(gettext_noop(
                          "A consumption voucher for invoice %(n)s is booked in the period, but Rackbeat "
                          "has no booked sales invoice %(n)s dated in it."),
                          n=number))

    def _dinero_sales_by_guid(self, op: SyncOperation) -> list[dict[str, Any]]:
        """The document our operation created, read by its Guid (it may be dated outside the period)."""
        kind = (op.intent or {}).get("document_kind") or "invoice"
        read = self.dinero.get_credit_note if kind == "credit_note" else self.dinero.get_invoice
        document = self.read(f"dinero:{kind}:{op.target_id}", read, op.target_id)
        if not document or document.get("DeletedAt"):
            return []
        self.notes.append(Message(gettext_noop(
            "Rackbeat document %(n)s: its Dinero %(kind)s is dated %(date)s."),
            n=op.source_key, kind=Key("dinero_kind", kind), date=_date_value(document.get("Date"))))
        return [{**document, "_kind": kind}]

    def _missing_reason(self, op: SyncOperation | None) -> Message:
        if op is None:
            return Message(gettext_noop(
                "No transfer was ever started for it (no webhook or poll reached the service)."))
        if op.state == SyncOperation.State.DONE:
            return Message(gettext_noop(
                "The sync log says it was transferred (%(outcome)s), but Dinero does not have it: it may "
                "have been deleted there."),
                outcome=meaning(op, "outcome"))
        return Message(gettext_noop(
            "Its transfer is %(state)s: %(why)s"),
            state=Key("operation_state_in_sentence", op.state),
            why=meaning(op, "last_error") or meaning(op, "outcome") or Message(gettext_noop("no details")))

    def _extra_sales(self, left: dict[str, list[dict[str, Any]]], numbers: set[str], expected: bool) -> None:
        for reference, rows in left.items():
            for row in rows:
                line = {"document": CREDIT_NOTE if row["_kind"] == "credit_note" else SALES_INVOICE,
                        "number": reference[len(SALES_PREFIX):] if reference.startswith(SALES_PREFIX) else "",
                        "date": str(row.get("Date") or "")[:10], "dinero_total": str(ore(_amount(row.get("TotalInclVat")))),
                        "currency": str(row.get("Currency") or row.get("CurrencyKey") or "DKK").upper(),
                        "dinero_guid": str(row.get("Guid") or ""), "dinero_kind": row["_kind"]}
                if reference.startswith(SALES_PREFIX):
                    message = self._why_not_in_rackbeat(line["number"])
                elif expected:
                    message = Message(gettext_noop(
                        "Dinero %(kind)s %(number)s (%(contact)s) was not created by the integration: it "
                        "carries no Rackbeat reference."),
                        kind=Key("dinero_kind", row["_kind"]),
                        number=row.get("Number") or Message(gettext_noop("(draft)")),
                        contact=row.get("ContactName") or "-")
                else:
                    continue
                self._add(EXTRA, line, message)

    def _why_not_in_rackbeat(self, number: str) -> Message:
        invoice = self.read(f"rackbeat:customer_invoice:{number}", self.rackbeat.get_customer_invoice, number)
        if invoice is None:
            return Message(gettext_noop(
                "It carries the reference of Rackbeat invoice %(n)s, which does not exist in Rackbeat."),
                n=number)
        if not invoice.get("is_booked"):
            return Message(gettext_noop("Rackbeat invoice %(n)s is not booked."), n=number)
        return Message(gettext_noop("Rackbeat invoice %(n)s is dated %(date)s, outside the period."),
                       n=number, date=_date_value(invoice.get("invoice_date")))

    def _sales_accounts(self, invoice: dict[str, Any], credit: bool, currency: str) -> None:
        """Rackbeat's side per revenue account: the lines as the revenue matrix places them."""

        try:
            payload = map_sales_invoice(invoice, sales_mappings(SimpleNamespace(connection=self.connection)),  # type: ignore[arg-type]
                                        contact_guid=None, dinero_guid=None)
        except NeedsMapping as problem:
            self._unplaced("sales", invoice, problem, _signed(_amount(invoice.get("total_subtotal")), credit), currency)
            return
        for line in payload.body["ProductLines"]:
            if line.get("LineType") == "Text":
                continue
            net = line_total(money(line["Quantity"]), money(line["BaseAmountValue"]), money(line["Discount"]))
            self.account_sums["sales"].add(line["AccountNumber"], currency, "rackbeat", _signed(abs(net), credit))

    # item consumption
    def _consumption_vouchers(self, entries: list[dict[str, Any]]) -> dict[str, set[str]]:
        """Booked consumption vouchers of the period per Rackbeat invoice number, from their text."""
        found: dict[str, set[str]] = defaultdict(set)
        for entry in entries:
            match = CONSUMPTION_TEXT.match(str(entry.get("Description") or "").strip())
            if match and entry.get("VoucherGuid"):
                found[match.group("number")].add(str(entry["VoucherGuid"]))
        return found

    def _check_consumption(self, invoice: dict[str, Any], line: dict[str, Any], guids: set[str],
                           op: SyncOperation | None) -> str:
        if not self.settings.item_consumption_enabled:
            return ""
        draft = False
        if op is not None and op.target_id and op.target_id not in guids:
            voucher = self.read(f"dinero:manual_voucher:{op.target_id}", self.dinero.get_manual_voucher, op.target_id)
            # A linked voucher that is only a draft is not in the books: never count it as booked.
            draft = bool(voucher) and _is_draft(voucher)
            if voucher and not draft:
                guids = guids | {op.target_id}
        context = {**line, "operation_id": op.pk if op else None, "operation_state": op.state if op else "",
                   "document": ITEM_CONSUMPTION, "dinero_guid": "", "dinero_kind": "manual_voucher",
                   "dinero_total": "", "rackbeat_total": ""}
        try:
            expected = consumption_amount(invoice)
        except NeedsMapping as problem:
            expected, reason = None, problem.message
        else:
            reason = ""
        if len(guids) > 1:
            self._add(CONSUMPTION_DOUBLED, {**context, "dinero_guid": sorted(guids)[0]},
                      Message(gettext_noop("%(n)s consumption vouchers are booked for invoice %(number)s."),
                              n=len(guids), number=line["number"]))
            return "doubled"
        if draft:
            self._add(CONSUMPTION_DRAFT, {**context, "dinero_guid": op.target_id if op else ""},
                      _draft_message(Key("dinero_kind", "manual_voucher"), op.target_id if op else ""))
            return "draft"
        if guids:
            return "booked"
        if expected == ZERO:
            return "nothing_to_book"
        message = Message(gettext_noop("No consumption voucher is booked for invoice %(number)s."),
                          number=line["number"])
        if reason:
            message += reason
        elif expected is not None:
            message += Message(gettext_noop(
                "Expected consumption: %(amount)s."),
                amount=Money(expected, "DKK"))
        self._add(CONSUMPTION_MISSING, {**context, "rackbeat_total": str(expected or "")}, message, transferable=True)
        return "missing"

    # purchases
    def _compare_purchases(self, purchases: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
        expected = self.settings.supplier_integration_enabled
        if not expected:
            self.notes.append(Message(gettext_noop(
                "The supplier integration is off, so supplier invoices are not expected in Dinero.")))
        ops = self._operations([Kind.SUPPLIER_INVOICE])
        by_reference, by_file = self._other_purchase_vouchers(entries, ops)
        numbers = set()
        for row in purchases:
            invoice = self._full(row, "supplier_invoice", self.rackbeat.get_supplier_invoice)
            number = str(invoice.get("number") or row.get("number"))
            numbers.add(number)
            zone = supplier_vat_zone(invoice) or UNKNOWN_ZONE
            currency = _currency(invoice, "supplier")
            rb_excl, rb_incl = ore(_amount(invoice.get("total_subtotal"))), ore(_amount(invoice.get("total_total")))
            self.zone_sums["purchases"].add(zone, currency, "rackbeat_excl", rb_excl)
            self.zone_sums["purchases"].add(zone, currency, "rackbeat_incl", rb_incl)
            self._purchase_accounts(invoice, currency)
            op = ops.get(number)
            guid = _stored_voucher_guid(op)
            voucher = self.read(f"dinero:purchase_voucher:{guid}", self.dinero.get_purchase_voucher, guid) if guid else None
            vouchers = self._vouchers_of(number, voucher, op, by_reference, by_file)
            line = {"document": SUPPLIER_INVOICE, "number": number, "date": str(invoice.get("invoice_date") or "")[:10],
                    "party": party_name(invoice.get("supplier")), "zone": zone, "rackbeat_total": str(rb_incl),
                    "currency": currency,
                    "dinero_total": "", "dinero_number": "", "dinero_status": "", "dinero_guid": "",
                    "dinero_kind": "purchase_voucher", "consumption": "", "operation_id": op.pk if op else None,
                    "operation_state": op.state if op else ""}
            if vouchers:
                first = vouchers[0]
                dn_incl = _voucher_totals(first)[1]
                line.update(dinero_total=str(dn_incl), dinero_number=str(first.get("VoucherNumber") or ""),
                            dinero_status=str(first.get("Status") or ""), dinero_guid=str(first.get("Guid") or ""))
                for found in vouchers:
                    dn_currency = str(found.get("CurrencyKey") or found.get("Currency") or "DKK").upper()
                    self.voucher_side[str(found.get("Guid") or "")] = "purchases"
                    self.voucher_row[str(found.get("Guid") or "")] = (zone, dn_currency)
                    excl, incl = _voucher_totals(found)
                    self.zone_sums["purchases"].add(zone, dn_currency, "dinero_excl", excl)
                    self.zone_sums["purchases"].add(zone, dn_currency, "dinero_incl", incl)
                    if dn_currency != currency:
                        self._add(TOTAL, line, _currency_message(currency, dn_currency))
                if len(vouchers) > 1:
                    self._add(DOUBLED, line, Message(gettext_noop(
                        "Dinero holds %(n)s purchase vouchers for supplier invoice %(number)s (by its "
                        "reference or its file): %(which)s."),
                        n=len(vouchers), number=number,
                        which=Sentences(*(_voucher_label(v) for v in vouchers), separator="; ")))
                if dn_incl != abs(rb_incl):
                    self._add(TOTAL, line, Message(gettext_noop(
                        "Rackbeat's total is %(rb)s, the purchase voucher's is %(dn)s (difference "
                        "%(diff)s)."),
                        rb=Money(rb_incl, currency), dn=Money(dn_incl, currency),
                        diff=Money(dn_incl - rb_incl, currency)))
                for found in vouchers:
                    if _is_draft(found):
                        self._add(DRAFT, line, _draft_message(
                            Key("dinero_kind", "purchase_voucher"), str(found.get("Guid") or ""), left_by_settings=(
                                self.settings.supplier_invoice_status == IntegrationSettings.SupplierInvoiceStatus.DRAFT)))
            elif expected:
                self._add(MISSING, line, self._missing_reason(op), transferable=True)
            self.documents.append(line)
            self.step()
        self._extra_purchases(entries, numbers)
        for number, vouchers in by_reference.items():
            for voucher in vouchers:
                self.voucher_side[str(voucher.get("Guid") or "")] = "purchases"
                self._add(EXTRA, {"document": SUPPLIER_INVOICE, "number": number, "dinero_kind": "purchase_voucher",
                                  "dinero_guid": str(voucher.get("Guid") or ""),
                                  "dinero_total": str(_voucher_totals(voucher)[1])},
                          Message(gettext_noop(
                              "Purchase voucher %(which)s carries the reference of Rackbeat supplier "
                              "invoice %(n)s, but Rackbeat has no booked supplier invoice %(n)s dated in "
                              "the period."),
                              which=_voucher_label(voucher), n=number))

    def _other_purchase_vouchers(self, entries: list[dict[str, Any]], ops: dict[str, SyncOperation]
                                 ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
        """The period's booked purchase vouchers no operation of ours stored, by our reference and by file.

        Each is read once (Dinero cannot list purchase vouchers by reference), so a second voucher
        for one supplier invoice — made by hand, or by an attempt whose answer was lost — is found
        by the ``ExternalReference`` it carries or by the file it shares with ours, and reported as
        a double instead of only adding to the "other Dinero postings".
        """
        known = {_stored_voucher_guid(op) for op in ops.values()} - {""}
        guids: list[str] = []
        for entry in entries:
            guid = str(entry.get("VoucherGuid") or "")
            if guid and guid not in known and guid not in guids and "purchase" in str(entry.get("VoucherType") or "").lower():
                guids.append(guid)
        by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
        by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for guid in guids:
            voucher = self.read(f"dinero:purchase_voucher:{guid}", self.dinero.get_purchase_voucher, guid)
            if not voucher or voucher.get("DeletedAt"):
                continue
            voucher = {**voucher, "Guid": str(voucher.get("Guid") or guid)}
            reference = str(voucher.get("ExternalReference") or "")
            if reference.startswith(SUPPLIER_PREFIX):
                by_reference[reference[len(SUPPLIER_PREFIX):]].append(voucher)
            elif voucher.get("FileGuid"):
                by_file[str(voucher["FileGuid"])].append(voucher)
        return by_reference, by_file

    @staticmethod
    def _vouchers_of(number: str, voucher: dict[str, Any] | None, op: SyncOperation | None,
                     by_reference: dict[str, list[dict[str, Any]]],
                     by_file: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Every purchase voucher Dinero holds for one supplier invoice: ours first, then any other."""
        vouchers = [voucher] if voucher else []
        file_guid = str((voucher or {}).get("FileGuid") or ((op.intent or {}).get("file_guid") if op else "") or "")
        others = by_reference.pop(number, []) + (by_file.pop(file_guid, []) if file_guid else [])
        seen = {str(v.get("Guid") or "") for v in vouchers}
        for other in others:
            if other["Guid"] not in seen:
                seen.add(other["Guid"])
                vouchers.append(other)
        return vouchers

    def _unplaced(self, side: str, invoice: dict[str, Any], problem: NeedsMapping, amount: Decimal,
                  currency: str) -> None:
        """A document the mapper refuses is summed apart, with the mapper's reason among the notes."""
        self.account_sums[side].add(UNPLACED, currency, "rackbeat", amount)
        self.notes.append(Message(gettext_noop(
            "%(doc)s %(n)s is summed under “%(key)s”: %(why)s"),
            doc=Message(gettext_noop("Supplier invoice") if side == "purchases" else gettext_noop("Invoice")),
            n=str(invoice.get("number") or ""), key=Key("account_row", UNPLACED), why=problem.message))

    def _purchase_accounts(self, invoice: dict[str, Any], currency: str) -> None:
        """Rackbeat's side per supplier account, excluding VAT as Dinero books it."""

        mappings = supplier_mappings(SimpleNamespace(connection=self.connection))  # type: ignore[arg-type]
        try:
            payload = map_supplier_invoice(invoice, mappings, contact_guid="")
        except NeedsMapping as problem:
            self._unplaced("purchases", invoice, problem, _amount(invoice.get("total_subtotal")), currency)
            return
        for line in payload.body["Lines"]:
            amount = money(line["Amount"])
            if purchase_amount_includes_vat(line.get("VatCode")):
                rate = mappings.account_vat(line["AccountNumber"]).rate
                fraction = rate / 100 if rate > 1 else rate
                amount = ore(amount / (1 + fraction))
            self.account_sums["purchases"].add(line["AccountNumber"], currency, "rackbeat", amount)

    def _extra_purchases(self, entries: list[dict[str, Any]], numbers: set[str]) -> None:
        """Purchase vouchers we created that are booked in the period for a document not in it."""
        booked = {str(e.get("VoucherGuid")) for e in entries if e.get("VoucherGuid")}
        ours = SyncOperation.objects.filter(connection=self.connection, kind=Kind.SUPPLIER_INVOICE,
                                            direction=Direction.TO_DINERO, target_id__in=booked)
        for op in ours.exclude(source_key__in=numbers):
            self._add(EXTRA, {"document": SUPPLIER_INVOICE, "number": op.source_key, "dinero_guid": op.target_id,
                              "dinero_kind": "purchase_voucher", "operation_id": op.pk, "operation_state": op.state},
                      Message(gettext_noop(
                          "The purchase voucher of Rackbeat supplier invoice %(n)s is booked in the "
                          "period, but Rackbeat has no booked supplier invoice %(n)s dated in it."),
                          n=op.source_key))

    # ledger
    def _account_sums_from_ledger(self, entries: list[dict[str, Any]]) -> None:
        """Dinero's side per account: booked entries of the matched documents, and other postings.

        Dinero's ledger is in DKK whatever a document's currency: a matched document's entries go to
        the row of its currency (compared with Rackbeat only in DKK rows), and to the VAT-zone
        table's *booked in DKK* column; other postings go to the account's DKK row. The matched
        documents' VAT, debtor and creditor entries (balance accounts) are left out unless
        Rackbeat's side names the account, so a line posted to a wrong account still shows.
        """
        for side in ("sales", "purchases"):
            accounts = {k for k in self.account_sums[side].keys() if k.isdigit()}
            for entry in entries:
                account = str(entry.get("AccountNumber") or "")
                guid = str(entry.get("VoucherGuid") or "")
                owner = self.voucher_side.get(guid)
                # Revenue is booked as a credit (negative) in Dinero's ledger.
                amount = _amount(entry.get("Amount")) * (-1 if side == "sales" else 1)
                if owner == side and (account in accounts or not _is_balance_account(account)):
                    zone, currency = self.voucher_row.get(guid, ("unknown", "DKK"))
                    self.account_sums[side].add(account, currency, "dinero", amount)
                    if not _is_balance_account(account):
                        self.zone_sums[side].add(zone, currency, "dinero_booked_dkk", amount)
                elif owner is None and account in accounts:
                    self.account_sums[side].add(account, "DKK", "dinero_other", amount)
        if any(d.get("dinero_status") == "Draft" for d in self.documents):
            self.notes.append(Message(gettext_noop(
                "Drafts are not booked, so Dinero's sums per account leave them out.")))

    def _add(self, kind: str, line: dict[str, Any], message: Text, *, transferable: bool = False) -> None:
        self.differences.append(Difference(
            kind=kind, document=line["document"], number=str(line.get("number") or ""), message=message,
            date=str(line.get("date") or ""), rackbeat_total=str(line.get("rackbeat_total") or ""),
            dinero_total=str(line.get("dinero_total") or ""), currency=str(line.get("currency") or ""), dinero_guid=str(line.get("dinero_guid") or ""),
            dinero_kind=str(line.get("dinero_kind") or ""), operation_id=line.get("operation_id"),
            operation_state=str(line.get("operation_state") or ""), transferable=transferable))


def _is_balance_account(account: str) -> bool:
    """VAT, debtors, creditors and stock accounts (Dinero's balance accounts are 5 digits from 50000)."""
    return account.isdigit() and int(account) >= 50000


def _currency(document: dict[str, Any], party: str) -> str:
    """A Rackbeat document's currency: its own, else its customer's or supplier's, else DKK."""
    return str(document.get("currency") or (document.get(party) or {}).get("currency") or "DKK").upper()


def _currency_message(rackbeat: str, dinero: str) -> Message:
    return Message(gettext_noop("Rackbeat's document is in %(rb)s, Dinero's in %(dn)s."),
                   rb=rackbeat, dn=dinero)


def _is_draft(document: dict[str, Any]) -> bool:
    return str(document.get("Status") or "").lower() == "draft"


def _draft_message(kind: Any, guid: str, *, left_by_settings: bool = False) -> Text:
    message = Message(gettext_noop(
        "Dinero's %(kind)s %(guid)s is a draft: it is not in the books or the VAT return until it is "
        "booked. Compare it with Rackbeat and book it in Dinero."),
        kind=kind, guid=guid)
    if left_by_settings:
        return message + Message(gettext_noop(
            "The connection's settings leave new documents of this kind as drafts for you to book."))
    return message


def _stored_voucher_guid(op: SyncOperation | None) -> str:
    if op is None:
        return ""
    return str(op.target_id or (op.intent or {}).get("voucher_guid") or "")


def _voucher_label(voucher: dict[str, Any]) -> Message:
    return Message(gettext_noop("%(number)s (%(guid)s, %(status)s, %(total)s)"),
                   number=voucher.get("VoucherNumber") or Message(gettext_noop("no number")),
                   guid=voucher.get("Guid") or "", status=voucher.get("Status") or "",
                   total=Money(_voucher_totals(voucher)[1], voucher.get("CurrencyKey") or "DKK"))


def _date_value(value: Any) -> Any:
    """A date Dinero or Rackbeat gave, as a date (shown in the reader's format), else as given."""
    try:
        return date.fromisoformat(str(value or "")[:10])
    except ValueError:
        return str(value or "")


def _voucher_totals(voucher: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(excluding VAT, total) of a purchase voucher as Dinero reads it back."""
    lines = voucher.get("Lines") or []
    excl = sum((_amount(v.get("AmountExclVatValue")) for v in lines), ZERO)
    totals = {str(t.get("Type")): _amount(t.get("Total")) for t in voucher.get("VoucherTotals") or []}
    total = totals.get("Total")
    if total is None:
        total = sum((_amount(v.get("AmountInclVatValue")) for v in lines), ZERO)
    return ore(excl), ore(total)


def _difference_order(difference: Difference) -> tuple[int, str, str]:
    order = list(DIFFERENCE_LABELS)
    return order.index(difference.kind), difference.document, difference.number.zfill(12)
