"""One INSERT that creates a row unless its unique key is taken: ``INSERT … ON CONFLICT DO NOTHING RETURNING``.

Django's ``get_or_create`` needs a SELECT, a savepoint and an INSERT (and a second SELECT after a
lost race), and ``bulk_create(ignore_conflicts=True)`` does not tell whether the row was created.
The webhook intake runs this once per delivery, so it gets a single statement: the new row's id,
or ``None`` when a row with the same unique key already exists (or is being inserted by a
concurrent transaction — PostgreSQL waits for that one and then does nothing). Works on
PostgreSQL and on SQLite ≥ 3.35, the two databases the service supports.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import DatabaseDefault

from integration.core.row_reads import statement_cursor


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
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = alias
    return int(row[0])
