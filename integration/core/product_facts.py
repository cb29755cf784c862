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
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections

from accounts.models import Connection
from integration.core.clients.rackbeat_documents import item_facts
from integration.core.kinds import Direction, Kind
from integration.core.models import Binding, IntegrationSettings, SyncOperation
from integration.core.row_reads import all_rows, column, loaded, prepared, reading, table


def binding_kind(item_type: str) -> str:
    """The binding kind of a Rackbeat item type (``lot`` is Rackbeat's word for a BOM)."""
    return Kind.BOM if item_type == "lot" else Kind.PRODUCT


def followed(settings: IntegrationSettings) -> bool:
    """Whether the connection transfers products, and so follows their changes."""
    return bool(settings.customer_integration_enabled and settings.product_integration_enabled)


FACTS = Binding._meta.get_field("facts")


def known_items(connection: Connection, settings: IntegrationSettings, refs: Iterable[tuple[str, str]], *,
                bound: Callable[[str, str, str], None] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """The kept facts of those of ``refs`` (item type, number) that are bound and unchanged; the
    others are left out and must be read. One query per binding kind, however many lines ask.

    ``bound(kind, number, dinero_id)`` is told every binding the query found, so the transfer does
    not look it up again.
    """
    if not followed(settings):
        return {}
    # Per binding kind: each number as stored → the reference as asked.
    by_kind: dict[str, dict[str, tuple[str, str]]] = {}
    for item_type, number in refs:
        by_kind.setdefault(binding_kind(item_type), {})[str(number)] = (item_type, number)
    db = reading(Binding)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, asked in by_kind.items():
        numbers = list(asked)
        rows = all_rows(db, _known_sql(db.alias, len(numbers)), [
            prepared(SyncOperation, "direction", Direction.TO_DINERO, db),
            prepared(SyncOperation, "state", SyncOperation.State.DONE, db),
            prepared(Binding, "connection", connection.pk, db), prepared(Binding, "kind", kind, db),
            *(prepared(Binding, "rackbeat_key", number, db) for number in numbers),
        ])
        for number, facts, changed, dinero_id in rows:
            if bound is not None:
                bound(kind, number, dinero_id)
            facts = loaded(facts, FACTS, db)
            if facts and not changed:
                found[asked[number]] = {**facts, "type": asked[number][0]}
    return found


@functools.lru_cache(maxsize=64)
def _known_sql(alias: str, keys: int) -> str:
    """Parameters: the operation's direction and the done state, then connection, kind and the
    ``keys`` numbers. Only identifiers from the models' metadata are interpolated (quoted)."""
    db = connections[alias]

    def binding(name: str) -> str:
        return column(Binding, name, db, alias="b")

    def op(name: str) -> str:
        return column(SyncOperation, name, db, alias="o")

    same = (f"{op('connection')} = {binding('connection')} AND {op('kind')} = {binding('kind')} "
            f"AND {op('source_key')} = {binding('rackbeat_key')}")
    changed = f"EXISTS (SELECT 1 FROM {table(SyncOperation, db)} o WHERE {same} AND {op('direction')} = %s AND NOT ({op('state')} = %s))"  # noqa: S608
    where = (f"{binding('connection')} = %s AND {binding('kind')} = %s "
             f"AND {binding('rackbeat_key')} IN ({', '.join(['%s'] * keys)})")
    return (f"SELECT {binding('rackbeat_key')}, {binding('facts')}, {changed}, {binding('dinero_id')} "  # noqa: S608
            f"FROM {table(Binding, db)} b WHERE {where}")


def remember_item(connection: Connection, item_type: str, number: str, item: dict[str, Any]) -> None:
    """Keep what was just read of a product or BOM with its binding (when it is bound)."""
    Binding.objects.filter(connection=connection, kind=binding_kind(item_type), rackbeat_key=number) \
        .update(facts=item_facts(item))
