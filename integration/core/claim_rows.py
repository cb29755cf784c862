"""The claim of an operation and the rows an attempt starts from, as SQL built once per process.

Every attempt claims its row with one conditional UPDATE, then reads the row with its connection
(on PostgreSQL the same statement: the UPDATE returns the row) and the connection's integration
settings. These are the engine's most frequent statements after
the exchanges; built through the ORM, compiling them cost more CPU than the database spends on
them (see :mod:`integration.core.row_reads`). Same statements, same conditions, prepared once.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.db import connections, models, router

from accounts.models import Connection
from integration.core.models import IntegrationSettings, SyncOperation
from integration.core.row_reads import column, first_row, instance, one_row, prepared, statement_cursor, table

State = SyncOperation.State


def claim(op_id: int, *, worker: str, now: datetime, waiting_states: tuple[str, ...] | None) -> bool:
    """Mark the due pending row ``op_id`` running for ``worker``; whether this call won it.

    With ``waiting_states`` the row's connection must not be in one of them — a subquery on the
    connection, never a join: with a join a claim that waited for another claim's row lock would
    re-check only the id, and both would win. Here the row's own state is re-checked after the wait.
    """
    db = connections[router.db_for_write(SyncOperation)]
    with statement_cursor(db) as cursor:
        cursor.execute(_claim_sql(db.alias, waiting_states is not None, len(waiting_states or ())),
                       _claim_params(db, op_id, worker, now, waiting_states))
        return cursor.rowcount == 1


def _claim_params(db: Any, op_id: int, worker: str, now: datetime, waiting_states: tuple[str, ...] | None) -> list[Any]:
    def value(name: str, given: Any) -> Any:
        return prepared(SyncOperation, name, given, db)

    return [value("state", State.RUNNING), value("claimed_at", now), value("claimed_by", worker),
            value("rerun_requested", False), value("updated_at", now),
            value("id", op_id), value("state", State.PENDING), value("next_attempt_at", now), *(waiting_states or ())]


@functools.cache
def _claim_sql(alias: str, require_active: bool, waiting: int) -> str:
    """Only identifiers from the models' metadata are interpolated (quoted); values are parameters."""
    db = connections[alias]

    def op(name: str) -> str:
        return column(SyncOperation, name, db)

    sets = (f"{op('state')} = %s, {op('claimed_at')} = %s, {op('claimed_by')} = %s, "
            f"{op('attempts')} = {op('attempts')} + 1, {op('rerun_requested')} = %s, {op('updated_at')} = %s")
    where = f"{op('id')} = %s AND {op('state')} = %s AND {op('next_attempt_at')} <= %s"
    if require_active:
        excluded = f"NOT ({column(Connection, 'state', db)} IN ({', '.join(['%s'] * waiting)}))" if waiting else "1 = 1"
        active = f"SELECT {column(Connection, 'id', db)} FROM {table(Connection, db)} WHERE {excluded}"  # noqa: S608
        where += f" AND {op('connection')} IN ({active})"
    return f"UPDATE {table(SyncOperation, db)} SET {sets} WHERE {where}"  # noqa: S608


def claim_and_read(op_id: int, *, worker: str, now: datetime,
                   waiting_states: tuple[str, ...] | None) -> SyncOperation | None:
    """:func:`claim` and, when this call won the row, :func:`claimed`; None when it did not. On
    PostgreSQL one statement: the claim's UPDATE returns the row as claimed, joined with its
    connection (``WITH o AS (UPDATE … RETURNING …) SELECT … FROM o JOIN``); elsewhere the two."""
    db = connections[router.db_for_write(SyncOperation)]
    if db.vendor != "postgresql":
        if not claim(op_id, worker=worker, now=now, waiting_states=waiting_states):
            return None
        return claimed(op_id)
    ops, connection_fields = _fields(SyncOperation), _fields(Connection)
    row = first_row(db, _claim_and_read_sql(db.alias, waiting_states is not None, len(waiting_states or ())),
                    _claim_params(db, op_id, worker, now, waiting_states), [*ops, *connection_fields])
    if row is None:
        return None
    op = instance(SyncOperation, db.alias, ops, row[:len(ops)])
    op.connection = instance(Connection, db.alias, connection_fields, row[len(ops):])
    return op


@functools.cache
def _claim_and_read_sql(alias: str, require_active: bool, waiting: int) -> str:
    db = connections[alias]
    returned = ", ".join(column(SyncOperation, f.name, db) for f in _fields(SyncOperation))
    columns = ", ".join([*(column(SyncOperation, f.name, db, alias="o") for f in _fields(SyncOperation)),
                         *(column(Connection, f.name, db, alias="c") for f in _fields(Connection))])
    joined = f"{column(SyncOperation, 'connection', db, alias='o')} = {column(Connection, 'id', db, alias='c')}"
    return (f"WITH o AS ({_claim_sql(alias, require_active, waiting)} RETURNING {returned}) "  # noqa: S608
            f"SELECT {columns} FROM o JOIN {table(Connection, db)} c ON {joined}")


def claimed(op_id: int) -> SyncOperation:
    """The row ``op_id`` with its connection, in one statement (from the database just claimed on)."""
    db = connections[router.db_for_write(SyncOperation)]
    ops, connection_fields = _fields(SyncOperation), _fields(Connection)
    row = first_row(db, _claimed_sql(db.alias), [prepared(SyncOperation, "id", op_id, db)],
                    [*ops, *connection_fields])
    if row is None:
        raise SyncOperation.DoesNotExist(op_id)
    op = instance(SyncOperation, db.alias, ops, row[:len(ops)])
    op.connection = instance(Connection, db.alias, connection_fields, row[len(ops):])
    return op


@functools.cache
def _claimed_sql(alias: str) -> str:
    db = connections[alias]
    columns = ", ".join([*(column(SyncOperation, f.name, db, alias="o") for f in _fields(SyncOperation)),
                         *(column(Connection, f.name, db, alias="c") for f in _fields(Connection))])
    joined = f"{column(SyncOperation, 'connection', db, alias='o')} = {column(Connection, 'id', db, alias='c')}"
    return (f"SELECT {columns} FROM {table(SyncOperation, db)} o "  # noqa: S608
            f"JOIN {table(Connection, db)} c ON {joined} WHERE {column(SyncOperation, 'id', db, alias='o')} = %s")


def settings_of(connection: Connection) -> IntegrationSettings:
    """The connection's integration settings (created with their defaults when missing)."""
    settings = one_row(IntegrationSettings, connection=connection)
    if settings is None:
        settings, _created = IntegrationSettings.objects.get_or_create(connection=connection)
        return settings
    settings.connection = connection
    return settings


def _fields(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)

