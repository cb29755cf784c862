"""One INSERT that creates a row unless its unique key is taken: ``INSERT … ON CONFLICT DO NOTHING RETURNING``.

Django's ``get_or_create`` needs a SELECT, a savepoint and an INSERT (and a second SELECT after a
lost race), and ``bulk_create(ignore_conflicts=True)`` does not tell whether the row was created.
The webhook intake runs this once per delivery, so it gets a single statement: the new row's id,
or ``None`` when a row with the same unique key already exists (or is being inserted by a
concurrent transaction — PostgreSQL waits for that one and then does nothing). Works on
PostgreSQL and on SQLite ≥ 3.35, the two databases the service supports. A new row that always
comes with a first row of its own (an operation with its first timeline entry) is written with it
in the same statement on PostgreSQL (:func:`insert_if_absent_with`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import DatabaseDefault

from integration.core.row_reads import statement_cursor
from integration.core.row_writes import insert_columns, insert_values, row_params


def row_values(obj: models.Model, connection: BaseDatabaseWrapper, *,
               include_pk: bool = False) -> tuple[list[str], list[object]]:
    """The quoted columns and prepared values an INSERT of ``obj`` writes, as ``Model.save()`` would."""
    quote = connection.ops.quote_name
    columns: list[str] = []
    values: list[object] = []
    for field in type(obj)._meta.concrete_fields:
        if field.primary_key and not include_pk:
            continue
        # `pre_save` fills auto_now / auto_now_add exactly as Model.save() would.
        value = field.pre_save(obj, add=True)
        if isinstance(value, DatabaseDefault):
            continue
        columns.append(quote(field.column))
        values.append(field.get_db_prep_save(value, connection))
    return columns, values


def insert_if_absent(obj: models.Model, conflict_fields: Sequence[str]) -> int | None:
    """Insert ``obj`` (not saved yet) unless ``conflict_fields`` match a row; return the new primary key."""
    model = type(obj)
    meta = model._meta
    alias = router.db_for_write(model)
    connection = connections[alias]
    quote = connection.ops.quote_name
    columns, values = row_values(obj, connection)
    conflict = ", ".join(quote(meta.get_field(name).column) for name in conflict_fields)
    # Only identifiers from the model's own metadata are interpolated (quoted); every value is a parameter.
    placeholders = ", ".join(["%s"] * len(values))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    return _created(obj, alias, sql, values)


def _created(obj: models.Model, alias: str, sql: str, params: Sequence[object]) -> int | None:
    """Run ``sql`` (an INSERT returning the new row's key, or nothing); ``obj`` becomes that row."""
    with statement_cursor(connections[alias]) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = alias
    return int(row[0])


def insert_if_absent_with(obj: models.Model, conflict_fields: Sequence[str], child: type[models.Model],
                          link: str, **child_values: object) -> int | None:
    """:func:`insert_if_absent` and, when it created the row, a row of ``child`` whose foreign key
    ``link`` (attribute name) is the new row's id — a new operation with its first timeline entry.
    On PostgreSQL one statement (``WITH new AS (INSERT … ON CONFLICT DO NOTHING RETURNING id)
    INSERT INTO child … SELECT id, … FROM new``): both rows or neither; elsewhere the two."""
    model = type(obj)
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        pk = insert_if_absent(obj, conflict_fields)
        if pk is not None:
            insert_values(child, **{link: pk}, **child_values)
        return pk
    meta = model._meta
    quote = connection.ops.quote_name
    columns, values = row_values(obj, connection)
    child_columns = insert_columns(child, connection, leave_out=link)
    params = [*values, *row_params(child, child_values, connection, leave_out=link)]
    conflict = ", ".join(quote(meta.get_field(name).column) for name in conflict_fields)
    link_column = quote(child._meta.get_field(link).column)
    # Only identifiers from the models' own metadata are interpolated (quoted); every value is a parameter.
    sql = (
        f"WITH new AS (INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(values))}) ON CONFLICT ({conflict}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}) "
        f"INSERT INTO {quote(child._meta.db_table)} ({link_column}, {', '.join(child_columns)}) "
        f"SELECT {quote(meta.pk.column)}, {', '.join(['%s'] * len(child_columns))} FROM new "
        f"RETURNING {link_column}"
    )
    return _created(obj, alias, sql, params)
