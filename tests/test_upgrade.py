"""A database of an earlier release migrates forward with every row intact.

The previous release's code (taken from git) migrates a fresh database and fills it — the demo
company, a connection with its settings and matrices, an operation queued for a worker, the
schedules, a one-off schedule and queued tasks under names that have since moved — then today's
code migrates the same database. Every table's rows must be unchanged (same count, same content),
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

# Every row of every table, as the columns it had in the previous release (UPGRADE_COLUMNS), so a
# column added since (with its default) does not count as a change of the rows that were there.
SNAPSHOT = """
import json, os
from django.db import connection
wanted = json.loads(os.environ.get("UPGRADE_COLUMNS") or "{}")
tables = {}
with connection.cursor() as cursor:
    for table in sorted(connection.introspection.table_names()):
        columns = wanted.get(table) or [c.name for c in connection.introspection.get_table_description(cursor, table)]
        cursor.execute(f'SELECT {", ".join(connection.ops.quote_name(c) for c in columns)} FROM "{table}"')
        tables[table] = {"columns": columns, "rows": sorted(repr(row) for row in cursor.fetchall())}
print(json.dumps(tables))
"""
# Rows a new model adds for itself (its content type, permissions and the roles' grants): the old rows stay.
GROWS_ON_PURPOSE = {"django_content_type", "auth_permission", "auth_group_permissions"}

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


def manage(code: Path, url: str, *args: str, **extra_env: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(code), "DATABASE_URL": url, "DEBUG": "true", "SANDBOX_ENABLED": "true",
           "Q_SYNC": "false", "DJANGO_SETTINGS_MODULE": "config.settings", **extra_env}
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
    before = json.loads(manage(old, url, "shell", "-c", SNAPSHOT).strip().splitlines()[-1])
    old_names = json.loads(manage(old, url, "shell", "-c", TASK_NAMES).strip().splitlines()[-1])
    assert "integration.reconciliation.run_task" in old_names["names"]  # the old names are really there

    manage(ROOT, url, "migrate", "--noinput")
    columns = json.dumps({table: snapshot["columns"] for table, snapshot in before.items()})
    after = json.loads(manage(ROOT, url, "shell", "-c", SNAPSHOT, UPGRADE_COLUMNS=columns).strip().splitlines()[-1])
    names = json.loads(manage(ROOT, url, "shell", "-c", TASK_NAMES).strip().splitlines()[-1])

    kept = {table: snapshot["rows"] for table, snapshot in before.items()
            if table not in CHANGED_ON_PURPOSE | GROWS_ON_PURPOSE}
    assert {table: after[table]["rows"] for table in kept if table in after} == kept
    assert set(kept) <= set(after)
    for table in GROWS_ON_PURPOSE:
        assert set(before[table]["rows"]) <= set(after[table]["rows"]), table
    assert len(before["django_q_ormq"]["rows"]) == len(after["django_q_ormq"]["rows"])  # nothing queued was lost
    assert names["unimportable"] == []
    assert all(name.startswith("integration.tasks.") for name in names["names"]), names["names"]
    assert len(names["names"]) == len(old_names["names"])
    manage(ROOT, url, "check")
