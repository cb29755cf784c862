"""Reads the engine makes for every document, as SQL built once per process.

The few queries every transfer runs (the budget's row, a product's kept facts, a matrix cell's
account, the fair choice of the next operation) cost several times more CPU to build and compile
through the ORM than the database spends answering them. Their SQL text is built once per process
from the models' own metadata (quoted table and column names); each parameter is prepared by its
field as a lookup would prepare it, and each value read is loaded by its field's converters as a
query loads it (times made aware, JSON decoded). PostgreSQL and SQLite both take the statements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper


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


def first_row(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any],
              fields: Sequence[models.Field | None]) -> tuple[Any, ...] | None:
    """The first row of ``sql``, each value loaded as a query loads its column's ``field`` (None:
    as the database gives it); None when there is no row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return tuple(value if field is None else loaded(value, field, connection) for value, field in zip(row, fields, strict=True))


def all_rows(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of ``sql`` as the database gives it (counts, ids)."""
    with connection.cursor() as cursor:
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
