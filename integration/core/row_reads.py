"""Reads the engine makes for every document, as SQL built once per process.

The few queries every transfer runs (the budget's row, a product's kept facts, a matrix cell's
account, the fair choice of the next operation) cost several times more CPU to build and compile
through the ORM than the database spends answering them. Their SQL text is built once per process
from the models' own metadata (quoted table and column names); each parameter is prepared by its
field as a lookup would prepare it, and each value read is loaded by its field's converters as a
query loads it (times made aware, JSON decoded). PostgreSQL and SQLite both take the statements;
on PostgreSQL each is prepared once per database connection (:func:`statement_cursor`), which the
writes of :mod:`integration.core.row_writes` and the claim of :mod:`integration.core.claim_rows`
use as well.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


def reading(model: type[models.Model]) -> BaseDatabaseWrapper:
    """The database connection that reads ``model``."""
    return connections[router.db_for_read(model)]


def table(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], name: str, connection: BaseDatabaseWrapper, *, alias: str = "") -> str:
    """The quoted column of field ``name`` (its table ``alias`` first when given)."""
    quoted = connection.ops.quote_name(model._meta.get_field(name).column)
    return f"{alias}.{quoted}" if alias else quoted


def prepared(model: type[models.Model], name: str, value: Any, connection: BaseDatabaseWrapper) -> Any:
    """``value`` as a lookup on field ``name`` sends it to the database."""
    return model._meta.get_field(name).get_db_prep_value(value, connection, prepared=False)


# Above any count of executions: psycopg prepares only what is asked for explicitly.
NEVER_AUTOMATICALLY = 2**31 - 1


def allow_prepared(pg: Any) -> None:
    """Let ``execute(…, prepare=True)`` prepare on the psycopg connection ``pg``: Django switches
    preparing off (for poolers), and psycopg then ignores the request. A threshold no query reaches
    keeps every other statement unprepared (Django's own cursors bind on the client anyway)."""
    if pg.prepare_threshold is None:
        pg.prepare_threshold = NEVER_AUTOMATICALLY


def statement_cursor(connection: BaseDatabaseWrapper) -> Any:
    """A cursor for the statements of this module and its neighbours: on PostgreSQL (with
    ``PREPARED_STATEMENTS``) each is prepared once per database connection and its values travel as
    server-side parameters, so PostgreSQL neither parses nor plans it again, and the client does
    not merge values into its text; elsewhere Django's own cursor. A connection whose queries are
    logged (DEBUG, a test counting statements) runs them unprepared: a prepared execution leaves
    Django's log without the statement's text. Wrapped as Django wraps its own, so execute
    wrappers see every statement."""
    if (connection.vendor != "postgresql" or not getattr(settings, "PREPARED_STATEMENTS", True)
            or connection.queries_logged):
        return connection.cursor()
    connection.ensure_connection()
    pg = connection.connection
    allow_prepared(pg)
    return connection.make_cursor(preparing_cursor_class(psycopg.Cursor)(pg))


@functools.cache
def preparing_cursor_class(base: type) -> type:
    """The psycopg cursor class ``base`` (``%s`` placeholders, or ``RawCursor``'s ``$1`` …) whose
    ``execute`` prepares every statement on its connection."""

    class PreparingCursor(base):  # type: ignore[misc, valid-type]
        def execute(self, query, params=None, *, prepare=None, binary=None):  # type: ignore[no-untyped-def]
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


def first_row(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any],
              fields: Sequence[models.Field | None]) -> tuple[Any, ...] | None:
    """The first row of ``sql``, each value loaded as a query loads its column's ``field`` (None:
    as the database gives it); None when there is no row."""
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return tuple(value if field is None else loaded(value, field, connection) for value, field in zip(row, fields, strict=True))


def all_rows(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of ``sql`` as the database gives it (counts, ids)."""
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def loaded(value: Any, field: models.Field, connection: BaseDatabaseWrapper) -> Any:
    """A value read from ``field``'s column, converted as Django's compiler converts it."""
    if value is None:
        return None
    col, converters = _converters(field, connection)
    for converter in converters:
        value = converter(value, col, connection)
    return value


@functools.lru_cache(maxsize=256)
def _converters(field: models.Field, connection: BaseDatabaseWrapper) -> tuple[Any, tuple[Any, ...]]:
    """The column expression of ``field`` and the converters a query applies to it. Per database
    connection object (one per thread), as the converters are its methods."""
    col = field.get_col(field.model._meta.db_table)
    return col, (*connection.ops.get_db_converters(col), *col.get_db_converters(connection))


def instance(model: type[M], alias: str, fields: Sequence[models.Field], values: Sequence[Any]) -> M:
    """The model instance of a row read with :func:`first_row` (``fields`` its columns, in order)."""
    return model.from_db(alias, [field.attname for field in fields], list(values))


def one_row(model: type[M], **equals: Any) -> M | None:
    """The row of ``model`` whose fields equal ``equals`` — a unique key, so at most one — or None:
    ``model.objects.filter(**equals).first()`` for the look-ups every transfer makes (a binding, a
    unit's or a layout's mapping), without building the query each time. A model instance given
    for a foreign key stands for its primary key."""
    db = reading(model)
    names = tuple(equals)
    fields = model._meta.concrete_fields
    params = [prepared(model, name, value.pk if isinstance(value, models.Model) else value, db)
              for name, value in equals.items()]
    row = first_row(db, _one_row_sql(model, db.alias, names), params, fields)
    return None if row is None else instance(model, db.alias, fields, row)


@functools.cache
def _one_row_sql(model: type[models.Model], alias: str, names: tuple[str, ...]) -> str:
    """Only identifiers from the model's metadata are interpolated (quoted); values are parameters."""
    db = connections[alias]
    columns = ", ".join(column(model, field.name, db) for field in model._meta.concrete_fields)
    where = " AND ".join(f"{column(model, name, db)} = %s" for name in names)
    return f"SELECT {columns} FROM {table(model, db)} WHERE {where}"  # noqa: S608
