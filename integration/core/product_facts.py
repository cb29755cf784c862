"""What the transfers need of a bound product or BOM, kept with its binding.

An invoice's lines name their products; the sales invoice needs each product's group (the
revenue account) and unit, the item consumption its stock flag and cost price. Once a product is
bound, those facts (:data:`~integration.core.clients.rackbeat_documents.ITEM_FACT_FIELDS`) are
kept on its :class:`~integration.core.models.Binding`, so an invoice whose products are bound and
unchanged reads only the invoice from Rackbeat.

The facts are written whenever the item is read from Rackbeat (by any transfer), and trusted
only while nothing says the product changed since: a product webhook or the Rackbeat poll queues
the product's own operation, and until that operation is done — it reads the product again and
writes the new facts — every transfer reads the product from Rackbeat as before. A product
operation that did not end done (the product deleted, a mapping missing) keeps the facts
untrusted. When products are not transferred for the connection, their changes are not followed,
so the facts are not used at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import connections

from accounts.models import Connection
from integration.core.clients.rackbeat_documents import item_facts
from integration.core.kinds import Direction, Kind
from integration.core.models import Binding, IntegrationSettings, SyncOperation
from integration.core.row_reads import column, first_row, prepared, reading, table


def binding_kind(item_type: str) -> str:
    """The binding kind of a Rackbeat item type (``lot`` is Rackbeat's word for a BOM)."""
    return Kind.BOM if item_type == "lot" else Kind.PRODUCT


def followed(settings: IntegrationSettings) -> bool:
    """Whether the connection transfers products, and so follows their changes."""
    return bool(settings.customer_integration_enabled and settings.product_integration_enabled)


def known_item(connection: Connection, settings: IntegrationSettings, item_type: str,
               number: str, *, bound: Callable[[str, str, str], None] | None = None) -> dict[str, Any] | None:
    """The kept facts of a bound, unchanged product or BOM; None when it must be read (one query).

    ``bound(kind, number, dinero_id)`` is told the binding the query found, so the transfer does
    not look it up again.
    """
    if not followed(settings):
        return None
    kind = binding_kind(item_type)
    db = reading(Binding)
    # The binding's facts, whether the product's own operation is open (not done), its Dinero id.
    row = first_row(db, _known_sql(db.alias), [
        prepared(SyncOperation, "direction", Direction.TO_DINERO, db),
        prepared(SyncOperation, "state", SyncOperation.State.DONE, db),
        prepared(Binding, "connection", connection.pk, db), prepared(Binding, "kind", kind, db),
        prepared(Binding, "rackbeat_key", number, db),
    ], [Binding._meta.get_field("facts"), None, None])
    if row is not None:
        row = (row[0], bool(row[1]), row[2])
    if row is not None and bound is not None:
        bound(kind, number, row[2])
    if row is None or not row[0] or row[1]:
        return None
    return {**row[0], "type": item_type}


@functools.cache
def _known_sql(alias: str) -> str:
    """Parameters: the operation's direction and the done state, then connection, kind and key.
    Only identifiers from the models' metadata are interpolated (quoted)."""
    db = connections[alias]

    def binding(name: str) -> str:
        return column(Binding, name, db, alias="b")

    def op(name: str) -> str:
        return column(SyncOperation, name, db, alias="o")

    same = (f"{op('connection')} = {binding('connection')} AND {op('kind')} = {binding('kind')} "
            f"AND {op('source_key')} = {binding('rackbeat_key')}")
    changed = f"EXISTS (SELECT 1 FROM {table(SyncOperation, db)} o WHERE {same} AND {op('direction')} = %s AND NOT ({op('state')} = %s))"  # noqa: S608
    where = f"{binding('connection')} = %s AND {binding('kind')} = %s AND {binding('rackbeat_key')} = %s"
    return f"SELECT {binding('facts')}, {changed}, {binding('dinero_id')} FROM {table(Binding, db)} b WHERE {where}"  # noqa: S608


def remember_item(connection: Connection, item_type: str, number: str, item: dict[str, Any]) -> None:
    """Keep what was just read of a product or BOM with its binding (when it is bound)."""
    Binding.objects.filter(connection=connection, kind=binding_kind(item_type), rackbeat_key=number) \
        .update(facts=item_facts(item))
