"""Webhook intake throughput and latency: gunicorn as deployed, PostgreSQL, a bounded load from wrk.

What is measured is the receiver alone, as the intake issue states it: no ``qcluster`` runs, so
every accepted delivery leaves its operation, its timeline entry, its django-q2 task and the stored
delivery in the database, and nothing competes for them. Each scenario runs a fixed number of
concurrent connections (a closed loop, so the load is bounded by the client, not open-ended) for a
fixed time, and afterwards checks that every 2xx answer left its stored delivery. It also reports
the CPU time per request of the served processes (gunicorn's master and workers) and of the
database's PostgreSQL backends, read from ``/proc`` before and after each run: a figure that
depends much less on what else runs on the machine than the latencies do.

The service is served as in production (``--server gthread``: ``config/gunicorn.py``, threaded
workers, ``--workers`` processes of ``--threads`` threads, keep-alive connections), or with the
sync workers of earlier measurements (``--server sync``: one request per process at a time, a new
TCP connection per request).

Scenarios:

* ``new``: every delivery names a record never seen before → an operation is created (202);
* ``unknown``: the same stack answering 404 for an unknown address after one query — the ceiling
  of this machine at that moment, for scale;
* ``repeat``: deliveries for a handful of records whose operations are still queued → each joins
  its queued operation (200 duplicate), the most common case in a burst of updates.

Usage::

    .venv/bin/python bench/webhook_intake.py                      # PostgreSQL database rd_webhook_intake_bench
    .venv/bin/python bench/webhook_intake.py --seconds 30 --connections 4,8,16
    .venv/bin/python bench/webhook_intake.py --server sync     # 2 sync workers, as measured for issue 13
    .venv/bin/python bench/webhook_intake.py --in-process 3000 # CPU and statements per delivery, no HTTP
    .venv/bin/python bench/webhook_intake.py --database-url postgres://postgres@127.0.0.1:5432/other

The database is created and migrated when missing. Needs ``wrk`` (``apt-get install wrk``); without
it a Python load generator in a separate process is used (it needs more CPU per request, so the
figures are lower on a small machine). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing import Process, Queue
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gunicorn_server import gunicorn  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/rd_webhook_intake_bench"
TOKEN = "T" * 32
ACCOUNT = "990001"
EVENT = "customer.created"


def _production_env(database_url: str) -> dict[str, str]:
    """As in production (DEBUG off, no sandbox), with throwaway keys; plain HTTP on loopback, where
    TLS would end at the proxy in front of gunicorn."""
    from cryptography.fernet import Fernet

    if "BENCH_FIELD_KEY" not in os.environ:
        os.environ["BENCH_FIELD_KEY"] = Fernet.generate_key().decode()
    return {"DATABASE_URL": database_url, "DEBUG": "false", "SANDBOX_ENABLED": "false",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2, "FIELD_ENCRYPTION_KEYS": os.environ["BENCH_FIELD_KEY"],
            "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", "CONN_MAX_AGE": "60"}


def _env(database_url: str) -> dict[str, str]:
    return {**os.environ, **_production_env(database_url)}


def prepare_database(database_url: str, code: Path = ROOT) -> None:
    """Create the database when missing and migrate it (with the migrations of ``code``)."""
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=code, env=_env(database_url), check=True)


SETUP = f"""
import django
django.setup()
from django.db import connection as db
from accounts.models import Connection
from integration.core.models import RackbeatWebhook
with db.cursor() as cursor:
    # Secrets of an earlier run were encrypted with that run's throwaway key: start afresh.
    cursor.execute("TRUNCATE accounts_connection, django_q_ormq CASCADE")
connection = Connection(name="Webhook intake bench", rackbeat_account_id="{ACCOUNT}")
connection.set_state(Connection.State.ACTIVE)
connection.save()
RackbeatWebhook.objects.create(connection=connection, event="{EVENT}", rackbeat_id="1", url="x", token="{TOKEN}")
print(connection.pk, connection.public_id)
"""


def prepare_connection(database_url: str, code: Path = ROOT) -> tuple[int, str]:
    """An active connection with its webhook registered, set up by the served checkout's own models."""
    out = subprocess.run([sys.executable, "-c", SETUP], cwd=code, check=True, capture_output=True, text=True,
                         env={**_env(database_url), "DJANGO_SETTINGS_MODULE": "config.settings",
                              "PYTHONPATH": str(code)}).stdout.split()
    return int(out[-2]), out[-1]


IN_PROCESS = """
import io, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from config.wsgi import application
from django.db import connection as db
public_id, deliveries, token, event, account = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
statements = [0]

def counted(execute, sql, params, many, context):
    statements[0] += 1
    return execute(sql, params, many, context)

def deliver(n):
    key = int(time.time()) % 100000 * 10**8 + n
    body = ('{"key_name": "number", "key": "' + str(key) + '"}').encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"/webhooks/rackbeat/{public_id}/", "SCRIPT_NAME": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
               "HTTP_RACKBEAT_WEBHOOK_TOKEN": token, "HTTP_RACKBEAT_WEBHOOK_EVENT": event,
               "HTTP_RACKBEAT_ACCOUNT_ID": account}
    status = []
    b"".join(application(environ, lambda line, headers, *_: status.append(line)))
    assert status[0].startswith("202"), status

def backend_seconds():
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

for n in range(200):  # warm-up: imports, the address cache, the prepared statement
    deliver(n)
with db.execute_wrapper(counted):
    for n in range(200, 300):
        deliver(n)
database, process = backend_seconds(), time.process_time()
for n in range(300, 300 + deliveries):
    deliver(n)
print(statements[0] / 100, (time.process_time() - process) * 1000 / deliveries,
      (backend_seconds() - database) * 1000 / deliveries)
"""


def in_process(database_url: str, public_id: str, deliveries: int, code: Path = ROOT) -> dict[str, float]:
    """New deliveries through the WSGI application in one process of ``code`` (no HTTP, no
    gunicorn): statements per delivery, and CPU milliseconds per delivery of that process and of
    its PostgreSQL backend."""
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, public_id, str(deliveries), TOKEN, EVENT, ACCOUNT],
                         cwd=code, check=True,
                         capture_output=True, text=True,
                         env={**_env(database_url), "PYTHONPATH": str(code)}).stdout.split()
    return {"statements": float(out[-3]), "process": float(out[-2]), "database": float(out[-1])}


def _sql(database_url: str, statement: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def reset(database_url: str) -> None:
    """Empty the sync log and the task queue (this database is the benchmark's own)."""
    time.sleep(1)  # requests still in flight when the client stopped finish first
    _sql(database_url, "TRUNCATE integration_webhookdelivery, integration_operationevent, "
                       "integration_syncoperation, django_q_ormq CASCADE")
    _sql(database_url, "VACUUM ANALYZE integration_syncoperation")


def _ticks(pid: int) -> tuple[int, int] | None:
    """(parent pid, utime + stime in clock ticks) of a live process, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_ticks(database_url: str) -> dict[str, dict[int, int]]:
    """CPU ticks so far of the served processes (every process below this one but the load
    generator) and of the benchmark database's PostgreSQL backends, per pid."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _ticks(int(entry))) is not None:
            parents[int(entry)], ticks[int(entry)] = found
    served: dict[int, int] = {}
    for pid in ticks:
        ancestor = parents.get(pid, 0)
        while ancestor > 1 and ancestor != os.getpid():
            ancestor = parents.get(ancestor, 0)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if ancestor == os.getpid() and b"gunicorn" in command:
            served[pid] = ticks[pid]
    backends = {pid: found[1] for (pid,) in _sql(
        database_url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid()") if (found := _ticks(pid)) is not None}
    return {"server": served, "database": backends}


def cpu_ms_per_request(before: dict[str, dict[int, int]], after: dict[str, dict[int, int]],
                       requests: int) -> dict[str, float]:
    """CPU milliseconds per request of the served processes and of the database backends."""
    per_tick = 1000 / os.sysconf("SC_CLK_TCK")
    return {side: sum(ticks - before[side].get(pid, 0) for pid, ticks in after[side].items()) * per_tick
            / max(1, requests) for side in ("server", "database")}


def stored_deliveries(database_url: str, connection_id: int) -> int:
    return _sql(database_url, "SELECT COUNT(*) FROM integration_webhookdelivery WHERE connection_id = %s",
                (connection_id,))[0][0]


LUA = """
local n = 0
local prefix = ""
local keys = tonumber(os.getenv("BENCH_KEYS") or "0")
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  -- Distinct per thread and per run; at most 14 digits (customer numbers are whole numbers).
  prefix = tostring(tid) .. string.format("%05d", os.time() % 100000)
end
request = function()
  n = n + 1
  local key
  if keys > 0 then key = tostring(n % keys + 1) else key = prefix .. string.format("%08d", n) end
  return wrk.format("POST", nil, nil, '{"key_name": "number", "key": "' .. key .. '"}')
end
"""


def run_wrk(url: str, connections: int, seconds: int, keys: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script.name,
             "-H", "Content-Type: application/json", "-H", f"Rackbeat-Webhook-Token: {TOKEN}",
             "-H", f"Rackbeat-Webhook-Event: {EVENT}", "-H", f"Rackbeat-Account-Id: {ACCOUNT}", url],
            capture_output=True, text=True, check=True, env={**os.environ, "BENCH_KEYS": str(keys)},
        ).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(out: str) -> dict[str, float]:
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))
    requests_total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests_total,
        # wrk leaves out the distribution when (almost) nothing completed, e.g. in a 1-second warm-up.
        **{f"p{p}": _ms(latency[p]) if p in latency else float("nan") for p in ("50", "90", "99")},
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def _python_load(url: str, connections: int, seconds: int, keys: int, results: Queue) -> None:
    """The fallback client: ``connections`` threads, each a closed loop of fresh HTTP requests."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def loop(worker: int) -> None:
        n = 0
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            n += 1
            key = str(n % keys + 1) if keys else f"{worker}{uuid.uuid4().int % 10**12:012d}"
            body = json.dumps({"key_name": "number", "key": key})
            started = time.perf_counter()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            conn.request("POST", parts.path, body, {"Content-Type": "application/json",
                                                    "Rackbeat-Webhook-Token": TOKEN, "Rackbeat-Webhook-Event": EVENT,
                                                    "Rackbeat-Account-Id": ACCOUNT})
            status = conn.getresponse().status
            conn.close()
            mine.append((time.perf_counter() - started) * 1000)
            bad += status >= 300
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    results.put({"rps": len(latencies) / seconds, "requests": len(latencies), "p50": pct(0.5), "p90": pct(0.9),
                 "p99": pct(0.99), "non_2xx": failures[0], "socket_errors": 0})


def run_python(url: str, connections: int, seconds: int, keys: int) -> dict[str, float]:
    results: Queue = Queue()
    process = Process(target=_python_load, args=(url, connections, seconds, keys, results))
    process.start()
    found = results.get()
    process.join()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", default="4,8,16", help="concurrent client connections, comma-separated")
    parser.add_argument("--scenarios", default="unknown,new,repeat")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="serve another checkout (e.g. an older version, with its own --database-url)")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--server", choices=["gthread", "sync"], default="gthread",
                        help="gthread: config/gunicorn.py as deployed; sync: sync workers (earlier measurements)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=32, help="threads per worker (gthread)")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="only send N new deliveries through the WSGI application in one process (no HTTP) "
                             "and report statements and CPU per delivery")
    args = parser.parse_args()

    prepare_database(args.database_url, args.code)
    connection_id, public_id = prepare_connection(args.database_url, args.code)
    if args.in_process:
        found = in_process(args.database_url, public_id, args.in_process, args.code)
        reset(args.database_url)
        print(f"in one process, {args.in_process} new deliveries: {found['statements']:.2f} statements, CPU "
              f"{found['process']:.3f} ms (process) + {found['database']:.3f} ms (database) per delivery; "
              f"load average {os.getloadavg()}")
        return 0
    load = run_wrk if args.client == "wrk" else run_python
    rows = []
    counts = [int(c) for c in args.connections.split(",")]
    served = {"settings_file": "config/gunicorn.py"} if args.server == "gthread" else {}
    env = {**_production_env(args.database_url), "WEB_WORKERS": str(args.workers), "WEB_THREADS": str(args.threads)}
    print(f"gunicorn: {args.server}, {args.workers} workers" + (f" x {args.threads} threads" if served else ""),
          flush=True)
    with gunicorn(args.database_url, workers=args.workers, extra_env=env, code=args.code, **served) as base:
        url = f"{base}/webhooks/rackbeat/{public_id}/"
        # Warm-up at the most connections: every worker (and every thread the load will use)
        # imports everything and opens its database connection before measuring.
        load(url, max(counts), 3, 0)
        for scenario in args.scenarios.split(","):
            for connections in counts:
                target = f"{base}/webhooks/rackbeat/{uuid.uuid4()}/" if scenario == "unknown" else url
                reset(args.database_url)
                keys = 20 if scenario == "repeat" else 0
                if keys:
                    load(url, 2, 1, keys)  # the 20 operations exist and are queued before measuring
                before = stored_deliveries(args.database_url, connection_id)
                ticks = cpu_ticks(args.database_url)
                result = load(target, connections, args.seconds, keys)
                result.update(cpu_ms_per_request(ticks, cpu_ticks(args.database_url), result["requests"]))
                stored = stored_deliveries(args.database_url, connection_id) - before
                ok = result["requests"] - result["non_2xx"] if scenario != "unknown" else 0
                rows.append((scenario, connections, result, stored, ok))
                print(f"{scenario:6} c={connections:<3} {result['rps']:7.0f} req/s  p50 {result['p50']:6.1f} ms  "
                      f"p90 {result['p90']:6.1f} ms  p99 {result['p99']:6.1f} ms  non-2xx {result['non_2xx']}  "
                      f"socket errors {result['socket_errors']}  stored {stored}/{ok}  CPU/request: server "
                      f"{result['server']:.2f} ms, database {result['database']:.2f} ms", flush=True)
    print()
    print("| Scenario | Client connections | Requests/s | p50 | p90 | p99 | Non-2xx | Stored / 2xx "
          "| CPU/request: server | database |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario, connections, r, stored, ok in rows:
        print(f"| {scenario} | {connections} | {r['rps']:.0f} | {r['p50']:.1f} ms | {r['p90']:.1f} ms | "
              f"{r['p99']:.1f} ms | {r['non_2xx']} | {stored} / {ok} | {r['server']:.2f} ms | "
              f"{r['database']:.2f} ms |")
    print(f"\nload average after the run: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
