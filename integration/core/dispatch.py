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

from django.db.models import Count, Min, Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.tasks import async_task

from integration.core.models import Priority, SyncOperation

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

    Two statements find the first: the due and running operations counted per connection in one,
    then whether the task's own operation keeps its place. Each further candidate costs one more.
    """
    rng = rng or random.Random()
    due = due_operations(waiting_connection_states=waiting_connection_states)
    now = timezone.now()
    pending_due = Q(state=State.PENDING, next_attempt_at__lte=now)
    per_connection = (
        SyncOperation.objects.filter(pending_due | Q(state=State.RUNNING))
        .exclude(connection__state__in=waiting_connection_states)
        .values("connection")
        .annotate(oldest=Min("next_attempt_at", filter=pending_due), n=Count("pk", filter=Q(state=State.RUNNING)))
        .order_by().values_list("connection", "oldest", "n")
    )
    running: dict[int, int] = {}
    oldest: list[int] = []
    for connection, first_due, n in per_connection:
        running[connection] = n
        if first_due is not None:
            oldest.append(connection)
    if not oldest:
        return
    ties = {connection: rng.random() for connection in oldest}
    order = sorted(oldest, key=lambda c: (running.get(c, 0), ties[c]))
    chosen: list[int] = []
    if preferred is not None:
        own = due.filter(pk=preferred).values_list("connection", "priority").first()
        # The task's own operation keeps its place unless another connection has fewer running,
        # or its own connection has a booked document due (master data goes after it).
        if (own is not None and running.get(own[0], 0) <= running.get(order[0], 0)
                and not (own[1] > Priority.MONEY
                         and due.filter(connection=own[0], priority__lt=own[1]).exists())):
            chosen.append(preferred)
            yield preferred
    for connection in order:
        pk = (due.filter(connection=connection).exclude(pk__in=chosen)
              .order_by("priority", "next_attempt_at", "pk").values_list("pk", flat=True).first())
        if pk is not None:
            chosen.append(pk)
            yield pk


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
