"""Running at the vendors' bound: drain, burst latency, fairness between connections, recovery.

``.venv/bin/python bench/vendor_bound.py <scenario> [options]`` — each scenario builds a fresh
PostgreSQL database, serves the service and both emulators with gunicorn on a free loopback port,
starts ``qcluster`` processes (real processes, the ORM broker) and books sales invoices in the
emulated Rackbeat, whose webhooks start the work exactly as in production. The emulated Dinero
counts a **sliding** minute (``SANDBOX_DINERO_SLIDING_MINUTE``) with the real budget of 100
requests per organization, the stricter reading, so every 429 the service provokes is counted.

Scenarios (each bounded by ``--timeout``):

* ``drain``    — N invoices over K organizations at the real budget: the Dinero calls per minute
                 and organization as a fraction of the budget, the invoices per minute against the
                 bound (100 ÷ Dinero calls per invoice), the number of 429s.
* ``burst``    — N invoices on one organization at once: webhook → done p50/p95, at the real budget
                 (``--budget 100``) or raised (``--budget 100000``).
* ``fair``     — connection A books a flood, connection B a steady trickle: B's latency
                 (``--invoices 0``: B alone, the baseline).
* ``recovery`` — kill -9 one of two ``qcluster`` process groups while it runs operations: how long
                 until every operation it held is running again elsewhere, and until all are done.
* ``reports``  — in one run, connection B books a steady trickle alone, then again while connection
                 A starts ``--reports`` reconciliations of a 366-day period at once: B's webhook →
                 done p50/p95 in both phases and their ratio. ``--report-slots`` sets
                 ``REPORT_SLOTS`` (0: the default, a quarter of the workers; a large number lets
                 every report run at once, as before the cap).

Figures are written to stdout as JSON and one Markdown line for BENCHMARKS.md. Timings are never
asserted; the machine is noted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["drain", "burst", "fair", "recovery", "reports"])
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--organizations", type=int, default=3)
    parser.add_argument("--budget", type=int, default=100, help="Dinero requests per minute and organization")
    parser.add_argument("--clusters", type=int, default=2, help="qcluster processes")
    parser.add_argument("--workers", type=int, default=4, help="Q_WORKERS per qcluster")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--reports", type=int, default=20, help="reconciliations connection A starts (reports)")
    parser.add_argument("--report-slots", type=int, default=0, help="REPORT_SLOTS (reports; 0: the default)")
    parser.add_argument("--database", default="rd_vb_bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def environment(args: argparse.Namespace, port: int) -> dict[str, str]:
    from chaos.processes import served_environment

    env = served_environment(f"http://127.0.0.1:{port}", f"{args.pg.rstrip('/')}/{args.database}")
    env.update({
        "DEBUG": "true", "SANDBOX_ENABLED": "true", "Q_WORKERS": str(args.workers),
        # The budget under test, on both sides: the service's limiter and the emulator's count.
        "DINERO_RATE_LIMIT_PER_MINUTE": str(args.budget),
        "SANDBOX_DINERO_RATE_LIMIT_PER_MINUTE": str(args.budget),
        "SANDBOX_DINERO_SLIDING_MINUTE": "true",
        "RACKBEAT_RATE_LIMIT_PER_MINUTE": "480",
        # The safety net's poll is not what is measured.
        "POLL_INTERVAL_MINUTES": "60",
        "REPORT_SLOTS": str(args.report_slots),
    })
    return env


class Bench:
    """One fresh world: database, companies, gunicorn, qcluster processes."""

    def __init__(self, args: argparse.Namespace) -> None:
        from chaos.processes import Fleet, free_port, recreate_database, run_manage

        self.args = args
        self.logs = ROOT / "test-artifacts" / f"vendor-bound-{args.scenario}-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*.log"):
            old.unlink()
        port = free_port()
        self.env = environment(args, port)
        os.environ.update(self.env)
        recreate_database(args.pg, args.database)
        run_manage(["migrate", "--noinput"], self.env, self.logs / "migrate.log")
        import django

        django.setup()
        from chaos import world
        from sandbox.dinero.models import Organization
        from sandbox.rackbeat import models as rb

        self.companies = world.build(args.organizations)
        # The chaos world raises every budget; here the budget is the subject.
        Organization.objects.update(rate_limit_per_minute=args.budget)
        rb.Account.objects.update(rate_limit_per_minute=480)
        self.fleet = Fleet(env=self.env, logs=self.logs, port=port)
        self.fleet.start_web()
        world.activate(self.companies)
        for slot in range(args.clusters):
            self.fleet.start_worker(slot)
        self._wait_for_workers()
        self.started = time.monotonic()

    def _wait_for_workers(self) -> None:
        """Every worker process has beaten once: start-up time is not counted as latency."""
        from integration.core.models import WorkerHeartbeat

        wanted = self.args.clusters * self.args.workers
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if WorkerHeartbeat.objects.filter(name__contains=":").count() >= wanted:
                return
            time.sleep(0.5)
        say("not every worker process reported within 3 minutes; measuring anyway")

    def book(self, company: Any, count: int, *, threads: int = 6, spread_seconds: float = 0.0) -> list[int]:
        """Book ``count`` sales invoices in the company's emulated Rackbeat (each fires its webhook)."""
        import random

        from chaos.traffic import Rackbeat, _lines

        client = Rackbeat(self.fleet.base_url, company)
        rng = random.Random(company.index)
        numbers: list[int] = []
        lock = threading.Lock()

        def one(n: int) -> None:
            if spread_seconds:
                time.sleep(max(0.0, start + n * spread_seconds / count - time.monotonic()))
            draft = client.post("customer-invoices", {"customer_id": rng.choice(company.customers),
                                                      "lines": _lines(rng)}, "customer_invoice")
            booked = client.post(f"customer-invoices/{draft['number']}/book", {}, "customer_invoice")
            with lock:
                numbers.append(int(booked["number"]))

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, range(count)))
        return numbers

    def wait_until_settled(self, *, kinds: tuple[str, ...] | None = None, expected: int | None = None) -> bool:
        from integration.core.models import SyncOperation

        deadline = self.started + self.args.timeout
        last = 0.0
        while time.monotonic() < deadline:
            ops = SyncOperation.objects.all()
            if kinds:
                ops = ops.filter(kind__in=kinds)
            open_ops = ops.filter(state__in=("pending", "running")).count()
            total = ops.count()
            if open_ops == 0 and (expected is None or total >= expected):
                return True
            if time.monotonic() - last > 15:
                last = time.monotonic()
                say(f"{total - open_ops}/{total} operations finished")
            time.sleep(1)
        return False

    def stop(self) -> None:
        self.fleet.stop_all()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latencies(kind: str = "sales_invoice", connection_id: int | None = None) -> list[float]:
    """Seconds from the webhook's operation row to the operation's end (done or otherwise)."""
    from integration.core.models import SyncOperation

    ops = SyncOperation.objects.filter(kind=kind).exclude(finished_at=None)
    if connection_id is not None:
        ops = ops.filter(connection_id=connection_id)
    return [(op.finished_at - op.created_at).total_seconds() for op in ops.only("created_at", "finished_at")]


def states() -> dict[str, int]:
    from django.db.models import Count

    from integration.core.models import SyncOperation

    return {row["state"]: row["n"] for row in SyncOperation.objects.values("state").annotate(n=Count("id"))}


def calls() -> dict[str, Any]:
    from django.db.models import Max, Min

    from integration.core.models import HttpExchange

    dinero = HttpExchange.objects.filter(service="dinero")
    span = dinero.aggregate(first=Min("at"), last=Max("at"))
    return {
        "dinero_calls": dinero.count(),
        "dinero_429": dinero.filter(status=429).count(),
        "rackbeat_calls": HttpExchange.objects.filter(service="rackbeat").count(),
        "rackbeat_429": HttpExchange.objects.filter(service="rackbeat", status=429).count(),
        "dinero_first": span["first"], "dinero_last": span["last"],
    }


def sliding_max(org_calls: list[datetime]) -> int:
    """The most Dinero calls of one organization inside any 60 seconds (as the service logged them)."""
    times = sorted(t.timestamp() for t in org_calls)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] <= start + 60:
            j += 1
        best = max(best, j - i)
    return best


def per_org_sliding_max() -> dict[str, int]:
    from integration.core.models import HttpExchange

    found: dict[str, list[datetime]] = {}
    for connection_id, at in HttpExchange.objects.filter(service="dinero").exclude(url__contains="oauth") \
            .values_list("connection_id", "at"):
        found.setdefault(str(connection_id), []).append(at)
    return {k: sliding_max(v) for k, v in found.items()}


def machine() -> dict[str, Any]:
    """The machine as the report records it; ``BENCH_NOTE`` adds what the figures cannot show (say,
    other work sharing the cores)."""
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "note": os.environ.get("BENCH_NOTE", "")}


# --- scenarios ---------------------------------------------------------------------------------------

def drain(bench: Bench) -> dict[str, Any]:
    args = bench.args
    per_org = args.invoices // args.organizations
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.organizations) as pool:
        list(pool.map(lambda c: bench.book(c, per_org, threads=3), bench.companies))
    booked_after = time.monotonic() - t0
    settled = bench.wait_until_settled()
    from django.db.models import Max, Min

    from integration.core.models import SyncOperation

    span = SyncOperation.objects.aggregate(first=Min("created_at"), last=Max("finished_at"))
    minutes = (span["last"] - span["first"]).total_seconds() / 60
    c = calls()
    invoices = SyncOperation.objects.filter(kind="sales_invoice", state="done").count()
    dinero_per_invoice = c["dinero_calls"] / max(1, invoices)
    bound = args.budget * args.organizations / dinero_per_invoice  # invoices per minute
    achieved = invoices / minutes
    return {
        "settled": settled, "invoices_done": invoices, "states": states(), "minutes": round(minutes, 2),
        "booking_seconds": round(booked_after, 1),
        "dinero_calls_per_invoice": round(dinero_per_invoice, 2),
        "bound_invoices_per_minute": round(bound, 1), "achieved_invoices_per_minute": round(achieved, 1),
        "fraction_of_bound": round(achieved / bound, 3),
        "dinero_calls_per_minute_per_org": round(c["dinero_calls"] / minutes / args.organizations, 1),
        "most_dinero_calls_in_any_60s_per_org": per_org_sliding_max(),
        **{k: v for k, v in c.items() if not k.startswith("dinero_f") and not k.startswith("dinero_l")},
    }


def burst(bench: Bench) -> dict[str, Any]:
    company = bench.companies[0]
    bench.book(company, bench.args.invoices, threads=10)
    settled = bench.wait_until_settled()
    values = latencies("sales_invoice")
    c = calls()
    return {"settled": settled, "invoices": len(values), "p50_seconds": round(statistics.median(values), 2),
            "p95_seconds": round(percentile(values, 0.95), 2), "max_seconds": round(max(values), 2),
            "states": states(), "dinero_429": c["dinero_429"], "budget": bench.args.budget}


def fair(bench: Bench) -> dict[str, Any]:
    flood, steady = bench.companies[0], bench.companies[1]
    steady_count = 15
    flood_count = bench.args.invoices
    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(bench.book, flood, flood_count, threads=8)
        b = pool.submit(bench.book, steady, steady_count, threads=1, spread_seconds=60)
        a.result(), b.result()
    settled = bench.wait_until_settled()
    b_values = latencies("sales_invoice", steady.connection_id)
    a_values = latencies("sales_invoice", flood.connection_id)
    return {"settled": settled, "flood_invoices": len(a_values), "steady_invoices": len(b_values),
            "steady_p50_seconds": round(statistics.median(b_values), 2),
            "steady_p95_seconds": round(percentile(b_values, 0.95), 2),
            # --invoices 0: B alone, the baseline its latency beside a flood is compared with.
            "flood_p95_seconds": round(percentile(a_values, 0.95), 2) if a_values else None,
            "dinero_429": calls()["dinero_429"], "states": states()}


def recovery(bench: Bench) -> dict[str, Any]:
    from integration.core.models import OperationEvent, SyncOperation

    company = bench.companies[0]
    booking = threading.Thread(target=bench.book, args=(company, bench.args.invoices), kwargs={"threads": 4})
    booking.start()
    deadline = time.monotonic() + 120
    victim = bench.fleet.workers[0]
    held: list[int] = []
    while time.monotonic() < deadline:
        pids = _descendant_pids(victim.pid) | {victim.pid}
        held = [op.pk for op in SyncOperation.objects.filter(state="running")
                if op.claimed_by.rpartition(":")[2].isdigit() and int(op.claimed_by.rpartition(":")[2]) in pids]
        if held:
            break
        time.sleep(0.05)
    killed_at = time.monotonic()
    killed_wall = datetime.now(UTC)
    bench.fleet.kill_worker(0)
    say(f"kill -9 of qcluster 0 while it held operations {held}")
    released_after: float | None = None
    while time.monotonic() < killed_at + 600:
        still = SyncOperation.objects.filter(pk__in=held, state="running",
                                             claimed_at__lt=killed_wall).count()
        if still == 0:
            released_after = time.monotonic() - killed_at
            break
        time.sleep(0.5)
    booking.join()
    settled = bench.wait_until_settled()
    finished_after = time.monotonic() - killed_at
    events = list(OperationEvent.objects.filter(operation_id__in=held, message__contains="died")
                  .values_list("message", flat=True)[:3])
    duplicates = _duplicate_invoices()
    return {"held_by_killed_worker": len(held), "claims_back_after_seconds": round(released_after or -1, 1),
            "all_done_after_seconds": round(finished_after, 1), "settled": settled, "states": states(),
            "duplicate_dinero_invoices": duplicates, "timeline": events}


def reports(bench: Bench) -> dict[str, Any]:
    """B's transfer latency alone, then beside A's reconciliations, in one run."""
    from datetime import date, timedelta

    from accounts.models import Connection
    from integration.books import reconciliation
    from integration.core.models import Reconciliation, SyncOperation

    busy, steady = bench.companies[0], bench.companies[1]
    steady_count = 15
    # A has documents to reconcile: its invoices are transferred before anything is measured.
    bench.book(busy, max(bench.args.invoices, 1), threads=6)
    bench.wait_until_settled()

    def b_phase() -> list[float]:
        before = set(SyncOperation.objects.filter(connection_id=steady.connection_id).values_list("pk", flat=True))
        bench.book(steady, steady_count, threads=1, spread_seconds=45)
        bench.wait_until_settled()
        ops = SyncOperation.objects.filter(connection_id=steady.connection_id, kind="sales_invoice") \
            .exclude(pk__in=before).exclude(finished_at=None)
        return [(op.finished_at - op.created_at).total_seconds() for op in ops.only("created_at", "finished_at")]

    alone = b_phase()
    connection = Connection.objects.get(pk=busy.connection_id)
    today = date.today()
    period = reconciliation.Period(today - timedelta(days=365), today)
    started = time.monotonic()
    ids = [reconciliation.start(connection, period).pk for _ in range(bench.args.reports)]
    accepted_seconds = time.monotonic() - started
    beside = b_phase()
    deadline = time.monotonic() + bench.args.timeout
    while Reconciliation.objects.filter(pk__in=ids, state=Reconciliation.State.RUNNING).exists() \
            and time.monotonic() < deadline:
        time.sleep(1)
    done = Reconciliation.objects.filter(pk__in=ids)
    p95_alone, p95_beside = percentile(alone, 0.95), percentile(beside, 0.95)
    return {"b_alone_invoices": len(alone), "b_alone_p50_seconds": round(statistics.median(alone), 2),
            "b_alone_p95_seconds": round(p95_alone, 2),
            "b_beside_reports_invoices": len(beside), "b_beside_reports_p50_seconds": round(statistics.median(beside), 2),
            "b_beside_reports_p95_seconds": round(p95_beside, 2), "p95_ratio": round(p95_beside / p95_alone, 2),
            "reports": len(ids), "reports_accepted_in_seconds": round(accepted_seconds, 2),
            "reports_done": done.filter(state=Reconciliation.State.DONE).count(),
            "reports_failed": done.filter(state=Reconciliation.State.FAILED).count(),
            "reports_all_finished_after_seconds": round(time.monotonic() - started, 1),
            "report_slots": bench.args.report_slots or "default", "states": states()}


def _descendant_pids(pid: int) -> set[int]:
    from integration.core.worker_health import descendants

    return set(descendants(pid))


def _duplicate_invoices() -> int:
    from django.db.models import Count

    from sandbox.dinero.models import SalesDocument

    rows = (SalesDocument.objects.exclude(data__ExternalReference=None).values("organization_id", "data__ExternalReference")
            .annotate(n=Count("id")).filter(n__gt=1))
    return rows.count()


def main(argv: list[str]) -> int:
    args = parse(argv)
    say(f"{args.scenario}: {args.invoices} invoices, {args.organizations} organizations, budget {args.budget}/min, "
        f"{args.clusters} qcluster × {args.workers} workers")
    bench = Bench(args)
    try:
        result = {"drain": drain, "burst": burst, "fair": fair, "recovery": recovery,
                  "reports": reports}[args.scenario](bench)
    finally:
        bench.stop()
    report = {"scenario": args.scenario, "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "asked": vars(args), "machine": machine(), **result}
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
