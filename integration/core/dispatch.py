"""Which operation a worker runs next, and tasks that wake at an operation's due time.

django-q2's broker hands out tasks first in, first out. A task is only a reason to look for work:
the worker runs the operation the task was queued for unless another connection is worse served,
so one connection's backlog of hundreds of documents cannot hold up another connection's single
invoice (the broker's order would make it wait behind all of them).

**Fair choice.** Among active connections with due operations, the one with the fewest operations
running now goes first; connections tied on that are drawn at random, so over time each gets an
equal share of the workers whatever the size of its backlog. Within a connection, booked documents
go before master data (:class:`~integration.core.kinds.Priority`), and among those of one priority
the operation due longest goes first.

**Tasks at a due time.** An operation put back until its budget has room (or until its backoff
ends) gets a task that the ORM broker hands out only from that moment: the broker gives out a
task once its ``lock`` lies in the past, so the task is written with ``lock = due time``. No
worker sleeps and no minute-long sweep is needed for the operation to continue on time. With a
broker other than the ORM one the operation is left to the ``run_due`` schedule.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.tasks import async_task

from accounts.models import Connection
from integration.core.models import Priority, SyncOperation
from integration.core.row_reads import all_rows, column, prepared, reading, table

State = SyncOperation.State

# How many operations a task tries when others win the race for its first choices.
CANDIDATES = 4


def due_operations(*, waiting_connection_states: tuple[str, ...]) -> Any:
    now = timezone.now()
    return (SyncOperation.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
            .exclude(connection__state__in=waiting_connection_states))


def candidates(preferred: int | None, *, waiting_connection_states: tuple[str, ...],
               rng: random.Random | None = None) -> list[int]:
    """Operation ids to try claiming, best first (see the module docstring)."""
    return list(itertools.islice(
        each_candidate(preferred, waiting_connection_states=waiting_connection_states, rng=rng), CANDIDATES))


def each_candidate(preferred: int | None, *, waiting_connection_states: tuple[str, ...],
                   rng: random.Random | None = None) -> Iterator[int]:
    """:func:`candidates` one at a time: a worker whose first claim succeeds asks for no more.

    One statement finds the first: the due and running operations counted per connection, and
    the task's own operation (whether it is due, its connection and priority) as one more row of
    the same answer. Each further candidate costs one more.
    """
    rng = rng or random.Random()
    now = timezone.now()
    db = reading(SyncOperation)
    waiting = list(waiting_connection_states)
    # Per active connection with due or running work: whether any is due, and how many run.
    pending, running_state, moment = *_states(db, State.PENDING, State.RUNNING), _time(db, now)
    params = [pending, moment, running_state, pending, moment, running_state, *waiting]
    if preferred is not None:
        params += [prepared(SyncOperation, "id", preferred, db), pending, moment, *waiting]
    rows = all_rows(db, _per_connection_sql(db.alias, len(waiting), preferred is not None), params)
    running: dict[int, int] = {}
    oldest: list[int] = []
    own: tuple[int, int] | None = None  # the task's own operation, due: its connection and priority
    for connection, any_due, n, own_priority in rows:
        if own_priority is not None:
            own = (connection, int(own_priority))
            continue
        running[connection] = int(n or 0)
        if any_due:
            oldest.append(connection)
    if not oldest:
        return
    ties = {connection: rng.random() for connection in oldest}
    order = sorted(oldest, key=lambda c: (running.get(c, 0), ties[c]))
    chosen: list[int] = []
    if preferred is not None:
        # The task's own operation keeps its place unless another connection has fewer running,
        # or its own connection has a booked document due (master data goes after it).
        if (own is not None and running.get(own[0], 0) <= running.get(order[0], 0)
                and not (own[1] > Priority.MONEY
                         and due_operations(waiting_connection_states=waiting_connection_states)
                         .filter(connection=own[0], priority__lt=own[1]).exists())):
            chosen.append(preferred)
            yield preferred
    # Only when the task's own operation was not chosen or not claimed: the query is built then.
    due = due_operations(waiting_connection_states=waiting_connection_states)
    for connection in order:
        pk = (due.filter(connection=connection).exclude(pk__in=chosen)
              .order_by("priority", "next_attempt_at", "pk").values_list("pk", flat=True).first())
        if pk is not None:
            chosen.append(pk)
            yield pk


def _states(db: Any, *states: str) -> list[Any]:
    return [prepared(SyncOperation, "state", state, db) for state in states]


def _time(db: Any, moment: datetime) -> Any:
    return prepared(SyncOperation, "next_attempt_at", moment, db)


def _active(db: Any, waiting: int) -> tuple[str, str]:
    """The operations (``o``) joined with their connection (``c``), and the condition leaving out
    connections in one of ``waiting`` states (as many parameters)."""
    joined = (f"{table(SyncOperation, db)} o JOIN {table(Connection, db)} c "
              f"ON {column(SyncOperation, 'connection', db, alias='o')} = {column(Connection, 'id', db, alias='c')}")
    if not waiting:
        return joined, "1 = 1"
    return joined, f"NOT ({column(Connection, 'state', db, alias='c')} IN ({', '.join(['%s'] * waiting)}))"


@functools.cache
def _per_connection_sql(alias: str, waiting: int, own: bool) -> str:
    """Rows of (connection, any due, running, NULL). Parameters: pending, now, running (the
    columns), pending, now, running (the rows), then the waiting connection states.

    With ``own`` one more row, (connection, NULL, NULL, priority), when the operation whose id
    comes next is due — parameters: its id, pending, now, then the waiting connection states
    again. Only identifiers from the models' metadata are interpolated (quoted)."""
    db = connections[alias]
    op_id, connection, priority, state, due_at = (column(SyncOperation, name, db, alias="o") for name in (
        "id", "connection", "priority", "state", "next_attempt_at"))
    joined, active = _active(db, waiting)
    counted = (f"SELECT {connection}, MAX(CASE WHEN {state} = %s AND {due_at} <= %s THEN 1 ELSE 0 END), "  # noqa: S608
               f"SUM(CASE WHEN {state} = %s THEN 1 ELSE 0 END), NULL FROM {joined} "
               f"WHERE (({state} = %s AND {due_at} <= %s) OR {state} = %s) AND {active} GROUP BY {connection}")
    if not own:
        return counted
    return (f"{counted} UNION ALL SELECT {connection}, NULL, NULL, {priority} FROM {joined} "  # noqa: S608
            f"WHERE {op_id} = %s AND {state} = %s AND {due_at} <= %s AND {active}")


@functools.cache
def orm_queue() -> str | None:
    """The name of django-q2's queue when its broker is the ORM one (else None); fixed at start-up."""

    broker = get_broker()
    return broker.list_key if isinstance(broker, ORM) else None


def queue_at(func: str, *args: Any, due: datetime, task_name: str) -> bool:
    """Queue ``func(*args)`` to be handed out at ``due``; False when the broker cannot delay."""

    queue = orm_queue()
    if queue is None:
        return False
    async_task(func, *args, task_name=task_name, sync=False, broker=_DueAt(queue, due))
    return True


class _DueAt:
    """The ORM broker's enqueue, with the task locked until its due time."""

    def __init__(self, list_key: str, due: datetime) -> None:
        self._orm = ORM(list_key=list_key)
        self.list_key = self._orm.list_key
        self.due = due

    def enqueue(self, task: Any) -> Any:
        return self._orm.get_connection().create(key=self.list_key, payload=task, lock=self.due).pk
