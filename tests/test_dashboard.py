"""The per-connection dashboard and the admin index's health badges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Connection
from integration.console.dashboard import chart_bars, chart_days, counts_by_state, start_of_today
from integration.core.models import Kind, SyncOperation, WorkerHeartbeat
from tests.operations_fixtures import make_operation

State = SyncOperation.State


def _dashboard(connection: Connection) -> str:
    return reverse("admin:connection-dashboard", args=[connection.pk])


@pytest.fixture
def history(connection, other_connection):
    """Today: 3 done, 1 failed, 1 needing attention; 3 days ago: 2 done; 10 days ago: 4 done."""
    ops = {
        "done_today": [make_operation(connection) for _ in range(3)],
        "failed": make_operation(connection, state=State.FAILED, last_error="503"),
        "attention": make_operation(connection, state=State.NEEDS_ATTENTION, last_error="No account."),
        "done_3d": [make_operation(connection, kind=Kind.CUSTOMER, age=timedelta(days=3)) for _ in range(2)],
        "done_10d": [make_operation(connection, age=timedelta(days=10)) for _ in range(4)],
    }
    make_operation(other_connection, state=State.FAILED, last_error="not mine")
    return ops


def test_counts_today_and_this_week_by_state(history, connection):
    today = counts_by_state(connection, start_of_today())
    week = counts_by_state(connection, timezone.now() - timedelta(days=7))
    assert (today["done"], today["failed"], today["needs_attention"]) == (3, 1, 1)
    assert (week["done"], week["failed"], week["needs_attention"]) == (5, 1, 1)


def test_chart_has_thirty_days_with_transfers_and_failures(history, connection):
    days = chart_days(connection)
    assert len(days) == 30
    assert days[-1].day == timezone.localdate()
    assert (days[-1].transfers, days[-1].failures) == (3, 2)
    assert days[-4].transfers == 2
    assert days[-11].transfers == 4
    assert sum(d.transfers for d in days) == 9
    bars = chart_bars(days)
    assert bars["top"] == 4
    assert bars["bars"][-11]["h_transfers"] == bars["height"]
    assert bars["bars"][0]["h_transfers"] == 0


def test_dashboard_page_shows_state_counts_and_chart(accountant_client, history, connection):
    connection.set_state(Connection.State.BROKEN, "Dinero rejected the API key.")
    connection.save()
    WorkerHeartbeat.objects.create(name="worker-1", beat_at=timezone.now() - timedelta(seconds=20))
    response = accountant_client.get(_dashboard(connection))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Dinero rejected the API key." in content
    assert "2 documents need attention" in content
    assert "<svg" in content and "bar-transfers" in content
    assert "<script" not in content.split('id="content-main"')[1]
    last = dict(response.context["last_success"])
    assert last["Customer"].pk in {op.pk for op in history["done_3d"]}
    assert last["Supplier invoice"] is None


def test_dashboard_reports_a_silent_worker_and_the_next_poll_to_an_operator(admin_client, connection):
    from django_q.models import Schedule

    WorkerHeartbeat.objects.create(name="worker-1", beat_at=timezone.now() - timedelta(minutes=30))
    from integration.core.schedules import DINERO_POLL, RACKBEAT_POLL, ensure_schedules

    ensure_schedules()
    next_run = timezone.now() + timedelta(minutes=7)
    Schedule.objects.filter(func=RACKBEAT_POLL).update(next_run=next_run)
    Schedule.objects.filter(func=DINERO_POLL).update(next_run=next_run + timedelta(minutes=30))
    response = admin_client.get(_dashboard(connection))
    content = response.content.decode()
    assert "No worker has reported for a while" in content
    assert response.context["polls"][0]["next_run"] == next_run
    assert "Poll Rackbeat (safety net)" in content
    assert "Fetch Dinero invoices" in content


def test_dashboard_of_another_tenant_is_not_found(accountant_client, other_connection):
    assert accountant_client.get(_dashboard(other_connection)).status_code == 404


def test_admin_index_lists_visible_connections_with_health(consultant_client, history, connection,
                                                           other_connection):
    other_connection.set_state(Connection.State.ACTIVE)
    other_connection.save()
    content = consultant_client.get(reverse("admin:index")).content.decode()
    assert f'href="{_dashboard(connection)}"' in content
    assert f'href="{_dashboard(other_connection)}"' in content
    assert "2 documents" in content  # connection: one failed, one needing attention
    assert "1 document<" in content  # other_connection: one failed
    assert "Active" in content and "Draft" in content


def test_admin_index_hides_other_tenants(accountant_client, connection, other_connection):
    content = accountant_client.get(reverse("admin:index")).content.decode()
    assert connection.name in content
    assert other_connection.name not in content


def _queued_tasks(count: int) -> None:
    from django_q.models import OrmQ

    OrmQ.objects.bulk_create([OrmQ(key="integration", payload=f"task {n}", lock=timezone.now())
                              for n in range(count)])


def test_a_tenants_dashboard_shows_only_its_own_queue_not_the_installations(accountant_client, connection,
                                                                           other_connection):
    for _ in range(15):  # another tenant queues a lot of work
        make_operation(other_connection, state=State.PENDING, next_attempt_at=timezone.now())
    _queued_tasks(15)
    WorkerHeartbeat.objects.create(name="worker-1", beat_at=timezone.now() - timedelta(minutes=30))
    make_operation(connection, state=State.PENDING, next_attempt_at=timezone.now() - timedelta(seconds=5))
    make_operation(connection, state=State.PENDING, next_attempt_at=timezone.now() + timedelta(minutes=3))
    make_operation(connection, state=State.RUNNING)

    response = accountant_client.get(_dashboard(connection))
    content = response.content.decode()
    queue = response.context["queue"]
    assert (queue["due"], queue["waiting"], queue["running"]) == (1, 2, 1)
    assert response.context["installation"] is None
    assert "Tasks waiting in the queue" not in content and "Worker heartbeat" not in content
    assert "No worker has reported" not in content


def test_an_operator_also_sees_the_installations_queue_and_workers(admin_client, connection, other_connection):
    _queued_tasks(15)
    WorkerHeartbeat.objects.create(name="worker-1", beat_at=timezone.now() - timedelta(seconds=20))
    response = admin_client.get(_dashboard(connection))
    installation = response.context["installation"]
    assert installation["queue_depth"] == 15 and installation["heartbeat"]["ok"] is True
    assert "Tasks waiting in the queue" in response.content.decode()


def test_a_tenants_long_waiting_work_is_reported_without_installation_figures(accountant_client, connection):
    make_operation(connection, state=State.PENDING, next_attempt_at=timezone.now() - timedelta(minutes=20))
    response = accountant_client.get(_dashboard(connection))
    assert response.context["queue"]["delayed"] is True
    assert "Documents of this connection have waited" in response.content.decode()


@pytest.mark.parametrize(("language", "phrase"), [
    ("da", "(for 10 minutter siden)"), ("sv", "(för 10 minuter sedan)"), ("en", "(10 minutes ago)"),
])
def test_state_says_how_long_ago_in_one_grammatical_phrase(accountant_client, connection, language, phrase):
    Connection.objects.filter(pk=connection.pk).update(
        state=Connection.State.ACTIVE, state_changed_at=timezone.now() - timedelta(minutes=10, seconds=5))
    html = accountant_client.get(_dashboard(connection), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert phrase in html.replace("\xa0", " ")
    assert "siden 10 minutter siden" not in html and "sedan 10 minuter sedan" not in html
