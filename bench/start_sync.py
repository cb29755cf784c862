"""The one-time start sync Dinero → Rackbeat at 1,000 / 5,000 / 20,000 Dinero contacts (issue 13).

``.venv/bin/python bench/start_sync.py [--sizes 1000,5000,20000] [--database rd_startbench] [--out FILE]``

Each size runs in a child process of this script against its own fresh PostgreSQL database
(``<database>_<size>``), with real processes, as production runs it:

* **gunicorn** (``chaos.processes.Fleet``, 2 gthread workers) serves the service and both emulators
  (the ``sandbox`` app) on a free loopback port;
* **one ``manage.py qcluster``** with production settings (``DEBUG=false``, no sandbox, throwaway
  keys, ``Q_WORKERS`` 4, the production ``Q_TIMEOUT`` of 300 s unless ``--q-timeout`` says
  otherwise) runs the start sync exactly as the setup wizard starts it: ``start_sync.start()`` is
  called here, which queues the django-q2 task ``integration.tasks.run_start_sync`` on the ORM
  broker, and a worker process of that cluster carries it out (and, should it outlive
  ``Q_TIMEOUT``, the stale-claim schedule resumes it, as in production).

The world is the chaos suite's one company (``chaos/world.py``: 20 Rackbeat customers, 3 suppliers,
6 products, no supplier group, complete mappings), activated over HTTP, plus in the emulated Dinero
(written through the ORM before anything runs) ``n`` contacts in a realistic mix — about 1 in 12
without an e-mail address (skipped), 40 % debtors (they have an invoice), 5 % creditors (they have
a purchase voucher; a third of those also debtors), 20 whose e-mail is an existing Rackbeat
customer's and 3 an existing supplier's (matched), 1 in 250 sharing the previous contact's e-mail
(skipped: already linked) — and ``--products`` products (1 in 40 without a product number, 6 with the
numbers of existing Rackbeat products, units partly without a mapping).

**Budgets are not the bound**: both emulators' budgets are raised to 100,000 requests a minute
(the chaos world's), and so are the service's ``DINERO_RATE_LIMIT_PER_MINUTE`` and
``RACKBEAT_RATE_LIMIT_PER_MINUTE``. At the real budgets (100 / 480 a minute) the Dinero calls
reported here divided by 100 are the minutes the start sync needs at least. The scheduled polls
(Rackbeat safety net, Dinero invoices) are pushed a day ahead so they do not interleave; the poll
of the echo check is queued by this script.

Reported per size (figures, never asserted):

* wall time from ``start()`` to the run's ``finished_at``, and how many task executions it took;
* HTTP calls by vendor and kind, from the service's own exchange log (``HttpExchange``: every call
  a client makes is stored there), next to the minimum; the emulators' per-minute request counters
  (``RequestCount``) are summed as a cross-check of the totals;
* peak RSS (``VmHWM``) of the qcluster worker processes (the one that ran the start sync is the
  highest), next to their idle high-water mark before the start;
* what the run stored: ``StartSyncRecord`` rows and table size, ``SyncRun.report`` in bytes, and
  the exchange log rows and body bytes written for it;
* the echo check: the next Rackbeat poll (``integration.tasks.poll_connection``, queued to the
  cluster), the operations it queued for records the start sync created (goal 0), and the Dinero
  calls made from the poll's start until its operations settled.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RAISED = 100_000
DINERO_PAGE = 1000
RACKBEAT_PAGE = 1000


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="Dinero contacts, comma-separated")
    parser.add_argument("--products", type=int, default=300, help="Dinero products")
    parser.add_argument("--database", default="rd_startbench", help="prefix; each size gets <database>_<size>")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--workers", type=int, default=4, help="Q_WORKERS of the qcluster")
    parser.add_argument("--q-timeout", type=int, default=None, help="Q_TIMEOUT (default: production's 300 s)")
    parser.add_argument("--dinero-budget", type=int, default=RAISED,
                        help="Dinero requests per minute, service and emulator (default raised: not the bound)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up on one size after this many seconds")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- environments ------------------------------------------------------------------------------------

def environments(args: argparse.Namespace, port: int, database: str) -> tuple[dict[str, str], dict[str, str]]:
    """(gunicorn + this process: DEBUG with the sandbox, qcluster: production settings)."""
    from cryptography.fernet import Fernet

    from chaos.processes import served_environment

    common = served_environment(f"http://127.0.0.1:{port}", f"{args.pg.rstrip('/')}/{database}")
    common.update({
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "Q_WORKERS": str(args.workers),
        # Every task's result is kept: the bench counts the start sync's task executions.
        "Q_SAVE_LIMIT": "0",
        # Raised so the budgets are not the bound (the emulators' are raised in the database).
        "DINERO_RATE_LIMIT_PER_MINUTE": str(args.dinero_budget), "RACKBEAT_RATE_LIMIT_PER_MINUTE": str(RAISED),
    })
    if args.q_timeout:
        # django-q2 hands a task out again after Q_RETRY seconds: keep it above the timeout.
        common.update(Q_TIMEOUT=str(args.q_timeout), Q_RETRY=str(args.q_timeout + 600))
    web = {**common, "DEBUG": "true", "SANDBOX_ENABLED": "true"}
    worker = {**common, "DEBUG": "false", "SANDBOX_ENABLED": "false", "ALLOWED_HOSTS": "127.0.0.1",
              "SECURE_SSL_REDIRECT": "false"}
    return web, worker


# --- the Dinero data -----------------------------------------------------------------------------------

def seed_dinero(company: Any, contacts: int, products: int) -> dict[str, Any]:
    """Contacts and products in the emulated Dinero; returns what the start sync should do with them."""
    from chaos.world import EXISTING_CUSTOMERS, FIRST_CUSTOMER, ITEMS, SUPPLIER_ZONES
    from sandbox.dinero.models import Contact, Organization, Product, SalesDocument, Voucher

    org = Organization.objects.get(organization_id=company.dinero_organization_id)
    rng = random.Random(contacts)
    rows, sales, vouchers = [], [], []
    expect = Counter()
    taken: dict[str, set[str]] = {"customer": {f"kunde{FIRST_CUSTOMER + k}@example.com"
                                               for k in range(EXISTING_CUSTOMERS)},
                                  "supplier": {f"lev{number}@example.com" for _, number in SUPPLIER_ZONES}}
    bound_by_us: dict[str, set[str]] = {"customer": set(), "supplier": set()}
    matched_customers = iter(sorted(taken["customer"]))
    matched_suppliers = iter(sorted(taken["supplier"]))
    for i in range(contacts):
        guid = uuid.uuid4()
        creditor = i % 20 == 1
        debtor = i % 5 in (2, 3) or i % 60 == 1
        email = f"kontakt{i}@example.dk"
        if i % 12 == 0:
            email = ""
        elif i % 250 == 7:
            email = f"kontakt{i - 1}@example.dk"
        elif creditor and i % 40 == 21:
            email = next(matched_suppliers, email)
        elif not creditor and i % 7 == 3:
            email = next(matched_customers, email)
        data = {"Name": f"Kontakt {i} ApS", "Email": email or None, "CountryKey": "DK", "Street": f"Vej {i}",
                "ZipCode": "8000", "City": "Aarhus", "Phone": f"{20000000 + i}", "IsPerson": i % 9 == 4,
                "VatNumber": f"{30000000 + i}" if i % 3 else None, "PaymentConditionType": "Netto",
                "PaymentConditionNumberOfDays": 14}
        rows.append(Contact(organization=org, guid=guid, data=data))
        if debtor:
            sales.append(SalesDocument(organization=org, guid=uuid.uuid4(), kind="invoice", status="Booked",
                                       timestamp="0", contact_guid=guid, data={"ContactGuid": str(guid)}))
        if creditor:
            vouchers.append(Voucher(organization=org, guid=uuid.uuid4(), kind="purchase", status="Booked",
                                    timestamp="0", data={"ContactGuid": str(guid)}))
        if not email:
            expect["contacts_without_email"] += 1
            continue
        expect["contacts_with_email"] += 1
        roles = (["customer"] if debtor or not creditor else []) + (["supplier"] if creditor else [])
        for role in roles:
            if email in taken[role] and email not in bound_by_us[role]:
                expect[f"{role}_matched"] += 1
                bound_by_us[role].add(email)
            elif email in bound_by_us[role]:
                expect[f"{role}_skipped_duplicate"] += 1
            else:
                expect[f"{role}_create"] += 1
                taken[role].add(email)
                bound_by_us[role].add(email)
    Contact.objects.bulk_create(rows, batch_size=2000)
    SalesDocument.objects.bulk_create(sales, batch_size=2000)
    Voucher.objects.bulk_create(vouchers, batch_size=2000)
    items = [number for number, *_ in ITEMS]
    product_rows = []
    for j in range(products):
        number = items[j] if j < len(items) else ("" if j % 40 == 0 else f"P-{j:05d}")
        product_rows.append(Product(organization=org, guid=uuid.uuid4(), data={
            "ProductNumber": number or None, "Name": f"Vare {j}", "Quantity": 1,
            "Unit": "hours" if j % 7 == 0 else "parts", "AccountNumber": 1300 if j % 3 == 0 else 1000,
            "BaseAmountValue": round(rng.uniform(5, 2500), 2)}))
        if not number:
            expect["products_without_number"] += 1
        elif j < len(items):
            expect["product_matched"] += 1
        else:
            expect["product_create"] += 1
    Product.objects.bulk_create(product_rows, batch_size=2000)
    expect.update({"contacts": contacts, "products": products, "debtors": len(sales), "creditors": len(vouchers)})
    return dict(expect)


def postpone_polls() -> None:
    """The scheduled polls run a day later: the benchmark queues the poll it measures itself."""
    from django.utils import timezone
    from django_q.models import Schedule

    from integration.core.schedules import DINERO_POLL, RACKBEAT_POLL

    Schedule.objects.filter(func__in=[RACKBEAT_POLL, DINERO_POLL]).update(next_run=timezone.now() + timedelta(days=1))


# --- measuring ---------------------------------------------------------------------------------------

class MemorySampler(threading.Thread):
    """VmHWM / VmRSS of every process below the qcluster, every quarter second."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.hwm: dict[int, int] = {}
        self.baseline: dict[int, int] = {}
        self.stopped = threading.Event()
        self.max_load = 0.0

    @staticmethod
    def status(pid: int) -> dict[str, int]:
        found = {}
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(("VmHWM:", "VmRSS:")):
                    found[line.split(":")[0]] = int(line.split()[1])
        except OSError:
            pass
        return found

    def sample(self) -> None:
        from integration.core.worker_health import descendants

        for pid in descendants(self.root_pid):
            hwm = self.status(pid).get("VmHWM")
            if hwm:
                self.hwm[pid] = max(self.hwm.get(pid, 0), hwm)
        self.max_load = max(self.max_load, os.getloadavg()[0])

    def mark_baseline(self) -> None:
        self.sample()
        self.baseline = dict(self.hwm)

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            self.sample()


def classify(exchange: tuple[str, str, str]) -> str:
    """``vendor kind`` of one exchange: ``dinero list contacts``, ``rackbeat create customers``…"""
    service, method, url = exchange
    path = urlsplit(url).path.rstrip("/")
    if "oauth" in path or "token" in path.rsplit("/", 1)[-1]:
        return f"{service} auth"
    if service == "dinero":
        parts = path.split("/sandbox/dinero/", 1)[-1].split("/")  # v1/<org>/contacts[/<guid>]
        resource = "/".join(p for p in parts[2:] if not _is_id(p)) or "/".join(parts)
        single = any(_is_id(p) for p in parts[2:])
    else:
        parts = path.split("/api/", 1)[-1].split("/")
        resource = "/".join(p for p in parts if not _is_id(p))
        single = len(parts) > 1 and _is_id(parts[1])
    if method == "GET":
        kind = "get" if single else "list page"
    else:
        kind = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}.get(method, method)
    return f"{service} {kind} {resource}"


def _is_id(part: str) -> bool:
    if part.isdigit():
        return True
    try:
        uuid.UUID(part)
    except ValueError:
        return part.startswith(("FV-", "RD-", "SV-", "P-"))
    return True


def calls_since(connection_id: int, since: datetime, until: datetime | None = None) -> dict[str, Any]:
    from integration.core.models import HttpExchange

    exchanges = HttpExchange.objects.filter(connection_id=connection_id, at__gte=since)
    if until is not None:
        exchanges = exchanges.filter(at__lte=until)
    rows = list(exchanges.values_list("service", "method", "url", "status", "duration_ms"))
    kinds = Counter(classify(row[:3]) for row in rows)
    waited: Counter = Counter()
    for row in rows:
        waited[classify(row[:3])] += row[4] or 0
    not_ok = Counter(f"{row[0]} {row[3]}" for row in rows if row[3] is None or row[3] >= 400)
    return {"total": len(rows), "dinero": sum(1 for r in rows if r[0] == "dinero"),
            "rackbeat": sum(1 for r in rows if r[0] == "rackbeat"), "by_kind": dict(sorted(kinds.items())),
            "seconds_waiting_by_kind": {k: round(v / 1000, 1) for k, v in sorted(waited.items())},
            "not_2xx": dict(not_ok)}


def emulator_counts(company: Any, seen: dict[tuple[str, datetime], int]) -> None:
    """Fold the emulators' per-minute request counters into ``seen`` (the emulated Dinero deletes
    minutes older than five, so this is read every few seconds while the run goes)."""
    from sandbox.dinero.models import RequestCount as DineroCount
    from sandbox.rackbeat.models import RequestCount as RackbeatCount

    for vendor, rows in (
        ("dinero", DineroCount.objects.filter(organization__organization_id=company.dinero_organization_id)),
        ("rackbeat", RackbeatCount.objects.filter(account__account_id=company.rackbeat_account_id)),
    ):
        for minute, count in rows.values_list("minute", "count"):
            seen[(vendor, minute)] = max(seen.get((vendor, minute), 0), count)


def counted(seen: dict[tuple[str, datetime], int], since: datetime) -> dict[str, int]:
    totals = Counter()
    for (vendor, minute), count in seen.items():
        if minute >= since.replace(second=0, microsecond=0):
            totals[vendor] += count
    return dict(totals)


def minimum(expect: dict[str, Any]) -> dict[str, int]:
    contacts, products = expect["contacts"], expect["products"]
    return {
        "dinero list page contacts": math.ceil(contacts / DINERO_PAGE),
        "dinero list page products": math.ceil(products / DINERO_PAGE),
        # Dinero's contact list cannot carry IsDebitor/IsCreditor: one GET per contact with e-mail.
        "dinero get contacts": expect.get("contacts_with_email", 0),
        "rackbeat list page customers": 1, "rackbeat list page suppliers": 1,
        "rackbeat list page supplier-groups": 1, "rackbeat list page products": 1, "rackbeat list page lots": 1,
        "rackbeat list page product-groups": 1,
        "rackbeat create customers": expect.get("customer_create", 0),
        "rackbeat create suppliers": expect.get("supplier_create", 0),
        "rackbeat create supplier-groups": 1,
        "rackbeat create products": expect.get("product_create", 0),
    }


def stored(run_id: int, connection_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    from django.db import connection as db

    from integration.core.models import StartSyncRecord

    with db.cursor() as cursor:
        cursor.execute("SELECT pg_column_size(report), octet_length(report::text) FROM integration_syncrun "
                       "WHERE id = %s", [run_id])
        report_column, report_text = cursor.fetchone()
        cursor.execute("SELECT pg_total_relation_size('integration_startsyncrecord')")
        records_table = cursor.fetchone()[0]
        cursor.execute("SELECT count(*), coalesce(sum(octet_length(request_body) + octet_length(response_body)), 0), "
                       "coalesce(max(octet_length(response_body)), 0) FROM integration_httpexchange "
                       "WHERE connection_id = %s AND at >= %s AND at <= %s", [connection_id, since, until])
        exchanges, body_bytes, largest_body = cursor.fetchone()
    records = StartSyncRecord.objects.filter(run_id=run_id)
    return {"start_sync_records": records.count(),
            "records_by_outcome": dict(Counter(records.values_list("outcome", flat=True))),
            "start_sync_record_table_bytes": records_table,
            "report_bytes_json_text": report_text, "report_bytes_stored": report_column,
            "exchange_rows": exchanges, "exchange_body_bytes": body_bytes, "largest_exchange_body_bytes": largest_body}


# --- one size, in its own process --------------------------------------------------------------------

def one(args: argparse.Namespace, size: int) -> dict[str, Any]:
    from chaos.processes import Fleet, free_port, recreate_database, run_manage

    database = f"{args.database}_{size}"
    logs = ROOT / "test-artifacts" / f"start-sync-{size}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    port = free_port()
    web_env, worker_env = environments(args, port, database)
    os.environ.update(web_env)
    recreate_database(args.pg, database)
    run_manage(["migrate", "--noinput"], web_env, logs / "migrate.log")
    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import Connection
    from chaos import world
    from integration.core.models import Binding, SyncOperation, SyncRun, WorkerHeartbeat
    from integration.triggers import start_sync

    t_seed = time.monotonic()
    company = world.build(1)[0]
    if args.dinero_budget != RAISED:
        from sandbox.dinero.models import Organization

        Organization.objects.update(rate_limit_per_minute=args.dinero_budget)
    expect = seed_dinero(company, size, args.products)
    say(f"{size}: Dinero seeded in {time.monotonic() - t_seed:.0f} s: {expect}")
    postpone_polls()
    web = Fleet(env=web_env, logs=logs, port=port)
    workers = Fleet(env=worker_env, logs=logs, port=port)
    web.start_web()
    try:
        world.activate([company])
        postpone_polls()
        workers.start_worker(0)
        deadline = time.monotonic() + 180
        while WorkerHeartbeat.objects.filter(name__contains=":").count() < args.workers and time.monotonic() < deadline:
            time.sleep(0.5)
        sampler = MemorySampler(workers.workers[0].pid)
        time.sleep(2)
        sampler.mark_baseline()
        sampler.start()
        connection = Connection.objects.get(pk=company.connection_id)
        seen: dict[tuple[str, datetime], int] = {}
        emulator_counts(company, seen)
        before = counted(seen, timezone.now())
        load_before = load()
        started_wall = timezone.now()
        t0 = time.monotonic()
        run = start_sync.start(connection)
        say(f"{size}: start sync {run.pk} queued (load {load_before})")
        last = 0.0
        while time.monotonic() - t0 < args.timeout:
            run.refresh_from_db()
            if run.state in (SyncRun.State.DONE, SyncRun.State.FAILED):
                break
            if time.monotonic() - last > 15:
                last = time.monotonic()
                emulator_counts(company, seen)
                say(f"{size}: {run.processed}/{run.total} handled after {time.monotonic() - t0:.0f} s, "
                    f"load {load()}")
            time.sleep(0.5)
        seconds = time.monotonic() - t0
        run.refresh_from_db()
        finished_wall = run.finished_at or timezone.now()
        load_after = load()
        emulator_counts(company, seen)
        after = counted(seen, started_wall)
        sampler.stopped.set()
        sampler.join()
        sampler.sample()
        say(f"{size}: start sync {run.state} in {seconds:.1f} s")
        calls = calls_since(company.connection_id, started_wall, finished_wall)
        want = minimum(expect)
        executions = _task_executions(run.pk)
        result: dict[str, Any] = {
            "size": size, "products": args.products, "expected": expect, "state": run.state,
            "error": run.error, "timed_out": run.state not in (SyncRun.State.DONE, SyncRun.State.FAILED),
            "wall_seconds": round((finished_wall - started_wall).total_seconds(), 1),
            "task_executions": executions,
            "counters": {"total": run.total, "processed": run.processed, "created": run.created,
                         "matched": run.matched, "skipped": run.skipped},
            "calls": calls, "minimum": want,
            "above_minimum": {k: calls["by_kind"].get(k, 0) - v for k, v in want.items()
                              if calls["by_kind"].get(k, 0) != v},
            "emulator_request_counters": {k: after.get(k, 0) - before.get(k, 0) for k in ("dinero", "rackbeat")},
            "memory_kib": {"peak_vmhwm_worker": max(sampler.hwm.values(), default=0),
                           "largest_growth_over_idle": max((v - sampler.baseline.get(pid, v) for pid, v in
                                                            sampler.hwm.items()), default=0),
                           "idle_vmhwm_workers_before": sorted(sampler.baseline.values()),
                           "processes_seen": len(sampler.hwm)},
            "stored": stored(run.pk, company.connection_id, started_wall, finished_wall),
            "load": {"before": load_before, "max_1min_during": round(sampler.max_load, 2), "after": load_after},
        }
        if run.state == SyncRun.State.DONE:
            result["echo"] = echo_check(args, company, Binding, SyncOperation, SyncRun)
        return result
    finally:
        workers.stop_all()
        web.stop_all()


def _task_executions(run_id: int) -> dict[str, int]:
    from django_q.models import Task

    tasks = Task.objects.filter(name__startswith=f"start-sync-{run_id}")
    return {"finished": tasks.filter(success=True).count(), "failed": tasks.filter(success=False).count()}


def echo_check(args: argparse.Namespace, company: Any, Binding: Any, SyncOperation: Any,
               SyncRun: Any) -> dict[str, Any]:
    """The next Rackbeat poll, queued to the cluster; what it queued and the Dinero calls it caused."""
    from django.utils import timezone
    from django_q.tasks import async_task

    created = {(kind, key) for kind, key in Binding.objects.filter(connection_id=company.connection_id)
               .exclude(rackbeat_written_at=None).values_list("kind", "rackbeat_key")}
    since = timezone.now()
    t0 = time.monotonic()
    async_task("integration.tasks.poll_connection", company.connection_id, task_name="bench-echo-poll")
    poll = None
    while time.monotonic() - t0 < 600:
        poll = SyncRun.objects.filter(connection_id=company.connection_id, kind=SyncRun.RunKind.POLL_RACKBEAT,
                                      started_at__gte=since).exclude(state=SyncRun.State.RUNNING).first()
        if poll is not None:
            break
        time.sleep(0.5)
    if poll is None:
        return {"error": "the poll did not finish within 10 minutes"}
    poll_seconds = time.monotonic() - t0
    ops = SyncOperation.objects.filter(connection_id=company.connection_id, created_at__gte=since)
    while time.monotonic() - t0 < 600 and ops.filter(state__in=("pending", "running")).exists():
        time.sleep(0.5)
    time.sleep(2)
    queued = list(ops.values_list("kind", "source_key", "state"))
    echoes = [row for row in queued if (row[0], row[1]) in created]
    calls = calls_since(company.connection_id, since)
    return {"poll_state": poll.state, "poll_seconds": round(poll_seconds, 1),
            "poll_report": poll.report.get("streams", {}),
            "operations_queued": len(queued), "operations_for_records_start_sync_created": len(echoes),
            "echo_examples": [f"{k} {key} ({state})" for k, key, state in echoes[:5]],
            "dinero_calls": calls["dinero"], "rackbeat_calls": calls["rackbeat"], "calls_by_kind": calls["by_kind"]}


# --- the report ----------------------------------------------------------------------------------------

def markdown(result: dict[str, Any]) -> str:
    if "error" in result and "calls" not in result:
        return f"### {result.get('size')} contacts\n\nfailed: {result['error']}\n"
    got = result["calls"]["by_kind"]
    lines = [f"### {result['size']:,} Dinero contacts, {result['products']} products",
             "",
             f"State **{result['state']}** in **{result['wall_seconds']} s** "
             f"({result['task_executions']['finished']} task execution(s) finished, "
             f"{result['task_executions']['failed']} failed); load before {result['load']['before']}, "
             f"highest 1-min load during {result['load']['max_1min_during']}; counters {result['counters']}.",
             "",
             "| Calls | made | minimum |", "|---|---:|---:|"]
    for kind in sorted(set(got) | set(result["minimum"])):
        lines.append(f"| {kind} | {got.get(kind, 0)} | {result['minimum'].get(kind, '—')} |")
    waited = result["calls"].get("seconds_waiting_by_kind", {})
    if waited:
        lines[lines.index("| Calls | made | minimum |")] = "| Calls | made | minimum | s waiting on the vendor |"
        lines[lines.index("|---|---:|---:|")] = "|---|---:|---:|---:|"
        for n, line in enumerate(lines):
            if line.startswith("| ") and line.split(" | ")[0][2:] in waited:
                lines[n] = line + f" {waited[line.split(' | ')[0][2:]]} |"
    lines.append(f"| **Dinero total** / **Rackbeat total** | {result['calls']['dinero']} / "
                 f"{result['calls']['rackbeat']} | — |")
    emu = result["emulator_request_counters"]
    mem = result["memory_kib"]
    st = result["stored"]
    lines += ["",
              f"Emulators' own counters: Dinero {emu['dinero']}, Rackbeat {emu['rackbeat']}. "
              f"Not 2xx: {result['calls']['not_2xx'] or 'none'}.",
              f"Peak RSS (VmHWM) of the worker process: **{mem['peak_vmhwm_worker'] / 1024:.0f} MiB** "
              f"(+{mem['largest_growth_over_idle'] / 1024:.0f} MiB over its idle high-water mark; the cluster's "
              f"processes before: {', '.join(f'{v / 1024:.0f}' for v in mem['idle_vmhwm_workers_before'])} MiB).",
              f"Stored: {st['start_sync_records']} StartSyncRecord rows ({st['records_by_outcome']}, table "
              f"{st['start_sync_record_table_bytes'] / 1024:.0f} KiB); SyncRun.report {st['report_bytes_json_text']} "
              f"bytes; {st['exchange_rows']} HttpExchange rows with {st['exchange_body_bytes'] / 1_048_576:.1f} MiB "
              f"of bodies (largest {st['largest_exchange_body_bytes'] / 1024:.0f} KiB)."]
    echo = result.get("echo")
    if echo:
        if "error" in echo:
            lines.append(f"Echo check: {echo['error']}.")
        else:
            lines.append(f"Echo check (next Rackbeat poll, {echo['poll_state']} in {echo['poll_seconds']} s): "
                         f"**{echo['operations_for_records_start_sync_created']}** operations for records the start "
                         f"sync created (of {echo['operations_queued']} queued), **{echo['dinero_calls']}** Dinero "
                         f"calls, {echo['rackbeat_calls']} Rackbeat calls.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.one is not None:
        result = one(args, args.one)
        print(json.dumps(result, default=str))
        return 0
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        say(f"size {size}: load {load()}")
        child = [sys.executable, __file__, "--one", str(size), "--products", str(args.products),
                 "--database", args.database, "--pg", args.pg, "--workers", str(args.workers),
                 "--timeout", str(args.timeout), "--dinero-budget", str(args.dinero_budget)]
        if args.q_timeout:
            child += ["--q-timeout", str(args.q_timeout)]
        # This script's own command line; nothing untrusted.
        done = subprocess.run(child, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            result = {"size": size, "error": f"exit {done.returncode}"}
        results.append(result)
        print(markdown(result), flush=True)
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "asked": {k: str(v) for k, v in
              vars(args).items()}, "machine": {"cpus": os.cpu_count(), "load_average": load()}, "sizes": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
    else:
        print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
