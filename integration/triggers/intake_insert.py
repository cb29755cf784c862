"""A webhook delivery written in one SQL statement on PostgreSQL: new record, or one still queued.

The intake's cost is its round trips to the database, so on PostgreSQL with the ORM broker the
four rows an accepted delivery needs — the operation (already marked as queued), its timeline
entry, its django-q2 task and the stored delivery — go in one statement of data-modifying CTEs:

    WITH conn AS (SELECT id FROM connection WHERE id = … AND state = 'active' FOR SHARE),
         op AS (INSERT INTO operation … SELECT … FROM conn ON CONFLICT (natural key) DO NOTHING RETURNING id),
         ev AS (INSERT INTO event … SELECT … FROM op),
         task AS (INSERT INTO task queue … SELECT … FROM op),
         queued AS (SELECT id FROM operation WHERE natural key AND state = 'pending' AND EXISTS conn)
    INSERT INTO delivery … SELECT … FROM (op as accepted, else queued as duplicate) RETURNING …

A single statement is its own transaction: all rows or none. A delivery for a record whose
operation is still queued is stored as a duplicate of it in the same statement. When the
operation exists in any other state, nothing is written and ``None`` comes back (the receiver then
takes the ordinary path, where the engine's lifecycle rules decide).

The connection is checked in the same statement, whatever the receiver's address cache says: a
connection paused or deleted a moment ago stores nothing (``None`` again; the ordinary path then
answers 409 or 404). The share lock on the connection's row orders each delivery against a pause
or a delete: a pause waits for the deliveries already writing, and every delivery after it sees
the new state (:func:`lock_connection_state` does the same on the ordinary path).
The task's payload names the operation, so operation ids are drawn from the table's sequence in
advance, a few dozen per process at a time (a gap in the ids when a process stops is harmless).
The statement is built once per process, in PostgreSQL's own placeholders (``$1`` …), and
prepared once per database connection; its values travel as server-side parameters (the natural
key once), so the client neither scans nor rewrites the query text per delivery, and PostgreSQL
does not parse and plan it per delivery.
Everywhere else — SQLite, another broker, synchronous tasks in development and tests — the
receiver uses :func:`integration.core.engine.enqueue_new` in one ordinary transaction.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Hashable
from types import SimpleNamespace
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections, models, router
from django.db.models import Field
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import async_task

from accounts.models import Connection
from integration.core import dispatch
from integration.core.engine import TASK, queued_texts
from integration.core.insert_if_absent import row_values
from integration.core.models import Direction, OperationEvent, SyncOperation, Trigger, WebhookDelivery
from integration.core.row_reads import allow_prepared, preparing_cursor_class

IDS_PER_DRAW = 50
# A few row shapes per kind and language; past this many the templates start afresh.
TEMPLATES_MAX = 1_000

_ids: list[int] = []
_ids_lock = threading.Lock()
_templates: dict[Hashable, tuple[list[str], list[object], list[tuple[int, Field]]]] = {}
_templates_lock = threading.Lock()
_capturing = threading.local()


class _QuietWhileCapturing(logging.Filter):
    """Drops django-q2's "Enqueued" line for a package the intake only captures: nothing is queued
    at that moment (the statement writes the task), and a log line per delivery costs time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_capturing, "active", False)


logging.getLogger("django-q").addFilter(_QuietWhileCapturing())


class _CapturedPackage:
    """A stand-in broker for ``async_task``: keeps the signed package instead of writing it."""

    def __init__(self, list_key: str) -> None:
        self.list_key = list_key
        self.package = ""

    def enqueue(self, package: str) -> int:
        self.package = package
        return 0


def available() -> bool:
    """One statement is possible: PostgreSQL, the ORM broker, tasks not run in-process."""
    connection = connections[router.db_for_write(SyncOperation)]
    return (connection.vendor == "postgresql" and not settings.Q_CLUSTER.get("sync")
            and dispatch.orm_queue() is not None and not connection.in_atomic_block)


def lock_connection_state(connection_id: int) -> str | None:
    """The connection's state (None when it is gone), read inside the caller's transaction.

    On PostgreSQL the row is share-locked until that transaction ends, as the one statement does:
    a pause or a delete then waits for this delivery, and a delivery after it sees the change.
    """
    connection = connections[router.db_for_write(Connection)]
    if connection.vendor != "postgresql":
        return Connection.objects.filter(pk=connection_id).values_list("state", flat=True).first()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('state')} FROM {quote(Connection._meta.db_table)} "  # noqa: S608
                       f"WHERE {quote('id')} = %s FOR SHARE", [connection_id])
        row = cursor.fetchone()
    return None if row is None else str(row[0])


def _operation_id(cursor) -> int:  # type: ignore[no-untyped-def]
    with _ids_lock:
        if not _ids:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [SyncOperation._meta.db_table, IDS_PER_DRAW])
            _ids.extend(sorted(row[0] for row in cursor.fetchall()))
        return _ids.pop(0)


def _task_package(op_id: int) -> tuple[str, str]:
    """The django-q2 task row's key and payload, exactly as ``async_task`` would write them."""
    captured = _CapturedPackage(dispatch.orm_queue() or "")
    _capturing.active = True
    try:
        async_task(TASK, op_id, task_name=f"operation-{op_id}", sync=False, broker=captured)
    finally:
        _capturing.active = False
    return captured.list_key, captured.package


def _row(shape: Hashable, model: type[models.Model], connection, *,  # type: ignore[no-untyped-def]
         fixed: Callable[[], dict[str, Any]], varying: dict[str, Any], include_pk: bool = False,
         leave_out: tuple[str, ...] = ()) -> tuple[list[str], list[object]]:
    """The quoted columns and prepared values an INSERT of ``model(**fixed(), **varying)`` writes,
    exactly as :func:`~integration.core.insert_if_absent.row_values` (and so ``Model.save()``)
    would, less the ``leave_out`` columns.

    Most of a row is the same for every delivery of one ``shape`` (the columns' defaults, the kind
    and what follows from it, the timeline's text): ``fixed()`` must depend on ``shape`` alone. That
    part is built and prepared once per process; a later delivery prepares only its ``varying``
    fields and those set when a row is saved (``auto_now``).
    """
    template = _templates.get((shape, model, connection.alias))
    if template is None:
        instance = model(**fixed(), **varying)
        fields = {connection.ops.quote_name(field.column): field for field in model._meta.concrete_fields}
        kept = [(column, value) for column, value in zip(*row_values(instance, connection, include_pk=include_pk),
                                                         strict=True) if fields[column].attname not in leave_out]
        columns = [column for column, _ in kept]
        renewed = [(index, fields[column]) for index, column in enumerate(columns)
                   if fields[column].attname in varying or fields[column].name in varying
                   or getattr(fields[column], "auto_now", False) or getattr(fields[column], "auto_now_add", False)]
        with _templates_lock:
            if len(_templates) >= TEMPLATES_MAX:
                _templates.clear()
            _templates[(shape, model, connection.alias)] = (columns, [value for _, value in kept], renewed)
        return columns, [value for _, value in kept]
    columns, values, renewed = template
    values = list(values)
    for index, field in renewed:
        given = SimpleNamespace(**{field.attname: varying.get(field.attname, varying.get(field.name))})
        values[index] = field.get_db_prep_save(field.pre_save(given, add=True), connection)
    return columns, values


def accept(connection_id: int, kind: str, key: str, *, event: str, body_text: str) -> tuple[int, str] | None:
    """The delivery stored with its operation id and outcome: ``accepted`` when the operation was
    created (with its timeline entry and task), ``duplicate`` when it exists and is still queued.
    None when it exists in another state: nothing was written, the ordinary path decides."""
    connection = connections[router.db_for_write(SyncOperation)]
    now = timezone.now()
    with connection.cursor() as cursor:
        op_id = _operation_id(cursor)
    op_columns, op_values = _row(
        ("operation", kind), SyncOperation, connection, include_pk=True,
        fixed=lambda: {"kind": kind, "direction": Direction.TO_DINERO, "trigger": Trigger.WEBHOOK},
        varying={"id": op_id, "connection_id": connection_id, "source_key": key, "document_number": key,
                 "next_attempt_at": now, "enqueued_at": now, "created_at": now})
    event_columns, event_values = _row(
        ("event",), OperationEvent, connection,
        fixed=lambda: {"attempt": 0, "state": SyncOperation.State.PENDING, **queued_texts(Trigger.WEBHOOK)},
        varying={"operation_id": op_id, "at": now})
    # The delivery's operation and outcome come from the statement itself (created or joined).
    delivery_columns, delivery_values = _row(
        ("delivery",), WebhookDelivery, connection, fixed=dict,
        varying={"connection_id": connection_id, "event": event, "key": key, "body": body_text,
                 "body_sha256": hashlib.sha256(body_text.encode()).hexdigest(), "received_at": now},
        leave_out=("operation_id", "outcome"))
    task_key, task_payload = _task_package(op_id)

    sql, names = _statement(connection, op_columns, event_columns, delivery_columns)
    values = {
        **_named("op", op_columns, op_values), **_named("ev", event_columns, event_values),
        **_named("dl", delivery_columns, delivery_values),
        "task_key": task_key, "task_payload": task_payload, "task_lock": now, "pending": SyncOperation.State.PENDING,
        "accepted": WebhookDelivery.Outcome.ACCEPTED, "duplicate": WebhookDelivery.Outcome.DUPLICATE,
        "active": Connection.State.ACTIVE,
    }
    params = [values[name] for name in names]
    row = _execute_prepared(connection, sql, params)
    return None if row is None else (int(row[0]), str(row[1]))


def _execute_prepared(connection, sql: str, params: list[object]):  # type: ignore[no-untyped-def]
    """Run ``sql`` (placeholders ``$1`` …) as a prepared statement; return its one row or None.

    The statement is the same for every delivery, so PostgreSQL parses and plans it once per
    database connection (psycopg prepares it on the connection, kept for ``CONN_MAX_AGE``), and
    the parameters travel separately instead of being merged into the query text by the client.
    Its text is already in PostgreSQL's own placeholders, so the client sends it as it is: no
    scan for ``%s`` placeholders per delivery (psycopg caches that scan only for statements of at
    most 50 parameters, and this one has more). The cursor is wrapped as Django wraps its own, so
    execute wrappers and query logging see it.
    """
    connection.ensure_connection()
    pg = connection.connection
    # Server-side parameters in PostgreSQL's placeholders either way; prepared unless switched off
    # (PREPARED_STATEMENTS: off behind a pooler that cannot keep prepared statements).
    if getattr(settings, "PREPARED_STATEMENTS", True):
        allow_prepared(pg)
        raw = preparing_cursor_class(psycopg.RawCursor)(pg)
    else:
        raw = psycopg.RawCursor(pg)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()



@functools.lru_cache(maxsize=4)
def _cached_statement(columns: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
                      alias: str) -> tuple[str, tuple[str, ...]]:
    op_columns, event_columns, delivery_columns = columns
    quote = connections[alias].ops.quote_name
    # Each named value gets one numbered placeholder, however often the statement uses it (the
    # record's natural key and the connection's id travel once).
    names: list[str] = []

    def placeholder(name: str) -> str:
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    def select(prefix: str, columns: tuple[str, ...]) -> str:
        return ", ".join(placeholder(_param(prefix, column)) for column in columns)

    connection_table = quote(Connection._meta.db_table)
    fields = [SyncOperation._meta.get_field(name).column for name in ("connection", "kind", "direction", "source_key")]
    natural_key = ", ".join(quote(column) for column in fields)
    operations = quote(SyncOperation._meta.db_table)
    connection_id = placeholder(_param("op", quote(fields[0])))
    # The connection, only while it is active, share-locked against a pause or a delete.
    conn = (f"SELECT {quote('id')} FROM {connection_table} "  # noqa: S608
            f"WHERE {quote('id')} = {connection_id} AND {quote('state')} = {placeholder('active')} FOR SHARE")
    op_values = select("op", op_columns)
    natural_values = ", ".join(placeholder(_param("op", quote(column))) for column in fields)
    event_values = select("ev", event_columns)
    task_values = ", ".join(placeholder(name) for name in ("task_key", "task_payload", "task_lock"))
    pending = placeholder("pending")
    delivery_values = select("dl", delivery_columns)
    accepted, duplicate = placeholder("accepted"), placeholder("duplicate")
    # Only identifiers from the models' own metadata are interpolated (quoted); values are parameters.
    sql = (
        f"WITH conn AS ({conn}), "  # noqa: S608
        f"op AS (INSERT INTO {operations} ({', '.join(op_columns)}) "
        f"SELECT {op_values} FROM conn ON CONFLICT ({natural_key}) DO NOTHING "
        f"RETURNING {quote('id')}), "
        f"ev AS (INSERT INTO {quote(OperationEvent._meta.db_table)} ({', '.join(event_columns)}) "
        f"SELECT {event_values} FROM op), "
        f"task AS (INSERT INTO {quote(OrmQ._meta.db_table)} ({quote('key')}, {quote('payload')}, {quote('lock')}) "
        f"SELECT {task_values} FROM op), "
        # The record's operation, when it exists and is still queued: this delivery joins it. No
        # lock is needed: a worker claiming it after this snapshot reads the record afterwards.
        f"queued AS (SELECT {quote('id')} FROM {operations} WHERE ({natural_key}) = ({natural_values}) "
        f"AND {quote('state')} = {pending} AND EXISTS (SELECT 1 FROM conn)) "
        f"INSERT INTO {quote(WebhookDelivery._meta.db_table)} "
        f"({', '.join(delivery_columns)}, {quote('operation_id')}, {quote('outcome')}) "
        f"SELECT {delivery_values}, found.id, found.outcome FROM "
        f"(SELECT {quote('id')}, {accepted} AS outcome FROM op UNION ALL "
        f"SELECT {quote('id')}, {duplicate} FROM queued WHERE NOT EXISTS (SELECT 1 FROM op)) AS found "
        f"RETURNING {quote('operation_id')}, {quote('outcome')}"
    )
    return sql, tuple(names)


def _param(prefix: str, quoted_column: str) -> str:
    return f"{prefix}_{quoted_column.strip(chr(34))}"


def _named(prefix: str, columns: list[str], values: list[object]) -> dict[str, object]:
    return dict(zip(_names(prefix, tuple(columns)), values, strict=True))


@functools.lru_cache(maxsize=16)
def _names(prefix: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_param(prefix, column) for column in columns)


def _statement(connection, op_columns: list[str], event_columns: list[str],  # type: ignore[no-untyped-def]
               delivery_columns: list[str]) -> tuple[str, tuple[str, ...]]:
    """The intake statement for these columns, built once per process, and the names of its
    values in the order of its placeholders."""
    return _cached_statement((tuple(op_columns), tuple(event_columns), tuple(delivery_columns)), connection.alias)
