"""The service at many connections, against vendors that answer instantly: what the fleet costs us.

``.venv/bin/python bench/fleet.py --connections 1000`` (and ``10000``) sets up N active connections
in a PostgreSQL database of its own, then measures, in this process, with Rackbeat and Dinero
answering every request at once at the HTTP chokepoint (``tests/instant_vendors.py``: the clients,
the shared request budget and the exchange log run as in production, no emulator costs anything):

* **rounds** — starting one round of the Rackbeat poll and of the :13 Dinero poll over all
  connections (queueing one task per connection at its offset): time, and when the last
  connection's poll is handed out (its offset in the round) and the most polls handed out in any
  one second;
* **idle polls** — a sample of connections polled with nothing changed: CPU per poll in this
  process (the worker) and in its PostgreSQL backend (read from ``/proc``, the server runs on this
  machine), vendor requests and SQL statements per poll; from it the core-seconds one round costs;
* **engine** — ``--operations`` operations run one by one through the worker's path
  (``run_operation``: fair choice, claim, budget check, timeline, record) with a transfer that
  returns at once: the engine's own CPU per operation, worker and database;
* **rows and bytes** — ``pg_total_relation_size`` of every table before and after the idle polls
  and the operations: bytes per idle poll, per operation, and per connection-day;
* **database connections** — ``--workers`` qcluster workers started on the database for a few
  seconds: the server's sessions for it, per worker.

Figures are printed as JSON; timings are never asserted. Note the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook_intake import _env, prepare_database  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/rd_i25_fleet"
TICKS = os.sysconf("SC_CLK_TCK")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=500, help="connections whose idle polls are measured")
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="qcluster workers for the connection count")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    return parser.parse_args(argv)


def _setup_django(database_url: str) -> None:
    os.environ.update(_env(database_url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DINERO_CLIENT_ID"] = "fleet-bench"
    os.environ["DINERO_CLIENT_SECRET"] = "fleet-bench-secret"
    import django

    django.setup()
    from django.conf import settings

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    from django.db import connections

    # One backend for the whole run, so its CPU can be read from /proc: the ORM broker closes a
    # connection older than CONN_MAX_AGE between tasks.
    connections["default"].settings_dict["CONN_MAX_AGE"] = None
    # The engine's own cost is measured, not the budget's waits.
    settings.DINERO_RATE_LIMIT_PER_MINUTE = 1_000_000
    settings.RACKBEAT_RATE_LIMIT_PER_MINUTE = 1_000_000


class Meter:
    """CPU of this process and of its PostgreSQL backend, wall time, SQL statements."""

    def __init__(self) -> None:
        from django.db import connection

        self.statements = 0
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]
        connection.execute_wrappers.append(self._count)

    def _count(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.statements += 1
        return execute(sql, params, many, context)

    def _backend_cpu(self) -> float:
        fields = Path(f"/proc/{self.backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def __enter__(self) -> Meter:
        self.started = (time.perf_counter(), time.process_time(), self._backend_cpu(), self.statements)
        return self

    def __exit__(self, *exc: Any) -> None:
        wall, cpu, db, statements = self.started
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu
        self.db = self._backend_cpu() - db
        self.count = self.statements - statements

    def per(self, n: int) -> dict[str, float]:
        n = max(n, 1)
        return {"wall_ms": round(self.wall * 1000 / n, 2), "worker_cpu_ms": round(self.cpu * 1000 / n, 2),
                "db_cpu_ms": round(self.db * 1000 / n, 2), "statements": round(self.count / n, 1)}


def table_bytes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables")
        return dict(cursor.fetchall())


def table_rows() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_tup_ins FROM pg_stat_user_tables")
        return dict(cursor.fetchall())


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


def make_connections(n: int) -> list[int]:
    from django.db import connection as db
    from django.utils import timezone

    from accounts.models import Connection
    from integration.core.models import IntegrationSettings

    with db.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_connection, django_q_ormq, django_q_task, integration_ratelimitwindow "
                       "CASCADE")
    went_live = timezone.now() - timedelta(hours=2)
    batch = []
    for number in range(n):
        connection = Connection(name=f"Fleet {number:05d} ApS", dinero_organization_id=str(500000 + number),
                                rackbeat_account_id=str(700000 + number), state=Connection.State.ACTIVE,
                                state_changed_at=went_live)
        connection.set_secret("rackbeat_api_token", f"rb-fleet-{number}-token")
        connection.set_secret("dinero_api_key", f"dinero-fleet-{number}-key")
        batch.append(connection)
    created = Connection.objects.bulk_create(batch, batch_size=1000)
    IntegrationSettings.objects.bulk_create([
        IntegrationSettings(connection=c, customer_integration_enabled=True, supplier_integration_enabled=True,
                            product_integration_enabled=True,
                            customer_invoices_created_in=IntegrationSettings.InvoicesCreatedIn.DINERO)
        for c in created], batch_size=1000)
    return [c.pk for c in created]


def round_start(label: str, start: Any, span_seconds: float) -> dict[str, Any]:
    """Start one round and read back when each connection's poll is handed out."""
    from django.utils import timezone
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    began = timezone.now()
    with Meter() as meter:
        queued = start()
    offsets = [(lock - began).total_seconds() for lock in OrmQ.objects.values_list("lock", flat=True)]
    per_second = Counter(int(offset) for offset in offsets)
    OrmQ.objects.all().delete()
    return {"round": label, "polls_queued": queued, "start_s": round(meter.wall, 2),
            "start_worker_cpu_s": round(meter.cpu, 2), "start_db_cpu_s": round(meter.db, 2),
            "last_poll_handed_out_after_s": round(max(offsets), 1) if offsets else None,
            "span_s": span_seconds, "most_polls_in_one_second": max(per_second.values()) if per_second else 0}


def idle_polls(sample: list[int]) -> dict[str, Any]:
    from accounts.models import Connection
    from integration.triggers import dinero_poll, polling
    from tests.instant_vendors import instant_vendors

    connections = list(Connection.objects.filter(pk__in=sample))
    with instant_vendors() as vendors:
        for pk in sample:  # the first poll of each sets its cursors
            polling.poll_connection(pk)
        for connection in connections:
            dinero_poll.poll_connection(connection)
        vendors.calls.clear()
        before = table_bytes(), table_rows()
        with Meter() as rackbeat:
            for pk in sample:
                polling.poll_connection(pk)
        rackbeat_calls = vendors.total
        vendors.calls.clear()
        middle = table_bytes(), table_rows()
        with Meter() as dinero:
            for connection in connections:
                dinero_poll.poll_connection(connection)
        dinero_calls = vendors.total
        after = table_bytes(), table_rows()
    n = len(sample)

    def written(first: tuple[dict[str, int], dict[str, int]], last: tuple[dict[str, int], dict[str, int]]
                ) -> dict[str, Any]:
        return {"bytes": round(sum(grown(first[0], last[0]).values()) / n),
                "rows": {k: round(v / n, 2) for k, v in grown(first[1], last[1]).items()}}

    return {
        "rackbeat_poll": {**rackbeat.per(n), "vendor_requests": round(rackbeat_calls / n, 2),
                          "written": written(before, middle)},
        "dinero_poll": {**dinero.per(n), "vendor_requests": round(dinero_calls / n, 2),
                        "written": written(middle, after)},
    }


def engine_overhead(connection_id: int, operations: int) -> dict[str, Any]:
    import integration.transfers  # noqa: F401  (the real handlers first)
    from accounts.models import Connection
    from integration.core import engine, handlers
    from integration.core.handlers import Result
    from integration.core.models import Direction, Kind, SyncOperation, Trigger

    handlers._REGISTRY[(str(Kind.CUSTOMER), str(Direction.TO_DINERO))] = lambda op, ctx: Result(outcome="instant")
    connection = Connection.objects.get(pk=connection_id)
    before_bytes, before_rows = table_bytes(), table_rows()
    with Meter() as queueing:
        pks = [engine.enqueue(connection, Kind.CUSTOMER, Direction.TO_DINERO, f"E{n}", trigger=Trigger.WEBHOOK).pk
               for n in range(operations)]
    with Meter() as running:
        for pk in pks:
            engine.run_operation(pk)
    done = SyncOperation.objects.filter(pk__in=pks, state=SyncOperation.State.DONE).count()
    after_bytes, after_rows = table_bytes(), table_rows()
    return {"operations": operations, "done": done, "queue": queueing.per(operations), "run": running.per(operations),
            "bytes_per_operation": round(sum(grown(before_bytes, after_bytes).values()) / operations),
            "rows_per_operation": {k: round(v / operations, 2) for k, v in grown(before_rows, after_rows).items()}}


def database_sessions(database_url: str, workers: int) -> dict[str, Any]:
    """Start a qcluster with ``workers`` workers on the bench database, give it tasks that use the
    database, and count the server sessions it opens (distinct backends started meanwhile)."""
    import psycopg
    from django_q.tasks import async_task

    name = database_url.rsplit("/", 1)[1]
    for _n in range(workers * 50):
        async_task("integration.tasks.heartbeat", sync=False)

    def backends(since: Any) -> tuple[set[int], int]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_start > %s "
                                "AND pid <> pg_backend_pid()", [name, since]).fetchall()
        return {row[0] for row in rows}, len(rows)

    with psycopg.connect(database_url, autocommit=True) as conn:
        since = conn.execute("SELECT now()").fetchone()[0]
    env = {**_env(database_url), "Q_WORKERS": str(workers), "DJANGO_SETTINGS_MODULE": "config.settings"}
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: set[int] = set()
    peak = 0
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            time.sleep(0.25)
            pids, now_open = backends(since)
            seen |= pids
            peak = max(peak, now_open)
    finally:
        os.killpg(cluster.pid, 15)
        cluster.wait(timeout=60)
    from django_q.models import OrmQ

    left = OrmQ.objects.count()
    return {"workers": workers, "sessions_peak": peak, "sessions_opened": len(seen),
            "per_worker": round(peak / workers, 2), "tasks_left_unrun": left}


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str]) -> None:
    args = parse(argv)
    prepare_database(args.database_url)
    _setup_django(args.database_url)
    from django.conf import settings
    from django.utils import timezone

    from integration.triggers import dinero_poll, polling

    started, load_before = timezone.now(), load()
    pks = make_connections(args.connections)
    result: dict[str, Any] = {"connections": args.connections, "started": started.isoformat(timespec="seconds"),
                              "load_before": load_before}
    interval = max(1, settings.POLL_INTERVAL_MINUTES) * 60
    result["rackbeat_round"] = round_start("rackbeat", polling.poll_all_connections, interval)
    result["dinero_round"] = round_start("dinero", dinero_poll.poll_all_connections, dinero_poll.SPREAD.total_seconds())
    sample = pks[: min(args.sample, len(pks))]
    idle = idle_polls(sample)
    result["idle"] = idle
    for name, polls_per_hour in (("rackbeat_poll", 60 / settings.POLL_INTERVAL_MINUTES), ("dinero_poll", 1)):
        per_poll = idle[name]["worker_cpu_ms"] + idle[name]["db_cpu_ms"]
        idle[name]["round_core_seconds"] = round(per_poll * args.connections / 1000, 1)
        idle[name]["cores_busy_all_the_time"] = round(per_poll * args.connections * polls_per_hour / 3_600_000, 3)
    polls_a_day = 24 * 60 / settings.POLL_INTERVAL_MINUTES
    result["bytes_per_connection_day_idle"] = round(idle["rackbeat_poll"]["written"]["bytes"] * polls_a_day
                                                    + idle["dinero_poll"]["written"]["bytes"] * 24)
    result["engine"] = engine_overhead(pks[-1], args.operations)
    result["database_sessions"] = database_sessions(args.database_url, args.workers)
    result["finished"] = timezone.now().isoformat(timespec="seconds")
    result["load_after"] = load()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
