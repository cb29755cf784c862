"""Retention of HTTP exchange bodies: successful transfers pruned after N days, failures kept."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from integration.models import HttpExchange, SyncOperation
from integration.retention import prune_exchanges
from tests.operations_fixtures import make_exchange, make_operation

State = SyncOperation.State
OLD = timedelta(days=91)


def test_old_bodies_of_successful_transfers_are_pruned_failures_kept(connection, settings):
    settings.EXCHANGE_RETENTION_DAYS = 90
    done = make_exchange(make_operation(connection), age=OLD)
    skipped = make_exchange(make_operation(connection, state=State.SKIPPED), age=OLD)
    failed = make_exchange(make_operation(connection, state=State.FAILED, last_error="503"), age=OLD)
    attention = make_exchange(make_operation(connection, state=State.NEEDS_ATTENTION), age=OLD)
    pending = make_exchange(make_operation(connection, state=State.PENDING), age=OLD)
    recent = make_exchange(make_operation(connection), age=timedelta(days=89))
    orphan = make_exchange(make_operation(connection), age=OLD, operation=None)

    assert prune_exchanges() == 3

    for exchange in (done, skipped, orphan):
        exchange.refresh_from_db()
        assert exchange.bodies_pruned is True
        assert (exchange.request_body, exchange.response_body) == ("", "")
        assert exchange.status == 201 and exchange.url  # the call itself is still on record
    for exchange in (failed, attention, pending, recent):
        exchange.refresh_from_db()
        assert exchange.bodies_pruned is False
        assert exchange.response_body == '{"Guid": "abc"}'


def test_retention_days_are_configurable(connection, settings):
    settings.EXCHANGE_RETENTION_DAYS = 10
    exchange = make_exchange(make_operation(connection), age=timedelta(days=11))
    assert prune_exchanges() == 1
    exchange.refresh_from_db()
    assert exchange.bodies_pruned


def test_pruning_works_in_batches_and_is_idempotent(connection):
    op = make_operation(connection)
    for _ in range(7):
        make_exchange(op, age=OLD)
    with CaptureQueriesContext(db) as queries:
        assert prune_exchanges(batch_size=3) == 7
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3  # 3 + 3 + 1
    assert prune_exchanges(batch_size=3) == 0
    assert HttpExchange.objects.filter(bodies_pruned=True).count() == 7
