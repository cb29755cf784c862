"""A database of an earlier release migrates forward with every row intact.

The previous release's code (taken from git) migrates a fresh database and fills it — the demo
company, a connection with its settings and matrices, an operation queued for a worker, the
schedules, a one-off schedule and queued tasks under names that have since moved — then today's
code migrates the same database. Every table's rows must be unchanged (same count, same content in
the columns they had — a column added with its default changes nothing that was there),
except the queue and the schedules, whose task names must now all point at today's entry points.

Runs on the database the suite runs on: PostgreSQL when ``DATABASE_URL`` names it (a database of
its own, ``<name>_upgrade``), else a SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
# The release before the code was split into layers (issue "A house a newcomer can walk"): its
# models live in `integration/`, its schedules and tasks use the old module paths.
PREVIOUS_RELEASE = "ed33251"
# Tables a migration may deliberately change; every other table must come through untouched.
CHANGED_ON_PURPOSE = {"django_migrations", "django_q_ormq", "django_q_schedule"}

FILL = """
from django_q.tasks import async_task, schedule
from django_q.models import Schedule
from accounts.models import Connection
from integration import engine
from integration.models import Kind, Direction, Trigger
connection = Connection.objects.get()
engine.enqueue(connection, Kind.CUSTOMER, Direction.TO_DINERO, "1001", trigger=Trigger.POLL)
async_task("integration.reconciliation.run_task", 1, task_name="reconciliation-1")
async_task("integration.dinero_poll.poll_all_connections", task_name="dinero-poll-by-hand")
schedule("integration.reconciliation.run_task", 1, name="reconciliation-1-mail", schedule_type=Schedule.ONCE)
"""

# Tables that gain rows when a release adds a model (its content type and permissions): every row
# the previous release had must still be there, unchanged.
GROWN_BY_NEW_MODELS = {"django_content_type", "auth_permission", "auth_group_permissions"}

# The rows of every table, read through the columns named in ONLY_COLUMNS (all columns of a table
# not named there): a column a migration adds (with its default) leaves the earlier content intact.
SNAPSHOT = """
import hashlib, json
GROWN = GROWN_TABLES
from django.db import connection
only = json.loads(ONLY_COLUMNS)
tables, columns = {}, {}
with connection.cursor() as cursor:
    for table in sorted(connection.introspection.table_names()):
        names = only.get(table) or [c.name for c in connection.introspection.get_table_description(cursor, table)]
        columns[table] = names
        listed = ", ".join(f'"{name}"' for name in names)
        cursor.execute(f'SELECT {listed} FROM "{table}"')
        rows = sorted(repr(row) for row in cursor.fetchall())
        tables[table] = [len(rows), hashlib.sha256("\\n".join(rows).encode()).hexdigest()]
        if table in GROWN:
            tables[table].append(rows)
print(json.dumps({"tables": tables, "columns": columns}))
""".replace("GROWN_TABLES", repr(sorted(GROWN_BY_NEW_MODELS)))


def snapshot_script(columns: dict[str, list[str]] | None = None) -> str:
    return SNAPSHOT.replace("ONLY_COLUMNS", repr(json.dumps(columns or {})))


TASK_NAMES = """
import json
from django.utils.module_loading import import_string
from django_q.models import OrmQ, Schedule
from django_q.signing import SignedPackage
names = [s.func for s in Schedule.objects.all()] + [SignedPackage.loads(q.payload)["func"] for q in OrmQ.objects.all()]
unimportable = []
for name in names:
    try:
        import_string(name)
    except ImportError:
        unimportable.append(name)
print(json.dumps({"names": sorted(names), "unimportable": unimportable}))
"""


def previous_release(into: Path) -> Path:
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):
            raise AssertionError(f"CI needs the git history to test the upgrade from {PREVIOUS_RELEASE}") from exc
        pytest.skip(f"the git history with {PREVIOUS_RELEASE} is not here (a copy without .git)")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def database_url(tmp_path: Path) -> str:
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        return f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
    name = f"{os.environ.get('DATABASE_URL', '').rsplit('/', 1)[-1] or 'rackbeat_dinero'}_upgrade"
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    admin = [sys.executable, "-c", (
        "import psycopg, sys; c = psycopg.connect(sys.argv[1] + '/postgres', autocommit=True); "
        "c.execute(f'DROP DATABASE IF EXISTS {sys.argv[2]} WITH (FORCE)'); c.execute(f'CREATE DATABASE {sys.argv[2]}')"),
        url, name]
    subprocess.run(admin, check=True)
    return f"{url}/{name}"


def manage(code: Path, url: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(code), "DATABASE_URL": url, "DEBUG": "true", "SANDBOX_ENABLED": "true",
           "Q_SYNC": "false", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=code, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"manage.py {' '.join(args)} in {code}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.e2e
def test_a_database_of_the_previous_release_migrates_forward_with_its_rows_intact(tmp_path):
    old = previous_release(tmp_path / "previous")
    url = database_url(tmp_path)

    manage(old, url, "migrate", "--noinput")
    manage(old, url, "demo_setup")
    manage(old, url, "shell", "-c", FILL)
    before_read = json.loads(manage(old, url, "shell", "-c", snapshot_script()).strip().splitlines()[-1])
    before = before_read["tables"]
    old_names = json.loads(manage(old, url, "shell", "-c", TASK_NAMES).strip().splitlines()[-1])
    assert "integration.reconciliation.run_task" in old_names["names"]  # the old names are really there

    manage(ROOT, url, "migrate", "--noinput")
    after_read = manage(ROOT, url, "shell", "-c", snapshot_script(before_read["columns"]))
    after = json.loads(after_read.strip().splitlines()[-1])["tables"]
    names = json.loads(manage(ROOT, url, "shell", "-c", TASK_NAMES).strip().splitlines()[-1])

    kept = {table: figures for table, figures in before.items()
            if table not in CHANGED_ON_PURPOSE | GROWN_BY_NEW_MODELS}
    assert {table: after.get(table) for table in kept} == kept
    for table in GROWN_BY_NEW_MODELS:
        assert set(before[table][2]) <= set(after[table][2]), table
    assert before["django_q_ormq"][0] == after["django_q_ormq"][0]  # nothing queued was lost
    assert names["unimportable"] == []
    assert all(name.startswith("integration.tasks.") for name in names["names"]), names["names"]
    assert len(names["names"]) == len(old_names["names"])
    manage(ROOT, url, "check")
