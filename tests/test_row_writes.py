"""The engine's prepared writes store exactly what the ORM would (defaults, JSON, times, conditions)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.core.messages import Message, stored
from integration.core.models import HttpExchange, OperationEvent, RateLimitWindow, SyncOperation
from integration.core.row_writes import insert_row, update_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def op(connection):
    return SyncOperation.objects.create(connection=connection, kind="sales_invoice", direction="to_dinero",
                                        source_key="1001", intent={"step": "guid_chosen"})


def test_an_inserted_row_reads_back_as_the_orm_would_have_stored_it(op):
    before = timezone.now()
    insert_row(OperationEvent(operation=op, attempt=2, state="running",
                              **stored(message=Message("Attempt %(n)s started.", n=2))))
    event = OperationEvent.objects.get(operation=op)
    assert (event.attempt, event.state, event.message) == (2, "running", "Attempt 2 started.")
    assert event.message_meaning == {"message": "Attempt %(n)s started.", "params": {"n": 2}}
    assert before <= event.at <= timezone.now()  # the field's default, as save() would set it
    insert_row(HttpExchange(connection=op.connection, operation=op, attempt=2, service="dinero", method="POST",
                            url="https://api.dinero.dk/v1/1/invoices", status=201, duration_ms=12,
                            request_body='{"Guid": "g"}', response_body="{}", error=""))
    exchange = HttpExchange.objects.get(operation=op)
    assert (exchange.status, exchange.duration_ms, exchange.bodies_pruned) == (201, 12, False)


def test_an_update_writes_json_and_obeys_its_conditions(op):
    assert update_row(SyncOperation, op.pk, intent={"step": "booked", "sent": {"total": "4910.53"}}) == 1
    op.refresh_from_db()
    assert op.intent == {"step": "booked", "sent": {"total": "4910.53"}}
    window = RateLimitWindow.objects.create(key="dinero:1", grants="[]", version=3)
    assert update_row(RateLimitWindow, window.pk, where={"key": "dinero:1", "version": 2}, grants="[1.0]",
                      version=3) == 0
    assert update_row(RateLimitWindow, window.pk, where={"key": "dinero:1", "version": 3}, grants="[1.0]",
                      version=4) == 1
    window.refresh_from_db()
    assert (window.grants, window.version) == ("[1.0]", 4)
    later = timezone.now() + timedelta(minutes=5)
    assert update_row(SyncOperation, op.pk, next_attempt_at=later) == 1
    op.refresh_from_db()
    assert op.next_attempt_at == later
