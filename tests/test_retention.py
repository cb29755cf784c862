"""Retention of HTTP exchange bodies: successful transfers pruned after N days, failures kept."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.core.models import HttpExchange, SyncOperation, SyncRun, WebhookDelivery
from integration.core.retention import prune_all, prune_exchanges, prune_idle_polls, prune_webhook_deliveries
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


def _delivery(connection, *, age: timedelta, operation=None) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        connection=connection, event="invoice.booked", key="1021", body_sha256="0" * 64,
        body='{"key_name": "number", "key": "1021"}', outcome=WebhookDelivery.Outcome.ACCEPTED,
        operation=operation, received_at=timezone.now() - age,
    )


def test_old_webhook_deliveries_are_deleted_recent_ones_and_their_operations_kept(
        connection, other_connection, settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    op = make_operation(connection)
    old = [_delivery(connection, age=timedelta(days=31), operation=op) for _ in range(4)]
    old.append(_delivery(other_connection, age=timedelta(days=45)))
    recent = _delivery(connection, age=timedelta(days=29), operation=op)

    assert prune_webhook_deliveries(batch_size=2) == 5

    assert list(WebhookDelivery.objects.all()) == [recent]
    assert not WebhookDelivery.objects.filter(pk__in=[d.pk for d in old]).exists()
    assert SyncOperation.objects.filter(pk=op.pk).exists()
    assert prune_webhook_deliveries() == 0


def test_daily_retention_prunes_exchanges_and_deliveries(connection, settings):
    settings.EXCHANGE_RETENTION_DAYS = 90
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    make_exchange(make_operation(connection), age=OLD)
    _delivery(connection, age=timedelta(days=31))

    assert prune_all() == {"exchanges": 1, "webhook_deliveries": 1, "idle_polls": 0}


def _poll(connection, *, age: timedelta, created=0, state=SyncRun.State.DONE, kind=SyncRun.RunKind.POLL_RACKBEAT,
          error="") -> SyncRun:
    return SyncRun.objects.create(connection=connection, kind=kind, state=state, created=created, error=error,
                                  started_at=timezone.now() - age)


def test_idle_polls_older_than_the_retention_are_deleted_polls_that_did_something_kept(connection, settings):
    settings.POLL_RUN_RETENTION_DAYS = 7
    week = timedelta(days=8)
    idle = [_poll(connection, age=week), _poll(connection, age=week, kind=SyncRun.RunKind.POLL_DINERO)]
    kept = [
        _poll(connection, age=timedelta(days=6)),
        _poll(connection, age=week, created=3),
        _poll(connection, age=week, state=SyncRun.State.FAILED, error="Rackbeat answered 503"),
        _poll(connection, age=week, kind=SyncRun.RunKind.START_SYNC),
    ]
    assert prune_idle_polls(batch_size=1) == 2
    assert not SyncRun.objects.filter(pk__in=[r.pk for r in idle]).exists()
    assert SyncRun.objects.filter(pk__in=[r.pk for r in kept]).count() == len(kept)
