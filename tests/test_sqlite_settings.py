"""`make run` on SQLite: the worker and the web server share one file without "database is locked"."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite settings only")


def _file_database(tmp_path):
    from django.db.backends.sqlite3.base import DatabaseWrapper

    return DatabaseWrapper({**connection.settings_dict, "NAME": str(tmp_path / "run.sqlite3")}, alias="file")


@pytest.fixture(autouse=True)
def _own_files(django_db_blocker):
    """These tests open their own database files, apart from the test database."""
    with django_db_blocker.unblock():
        yield


def test_file_database_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    db = _file_database(tmp_path)
    with db.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert db.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    db.close()


def test_a_second_writer_waits_for_the_first_instead_of_failing(tmp_path):
    first, second = _file_database(tmp_path), _file_database(tmp_path)
    with first.cursor() as cursor:
        cursor.execute("CREATE TABLE beat (n INTEGER)")
    first.set_autocommit(False)
    with first.cursor() as cursor:
        cursor.execute("INSERT INTO beat VALUES (1)")  # holds the write lock until commit
    writer_done = threading.Event()

    def write() -> None:
        with second.cursor() as cursor:
            cursor.execute("INSERT INTO beat VALUES (2)")  # blocks on the lock, then succeeds
        writer_done.set()

    thread = threading.Thread(target=write)
    second.inc_thread_sharing()
    thread.start()
    assert not writer_done.wait(0.2)  # still waiting for the first writer, not failed
    first.commit()
    thread.join(10)
    assert writer_done.is_set()
    with first.cursor() as cursor:
        assert sorted(r[0] for r in cursor.execute("SELECT n FROM beat").fetchall()) == [1, 2]
    first.close()
    second.dec_thread_sharing()
    second.close()
