"""Builders for sync log rows shared by the operations tests (log, dashboard, alerts, retention)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Connection
from integration.core.models import HttpExchange, Kind, SyncOperation

_counter = {"n": 0}


def make_operation(connection: Connection, *, state: str = SyncOperation.State.DONE,
                   kind: str = Kind.SALES_INVOICE, number: str | None = None, name: str = "Kunde ApS",
                   age: timedelta | None = None, **fields: Any) -> SyncOperation:
    """An operation as the engine leaves it; ``age`` moves its times into the past."""
    _counter["n"] += 1
    number = number if number is not None else str(10000 + _counter["n"])
    op = SyncOperation.objects.create(
        connection=connection, kind=kind, source_key=number, document_number=number, document_name=name,
        state=state, attempts=fields.pop("attempts", 1), **fields,
    )
    if age is not None:
        when = timezone.now() - age
        SyncOperation.objects.filter(pk=op.pk).update(updated_at=when, created_at=when,
                                                      finished_at=when if op.finished_at else None)
        op.refresh_from_db()
    return op


def make_exchange(op: SyncOperation, *, age: timedelta | None = None, **fields: Any) -> HttpExchange:
    values: dict[str, Any] = {
        "connection": op.connection, "operation": op, "attempt": 1, "service": HttpExchange.Service.DINERO,
        "method": "POST", "url": "https://api.dinero.dk/v1/400555/invoices", "status": 201,
        "duration_ms": 120, "request_body": '{"Currency": "DKK"}', "response_body": '{"Guid": "abc"}',
    }
    values.update(fields)
    if age is not None:
        values["at"] = timezone.now() - age
    return HttpExchange.objects.create(**values)
