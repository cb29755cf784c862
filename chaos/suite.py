"""One chaos run from an empty database to a verdict: ``python bench/chaos.py --size ci|full``.

1. A fresh PostgreSQL database (``rd_chaos`` unless told otherwise), migrated.
2. The companies (``chaos.world``): per connection an emulated Rackbeat account and Dinero
   organization with complete mappings.
3. gunicorn serving the service and both emulators on a free loopback port; the connections are
   activated (webhooks registered over HTTP); ``--workers`` ``qcluster`` processes start.
4. Faults on (``chaos.faults``), then the documents are booked in Rackbeat over HTTP
   (``chaos.traffic``) while one worker cluster is killed with SIGKILL ``--kills`` times and
   restarted.
5. Settle: the run waits until every booked document has an operation and nothing is pending or
   running (bounded by ``--settle-timeout``; a run that does not settle fails).
6. The invariants (``chaos.verify``) are checked in the emulators' storage; the counts, wall times
   and every violation are printed and written to ``--out`` (JSON) and a Markdown twin.

Exit status 0 only when every invariant holds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Size:
    sales: int
    supplier: int
    connections: int
    kills: int
    settle_timeout: int


SIZES = {
    "full": Size(sales=1000, supplier=300, connections=5, kills=3, settle_timeout=3600),
    "ci": Size(sales=100, supplier=30, connections=2, kills=1, settle_timeout=900),
    "smoke": Size(sales=12, supplier=4, connections=1, kills=1, settle_timeout=600),
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/chaos.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="ci")
    parser.add_argument("--sales", type=int, help="booked sales documents (credit notes included)")
    parser.add_argument("--supplier", type=int, help="booked supplier invoices")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--kills", type=int, help="SIGKILLs of a worker cluster during the run")
    parser.add_argument("--workers", type=int, default=2, help="qcluster processes")
    parser.add_argument("--settle-timeout", type=int, help="seconds to wait for the queue to drain")
    parser.add_argument("--faults", choices=["full", "none"], default="full")
    parser.add_argument("--disable-fault", action="append", default=[],
                        help="a fault field left off (e.g. webhook_drop_rate); recorded in the report")
    parser.add_argument("--database", default=os.environ.get("CHAOS_DATABASE", "rd_chaos"))
    parser.add_argument("--pg", default=os.environ.get("CHAOS_PG", "postgres://postgres@127.0.0.1:5432"),
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--out", type=Path, help="JSON report (default test-artifacts/chaos-<size>.json)")
    return parser.parse_args(argv)


def _environment(args: argparse.Namespace, port: int) -> dict[str, str]:
    from chaos.processes import served_environment

    env = served_environment(f"http://127.0.0.1:{port}", f"{args.pg.rstrip('/')}/{args.database}")
    env.update({
        "DJANGO_SETTINGS_MODULE": "chaos.settings",
        "DEBUG": "true", "SANDBOX_ENABLED": "true",
        # The compressed clock (docs/chaos.md): short client timeout, fast retries and recovery.
        "HTTP_TIMEOUT_SECONDS": "4", "SANDBOX_DINERO_TIMEOUT_SECONDS": "5",
        "STALE_CLAIM_MINUTES": "1", "POLL_INTERVAL_MINUTES": "1", "POLL_OVERLAP_MINUTES": "5",
        # A poll the worker kill interrupts blocks its connection's next polls only this long.
        "POLL_STALE_MINUTES": "2",
        "MAX_TRANSIENT_ATTEMPTS": "16",
        "Q_WORKERS": "4", "Q_TIMEOUT": "50", "Q_RETRY": "60", "Q_SYNC": "false",
        # One database connection per request at most (gunicorn threads, webhook threads): the run
        # stays well inside PostgreSQL's 100 connections on a machine it shares.
        "CONN_MAX_AGE": "0",
        # Raised budgets: the emulators' per-organization limits are raised on the rows (chaos.world);
        # the service's own limiter must not hold it back either.
        "DINERO_RATE_LIMIT_PER_MINUTE": "100000", "RACKBEAT_RATE_LIMIT_PER_MINUTE": "100000",
        "SANDBOX_DINERO_RATE_LIMIT_PER_MINUTE": "100000",
    })
    return env


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.start, 1)

    def now(self) -> float:
        return time.monotonic() - self.start


def say(message: str) -> None:
    print(f"[chaos {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


def _queue_state(money_kinds: tuple[str, ...]) -> dict[str, int]:
    from django.db.models import Count

    from integration.core.models import SyncOperation

    rows = SyncOperation.objects.values("state").annotate(n=Count("id"))
    states = {row["state"]: row["n"] for row in rows}
    done_money = SyncOperation.objects.filter(kind__in=money_kinds).exclude(state__in=("pending", "running")).count()
    return {**states, "money_finished": done_money}


def _open_operations(limit: int = 20) -> list[str]:
    """The operations still open, each with its last timeline entry (why it has not finished)."""
    from integration.core.models import OperationEvent, SyncOperation

    lines = []
    for op in SyncOperation.objects.filter(state__in=("pending", "running")).order_by("pk")[:limit]:
        last = OperationEvent.objects.filter(operation=op).order_by("-at", "-pk").first()
        lines.append(f"operation {op.pk} {op.kind} {op.source_key} {op.state}, due {op.next_attempt_at:%H:%M:%S}, "
                     f"queued {op.enqueued_at:%H:%M:%S}" if op.enqueued_at else
                     f"operation {op.pk} {op.kind} {op.source_key} {op.state}, never queued")
        if last is not None:
            lines[-1] += f"; last: {last.at:%H:%M:%S} {last.message[:160]}"
    return lines


def _webhooks_in_flight() -> int:
    """Webhook deliveries the emulated Rackbeat has still to send (pending, or held back)."""
    from django.utils import timezone

    from sandbox.rackbeat.models import WebhookDelivery

    # A delivery's thread may die with its gunicorn worker; one older than a few minutes never comes.
    recent = timezone.now() - timedelta(minutes=3)
    return WebhookDelivery.objects.filter(state__in=(WebhookDelivery.State.PENDING, WebhookDelivery.State.HELD),
                                          created_at__gte=recent).count()


def _pause_polls() -> None:
    from django.utils import timezone
    from django_q.models import Schedule

    from integration.core.schedules import POLL_FUNCS

    Schedule.objects.filter(func__in=POLL_FUNCS).update(next_run=timezone.now() + timedelta(days=1))


def _uncovered() -> list[str]:
    """Booked Rackbeat documents without an operation yet (their webhook may have been lost)."""
    from accounts.models import Connection
    from integration.core.models import Kind, SyncOperation
    from sandbox.rackbeat import models as rb

    missing = []
    for connection in Connection.objects.all():
        keys = set(SyncOperation.objects.filter(connection=connection).values_list("kind", "source_key"))
        account = rb.Account.objects.get(account_id=int(connection.rackbeat_account_id))
        for number in rb.CustomerInvoice.objects.filter(account=account, is_booked=True).values_list("number",
                                                                                                      flat=True):
            if (Kind.SALES_INVOICE, str(number)) not in keys and (Kind.CREDIT_NOTE, str(number)) not in keys:
                missing.append(f"{connection.name}: sales {number}")
        for number in rb.SupplierInvoice.objects.filter(account=account, is_booked=True).values_list("number",
                                                                                                      flat=True):
            if (Kind.SUPPLIER_INVOICE, str(number)) not in keys:
                missing.append(f"{connection.name}: supplier {number}")
    return missing


def run(argv: list[str]) -> int:
    args = parse(argv)
    size = SIZES[args.size]
    sales = args.sales if args.sales is not None else size.sales
    supplier = args.supplier if args.supplier is not None else size.supplier
    connections = args.connections or size.connections
    kills = args.kills if args.kills is not None else size.kills
    settle_timeout = args.settle_timeout or size.settle_timeout
    out = args.out or ROOT / "test-artifacts" / f"chaos-{args.size}.json"
    logs = ROOT / "test-artifacts" / f"chaos-{args.size}-logs"  # never next to a committed report
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()

    from chaos.processes import Fleet, free_port, recreate_database, run_manage

    # SIGTERM (CI's backstop, a person's kill) ends the run through the ``finally`` below, which
    # stops gunicorn and the worker clusters; without it they would outlive the suite.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    port = free_port()
    env = _environment(args, port)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    clock = Clock()
    say(f"size {args.size}: {sales} sales documents, {supplier} supplier invoices, {connections} connections, "
        f"{kills} kills, {args.workers} worker clusters, faults {args.faults}; database {args.database}; "
        f"logs in {logs}")
    recreate_database(args.pg, args.database)
    run_manage(["migrate", "--noinput"], env, logs / "migrate.log")
    clock.mark("migrated")

    import django

    django.setup()
    from chaos import faults, traffic, verify, world
    from integration.core.models import Kind

    companies = world.build(connections)
    fleet = Fleet(env=env, logs=logs, port=port)
    report: dict[str, Any] = {}
    try:
        fleet.start_web()
        world.activate(companies)
        for slot in range(args.workers):
            fleet.start_worker(slot)
        applied = faults.apply(args.faults, disabled=tuple(args.disable_fault))
        clock.mark("started")
        say(f"gunicorn on {fleet.base_url}, {args.workers} worker clusters; faults: {applied}")

        money = (Kind.SALES_INVOICE, Kind.CREDIT_NOTE, Kind.SUPPLIER_INVOICE, Kind.ITEM_CONSUMPTION)
        holder: dict[str, Any] = {}
        pusher = threading.Thread(target=lambda: holder.setdefault("pushed", traffic.push(
            fleet.base_url, companies, sales=sales, supplier=supplier, seed=args.seed)), name="chaos-pusher",
            daemon=True)
        pusher.start()
        # Expected money work: every document plus roughly one consumption per sales document.
        expected_work = max(1, supplier + 2 * sales)
        kill_log: list[dict[str, Any]] = []
        settled_at: float | None = None
        deadline_from: float | None = None
        last_report = 0.0
        stable = 0
        polls_paused = False
        while True:
            time.sleep(2)
            state = _queue_state(money)
            pushing = pusher.is_alive()
            if len(kill_log) < kills and state["money_finished"] >= expected_work * (len(kill_log) + 1) / (kills + 1):
                slot = len(kill_log) % args.workers
                running = state.get("running", 0)
                fleet.kill_worker(slot)
                say(f"SIGKILL worker cluster {slot} ({running} operations running, "
                    f"{state['money_finished']} money operations finished)")
                time.sleep(1)
                fleet.start_worker(slot)
                kill_log.append({"at_seconds": round(clock.now(), 1), "slot": slot, "running_then": running})
            if clock.now() - last_report > 15:
                last_report = clock.now()
                say(f"queue {dict(sorted(state.items()))}{' (still pushing)' if pushing else ''}")
            dead = fleet.dead()
            if dead:
                raise RuntimeError(f"processes ended on their own: {dead}; see {logs}")
            if pushing:
                continue
            if deadline_from is None:
                deadline_from = clock.now()
                clock.mark("pushed")
                say(f"pushed: {json.dumps({k: v for k, v in _pushed_counts(holder).items()})}")
            open_ops = state.get("pending", 0) + state.get("running", 0)
            quiet = open_ops == 0 and len(kill_log) >= kills and not _uncovered() and not _webhooks_in_flight()
            if quiet and not polls_paused:
                # The safety net has done its job (every booked document has its operation, no
                # webhook is still on its way): pause the polls, so a poll re-reading unchanged
                # customers cannot start work while the storage is being counted.
                _pause_polls()
                polls_paused = True
                say("every document has its operation and no webhook is in flight: polls paused")
                continue
            if quiet:
                stable += 1
                if stable >= 3:
                    settled_at = clock.now()
                    break
            else:
                stable = 0
            if clock.now() - deadline_from > settle_timeout:
                say(f"did not settle within {settle_timeout} s")
                break
        clock.mark("settled" if settled_at else "gave_up")
        result = verify.check()
        if settled_at is None:
            result.violations.insert(0, f"the queue did not settle within {settle_timeout} s after the push "
                                        f"(still open: {_queue_state(money)}; without an operation: "
                                        f"{_uncovered()[:20]}; open: {_open_operations()})")
        pushed = holder.get("pushed")
        if pushed is not None and pushed.errors:
            result.violations.extend(f"the suite could not book a document in Rackbeat: {e}" for e in pushed.errors)
        report = {
            "size": args.size, "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "asked": {"sales": sales, "supplier": supplier, "connections": connections, "kills": kills,
                      "worker_clusters": args.workers, "settle_timeout_seconds": settle_timeout},
            "pushed": _pushed_counts(holder), "faults": applied, "disabled_faults": args.disable_fault,
            "kills": kill_log, "worker_starts": fleet.starts,
            "wall_seconds": clock.marks | {"total": round(clock.now(), 1)},
            "machine": _machine(),
            **result.as_dict(),
        }
    finally:
        traffic.STOP.set()
        fleet.stop_all()
    _write(out, report)
    _print(report)
    return 0 if report.get("passed") else 1


def _pushed_counts(holder: dict[str, Any]) -> dict[str, int]:
    pushed = holder.get("pushed")
    if pushed is None:
        return {}
    return {"sales_invoices": pushed.count(pushed.sales), "credit_notes": pushed.count(pushed.credit_notes),
            "supplier_invoices": pushed.count(pushed.supplier), "new_customers": pushed.count(pushed.new_customers),
            "errors": len(pushed.errors)}


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": sys.version.split()[0]}


def _write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    counts = report.get("counts", {})
    lines = [
        f"# Chaos run ({report.get('size')}, {report.get('when')}): {'PASSED' if report.get('passed') else 'FAILED'}",
        "",
        f"Asked: {report.get('asked')}  ",
        f"Pushed to Rackbeat: {report.get('pushed')}  ",
        f"Kills: {len(report.get('kills', []))} (worker starts {report.get('worker_starts')})  ",
        f"Wall time (s): {report.get('wall_seconds')}  ",
        f"Machine: {report.get('machine')}",
        "",
        "| Count | Value |", "|---|---:|",
        *[f"| {name} | {value} |" for name, value in counts.items()],
        "",
        f"Faults: {report.get('faults')}" + (f"; disabled: {report.get('disabled_faults')}"
                                              if report.get("disabled_faults") else ""),
        "",
        "## Violations", "",
        *([f"- {v}" for v in report.get("violations", [])] or ["None."]),
        "",
        "## Outcome Dinero cannot tell (listed, not counted as loss)", "",
        *([f"- {u}" for u in report.get("undecided", [])] or ["None."]),
        "",
    ]
    return "\n".join(lines)


def _print(report: dict[str, Any]) -> None:
    counts = report.get("counts", {})
    say(f"wall time {report.get('wall_seconds')}")
    for name, value in counts.items():
        print(f"  {name:>24}: {value}")
    violations = report.get("violations", [])
    if report.get("undecided"):
        print(f"  outcome Dinero cannot tell ({len(report['undecided'])}):")
        for line in report["undecided"][:50]:
            print(f"    - {line}")
    if violations:
        print(f"  VIOLATIONS ({len(violations)}):")
        for line in violations[:100]:
            print(f"    - {line}")
    print(f"chaos: {'1 passed, 0 failed' if report.get('passed') else '0 passed, 1 failed'}")
