"""Unit and layout mappings as editable tables, read with a constant number of queries.

Each Rackbeat unit maps to one of Dinero's 19 fixed units; each Rackbeat (PDF) layout maps to the
language Dinero writes the invoice in. Rows come from the cached Rackbeat data plus any mapping
whose unit or layout is no longer cached, so nothing disappears silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Connection
from mappings.models import (
    DINERO_LANGUAGES,
    DINERO_UNITS,
    LayoutMapping,
    RackbeatLayout,
    RackbeatUnit,
    UnitMapping,
)


@dataclass(frozen=True)
class MappingKind:
    slug: str
    title: str
    reference: type[models.Model]
    mapping: type[models.Model]
    key_field: str
    value_field: str
    choices: list[tuple[str, str]]
    id_prefix: str

    def row_id(self, number: str) -> str:
        return f"{self.id_prefix}-{number}"


UNITS = MappingKind(
    slug="units", title=gettext_lazy("Unit mapping"), reference=RackbeatUnit, mapping=UnitMapping,
    key_field="rackbeat_unit_number", value_field="dinero_unit", choices=DINERO_UNITS, id_prefix="unit",
)
LAYOUTS = MappingKind(
    slug="layouts", title=gettext_lazy("Layout mapping"), reference=RackbeatLayout, mapping=LayoutMapping,
    key_field="rackbeat_layout_number", value_field="language", choices=DINERO_LANGUAGES, id_prefix="layout",
)
KINDS = {UNITS.slug: UNITS, LAYOUTS.slug: LAYOUTS}

# A layout's Rackbeat locale suggests its Dinero language.
LOCALE_SUGGESTIONS = {"da": "da-DK", "en": "en-GB"}


@dataclass
class MappingRow:
    id: str
    number: str
    name: str
    missing_upstream: bool = False
    unknown: bool = False
    value: str = ""
    error: str = ""
    rackbeat_language: str = ""

    @property
    def suggestion(self) -> str:
        return LOCALE_SUGGESTIONS.get(self.rackbeat_language[:2].lower(), "")


@dataclass
class MappingTable:
    kind: MappingKind
    rows: list[MappingRow] = field(default_factory=list)

    @property
    def choices(self) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in self.kind.choices]

    @property
    def errors(self) -> list[MappingRow]:
        return [r for r in self.rows if r.error]

    @property
    def missing(self) -> list[MappingRow]:
        return [r for r in self.rows if not r.value and not r.missing_upstream and not r.unknown]

    def completeness_message(self) -> str:
        active = [r for r in self.rows if not r.missing_upstream and not r.unknown]
        if not active:
            return _("Nothing to map yet: refresh the reference data from Rackbeat.")
        if not self.missing:
            return _("All %(total)s are mapped.") % {"total": len(active)}
        return _("%(empty)s of %(total)s are not mapped: documents using them will stop and ask for a mapping.") % {
            "empty": len(self.missing), "total": len(active)
        }


def _sort_key(number: str) -> tuple[int, int | str]:
    return (0, int(number)) if number.isdigit() else (1, number)


def build_table(connection: Connection, kind: MappingKind) -> MappingTable:
    references = list(kind.reference.objects.filter(connection=connection))
    mapped = {
        getattr(m, kind.key_field): getattr(m, kind.value_field)
        for m in kind.mapping.objects.filter(connection=connection)
    }
    table = MappingTable(kind=kind)
    for ref in references:
        table.rows.append(MappingRow(
            id=kind.row_id(ref.number), number=ref.number, name=ref.name, missing_upstream=ref.missing_upstream,
            value=mapped.get(ref.number, ""), rackbeat_language=getattr(ref, "language", "") or "",
        ))
    known = {ref.number for ref in references}
    for number in sorted(set(mapped) - known, key=_sort_key):
        table.rows.append(MappingRow(id=kind.row_id(number), number=number, name="", unknown=True,
                                     value=mapped[number]))
    table.rows.sort(key=lambda r: _sort_key(r.number))
    return table


def save_table(connection: Connection, kind: MappingKind, data: Mapping[str, str]) -> tuple[MappingTable, int]:
    """Validate and save submitted rows (only those present in ``data``); all or nothing."""
    table = build_table(connection, kind)
    allowed = {value for value, _label in kind.choices}
    for row in table.rows:
        if row.id not in data:
            continue
        value = (data.get(row.id) or "").strip()
        row.value = value
        if value and value not in allowed:
            row.error = _("“%(value)s” is not one of Dinero's choices.") % {"value": value}
    if table.errors:
        return table, 0
    stored = {getattr(m, kind.key_field): m for m in kind.mapping.objects.filter(connection=connection)}
    changed = 0
    with transaction.atomic():
        for row in table.rows:
            if row.id not in data:
                continue
            existing = stored.get(row.number)
            if not row.value:
                if existing is not None:
                    existing.delete()
                    changed += 1
            elif existing is None:
                kind.mapping.objects.create(
                    connection=connection, **{kind.key_field: row.number, kind.value_field: row.value}
                )
                changed += 1
            elif getattr(existing, kind.value_field) != row.value:
                setattr(existing, kind.value_field, row.value)
                existing.save()
                changed += 1
    return table, changed
