"""The one-time start sync from Dinero to Rackbeat: customers, suppliers, supplier groups, products.

Started from the setup wizard on an active connection. It reads Dinero and fills Rackbeat:

* **Supplier groups** — Dinero has none, but Rackbeat files every supplier in one: suppliers from
  Dinero go to the first existing Rackbeat supplier group, or to a new group "Leverandører"
  when there is none.
* **Customers and suppliers** — Dinero contacts with an e-mail address (others are skipped, with
  the reason "no e-mail address in Dinero"). A contact marked as debtor becomes a customer, one
  marked as creditor a supplier (both when both), one marked as neither a customer. Its Rackbeat
  VAT zone comes from the contact's country (Denmark → domestic, another EU member state → EU,
  anywhere else → outside the EU), and the report lists each zone it set.
* **Products** — Dinero products with a product number (others are skipped: "no product
  number"). The product group is the one whose domestic revenue account is the product's account
  in the revenue matrix, else the first product group; the unit comes from the unit mapping
  read backwards.

Existing Rackbeat records are matched before anything is created — by number (a contact that
came from Rackbeat carries ``rackbeat:customer:<number>``), then by e-mail; products by number —
and every pair is written as a Binding, so later changes in Rackbeat update the same Dinero
object. A Dinero contact or product the service itself created from Rackbeat (it is bound, or it
carries our ``rackbeat:…`` reference) is only ever matched to that Rackbeat record, never created
in Rackbeat again, whatever Dinero's debtor and creditor flags say about it. Writes to Rackbeat suppress its webhooks (the client sends ``suppress_webhooks``).

Resumable: the run appends one ``StartSyncRecord`` per Dinero record handled (its outcome, and the
reason of a skip) every few records — the report grows by appending, never by rewriting — and
keeps only small markers in ``SyncRun.report``. After a crash the same run is resumed — by
``start()`` or by the stale-claim schedule — and Bindings plus the matching by e-mail and number
make sure nothing is created twice.

In slices (see :func:`run`): a run of any size is a chain of tasks, each working for
``START_SYNC_SLICE_SECONDS`` after reading the lists, so none meets the task timeout; a full
budget or a 429 puts the run back until the vendor has room, and the heartbeat is written while
the lists are read, so the recovery schedule never starts a second execution beside a working one.

Cheap on both budgets: Dinero's lists (contacts, products) are read once per run and kept for its
later slices; Rackbeat's (customers, suppliers, products, BOMs, groups) once per slice, so the
index sees what earlier slices created; a contact is read on its own only when the list
does not say whether it is a debtor or a creditor. Records it creates in Rackbeat are remembered with
Rackbeat's ``updated_at`` on their Binding, so the next poll recognises them as unchanged and does
not send them back to Dinero.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop
from django_q.tasks import async_task

from accounts.models import Connection
from integration.core import dispatch, report_slots
from integration.core.clients import errors
from integration.core.clients.factory import dinero_client, rackbeat_client
from integration.core.countries import vat_zone_for_country
from integration.core.engine import _after_commit, _sync_mode
from integration.core.messages import Key, Message, Text, render, stored, with_texts
from integration.core.models import Binding, Kind, StartSyncRecord, SyncRun
from integration.core.shared_cache import shared_cache
from integration.triggers.polling import parse_rackbeat_time
from mappings.models import AccountMatrixCell, UnitMapping

logger = logging.getLogger(__name__)

CHUNK = 20
STALE_AFTER = timedelta(minutes=5)
# The run's progress (and heartbeat) is written at least this often, listing included, so a run
# that is working is never mistaken for one whose worker died.
BEAT_SECONDS = 30
# Dinero's lists, read once per run and kept for its later slices in the shared cache.
LISTS_KEPT_SECONDS = 7 * 24 * 3600
# After this many transient failures in a row (500s, timeouts) the run stops and asks a person.
MAX_TRANSIENT_FAILURES = 5
TRANSIENT_PAUSE_SECONDS = 60
DEFAULT_SUPPLIER_GROUP = "Leverandører"
NUMBER_REFERENCE = re.compile(r"^rackbeat:(customer|supplier):(\d+)$")
PRODUCT_REFERENCE = re.compile(r"^rackbeat:(product|bom):(.+)$")


# --- starting and resuming ------------------------------------------------------------------------

def start(connection: Connection) -> SyncRun:
    """Start the start sync, or resume the one that did not finish; returns its run."""
    with transaction.atomic():
        Connection.objects.select_for_update().get(pk=connection.pk)
        run = (SyncRun.objects.filter(connection=connection, kind=SyncRun.RunKind.START_SYNC)
               .exclude(state=SyncRun.State.DONE).order_by("-started_at").first())
        if run is not None and run.state == SyncRun.State.RUNNING and not _stale(run):
            return run
        if run is None:
            run = SyncRun.objects.create(connection=connection, kind=SyncRun.RunKind.START_SYNC, report={})
        else:
            SyncRun.objects.filter(pk=run.pk).update(state=SyncRun.State.RUNNING, error="", finished_at=None)
        _queue(run.pk)
    run.refresh_from_db()
    return run


def _stale(run: SyncRun) -> bool:
    beat = run.heartbeat_at or run.started_at
    return beat < timezone.now() - STALE_AFTER


def _queue(run_id: int, *, after_seconds: float = 0) -> None:
    """Queue the run's next slice, at once or ``after_seconds`` from now."""


    if _sync_mode():
        _after_commit(lambda: async_task("integration.tasks.run_start_sync", run_id, sync=True))
        return
    if after_seconds > 0 and dispatch.queue_at("integration.tasks.run_start_sync", run_id,
                                               due=timezone.now() + timedelta(seconds=after_seconds),
                                               task_name=f"start-sync-{run_id}"):
        return
    # A broker that cannot delay: at once (the budget still paces every call).
    async_task("integration.tasks.run_start_sync", run_id, task_name=f"start-sync-{run_id}", sync=False)


def resume_stale() -> int:
    """Resume start syncs whose worker stopped (no progress for a while)."""
    count = 0
    for run in SyncRun.objects.filter(kind=SyncRun.RunKind.START_SYNC, state=SyncRun.State.RUNNING):
        if _stale(run):
            _queue(run.pk)
            count += 1
    return count


def _claim(run_id: int) -> SyncRun | None:
    """Take the run for this worker; None when another worker is making progress on it."""
    run = SyncRun.objects.filter(pk=run_id, state=SyncRun.State.RUNNING).first()
    if run is None:
        return None
    fresh = run.heartbeat_at is not None and not _stale(run)
    if fresh and run.report.get("claimed"):
        return None
    changed = SyncRun.objects.filter(pk=run_id, state=SyncRun.State.RUNNING, heartbeat_at=run.heartbeat_at).update(
        heartbeat_at=timezone.now())
    if changed != 1:
        return None
    run.refresh_from_db()
    return run


# --- the work -------------------------------------------------------------------------------------

class Progress:
    """The run's counters and report, appended every few records so a crash loses little."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        self.report = run.report or {}
        self.report["claimed"] = True
        # Runs started before records existed kept their handled ids in the report itself.
        legacy = self.report.pop("handled", None) or {}
        self.legacy_skips: list[dict[str, str]] = self.report.pop("skips", None) or []
        self.handled: set[str] = set(legacy) | set(
            StartSyncRecord.objects.filter(run=run).values_list("key", flat=True))
        self.pending: list[StartSyncRecord] = [
            StartSyncRecord(run=run, key=key, outcome=outcome) for key, outcome in legacy.items()]
        for n, skip in enumerate(self.legacy_skips):
            self.pending.append(StartSyncRecord(run=run, key=f"earlier-skip:{n}", outcome="skipped",
                                                what=skip.get("what", ""), reason=skip.get("reason", "")))
        self.unsaved = len(self.pending)
        self.saved_at = time.monotonic()

    def beat(self) -> None:
        """Write progress and heartbeat when the last write is ``BEAT_SECONDS`` old."""
        if time.monotonic() - self.saved_at >= BEAT_SECONDS:
            self.save()

    def done(self, key: str) -> bool:
        return key in self.handled

    def record(self, key: str, outcome: str, *, skip_reason: Text = "", label: Text = "") -> None:
        self.handled.add(key)
        self.pending.append(_line(self.run, key, outcome, label, skip_reason))
        if outcome == "created":
            self.run.created += 1
        elif outcome == "matched":
            self.run.matched += 1
        elif outcome == "skipped":
            self.run.skipped += 1
        self.run.processed += 1
        self.unsaved += 1
        if self.unsaved >= CHUNK:
            self.save()
        else:
            self.beat()

    def note_skip(self, key: str, label: Text, reason: Text) -> None:
        """A skip inside a record that is counted once under its own key (e.g. one role of a contact)."""
        self.note(key, "skipped", label, reason)

    def note(self, key: str, outcome: str, label: Text, reason: Text) -> None:
        """A line of the report that is not a record of its own (e.g. the VAT zone a record was given)."""
        self.pending.append(_line(self.run, key, outcome, label, reason))

    def save(self, **fields: Any) -> None:
        """Append the pending records and store the counters (the report itself stays small)."""
        with transaction.atomic():
            if self.pending:
                StartSyncRecord.objects.bulk_create(self.pending, ignore_conflicts=True)
                self.pending = []
            self.run.report = self.report
            self.run.heartbeat_at = timezone.now()
            for name, value in with_texts(fields, ("error",)).items():
                setattr(self.run, name, value)
            self.run.save()
        self.unsaved = 0
        self.saved_at = time.monotonic()


def _line(run: SyncRun, key: str, outcome: str, label: Text, reason: Text) -> StartSyncRecord:
    """One line of the report, its texts stored as meaning (integration.core.messages)."""
    texts = stored(what=label, reason=reason)
    texts["what"] = texts["what"][:300]
    return StartSyncRecord(run=run, key=key[:160], outcome=outcome, **texts)


def _readable(lines: Any) -> list[dict[str, str]]:
    return [{"what": render(line["what_meaning"], line["what"]), "reason": render(line["reason_meaning"], line["reason"])}
            for line in lines.order_by("pk").values("what", "reason", "what_meaning", "reason_meaning")]


def vat_zones_of(run: SyncRun) -> list[dict[str, str]]:
    """The VAT zone each customer and supplier the run created was given, and from which country."""
    return _readable(StartSyncRecord.objects.filter(run=run, outcome="vat_zone"))


def skips_of(run: SyncRun) -> list[dict[str, str]]:
    """What a run skipped and why, in the order it happened (records, then any legacy report)."""
    skips = _readable(StartSyncRecord.objects.filter(run=run, outcome="skipped").exclude(reason=""))
    return skips + list((run.report or {}).get("skips", []))


class SliceOver(Exception):
    """The run has worked for its slice: it saves and queues its next slice."""


def run(run_id: int) -> SyncRun | None:
    """Carry out (or continue) the start sync of run ``run_id``, for one slice of time.

    A slice ends after ``START_SYNC_SLICE_SECONDS`` (well inside the task timeout): progress is
    saved and the next slice queued, so a start sync of any size is never killed by the timeout.
    A full budget or a 429 puts the run back until the vendor has room (DESIGN rule 8: no worker
    sleeps on a budget), and transient failures (500s, timeouts) are retried after a pause,
    ``MAX_TRANSIENT_FAILURES`` times in a row at most.
    """
    connection_id = SyncRun.objects.filter(pk=run_id).values_list("connection_id", flat=True).first()
    if connection_id is None:
        return None
    with report_slots.slot(connection_id, f"start-sync-{run_id}", hold_seconds=settings.Q_CLUSTER["timeout"]) as held:
        if held:
            return _run_slice(run_id)
    # Another report holds the slot: back in a moment, without a worker waiting for it.
    _queue(run_id, after_seconds=report_slots.wait_seconds())
    return None


def _run_slice(run_id: int) -> SyncRun | None:
    claimed = _claim(run_id)
    if claimed is None:
        return None
    connection = claimed.connection
    progress = Progress(claimed)
    try:
        _run(connection, progress, float(getattr(settings, "START_SYNC_SLICE_SECONDS", 180)))
    except SliceOver:
        progress.report["claimed"] = False
        progress.report["transient_failures"] = 0
        progress.save(error="")  # a pause noted earlier is over
        _queue(run_id)
        return progress.run
    except errors.RateLimited as exc:
        # A full budget or a 429: back when the vendor has room, not failed; the worker moves on.
        logger.info("Start sync %s waits %.0f s for the request budget", run_id, exc.retry_after)
        progress.report["claimed"] = False
        progress.save(error=Message(gettext_noop("Waiting for the request budget: %(error)s"),
                                    error=exc.describe()))
        _queue(run_id, after_seconds=max(exc.retry_after, 1.0))
        return progress.run
    except errors.ApiError as exc:
        failures = int(progress.report.get("transient_failures", 0)) + 1
        progress.report["claimed"] = False
        if not exc.permanent and failures < MAX_TRANSIENT_FAILURES:
            logger.info("Start sync %s paused after a transient failure (%s of %s): %s", run_id, failures,
                        MAX_TRANSIENT_FAILURES, exc.describe())
            progress.report["transient_failures"] = failures
            progress.save(error=Message(gettext_noop(
                "Paused after a temporary failure, continues by itself: %(error)s"),
                error=exc.describe()))
            _queue(run_id, after_seconds=TRANSIENT_PAUSE_SECONDS)
            return progress.run
        logger.warning("Start sync %s stopped: %s", run_id, exc.describe())
        progress.report["transient_failures"] = 0
        _forget_lists(run_id)
        progress.save(state=SyncRun.State.FAILED, finished_at=timezone.now(),
                      error=Message(gettext_noop(
                          "Stopped: %(error)s Start it again to continue where it stopped."),
                          error=exc.describe()))
        return progress.run
    except Exception as exc:
        logger.exception("Start sync %s failed", run_id)
        progress.report["claimed"] = False
        _forget_lists(run_id)
        progress.save(state=SyncRun.State.FAILED, finished_at=timezone.now(),
                      error=Message(gettext_noop(
                          "Stopped by an unexpected error (%(error)s). Start it again to continue where it "
                          "stopped."),
                          error=f"{type(exc).__name__}: {exc}"))
        return progress.run
    progress.report["claimed"] = False
    progress.report["transient_failures"] = 0
    progress.save(state=SyncRun.State.DONE, finished_at=timezone.now(), error="")
    _forget_lists(run_id)
    return progress.run


def _run(connection: Connection, progress: Progress, slice_seconds: float) -> None:
    dinero = dinero_client(connection)
    rackbeat = rackbeat_client(connection)
    contacts, products = _dinero_lists(dinero, progress)
    progress.run.total = len(contacts) + len(products) + 1
    progress.save()
    index = RackbeatIndex(rackbeat, progress)
    group = _supplier_group(rackbeat, progress)
    # The slice counts from here, and ends only once it has handled a record: every slice makes
    # progress, however long the lists took.
    deadline = time.monotonic() + slice_seconds
    processed_before = progress.run.processed

    def in_slice() -> None:
        if time.monotonic() > deadline and progress.run.processed > processed_before:
            raise SliceOver

    for contact in contacts:
        in_slice()
        _contact(connection, dinero, rackbeat, index, progress, contact, group)
    product_groups = [str(g.get("number")) for g in rackbeat.iter_product_groups() if g.get("number") is not None]
    for product in products:
        in_slice()
        _product(connection, rackbeat, index, progress, product, product_groups)


def _lists_key(run_id: int) -> str:
    return f"start-sync:{run_id}:dinero-lists"


def _dinero_lists(dinero: Any, progress: Progress) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dinero's contacts and products as the run first read them.

    Read once per run and kept in the shared cache for its later slices: a slice that was put
    back for Dinero's budget would otherwise spend that budget reading the lists again (20 pages
    at 20,000 contacts, of 100 calls a minute). Dropped when the run ends, so starting a stopped
    run again reads Dinero afresh.
    """

    cache = shared_cache()
    kept = cache.get(_lists_key(progress.run.pk))
    if kept is not None:
        return kept["contacts"], kept["products"]
    contacts = _listed(dinero.iter_contacts(), progress)
    products = _listed(dinero.iter_products(), progress)
    cache.set(_lists_key(progress.run.pk), {"contacts": contacts, "products": products}, LISTS_KEPT_SECONDS)
    return contacts, products


def _forget_lists(run_id: int) -> None:
    shared_cache().delete(_lists_key(run_id))


def _listed(rows: Any, progress: Progress) -> list[dict[str, Any]]:
    """A vendor's list read page by page, with the run's heartbeat kept while it is read."""
    listed = []
    for row in rows:
        listed.append(row)
        progress.beat()
    return listed


class RackbeatIndex:
    """What Rackbeat already has, read once per run: customers and suppliers by number and e-mail,
    products and BOMs by number."""

    def __init__(self, rackbeat: Any, progress: Progress | None = None) -> None:
        self.parties: dict[str, dict[str, dict[str, Any]]] = {Kind.CUSTOMER: {}, Kind.SUPPLIER: {}}
        self.emails: dict[str, dict[str, str]] = {Kind.CUSTOMER: {}, Kind.SUPPLIER: {}}
        beat = progress.beat if progress is not None else (lambda: None)
        for kind, rows in ((Kind.CUSTOMER, rackbeat.iter_customers()), (Kind.SUPPLIER, rackbeat.iter_suppliers())):
            for row in rows:
                self.add(kind, row)
                beat()
        self.items: dict[str, str] = {}
        for kind, rows in ((Kind.PRODUCT, rackbeat.iter_products()), (Kind.BOM, rackbeat.iter_lots())):
            for row in rows:
                beat()
                if row.get("number") not in (None, ""):
                    self.items[str(row["number"])] = kind

    def add(self, kind: str, row: dict[str, Any]) -> None:
        number = str(row.get("number"))
        self.parties[kind][number] = row
        email = str(row.get("contact_email") or "").strip().lower()
        if email:
            self.emails[kind].setdefault(email, number)

    def match(self, kind: str, contact: dict[str, Any]) -> str | None:
        reference = NUMBER_REFERENCE.match(str(contact.get("ExternalReference") or ""))
        if reference and reference.group(1) == kind and reference.group(2) in self.parties[kind]:
            return reference.group(2)
        return self.emails[kind].get(str(contact.get("Email") or "").strip().lower())


def _supplier_group(rackbeat: Any, progress: Progress) -> int:
    known = progress.report.get("supplier_group")
    if known is not None:
        return int(known)
    groups = sorted((g for g in rackbeat.iter_supplier_groups() if g.get("number") is not None),
                    key=lambda g: int(g["number"]))
    if groups:
        number, outcome = int(groups[0]["number"]), "matched"
    else:
        number, outcome = int(rackbeat.create_supplier_group({"name": DEFAULT_SUPPLIER_GROUP})["number"]), "created"
    progress.report["supplier_group"] = number
    progress.record("supplier-group", outcome)
    progress.save()
    return number


def _roles(dinero: Any, contact: dict[str, Any]) -> list[str]:
    # The flags are on the read model; a list answer that carries them saves one GET per contact.
    full = contact if ("IsDebitor" in contact or "IsCreditor" in contact) else dinero.get_contact(
        contact["ContactGuid"])
    roles = []
    if full.get("IsDebitor"):
        roles.append(Kind.CUSTOMER.value)
    if full.get("IsCreditor"):
        roles.append(Kind.SUPPLIER.value)
    return roles or [Kind.CUSTOMER.value]


def _party_body(contact: dict[str, Any]) -> dict[str, Any]:
    body = {
        "name": str(contact.get("Name") or "").strip() or str(contact.get("Email")),
        "contact_email": str(contact.get("Email") or "").strip(),
        "contact_phone": contact.get("Phone"),
        "address_street": contact.get("Street"),
        "address_zipcode": contact.get("ZipCode"),
        "address_city": contact.get("City"),
        "address_country": (str(contact.get("CountryKey") or "DK")[:2]).upper(),
        "company_vat": contact.get("VatNumber"),
        "ean": contact.get("EanNumber"),
        "is_person": bool(contact.get("IsPerson")),
        "vat_zone": vat_zone_for_country(contact.get("CountryKey")),
    }
    return {key: value for key, value in body.items() if value not in (None, "")}


def _bind(connection: Connection, kind: str, rackbeat_key: str, dinero_id: str,
          created: dict[str, Any] | None = None) -> bool:
    """Write the pair; False when either side is already bound to something else.

    ``created`` is Rackbeat's answer when this run created the record: its ``updated_at`` is kept,
    so the next poll sees the record unchanged since we wrote it and sends nothing back.
    """
    existing = Binding.objects.filter(connection=connection, kind=kind, rackbeat_key=rackbeat_key).first()
    if existing:
        return existing.dinero_id == dinero_id
    if Binding.objects.filter(connection=connection, kind=kind, dinero_id=dinero_id).exists():
        return False
    written_at = None
    if created is not None:
        written_at = parse_rackbeat_time(created.get("updated_at")) or timezone.now()
    Binding.objects.create(connection=connection, kind=kind, rackbeat_key=rackbeat_key, dinero_id=dinero_id,
                           rackbeat_written_at=written_at)
    return True


def _contact(connection: Connection, dinero: Any, rackbeat: Any, index: RackbeatIndex, progress: Progress,
             contact: dict[str, Any], supplier_group: int) -> None:
    guid = str(contact.get("ContactGuid") or "")
    name = str(contact.get("Name") or guid)
    if not guid or progress.done(f"contact:{guid}"):
        return
    if not str(contact.get("Email") or "").strip():
        progress.record(f"contact:{guid}", "skipped", label=Message(gettext_noop("Contact “%(name)s”"),
                                                                    name=name),
                        skip_reason=Message(gettext_noop("no e-mail address in Dinero")))
        return
    known = _known_roles(connection, contact, guid)
    if known:
        _match_known(connection, index, progress, guid, name, known)
        return
    outcomes = []
    for kind in _roles(dinero, contact):
        bound = Binding.objects.filter(connection=connection, kind=kind, dinero_id=guid).first()
        number = bound.rackbeat_key if bound else index.match(kind, contact)
        if number is not None:
            if not _bind(connection, kind, number, guid):
                progress.note_skip(
                    f"contact:{guid}:{kind}", Message(gettext_noop("Contact “%(name)s”"), name=name),
                    Message(gettext_noop(
                        "its e-mail matches Rackbeat %(kind)s %(number)s, which is already linked to "
                        "another Dinero contact"),
                        kind=Key("kind_in_sentence", kind), number=number))
                outcomes.append("skipped")
                continue
            outcomes.append("matched")
            continue
        body = _party_body(contact)
        try:
            if kind == Kind.CUSTOMER:
                created = rackbeat.create_customer(body)
            else:
                created = rackbeat.create_supplier({**body, "supplier_group_id": supplier_group})
        except errors.ValidationFailed as exc:
            progress.note_skip(f"contact:{guid}:{kind}", Message(gettext_noop("Contact “%(name)s”"),
                                                                 name=name),
                               Message(gettext_noop("Rackbeat refused it: %(error)s"), error=exc.describe()))
            outcomes.append("skipped")
            continue
        number = str(created["number"])
        index.add(kind, created)
        _bind(connection, kind, number, guid, created=created)
        outcomes.append("created")
        progress.note(f"contact:{guid}:{kind}:vat-zone", "vat_zone", _party_label(kind, name),
                      Message(gettext_noop(
                          "VAT zone %(zone)s, from the Dinero contact's country %(country)s"),
                          zone=Key("vat_zone", body["vat_zone"]), country=body["address_country"]))
    outcome = "created" if "created" in outcomes else "matched" if "matched" in outcomes else "skipped"
    # The reason of a skip is on the role's own line above.
    progress.record(f"contact:{guid}", outcome)


def _party_label(kind: str, name: str) -> str:
    return (Message(gettext_noop(
        "Customer “%(name)s”")) if kind == Kind.CUSTOMER else Message(gettext_noop(
        "Supplier “%(name)s”"))) % {"name": name}


def _known_roles(connection: Connection, contact: dict[str, Any], guid: str) -> list[tuple[str, str]]:
    """The Rackbeat records a contact the service created or bound stands for, as (kind, number).

    Its bindings first, else the ``rackbeat:customer|supplier:<number>`` reference it carries;
    empty for a contact the service has never seen.
    """
    bound = list(Binding.objects.filter(connection=connection, dinero_id=guid,
                                        kind__in=[Kind.CUSTOMER, Kind.SUPPLIER]).values_list("kind", "rackbeat_key"))
    if bound:
        return [(str(kind), str(number)) for kind, number in bound]
    reference = NUMBER_REFERENCE.match(str(contact.get("ExternalReference") or ""))
    return [(reference.group(1), reference.group(2))] if reference else []


def _match_known(connection: Connection, index: RackbeatIndex, progress: Progress, guid: str, name: str,
                 known: list[tuple[str, str]]) -> None:
    """Match a contact the service knows to its own Rackbeat records; never create one for it."""
    outcomes = []
    label = Message(gettext_noop("Contact “%(name)s”"), name=name)
    for kind, number in known:
        if Binding.objects.filter(connection=connection, kind=kind, rackbeat_key=number, dinero_id=guid).exists():
            outcomes.append("matched")
        elif number not in index.parties[kind]:
            progress.note_skip(f"contact:{guid}:{kind}", label, Message(gettext_noop(
                "it carries the reference of Rackbeat %(kind)s %(number)s, which Rackbeat does not have; "
                "it was created from Rackbeat, so it is not copied back"),
                kind=Key("kind_in_sentence", kind), number=number))
            outcomes.append("skipped")
        elif _bind(connection, kind, number, guid):
            outcomes.append("matched")
        else:
            progress.note_skip(f"contact:{guid}:{kind}", label, Message(gettext_noop(
                "it carries the reference of Rackbeat %(kind)s %(number)s, which is already linked to "
                "another Dinero contact"),
                kind=Key("kind_in_sentence", kind), number=number))
            outcomes.append("skipped")
    progress.record(f"contact:{guid}", "matched" if "matched" in outcomes else "skipped")


def _product_group_for(connection: Connection, product: dict[str, Any], groups: list[str]) -> str | None:
    account = product.get("AccountNumber")
    if account is not None:
        cell = AccountMatrixCell.objects.filter(connection=connection, matrix=AccountMatrixCell.Matrix.REVENUE,
                                                vat_zone="domestic", account_number=account,
                                                product_group_number__in=groups).order_by("product_group_number").first()
        if cell:
            return cell.product_group_number
    return groups[0] if groups else None


def _unit_for(connection: Connection, product: dict[str, Any]) -> str | None:
    mapping = (UnitMapping.objects.filter(connection=connection, dinero_unit=str(product.get("Unit") or ""))
               .order_by("rackbeat_unit_number").first())
    return mapping.rackbeat_unit_number if mapping else None


def _product(connection: Connection, rackbeat: Any, index: RackbeatIndex, progress: Progress,
             product: dict[str, Any], groups: list[str]) -> None:
    guid = str(product.get("ProductGuid") or "")
    number = str(product.get("ProductNumber") or "").strip()
    name = str(product.get("Name") or number or guid)
    key = f"product:{guid}"
    if not guid or progress.done(key):
        return
    label = Message(gettext_noop("Product “%(name)s”"), name=name)
    if Binding.objects.filter(connection=connection, dinero_id=guid, kind__in=[Kind.PRODUCT, Kind.BOM]).exists():
        progress.record(key, "matched")
        return
    reference = PRODUCT_REFERENCE.match(str(product.get("ExternalReference") or ""))
    if reference:
        # Created from Rackbeat: matched to that product or BOM only, whatever its number in Dinero says.
        _match_referenced_product(connection, index, progress, key, label, guid, reference.group(2))
        return
    if not number:
        progress.record(key, "skipped", label=label, skip_reason=Message(gettext_noop("no product number")))
        return
    kind = index.items.get(number)
    if kind is not None:
        if _bind(connection, kind, number, guid):
            progress.record(key, "matched")
        else:
            progress.record(key, "skipped", label=label, skip_reason=Message(gettext_noop(
                "product number %(number)s is already linked to another Dinero product"),
                number=number))
        return
    group = _product_group_for(connection, product, groups)
    if group is None:
        progress.record(key, "skipped", label=label, skip_reason=Message(gettext_noop(
            "Rackbeat has no product group to put it in")))
        return
    try:
        price = Decimal(str(product.get("BaseAmountValue") or "0"))
    except (InvalidOperation, ValueError):
        price = Decimal("0")
    body: dict[str, Any] = {"number": number, "name": name, "group": int(group) if group.isdigit() else group,
                            "sales_price": str(price)}
    unit = _unit_for(connection, product)
    if unit:
        body["unit_id"] = int(unit) if unit.isdigit() else unit
    try:
        created = rackbeat.create_product(body)
    except errors.ValidationFailed as exc:
        progress.record(key, "skipped", label=label,
                        skip_reason=Message(gettext_noop("Rackbeat refused it: %(error)s"),
                                            error=exc.describe()))
        return
    index.items[number] = Kind.PRODUCT
    _bind(connection, Kind.PRODUCT, number, guid, created=created if isinstance(created, dict) else {})
    progress.record(key, "created")


def _match_referenced_product(connection: Connection, index: RackbeatIndex, progress: Progress, key: str,
                              label: str, guid: str, number: str) -> None:
    kind = index.items.get(number)
    if kind is None:
        progress.record(key, "skipped", label=label, skip_reason=Message(gettext_noop(
            "it carries the reference of Rackbeat product %(number)s, which Rackbeat does not have; it was "
            "created from Rackbeat, so it is not copied back"),
            number=number))
    elif _bind(connection, kind, number, guid):
        progress.record(key, "matched")
    else:
        progress.record(key, "skipped", label=label, skip_reason=Message(gettext_noop(
            "product number %(number)s is already linked to another Dinero product"),
            number=number))
