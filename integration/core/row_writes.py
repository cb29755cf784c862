"""Writes the engine makes for every document, as one prepared statement each.

A transfer writes the same few rows again and again: its HTTP exchanges, its timeline entries,
its intent, the shared request budget. Django's ``create()`` and ``filter().update()`` build and
compile a query for every one of them, which costs several times what the database spends on the
statement. Here the SQL text of each shape is built once per process from the model's own
metadata (table and column names, quoted) and every value is prepared by its field exactly as
``save()`` would prepare it (``get_db_prep_save`` for JSON and times; a field not given takes its
default, as a new instance would). A row is inserted from its values without building a model
instance, which cost more than the statement. Nothing else differs from the ORM: no signals are
connected to these models, and PostgreSQL and SQLite both take the statements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router

from integration.core.row_reads import loaded, statement_cursor


def insert_values(model: type[models.Model], **values: Any) -> None:
    """INSERT a row of ``model`` from ``values`` (by attribute name: ``operation_id`` for a foreign
    key) without building a model instance; every other field takes its default, as a new
    instance's would. For the rows written many times per document (exchanges, timeline entries),
    where ``Model.__init__`` cost more than the statement. A field that ``save()`` fills itself
    (``auto_now``, ``auto_now_add``) must be given."""
    insert_rows(model, [values])


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """:func:`insert_values` for several rows, in one statement."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    params = [param for values in rows for param in row_params(model, values, connection)]
    columns = tuple(insert_columns(model, connection))
    with statement_cursor(connection) as cursor:
        cursor.execute(_insert_sql(model, connection.alias, columns, len(rows)), params)


def row_params(model: type[models.Model], values: dict[str, Any], connection: Any,
               *, leave_out: str = "") -> list[Any]:
    """The prepared values of a new row of ``model`` (:func:`insert_values`), in the order of its
    fields (:func:`insert_columns`), the field named ``leave_out`` (an attribute name) left out."""
    fields = _insert_fields(model)
    unknown = values.keys() - _insert_names(model)
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    params = []
    for field in fields:
        if field.attname == leave_out:
            continue
        if field.attname in values:
            value = values[field.attname]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise TypeError(f"{model.__name__}.{field.name} is filled by save(): give it")
        else:
            value = field.get_default()
        params.append(field.get_db_prep_save(value, connection))
    return params


def insert_columns(model: type[models.Model], connection: Any, *, leave_out: str = "") -> list[str]:
    """The quoted columns of :func:`row_params`, in its order."""
    return [connection.ops.quote_name(field.column) for field in _insert_fields(model) if field.attname != leave_out]


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(field for field in model._meta.concrete_fields if not field.primary_key)


@functools.cache
def _insert_names(model: type[models.Model]) -> frozenset[str]:
    return frozenset(field.attname for field in _insert_fields(model))


def update_row(model: type[models.Model], pk: Any, *, where: dict[str, Any] | None = None, **values: Any) -> int:
    """``UPDATE … SET values WHERE pk = pk [AND field = value …]``; returns the rows changed (0 or 1)."""
    connection = connections[router.db_for_write(model)]
    sql, params = _update(model, connection, pk, where or {}, values)
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def update_row_returning(model: type[models.Model], pk: Any, *, where: dict[str, Any] | None = None,
                         **values: Any) -> dict[str, Any] | None:
    """:func:`update_row` that gives the row as it is after the update (``RETURNING``: every
    concrete field by its attribute name, loaded as a query loads it), or None when no row
    matched: one statement where an update and a read back were two."""
    connection = connections[router.db_for_write(model)]
    sql, params = _update(model, connection, pk, where or {}, values)
    with statement_cursor(connection) as cursor:
        cursor.execute(sql + _returning_sql(model, connection.alias), params)
        row = cursor.fetchone()
    if row is None:
        return None
    return {field.attname: loaded(value, field, connection)
            for field, value in zip(model._meta.concrete_fields, row, strict=True)}


def _update(model: type[models.Model], connection: Any, pk: Any, where: dict[str, Any],
            values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The UPDATE's text and its parameters: the values as ``save()`` prepares them, then the key
    and the conditions as a lookup prepares them."""
    meta = model._meta
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
    params.append(meta.pk.get_db_prep_value(pk, connection))
    params.extend(meta.get_field(name).get_db_prep_value(value, connection) for name, value in where.items())
    return _update_sql(model, connection.alias, tuple(values), tuple(where)), params


@functools.cache
def _returning_sql(model: type[models.Model], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    return " RETURNING " + ", ".join(quote(field.column) for field in model._meta.concrete_fields)


def delete_row(model: type[models.Model], pk: Any) -> int:
    """``DELETE … WHERE pk = pk`` (a model with no relations pointing at it); the rows deleted."""
    connection = connections[router.db_for_write(model)]
    with statement_cursor(connection) as cursor:
        cursor.execute(_delete_sql(model, connection.alias), [model._meta.pk.get_db_prep_value(pk, connection)])
        return int(cursor.rowcount)


@functools.cache
def _delete_sql(model: type[models.Model], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    return f"DELETE FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608


@functools.cache
def _insert_sql(model: type[models.Model], alias: str, columns: Sequence[str], rows: int = 1) -> str:
    quote = connections[alias].ops.quote_name
    placeholders = ", ".join([f"({', '.join(['%s'] * len(columns))})"] * rows)
    # Only identifiers from the model's own metadata are interpolated (quoted); every value is a parameter.
    return f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) VALUES {placeholders}"  # noqa: S608


@functools.cache
def _update_sql(model: type[models.Model], alias: str, sets: Sequence[str], conditions: Sequence[str]) -> str:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in sets)
    where = " AND ".join([f"{quote(meta.pk.column)} = %s",
                          *(f"{quote(meta.get_field(name).column)} = %s" for name in conditions)])
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608
