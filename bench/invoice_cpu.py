"""CPU and vendor calls per booked sales invoice with its item consumption, service side only.

``.venv/bin/python bench/invoice_cpu.py [--tree PATH ...] [options]``

For each source tree (``--tree``, repeatable; default this checkout — e.g. a ``git worktree add``
of an older commit beside the current one) the bench builds a fresh PostgreSQL database and
starts, from that tree, three kinds of real processes:

* the **emulators** (Rackbeat and Dinero) in their own gunicorn, which the service's clients call;
* the service's **web intake** in another gunicorn, which receives the emulated Rackbeat's webhooks;
* one ``qcluster`` (``--workers`` worker processes, the ORM broker): the **worker**.

Every process names itself to PostgreSQL (``application_name``), so the backends serving the
worker and the intake are told apart from the emulators' and from other work on the machine. A
sampler reads ``utime + stime`` of every process of each process group and of every backend from
``/proc/<pid>/stat`` twice a second and keeps the last figure of each pid, so a process that ends
during a round still counts.

After a warm-up (every customer and item of the invoices bound once), each round books
``--invoices`` sales invoices in the emulated Rackbeat (two stock-tracked lines each; Rackbeat's
webhook starts the work as in production, and the consumption voucher follows) and waits until
every operation is finished. Per invoice: CPU of the worker's processes, of their PostgreSQL
backends and of the intake, and the vendor calls the service logged, by service and method.
Rounds of the trees alternate, so before and after share the machine's load; the median of
``--rounds`` is reported with the load average, and beside it the same figure less what the
worker spends idle (measured for 20 s before the rounds) over the round's wall time.

``--companies N`` spreads the invoices over N connections (each its own Rackbeat account, Dinero
organization and budgets), round robin. With one connection and the budgets raised far above the
run, the budget's log holds every request of the last minute — hundreds, where at the vendors'
real bound it holds at most the budget (100 for a Dinero organization) — and every grant rewrites
it; spread over ten connections, each log is the size production sees.

``--spy PATH`` samples every process of the first tree's ``qcluster`` (sentinel, pusher, workers,
monitor) with py-spy while the rounds run, only while they are on the CPU, and writes collapsed
stacks to PATH: where the worker's CPU goes, django-q2's own bookkeeping included.

``--sample-cluster DIR`` samples the CPU time of every process of the first tree's ``qcluster``
during the rounds (``bench/cpu_sampler``: one stack per millisecond of CPU, forked processes too)
and prints the shares of the main parts, django-q2's own work included, with their stacks in DIR.

``--profile PATH`` instead books one burst with the worker stopped and then runs the queued
operations in one process under cProfile (timed by process CPU time) (the same ``integration.tasks.run_operation`` the
worker runs), writing the statistics to PATH and the top entries to stdout. With ``--sample`` the
same burst runs under a sampler of the process's CPU time instead (``ITIMER_PROF``, one stack a
millisecond of CPU): no per-call overhead, so the shares are those of the worker as it runs; PATH
then holds collapsed stacks (``frame;frame;… count``) and stdout the shares of the main parts.

Timings are never asserted; the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TICKS = os.sysconf("SC_CLK_TCK")
CUSTOMERS = list(range(3001, 3021))                   # chaos.world's existing customers of each company
LINES = [("FV-100", 2, "499.00"), ("RD-10", 3, "29.95")]  # two stock-tracked items of chaos.world
RAISED = "100000"  # budgets far above the run: CPU is measured, not the vendors' bound
# config.settings' development keys, spelled out for the service's processes run with DEBUG off.
DEV_SECRET_KEY = "dev-only-insecure-key-8c1f0d4e2b7a49e6a3d5c9f1b0e7d2a6c4f8e1b3d5a7c9e0f2b4d6a8c0e2f4"
DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LTAxMjM0NTY3ODlhYmM="


def say(message: str) -> None:
    print(f"[invoice-cpu {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- inside a tree: the steps that need that tree's Django ---------------------------------------

def inside(step: str) -> None:
    """Run one setup step with the current directory's code (the tree under test)."""
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    if step == "build":
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        from chaos import world

        world.build(int(os.environ.get("BENCH_COMPANIES", "1")))
    elif step == "activate":
        from accounts.models import Connection
        from integration.triggers import activation

        for connection in Connection.objects.all():
            problems = activation.activate(connection)
            if problems:
                raise SystemExit(f"activating {connection.name} failed: {problems}")
    elif step == "profile":
        if os.environ.get("BENCH_SAMPLE"):
            sample_queued(os.environ["BENCH_PROFILE_PATH"])
        else:
            profile_queued(os.environ["BENCH_PROFILE_PATH"])
    else:
        raise SystemExit(f"unknown step {step}")


def profile_queued(path: str) -> None:
    """Run every open operation (and the follow-ups they queue) under cProfile, as a worker would."""
    import cProfile
    import pstats

    from integration import tasks

    # CPU time, not wall time: the worker's real work, not its waiting on the vendors.
    profiler = cProfile.Profile(time.process_time)
    burst = _burst(lambda op_id: profiler.runcall(tasks.run_operation, op_id))
    profiler.dump_stats(path)
    print(json.dumps({"operations_run": burst["operations_run"], "invoices_done": burst["invoices_done"],
                      "process_cpu_ms_per_invoice_under_profiler": burst["process_cpu_ms_per_invoice"]}))
    stats = pstats.Stats(path)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)


def _burst(run: Any) -> dict[str, Any]:
    """``run(op_id)`` for every open operation and the follow-ups they queue, as a worker would:
    how many ran, the invoices they finished, and the process's CPU per invoice."""
    from integration.core.models import SyncOperation

    def invoices_done() -> int:
        return SyncOperation.objects.filter(kind="sales_invoice", state="done").count()

    done_before, cpu0, ran = invoices_done(), os.times(), 0
    while ids := list(SyncOperation.objects.filter(state="pending").order_by("pk").values_list("pk", flat=True)):
        for op_id in ids:
            run(op_id)
            ran += 1
    cpu1 = os.times()
    # The invoices this burst booked (the warm-up's are done already).
    invoices = invoices_done() - done_before
    seconds = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {"operations_run": ran, "invoices_done": invoices,
            "process_cpu_ms_per_invoice": round(1000 * seconds / max(1, invoices), 1)}


# Parts of a worker's CPU, each the frames that mark it (the first part a sample matches counts it).
SAMPLED_PARTS = [
    ("the exchange log (redaction, HttpExchange row)", ("_report (integration/core/clients/transport.py",)),
    ("the shared budget (grants, answers, checks)", ("integration/core/clients/ratelimit.py",)),
    ("requests + urllib3 + http.client", ("requests/", "urllib3/", "http/client.py")),
    ("SQL statements (psycopg, Django's cursor)", ("psycopg/", "django/db/backends/")),
    ("the specification PDF", ("reportlab/",)),
    ("the ORM (querysets, compiler, model instances)", ("django/db/models/",)),
    ("JSON", ("json/",)),
]
OPERATION = "run_operation (integration/tasks.py"
OUTSIDE = "outside the operations (django-q2's pusher, monitor, sentinel and worker loop)"


def shares(stacks: Any) -> dict[str, str]:
    """The share of each of SAMPLED_PARTS in collapsed ``stacks`` (a Counter of stack → samples)."""
    total = sum(stacks.values())
    parts: dict[str, int] = {}
    for stack, count in stacks.items():
        part = OUTSIDE if OPERATION not in stack else next(
            (name for name, marks in SAMPLED_PARTS if any(mark in stack for mark in marks)), "the rest")
        parts[part] = parts.get(part, 0) + count
    return {part: f"{100 * count / max(1, total):.1f} %" for part, count in sorted(parts.items(), key=lambda p: -p[1])}


def cluster_stacks(directory: str) -> Any:
    """The stacks sampled so far in every process of the cluster (``--sample-cluster``), by stack."""
    stacks: collections.Counter[str] = collections.Counter()
    for path in Path(directory).glob("stacks-*.txt") if directory else []:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            stacks[stack] += int(count)
    return stacks


def sample_queued(path: str) -> None:
    """:func:`profile_queued` under a sampler of process CPU time (module docstring, ``--sample``)."""
    sys.path.insert(0, str(ROOT / "bench" / "cpu_sampler"))
    import cpu_sampling

    from integration import tasks

    cpu_sampling.start()
    burst = _burst(tasks.run_operation)
    cpu_sampling.stop()
    stacks = cpu_sampling.stacks
    Path(path).write_text("".join(f"{stack} {count}\n" for stack, count in stacks.most_common()))
    print(json.dumps({**burst, "samples": sum(stacks.values()), "shares": shares(stacks)}, indent=2))


# --- the orchestrating process: no Django, only processes, HTTP and SQL ---------------------------

def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="source tree to measure (repeatable)")
    parser.add_argument("--invoices", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--companies", type=int, default=1,
                        help="connections the invoices are spread over, round robin (each its own budget)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of the one qcluster")
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting for a round after this")
    parser.add_argument("--database", default="rd_i25_cost", help="database of the first tree (others: _2, _3 …)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--sample-cluster", default="",
                        help="sample the CPU time of the first tree's qcluster processes, stacks to this directory")
    parser.add_argument("--profile", default="", help="cProfile one burst of --invoices to this path instead")
    parser.add_argument("--sample", action="store_true",
                        help="with --profile: sample the burst's CPU time instead of cProfile (collapsed stacks)")
    parser.add_argument("--debug-service", action="store_true",
                        help="run the worker and the intake with DEBUG on (how figures before 2026-12-07 15:00 were taken)")
    parser.add_argument("--spy", default="", help="sample the first tree's qcluster (every process) with py-spy "
                        "during the rounds, collapsed stacks to this path (py-spy on PATH or in $PY_SPY)")
    return parser.parse_args(argv)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_ticks(pid: int) -> tuple[int, int] | None:
    """(process group, utime + stime in clock ticks) of a live process, else None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[2]), int(fields[11]) + int(fields[12])


class Sampler(threading.Thread):
    """Keeps the last CPU figure of every process of the watched groups and PostgreSQL backends."""

    def __init__(self, pg: str) -> None:
        super().__init__(daemon=True)
        self.pg = pg
        self.groups: dict[int, str] = {}       # process group id → label
        self.backends: dict[str, str] = {}     # application_name → label
        self.seen: dict[tuple[str, int], int] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def sample(self) -> None:
        found: dict[tuple[str, int], int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                got = proc_ticks(int(entry))
                if got and got[0] in self.groups:
                    found[(self.groups[got[0]], int(entry))] = got[1]
        with psycopg.connect(f"{self.pg}/postgres", autocommit=True) as conn:
            rows = conn.execute("SELECT pid, application_name FROM pg_stat_activity").fetchall()
        for pid, name in rows:
            if name in self.backends:
                got = proc_ticks(pid)
                if got:
                    found[(self.backends[name], pid)] = got[1]
        with self.lock:
            self.seen.update(found)

    def totals(self) -> dict[str, float]:
        """Seconds of CPU so far, per label."""
        self.sample()
        with self.lock:
            out: dict[str, float] = {}
            for (label, _pid), ticks in self.seen.items():
                out[label] = out.get(label, 0.0) + ticks / TICKS
            return out

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            try:
                self.sample()
            except psycopg.Error:
                pass


def start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    # Fixed command lines of this bench (this interpreter, gunicorn, manage.py): nothing untrusted.
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop(process: subprocess.Popen | None) -> None:
    import signal

    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@dataclass
class World:
    """One tree's database and processes."""

    tree: Path
    label: str
    database: str
    args: argparse.Namespace
    sampler: Sampler
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    invoice_count: int = 0
    commit: str = ""
    idle_ms_per_second: float = 0.0

    @property
    def db_url(self) -> str:
        return f"{self.args.pg.rstrip('/')}/{self.database}"

    def env(self, role: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "Q_"))}
        vendors = f"http://127.0.0.1:{self.vendor_port}"
        env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(self.tree),
            **self.cluster_sampling(role),
            "DATABASE_URL": f"{self.db_url}?application_name=bench_{self.label}_{role}",
            "LOG_LEVEL": "WARNING", "DEBUG": "true", "SANDBOX_ENABLED": "true",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.intake_port}",
            "RACKBEAT_API_URL": f"{vendors}/sandbox/rackbeat/api/", "RACKBEAT_APP_URL": f"{vendors}/sandbox/rackbeat/app/",
            "DINERO_API_URL": f"{vendors}/sandbox/dinero", "DINERO_APP_URL": f"{vendors}/sandbox/dinero/app/",
            "DINERO_TOKEN_URL": f"{vendors}/sandbox/dinero/oauth/token",
            "DINERO_CLIENT_ID": "sandbox-client", "DINERO_CLIENT_SECRET": "sandbox-secret",
            "Q_SYNC": "false", "Q_WORKERS": str(self.args.workers),
            "DINERO_RATE_LIMIT_PER_MINUTE": RAISED, "RACKBEAT_RATE_LIMIT_PER_MINUTE": RAISED,
            "POLL_INTERVAL_MINUTES": "60",
        })
        if role in ("worker", "intake") and not self.args.debug_service:
            # The service as in production: DEBUG off (no query log, no debug cursor), no sandbox.
            # The keys are the development ones the setup encrypted and signed with.
            env.update({"DEBUG": "false", "SANDBOX_ENABLED": "false", "SECRET_KEY": DEV_SECRET_KEY,
                        "FIELD_ENCRYPTION_KEYS": DEV_FIELD_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
                        "SECURE_SSL_REDIRECT": "false"})
        return env

    def cluster_sampling(self, role: str) -> dict[str, str]:
        """The worker's environment for ``--sample-cluster`` (the first tree only)."""
        if role != "worker" or not self.args.sample_cluster or self.label != "t0":
            return {}
        Path(self.args.sample_cluster).mkdir(parents=True, exist_ok=True)
        return {"PYTHONPATH": f"{ROOT / 'bench' / 'cpu_sampler'}{os.pathsep}{self.tree}",
                "CPU_SAMPLE_DIR": str(Path(self.args.sample_cluster).resolve())}

    def setup(self) -> None:
        self.commit = commit_of(self.tree)  # the code its processes run, whatever is committed later
        self.logs = ROOT / "test-artifacts" / f"invoice-cpu-{self.label}"
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*.log"):
            old.unlink()
        self.vendor_port, self.intake_port = free_port(), free_port()
        with psycopg.connect(f"{self.args.pg.rstrip('/')}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.inside("build", {"BENCH_COMPANIES": str(self.args.companies)})
        self.processes["vendors"] = self.gunicorn("vendors", self.vendor_port)
        self.processes["intake"] = self.gunicorn("intake", self.intake_port)
        for role in ("vendors", "intake"):
            self.wait_for_http(self.vendor_port if role == "vendors" else self.intake_port)
        self.inside("activate")
        self.sampler.backends[f"bench_{self.label}_worker"] = f"{self.label}:worker_db"
        self.sampler.backends[f"bench_{self.label}_intake"] = f"{self.label}:intake_db"
        self.sampler.groups[self.processes["intake"].pid] = f"{self.label}:intake"

    def inside(self, step: str, extra: dict[str, str] | None = None, role: str = "setup") -> None:
        env = {**self.env(role), **(extra or {})}
        subprocess.run([PYTHON, str(Path(__file__).resolve()), "--inside", step], cwd=self.tree,
                       env=env, check=True, stdin=subprocess.DEVNULL, timeout=900)

    def gunicorn(self, role: str, port: int) -> subprocess.Popen:
        return start([PYTHON, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                      "--workers", "2", "--threads", "8", "--worker-class", "gthread", "--timeout", "120"],
                     self.env(role), self.tree, self.logs / f"{role}.log")

    @staticmethod
    def wait_for_http(port: int) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError(f"nothing answers on port {port}")

    def start_worker(self) -> None:
        worker = start([PYTHON, "manage.py", "qcluster"], self.env("worker"), self.tree, self.logs / "qcluster.log")
        self.processes["worker"] = worker
        self.sampler.groups[worker.pid] = f"{self.label}:worker"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.sql("SELECT count(*) FROM integration_workerheartbeat WHERE name LIKE %s", ("%:%",))[0][0] \
                    >= self.args.workers:
                return
            time.sleep(0.5)
        say(f"{self.label}: not every worker process reported within 3 minutes; measuring anyway")

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(f"{self.db_url}?application_name=bench_observer", autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def book(self, count: int) -> None:
        api = f"http://127.0.0.1:{self.vendor_port}/sandbox/rackbeat/api/"
        companies = self.args.companies
        # Each company's invoices cycle through as many customers as the warm-up binds for it.
        customers = CUSTOMERS[:max(1, min(len(CUSTOMERS), self.args.warmup // companies))]
        first = self.invoice_count
        self.invoice_count += count

        def one(n: int) -> None:
            company, turn = n % companies, n // companies
            headers = {"Authorization": f"Bearer chaos-rackbeat-token-{company}-0123456789",
                       "Accept": "application/json"}
            session = requests.Session()
            lines = [{"item_id": item, "quantity": quantity, "line_price": price} for item, quantity, price in LINES]
            for _attempt in range(20):
                # The emulator numbers drafts in a race of its own: a clash answers 500 and is sent again.
                draft = session.post(api + "customer-invoices", headers=headers, timeout=60,
                                     json={"customer_id": customers[turn % len(customers)], "lines": lines})
                if draft.status_code != 500:
                    break
                time.sleep(0.1)
            draft.raise_for_status()
            number = draft.json()["customer_invoice"]["number"]
            session.post(api + f"customer-invoices/{number}/book", json={}, headers=headers,
                         timeout=60).raise_for_status()

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, range(first, first + count)))

    def settled(self, invoices: int) -> bool:
        """Every operation finished and ``invoices`` consumption vouchers booked in total."""
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            (open_ops, consumed), = self.sql(
                "SELECT count(*) FILTER (WHERE state IN ('pending', 'running')), "
                "count(*) FILTER (WHERE kind = 'item_consumption' AND state = 'done') FROM integration_syncoperation")
            if open_ops == 0 and consumed >= invoices:
                return True
            time.sleep(0.5)
        return False

    def calls_since(self, exchange_id: int) -> dict[str, int]:
        rows = self.sql("SELECT service, method, count(*) FROM integration_httpexchange "
                        "WHERE id > %s AND url NOT LIKE %s GROUP BY service, method", (exchange_id, "%oauth%"))
        return {f"{service} {method}": n for service, method, n in rows}

    def last_exchange(self) -> int:
        return int(self.sql("SELECT coalesce(max(id), 0) FROM integration_httpexchange")[0][0])

    def states(self) -> dict[str, int]:
        return {state: n for state, n in self.sql("SELECT state, count(*) FROM integration_syncoperation GROUP BY state")}

    def idle(self, seconds: float = 20.0) -> None:
        """CPU per second of the worker and its backends with nothing to do (the broker's polling)."""
        before = self.sampler.totals()
        time.sleep(seconds)
        after = self.sampler.totals()
        self.idle_ms_per_second = sum(
            1000 * (after.get(key, 0.0) - before.get(key, 0.0)) / seconds
            for key in (f"{self.label}:worker", f"{self.label}:worker_db"))

    def round(self) -> dict[str, Any]:
        n = self.args.invoices
        before, exchange = self.sampler.totals(), self.last_exchange()
        load = os.getloadavg()[0]
        t0 = time.monotonic()
        self.book(n)
        settled = self.settled(self.invoice_count)
        wall = time.monotonic() - t0
        after = self.sampler.totals()

        def ms(role: str) -> float:
            key = f"{self.label}:{role}"
            return round(1000 * (after.get(key, 0.0) - before.get(key, 0.0)) / n, 1)

        calls = self.calls_since(exchange)
        figures = {"settled": settled, "wall_seconds": round(wall, 1), "load_average_1m": round(load, 2),
                   "worker_ms": ms("worker"), "worker_db_ms": ms("worker_db"), "intake_ms": ms("intake"),
                   "intake_db_ms": ms("intake_db"),
                   "calls_per_invoice": {k: round(v / n, 2) for k, v in sorted(calls.items())}}
        figures["service_ms"] = round(figures["worker_ms"] + figures["worker_db_ms"] + figures["intake_ms"]
                                      + figures["intake_db_ms"], 1)
        # The same figure without what an idle worker would have spent over the round's wall time.
        figures["service_less_idle_ms"] = round(figures["service_ms"] - self.idle_ms_per_second * wall / n, 1)
        self.rounds.append(figures)
        return figures

    def close(self) -> None:
        for name in ("worker", "intake", "vendors"):
            stop(self.processes.get(name))


def summary(world: World) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in world.rounds), 1)

    keys = ("worker_ms", "worker_db_ms", "intake_ms", "intake_db_ms", "service_ms", "service_less_idle_ms",
            "wall_seconds")
    return {"tree": str(world.tree), "commit": world.commit, "rounds": world.rounds,
            "idle_worker_ms_per_second": round(world.idle_ms_per_second, 1),
            **{f"median_{k}": median(k) for k in keys}, "calls_per_invoice": world.rounds[-1]["calls_per_invoice"]}


def commit_of(tree: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def measure(args: argparse.Namespace) -> dict[str, Any]:
    trees = [Path(t).resolve() for t in (args.tree or [str(ROOT)])]
    sampler = Sampler(args.pg.rstrip("/"))
    worlds = [World(tree=tree, label=f"t{i}", database=args.database if i == 0 else f"{args.database}_{i + 1}",
                    args=args, sampler=sampler) for i, tree in enumerate(trees)]
    try:
        for world in worlds:
            say(f"{world.label}: setting up {world.tree}")
            world.setup()
            world.start_worker()
        sampler.start()
        for world in worlds:
            say(f"{world.label}: warm-up, {args.warmup} invoices bind every customer and item")
            world.book(args.warmup)
            if not world.settled(world.invoice_count):
                say(f"{world.label}: the warm-up did not settle: {world.states()}")
            world.idle()
        spy = start_spy(args.spy, worlds[0].processes["worker"].pid) if args.spy else None
        before = cluster_stacks(args.sample_cluster)
        for number in range(args.rounds):
            for world in worlds:
                figures = world.round()
                say(f"{world.label} round {number + 1}: {json.dumps(figures)}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        if args.sample_cluster:
            time.sleep(3)  # every busy process writes its stacks at least twice a second
            sampled = cluster_stacks(args.sample_cluster)
            sampled.subtract(before)
            print(json.dumps({"cluster_cpu_shares": shares(+sampled)}, indent=2))
        return {"machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                            "note": os.environ.get("BENCH_NOTE", "")},
                "invoices_per_round": args.invoices, "workers": args.workers, "companies": args.companies,
                "trees": [summary(world) for world in worlds]}
    finally:
        sampler.stopped.set()
        for world in worlds:
            world.close()


def start_spy(path: str, pid: int) -> subprocess.Popen:
    """py-spy sampling ``pid`` and its children while they are on the CPU (not waiting)."""
    binary = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
    return subprocess.Popen([binary, "record", "--pid", str(pid), "--subprocesses", "--rate", "250",
                             "--nonblocking", "--format", "raw", "--output", str(Path(path).resolve())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile(args: argparse.Namespace) -> None:
    tree = Path(args.tree[0]).resolve() if args.tree else ROOT
    world = World(tree=tree, label="profile", database=args.database, args=args, sampler=Sampler(args.pg))
    try:
        world.setup()
        world.start_worker()
        world.book(args.warmup)
        world.settled(world.invoice_count)
        stop(world.processes.pop("worker"))
        world.book(args.invoices)
        # The webhooks arrive in the background: wait until every invoice has its operation.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and world.sql(
                "SELECT count(*) FROM integration_syncoperation WHERE kind = 'sales_invoice'")[0][0] < world.invoice_count:
            time.sleep(0.5)
        world.inside("profile", {"BENCH_PROFILE_PATH": str(Path(args.profile).resolve()),
                                 "BENCH_SAMPLE": "1" if args.sample else ""}, role="worker")
    finally:
        world.close()


def main(argv: list[str]) -> None:
    if argv[:1] == ["--inside"]:
        inside(argv[1])
        return
    args = parse(argv)
    if args.profile:
        profile(args)
        return
    result = measure(args)
    print(json.dumps(result, indent=2, default=str))
    for tree in result["trees"]:
        calls = ", ".join(f"{k} {v}" for k, v in tree["calls_per_invoice"].items())
        print(f"| {datetime.now(UTC):%Y-%m-%d} | {tree['commit']} | {tree['median_worker_ms']} | "
              f"{tree['median_worker_db_ms']} | {tree['median_intake_ms']} + {tree['median_intake_db_ms']} | "
              f"**{tree['median_service_ms']}** | {tree['median_service_less_idle_ms']} | {calls} | load {result['machine']['load_average'][0]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
