"""django-q2's ORM broker, handing out tasks with one prepared statement.

The cluster's pusher asks the broker for tasks five times a second (``Q_CLUSTER["poll"]``), all
day, whether anything is queued or not; the monitor deletes every task a worker finished. The
stock ORM broker builds each question through the ORM (and closes stale database connections
first), then takes each task it found with a second, conditional ``UPDATE``: an idle cluster spent
more CPU asking than a busy one spends on a sales invoice's timeline. Here

* a poll is one statement that takes up to ``Q_CLUSTER["bulk"]`` due tasks and hands them out
  (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``): a task another cluster
  took in the meantime is skipped, never handed out twice — what the stock broker's conditional
  update per task ensured;
* a finished task is deleted by one prepared statement;
* stale database connections are closed at most once every ``HEALTH_SECONDS`` instead of before
  every poll (a broken connection still ends the poll with an error, and the cluster starts a new
  pusher with a new connection, as before).

Queueing, the queue's size and everything else are the stock broker's. Tasks are handed out oldest
first (the stock broker did not order them at all).
"""

from __future__ import annotations

import functools
from time import monotonic, sleep
from typing import Any

from django import db
from django.db import connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from integration.core.row_reads import column, prepared, statement_cursor, table

HEALTH_SECONDS = 5.0


class LeanORM(ORM):
    """The ORM broker with a one-statement poll and delete (module docstring)."""

    _checked_at = float("-inf")

    def dequeue(self) -> list[tuple[Any, str]] | None:
        self._close_stale_connections()
        connection = connections[Conf.ORM]
        now = timezone.now()
        params = [prepared(OrmQ, "lock", self.timeout(None), connection), self.list_key,
                  prepared(OrmQ, "lock", now, connection), Conf.BULK]
        with statement_cursor(connection) as cursor:
            cursor.execute(_dequeue_sql(connection.alias), params)
            rows = cursor.fetchall()
        if rows:
            return sorted((row[0], row[1]) for row in rows)
        # An empty queue: spare the CPU, as the stock broker does.
        sleep(Conf.POLL)
        return None

    def delete(self, task_id: Any) -> None:
        connection = connections[Conf.ORM]
        with statement_cursor(connection) as cursor:
            cursor.execute(_delete_sql(connection.alias), [task_id])

    def _close_stale_connections(self) -> None:
        # The stock broker's db.close_old_connections() before every question, at most every few
        # seconds: CONN_MAX_AGE is a minute, and an error closes a connection anyway.
        if not connections[Conf.ORM].get_autocommit():
            return
        checked = monotonic()
        if checked - self._checked_at >= HEALTH_SECONDS:
            db.close_old_connections()
            self._checked_at = checked


@functools.cache
def _dequeue_sql(alias: str) -> str:
    connection = connections[alias]
    queue = table(OrmQ, connection)
    pk, key, lock, payload = (column(OrmQ, name, connection) for name in ("id", "key", "lock", "payload"))
    locking = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return (f"UPDATE {queue} SET {lock} = %s WHERE {pk} IN (SELECT {pk} FROM {queue} "  # noqa: S608
            f"WHERE {key} = %s AND {lock} < %s ORDER BY {pk} LIMIT %s{locking}) RETURNING {pk}, {payload}")


@functools.cache
def _delete_sql(alias: str) -> str:
    connection = connections[alias]
    return f"DELETE FROM {table(OrmQ, connection)} WHERE {column(OrmQ, 'id', connection)} = %s"  # noqa: S608
