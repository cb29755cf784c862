"""List filters Rackbeat may refuse, and the same filters applied on our side.

Rackbeat's SDK sends ``is_booked`` as a list filter, yet a live account answered another list with
422 "Property 'is_booked' is not filterable" (docs/rackbeat-documents.md, "Sources"). The
client therefore treats each filter as a request it may lose: when Rackbeat refuses one with a 422
naming it, the client remembers that for the connection and the list (``RefusedListFilter``) and
from then on asks without it and keeps only the matching rows itself. Filters the client cannot
apply on its side are never dropped: their refusal stays an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.utils.dateparse import parse_datetime

from integration.core.clients.rackbeat_documents import flag
from integration.core.models import RefusedListFilter

if TYPE_CHECKING:  # pragma: no cover
    from accounts.models import Connection
    from integration.core.clients.errors import ApiError

RACKBEAT_TIME_ZONE = ZoneInfo("Europe/Copenhagen")
# Filters this side can apply to a row as Rackbeat would: equality on flags, time windows.
TIME_FILTERS = {"updated_at_from": ("updated_at", 1), "updated_at_to": ("updated_at", -1)}


def can_apply_locally(name: str) -> bool:
    return name.startswith("is_") or name in TIME_FILTERS


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(str(value).strip().replace(" ", "T", 1))
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=RACKBEAT_TIME_ZONE)
    return parsed


def matches(row: dict[str, Any], name: str, value: Any) -> bool:
    """Whether ``row`` passes the filter ``name=value`` as Rackbeat would have applied it.

    A row that does not say (no ``updated_at``) is kept: a row too many is harmless downstream
    (operations have natural keys), a row too few is a lost document.
    """
    if name in TIME_FILTERS:
        field, direction = TIME_FILTERS[name]
        moment, bound = _moment(row.get(field)), _moment(value)
        if moment is None or bound is None:
            return True
        return moment >= bound if direction > 0 else moment <= bound
    if name.startswith("is_"):
        return flag(row.get(name)) == flag(value)
    return str(row.get(name)) == str(value)


def refused_filter(error: ApiError, sent: dict[str, Any]) -> str | None:
    """The filter among ``sent`` that a 422 answer refuses, when it names one."""
    if getattr(error, "status", None) not in (400, 422):
        return None
    named = {str(key).split(".")[0] for key in (error.details or {})}
    text = f"{error.message} {error.body}".lower()
    for name in sent:
        if name in named or ((f"'{name}'" in text or f'"{name}"' in text) and "filter" in text):
            return name
    return None


# Read once per loaded connection (a poll lists five or six endpoints): path → refused names.
_CACHE = "_refused_list_filters"


def _known(connection: Connection) -> dict[str, set[str]]:
    known = getattr(connection, _CACHE, None)
    if known is None:
        known = {}
        for path, name in RefusedListFilter.objects.filter(connection=connection).values_list("path", "name"):
            known.setdefault(path, set()).add(name)
        setattr(connection, _CACHE, known)
    return known


def refused(connection: Connection | None, path: str) -> set[str]:
    """Filters Rackbeat refused earlier for this connection and list."""
    if connection is None or connection.pk is None:
        return set()

    return set(_known(connection).get(path, ()))


def remember(connection: Connection | None, path: str, name: str, answer: str) -> None:
    if connection is None or connection.pk is None:
        return

    RefusedListFilter.objects.get_or_create(connection=connection, path=path, name=name,
                                            defaults={"answer": answer[:2000]})
    _known(connection).setdefault(path, set()).add(name)
