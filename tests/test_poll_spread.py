"""Polls that scale: each connection's poll at a stable offset within its round, the Dinero
window starting at 13 minutes past whenever the poll runs, and an idle poll that costs one list
request per stream and a handful of statements."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as database
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import Connection
from integration.core import schedules
from integration.core.models import HttpExchange, IntegrationSettings, PollCursor, SyncRun
from integration.triggers import dinero_poll, polling
from tests.instant_vendors import instant_vendors

# What an idle poll may cost: the run (lock, check, insert, finish; the start in a transaction, two
# statements in a test), settings, cursors and remembered list filters read once, cursors written
# once — and per list request the shared budget (four statements). Before: 76 for six streams.
RACKBEAT_POLL_STATEMENTS = 10 + 4 * len(polling.STREAMS)
DINERO_POLL_STATEMENTS = 12


@pytest.fixture
def active(connection, settings) -> Connection:
    settings.DINERO_CLIENT_ID, settings.DINERO_CLIENT_SECRET = "fleet-client", "fleet-secret"
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    IntegrationSettings.objects.update_or_create(connection=connection, defaults={
        "customer_integration_enabled": True, "supplier_integration_enabled": True,
        "product_integration_enabled": True})
    return connection


@pytest.fixture
def queued_not_run(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}


def test_offsets_are_stable_inside_the_span_and_cover_it_evenly():
    span = 600.0
    offsets = sorted(schedules.spread(pk, span) for pk in range(1, 10_001))
    assert offsets == sorted(schedules.spread(pk, span) for pk in range(1, 10_001))
    assert 0 <= offsets[0] and offsets[-1] < span
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    # Ten thousand connections: never more than a few in any second of the round.
    assert max(gaps) < 3 * span / 10_000
    assert len({int(o) for o in offsets}) == int(span)


def test_a_rackbeat_round_hands_each_connections_poll_out_at_its_own_offset(active, other_connection,
                                                                              queued_not_run, settings):
    other_connection.set_state(Connection.State.ACTIVE)
    other_connection.save()
    before = timezone.now()
    assert polling.poll_all_connections() == 2
    interval = settings.POLL_INTERVAL_MINUTES * 60
    tasks = {task.args()[0]: task for task in OrmQ.objects.all()}
    assert set(tasks) == {active.pk, other_connection.pk}
    for pk, task in tasks.items():
        assert task.func() == "integration.tasks.poll_connection"
        offset = (task.lock - before).total_seconds()
        assert offset == pytest.approx(schedules.spread(pk, interval), abs=2)
    assert tasks[active.pk].lock != tasks[other_connection.pk].lock


def test_a_dinero_round_keeps_13_minutes_past_as_every_windows_start(active, queued_not_run):
    IntegrationSettings.objects.filter(connection=active).update(
        customer_invoices_created_in=IntegrationSettings.InvoicesCreatedIn.DINERO)
    assert dinero_poll.poll_all_connections() == 1
    task = OrmQ.objects.get()
    assert task.func() == dinero_poll.TASK
    pk, window_start = task.args()
    assert pk == active.pk
    assert datetime.fromtimestamp(window_start, tz=UTC).second == 0
    # The poll runs minutes later; its cursor still moves only to the window's start.
    ran_at = timezone.now() - timedelta(minutes=30)
    with instant_vendors():
        assert dinero_poll.poll_one(active.pk, ran_at.timestamp()) == 0
    assert PollCursor.objects.get(connection=active, stream=dinero_poll.STREAM).value == ran_at


def test_an_idle_rackbeat_poll_costs_one_list_request_per_stream_and_a_handful_of_statements(active):
    with instant_vendors() as vendors:
        polling.poll_connection(active.pk)
        vendors.calls.clear()
        with CaptureQueriesContext(database) as statements:
            run = polling.poll_connection(active.pk)
    assert run.state == SyncRun.State.DONE and run.created == 0
    assert vendors.total == len(polling.STREAMS)
    assert all(count == 1 for count in vendors.calls.values())
    assert len(statements) <= RACKBEAT_POLL_STATEMENTS, "\n".join(q["sql"][:120] for q in statements)
    assert not HttpExchange.objects.exists()


def test_an_idle_dinero_poll_costs_one_list_request(active):
    with instant_vendors() as vendors:
        dinero_poll.poll_connection(active)
        vendors.calls.clear()
        with CaptureQueriesContext(database) as statements:
            run = dinero_poll.poll_connection(active)
    assert run.state == SyncRun.State.DONE
    lists = [key for key in vendors.calls if "token" not in key[1]]
    assert len(lists) == 1 and vendors.calls[lists[0]] == 1
    assert len(statements) <= DINERO_POLL_STATEMENTS, "\n".join(q["sql"][:120] for q in statements)


def test_a_listing_that_fails_is_kept_in_the_exchange_log(active, monkeypatch):
    import requests

    from integration.core.clients.transport import Transport

    def refused(transport, method, url, **kwargs):
        response = requests.Response()
        response.status_code = 403
        response._content = b'{"message": "Forbidden"}'
        response.url = url
        return response

    monkeypatch.setattr(Transport, "_http", refused)
    run = polling.poll_connection(active.pk)
    assert run.state == SyncRun.State.FAILED
    assert HttpExchange.objects.filter(connection=active, status=403).exists()
