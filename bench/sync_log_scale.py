"""Sync log at scale: 1,000,000 operations and 3,000,000 HTTP exchanges in PostgreSQL.

Builds the data set with ``generate_series`` SQL (one INSERT … SELECT per 100,000 operations, each
its own transaction) and then measures the sync log pages through Django's test client: server
time (the whole request inside Django, no network) and the number of SQL queries, several runs
each, reporting the median. The targets from the operations issue are < 300 ms and ≤ 10 queries.

Usage (see bench/README.md)::

    createdb -h 127.0.0.1 -U postgres rackbeat_dinero_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/rackbeat_dinero_bench
    DEBUG=true .venv/bin/python manage.py migrate
    .venv/bin/python bench/sync_log_scale.py build      # once, ~10 minutes on 2 cores
    .venv/bin/python bench/sync_log_scale.py measure    # as often as you like
    .venv/bin/python bench/sync_log_scale.py prune      # retention over the whole data set

Timings are reported, never asserted.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A production-like process: DEBUG off, no sandbox. The keys are throwaway bench values.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "ZGV2LW9ubHktZmllbGQta2V5LTAxMjM0NTY3ODlhYmM=")
os.environ.setdefault("SANDBOX_ENABLED", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection as db  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402

from accounts.models import Connection, Membership  # noqa: E402
from accounts.roles import ACCOUNTANT, ensure_roles  # noqa: E402
from integration.core.models import HttpExchange, SyncOperation  # noqa: E402

OPERATIONS = int(os.environ.get("BENCH_OPERATIONS", "1000000"))
EXCHANGES_PER_OPERATION = 3
CONNECTIONS = 40
CHUNK = 100_000
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

KINDS = ["customer", "supplier", "product", "bom", "sales_invoice", "credit_note", "supplier_invoice",
         "item_consumption", "sales_invoice"]


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _require_postgres() -> None:
    if db.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at PostgreSQL (the benchmark measures the production database).")


def _fixture_world() -> tuple[list[int], User, User]:
    ensure_roles()
    ids = []
    for n in range(CONNECTIONS):
        conn, created = Connection.objects.get_or_create(
            name=f"Bench customer {n:02d} ApS",
            defaults={"dinero_organization_id": str(400000 + n), "rackbeat_account_id": str(1000 + n),
                      "state": Connection.State.ACTIVE},
        )
        if created:
            conn.set_secret("rackbeat_api_token", f"rb-bench-token-{n}")
            conn.set_secret("dinero_api_key", f"dinero-bench-key-{n}")
            conn.save()
        ids.append(conn.pk)
    root = User.objects.filter(username="bench-root").first() or User.objects.create_superuser(
        "bench-root", "root@example.com", "bench-password-123"
    )
    accountant = User.objects.filter(username="bench-accountant").first()
    if accountant is None:
        accountant = User.objects.create_user("bench-accountant", "acc@example.com", "bench-password-123",
                                              is_staff=True)
        accountant.groups.add(Group.objects.get(name=ACCOUNTANT))
        for pk in ids[:2]:
            Membership.objects.create(user=accountant, connection_id=pk)
    return ids, root, accountant


# Column → SQL expression over the series number ``i`` (operations) or ``o``/``n`` (exchanges).
# Columns added to the models later are filled from their Python defaults (see _insert_sql), so
# the builder keeps working as the schema grows.
OPERATION_COLUMNS = {
    "connection_id": "(%(connections)s::bigint[])[1 + (abs(hashtext(i::text)) %% %(n_connections)s)]",
    "kind": "(%(kinds)s::text[])[1 + ((i / 7) %% 9)]",
    "direction": "CASE WHEN i %% 50 = 0 THEN 'to_rackbeat' ELSE 'to_dinero' END",
    "source_key": "'bench-' || i",
    "document_number": "(100000 + i)::text",
    "document_name": "'Kunde ' || (i %% 5000) || ' ApS'",
    "state": "s.state",
    "trigger": "CASE WHEN i %% 10 = 0 THEN 'poll' ELSE 'webhook' END",
    "attempts": "CASE WHEN s.state IN ('failed', 'needs_attention') THEN 1 + i %% 4 ELSE 1 END",
    "next_attempt_at": "t.at",
    "last_error_class": "CASE WHEN s.state = 'failed' THEN 'ServerError' "
                        "WHEN s.state = 'needs_attention' THEN 'NeedsMapping' ELSE '' END",
    "last_error": "CASE WHEN s.state = 'failed' THEN 'Dinero answered 503 Service Unavailable after 8 attempts.' "
                  "WHEN s.state = 'needs_attention' THEN 'No revenue account for product group 1' "
                  "|| (i %% 9) || ' and VAT zone EU.' ELSE '' END",
    "hint": "CASE WHEN s.state = 'needs_attention' "
            "THEN 'Fill in the revenue account matrix, then press Retry.' ELSE '' END",
    "target_id": "CASE WHEN s.state = 'done' THEN md5(i::text) ELSE '' END",
    "outcome": "CASE WHEN s.state = 'done' THEN 'Created in Dinero and booked.' ELSE '' END",
    "created_at": "t.at - interval '2 seconds'",
    "updated_at": "t.at",
    "finished_at": "CASE WHEN s.state IN ('pending', 'running') THEN NULL ELSE t.at END",
}
OPERATION_FROM = """
FROM generate_series(%(start)s, %(stop)s) AS i
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN i %% 100 < 90 THEN 'done'
        WHEN i %% 100 < 94 THEN 'skipped'
        WHEN i %% 100 < 96 THEN 'failed'
        WHEN i %% 100 < 98 THEN 'needs_attention'
        ELSE 'pending' END AS state
) s
CROSS JOIN LATERAL (
    -- Spread over a year, the highest numbers most recent.
    SELECT now() - ((%(total)s - i) * interval '31.5 seconds') AS at
) t
"""

EXCHANGE_COLUMNS = {
    "connection_id": "o.connection_id",
    "operation_id": "o.id",
    "attempt": "1",
    "service": "CASE WHEN n = 1 THEN 'rackbeat' ELSE 'dinero' END",
    "method": "CASE WHEN n = 1 THEN 'GET' ELSE 'POST' END",
    "url": "CASE WHEN n = 1 THEN 'https://app.rackbeat.com/api/customer-invoices/' || o.document_number "
           "ELSE 'https://api.dinero.dk/v1/400555/invoices' END",
    "status": "CASE WHEN o.state = 'failed' AND n = 3 THEN 503 ELSE 200 END",
    "duration_ms": "40 + (o.id %% 400)",
    "request_body": """CASE WHEN n = 1 THEN '' ELSE
        '{"ContactGuid": "' || md5(o.id::text) || '", "Date": "2024-05-01", "Currency": "DKK", '
        || '"ExternalReference": "rackbeat:' || o.document_number || '", "ProductLines": [{"Description": '
        || '"Widget", "Quantity": 2.0, "AccountNumber": 1000, "Unit": "parts", "BaseAmountValue": 125.0}]}' END""",
    "response_body": """'{"number": ' || o.document_number || ', "customer": {"number": 10' || (o.id %% 5000)
        || ', "name": "Kunde ApS", "vat_zone": "domestic"}, "lines": [{"product": {"number": "W-1", "group": '
        || '{"number": 1}}, "quantity": 2, "line_total": 250.00}], "total_excl_vat": 250.00, "total_incl_vat": '
        || '312.50, "booked_at": "2024-05-01T10:00:00+02:00"}'""",
    "bodies_pruned": "false",
    "at": "o.updated_at - ((3 - n) * interval '1 second')",
}
EXCHANGE_FROM = """
FROM integration_syncoperation o
CROSS JOIN generate_series(1, %(per_op)s) AS n
WHERE o.id BETWEEN %(first)s AND %(last)s
"""


def _insert_sql(model, columns: dict[str, str], source: str) -> tuple[str, dict]:
    """INSERT … SELECT for ``model``: the given expressions plus every other NOT NULL column's default."""
    exprs = dict(columns)
    defaults: dict[str, object] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in exprs or field.null:
            continue
        value = field.get_db_prep_save(field.get_default(), connection=db)
        name = f"default_{field.column}"
        defaults[name] = value
        exprs[field.column] = f"%({name})s"
    sql = (f"INSERT INTO {model._meta.db_table} ({', '.join(exprs)})\n"
           f"SELECT {', '.join(exprs.values())}\n{source}")
    return sql, defaults


def build() -> None:
    _require_postgres()
    ids, _root, _accountant = _fixture_world()
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM integration_syncoperation")
        existing = cursor.fetchone()[0]
    if existing >= OPERATIONS:
        _log(f"{existing:,} operations already present; nothing to build.")
        return
    started = time.monotonic()
    for start in range(existing + 1, OPERATIONS + 1, CHUNK):
        stop = min(start + CHUNK - 1, OPERATIONS)
        with transaction.atomic(), db.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM integration_syncoperation")
            first = cursor.fetchone()[0] + 1
            sql, defaults = _insert_sql(SyncOperation, OPERATION_COLUMNS, OPERATION_FROM)
            cursor.execute(sql, {
                "connections": ids, "n_connections": len(ids), "kinds": KINDS,
                "start": start, "stop": stop, "total": OPERATIONS, **defaults,
            })
            cursor.execute("SELECT max(id) FROM integration_syncoperation")
            last = cursor.fetchone()[0]
            sql, defaults = _insert_sql(HttpExchange, EXCHANGE_COLUMNS, EXCHANGE_FROM)
            cursor.execute(sql, {"per_op": EXCHANGES_PER_OPERATION, "first": first, "last": last, **defaults})
        _log(f"operations {start:,}–{stop:,} with their exchanges ({time.monotonic() - started:.0f} s)")
    with db.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE integration_syncoperation")
        cursor.execute("VACUUM ANALYZE integration_httpexchange")
    _log(f"built in {time.monotonic() - started:.0f} s")


# The three pages the operations issue sets the target for.
TARGETED = {"Sync log, first page", "Sync log filtered: needs attention + connection", "Sync log search by number"}


def _time_page(client: Client, url: str) -> tuple[float, int, int]:
    client.get(url)  # warm caches: sessions, permissions, templates
    times, queries = [], []
    status = 0
    for _ in range(RUNS):
        with CaptureQueriesContext(db) as captured:
            began = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - began) * 1000)
        status = response.status_code
        queries.append(len(captured.captured_queries))
    return statistics.median(times), max(queries), status


def measure() -> None:
    _require_postgres()
    ids, root, accountant = _fixture_world()
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM integration_syncoperation")
        ops = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'integration_httpexchange'")
        exchanges = cursor.fetchone()[0]
        cursor.execute(
            "SELECT id, document_number FROM integration_syncoperation WHERE state = 'needs_attention' "
            "AND connection_id = %s ORDER BY updated_at DESC LIMIT 1", [ids[0]])
        sample_id, sample_number = cursor.fetchone()
    _log(f"{ops:,} operations, ~{exchanges:,} exchanges; {RUNS} runs per page, median")

    log = reverse("admin:integration_syncoperation_changelist")
    attention = reverse("admin:integration_needsattention_changelist")
    detail = reverse("admin:integration_syncoperation_change", args=[sample_id])
    try:
        dashboard = reverse("admin:connection-dashboard", args=[ids[0]])
    except NoReverseMatch:
        dashboard = ""
    pages = [
        ("Sync log, first page", root, log),
        ("Sync log filtered: needs attention + connection", root,
         f"{log}?connection={ids[0]}&state__exact=needs_attention"),
        ("Sync log search by number", root, f"{log}?q={sample_number}"),
        ("Sync log filtered: has error, last 7 days", root, f"{log}?has_error=yes&when=7d"),
        ("Sync log search by name (a quoted phrase)", root, f"{log}?q=%22Kunde+4711+ApS%22"),
        ("Sync log as accountant (2 of 40 connections)", accountant, log),
        ("Sync log as accountant, needs attention", accountant, f"{log}?state__exact=needs_attention"),
        ("Needs attention list", root, attention),
        ("Operation detail (3 exchanges)", root, detail),
        ("Dashboard of one connection", root, dashboard),
        ("Admin index (all connections with badges)", root, reverse("admin:index")),
    ]
    rows = []
    for title, user, url in [p for p in pages if p[2]]:
        client = Client()
        client.force_login(user)
        median_ms, queries, status = _time_page(client, url)
        rows.append((title, median_ms, queries, status))
        _log(f"{title}: {median_ms:.1f} ms, {queries} queries (HTTP {status})")
    print()
    print("| Page | Median server time | Queries | Target (< 300 ms, ≤ 10 queries) |")
    print("|---|---:|---:|---|")
    for title, median_ms, queries, status in rows:
        if title in TARGETED:
            verdict = "met" if median_ms < 300 and queries <= 10 and status == 200 else "MISSED"
        else:
            verdict = "(no target)"
        print(f"| {title} | {median_ms:.0f} ms | {queries} | {verdict} |")


def prune() -> None:
    _require_postgres()
    from integration.core.retention import prune_exchanges

    began = time.monotonic()
    count = prune_exchanges()
    _log(f"pruned the bodies of {count:,} exchanges in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "measure"
    {"build": build, "measure": measure, "prune": prune}[command]()
