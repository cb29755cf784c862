"""Never asleep on a budget: an operation that meets an exhausted budget goes back with its due
time, workers take the fairest due work of any connection, and tasks wake at the due time."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.models import OrmQ

from accounts.models import Connection
from integration.core import dispatch, engine
from integration.core.clients import errors
from integration.core.clients.ratelimit import SharedRateLimiter
from integration.core.handlers import Result
from integration.core.models import (
    Direction,
    IntegrationSettings,
    Kind,
    OperationEvent,
    SyncOperation,
    Trigger,
)
from tests.test_engine import ScriptedHandler, time_passes

State = SyncOperation.State


@pytest.fixture
def handler(monkeypatch):
    import integration.transfers  # noqa: F401  (registers the real handlers first)
    from integration.core import handlers

    scripted = ScriptedHandler()
    for kind in (Kind.SALES_INVOICE, Kind.CUSTOMER):
        monkeypatch.setitem(handlers._REGISTRY, (str(kind), str(Direction.TO_DINERO)), scripted)
    return scripted


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    return connection


@pytest.fixture
def both_active(active, other_connection) -> tuple[Connection, Connection]:
    other_connection.set_state(Connection.State.ACTIVE)
    other_connection.save()
    return active, other_connection


@pytest.fixture
def queued_not_run(settings):
    """Work is queued for real worker processes instead of running inline."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}


def queue(connection, key="1001", kind=Kind.SALES_INVOICE):
    return engine.enqueue(connection, kind, Direction.TO_DINERO, key, trigger=Trigger.WEBHOOK)


def exhausted(in_seconds: float = 40.0) -> errors.BudgetExhausted:
    return errors.BudgetExhausted(key="dinero:400555", retry_after=in_seconds, due_at=time.time() + in_seconds)


# --- the outcome ----------------------------------------------------------------------------------

def test_exhausted_budget_puts_the_operation_back_with_its_due_time_without_counting_anything(active, handler):
    budget = exhausted(40)
    handler.script = [budget]
    op = queue(active)
    assert op.state == State.PENDING
    assert abs(op.next_attempt_at.timestamp() - budget.due_at) < 0.001
    assert op.attempts == 0 and op.transient_failures == 0
    assert op.budget_key == "dinero:400555"
    assert op.last_error == "" and op.claimed_by == ""
    assert "Waiting for the request budget of Dinero" in op.events.last().message


def test_waking_to_a_still_full_budget_adds_no_timeline_entry_and_the_next_run_continues(active, handler):
    handler.script = [exhausted(), exhausted(), Result(outcome="booked")]
    op = queue(active)
    waits = OperationEvent.objects.filter(operation=op, message__startswith="Waiting for").count()
    time_passes(op)
    engine.run_due()
    op.refresh_from_db()
    assert op.state == State.PENDING
    assert OperationEvent.objects.filter(operation=op, message__startswith="Waiting for").count() == waits == 1
    time_passes(op)
    engine.run_due()
    op.refresh_from_db()
    assert op.state == State.DONE and op.attempts == 1 and op.budget_key == ""
    assert handler.calls == [op.pk] * 3


def test_an_organization_without_room_is_put_back_before_any_call(active, handler, settings):
    settings.DINERO_RATE_LIMIT_PER_MINUTE = 2
    limiter = SharedRateLimiter(2)
    limiter.acquire("dinero:400555")
    limiter.acquire("dinero:400555")
    op = queue(active)
    assert handler.calls == []
    assert op.state == State.PENDING and op.budget_key == "dinero:400555"
    assert op.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert not op.events.filter(message__startswith="Attempt").exists()


def test_another_organizations_budget_does_not_hold_this_one(both_active, handler, settings):
    settings.DINERO_RATE_LIMIT_PER_MINUTE = 1
    SharedRateLimiter(1).acquire("dinero:400777")
    op = queue(both_active[0])
    assert op.state == State.DONE


def test_budget_wait_gets_a_task_handed_out_at_its_due_time(active, handler, queued_not_run):
    budget = exhausted(30)
    handler.script = [budget]
    op = queue(active)
    assert engine.run_operation(op.pk) is not None
    op.refresh_from_db()
    assert op.state == State.PENDING
    delayed = OrmQ.objects.filter(lock__gt=timezone.now())
    assert delayed.count() == 1
    assert abs(delayed.get().lock.timestamp() - budget.due_at) < 0.001
    assert op.enqueued_at == op.next_attempt_at
    # The row has its task: the minutely sweep adds none, now or when it is due.
    assert engine.run_due() == 0


def test_a_task_for_a_due_time_is_not_handed_out_before_it(db):
    due = timezone.now() + timedelta(minutes=5)
    assert dispatch.queue_at("integration.tasks.run_due", due=due, task_name="later")
    broker = ORM(list_key=OrmQ.objects.get().key)
    assert not broker.dequeue()
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1))
    assert len(broker.dequeue()) == 1


# --- fairness -------------------------------------------------------------------------------------

def _pending(connection, key, *, running=False):
    op = SyncOperation.objects.create(
        connection=connection, kind=Kind.SALES_INVOICE, direction=Direction.TO_DINERO, source_key=key,
        next_attempt_at=timezone.now() - timedelta(minutes=10 if connection.pk % 2 else 1),
    )
    if running:
        SyncOperation.objects.filter(pk=op.pk).update(state=State.RUNNING, claimed_by="w:1",
                                                      claimed_at=timezone.now())
    return op


def test_a_connection_with_fewer_running_goes_before_another_connections_backlog(both_active):
    flooding, quiet = both_active
    backlog = [_pending(flooding, str(n)) for n in range(20)]
    _pending(flooding, "busy", running=True)
    single = _pending(quiet, "1")
    chosen = dispatch.candidates(backlog[0].pk, waiting_connection_states=engine.WAITING_CONNECTION_STATES)
    assert chosen[0] == single.pk


def test_the_tasks_own_operation_keeps_its_place_when_no_one_is_worse_served(both_active):
    first, second = both_active
    own = _pending(first, "1")
    _pending(second, "1")
    for seed in range(10):
        chosen = dispatch.candidates(own.pk, waiting_connection_states=engine.WAITING_CONNECTION_STATES,
                                     rng=random.Random(seed))
        assert chosen[0] == own.pk


def test_the_first_candidate_costs_one_statement_with_the_tasks_own_operation_in_it(both_active, monkeypatch):
    first, second = both_active
    own = _pending(first, "1")
    _pending(second, "1")
    built = []
    due_operations = dispatch.due_operations
    monkeypatch.setattr(dispatch, "due_operations", lambda **kw: built.append(kw) or due_operations(**kw))
    with CaptureQueriesContext(db_connection) as queries:
        chosen = next(dispatch.each_candidate(own.pk, waiting_connection_states=engine.WAITING_CONNECTION_STATES,
                                              rng=random.Random(0)))
    assert chosen == own.pk
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert built == []  # nor is a query for the candidates after it built (ORM work, a few tenths of a ms)
    # An operation that is not due is not its own row of the answer: the fair order decides.
    SyncOperation.objects.filter(pk=own.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert dispatch.candidates(own.pk, waiting_connection_states=engine.WAITING_CONNECTION_STATES) != [own.pk]


def test_tied_connections_share_the_workers_whatever_their_backlog(both_active):
    flooding, quiet = both_active
    for n in range(50):
        _pending(flooding, str(n))
    _pending(quiet, "1")
    firsts = {
        SyncOperation.objects.get(pk=dispatch.candidates(
            None, waiting_connection_states=engine.WAITING_CONNECTION_STATES, rng=random.Random(seed))[0]
        ).connection_id
        for seed in range(20)
    }
    assert firsts == {flooding.pk, quiet.pk}


def test_within_a_connection_the_longest_due_goes_first(active):
    later = _pending(active, "later")
    earlier = _pending(active, "earlier")
    SyncOperation.objects.filter(pk=earlier.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))
    chosen = dispatch.candidates(None, waiting_connection_states=engine.WAITING_CONNECTION_STATES)
    assert chosen[0] == earlier.pk and later.pk not in chosen[:1]


def test_a_task_runs_the_fairer_operation_and_its_own_stays_due_for_the_next(both_active, handler, queued_not_run):
    flooding, quiet = both_active
    backlog = [queue(flooding, str(n)) for n in range(3)]
    _pending(flooding, "busy", running=True)
    single = queue(quiet, "9")
    ran = engine.run_operation(backlog[0].pk)
    assert ran is not None and ran.pk == single.pk
    backlog[0].refresh_from_db()
    assert backlog[0].state == State.PENDING


def test_paused_connections_are_never_chosen(both_active):
    paused, running = both_active
    paused.set_state(Connection.State.PAUSED)
    paused.save()
    _pending(paused, "1")
    assert dispatch.candidates(None, waiting_connection_states=engine.WAITING_CONNECTION_STATES) == []
    assert running  # the other connection simply has nothing due


def test_due_rows_left_without_a_task_get_one_from_the_sweep(active, queued_not_run):
    # Found by the chaos suite: a task ran another connection's operation (the fair choice), and
    # rows queued a moment ago sat due with no task at all until the 15-minute lost-task window.
    ops = [queue(active, key=str(1000 + n)) for n in range(3)]
    OrmQ.objects.all().delete()
    assert all(op.enqueued_at >= op.next_attempt_at for op in ops)
    assert engine.run_due() == 3
    assert OrmQ.objects.count() == 3
    # One waiting task per due row is enough: the next sweep adds none.
    assert engine.run_due() == 0
    assert OrmQ.objects.count() == 3


# --- a follow-up continues in the task that queued it ----------------------------------------------

@pytest.fixture
def with_follow_up(handler, monkeypatch):
    """The scripted invoice queues its consumption voucher, handing the invoice over."""
    from integration.core import handlers

    voucher = ScriptedHandler()
    monkeypatch.setitem(handlers._REGISTRY, (str(Kind.ITEM_CONSUMPTION), str(Direction.TO_DINERO)), voucher)
    handler.script = [Result(outcome="booked", follow_ups=[(Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, "1001")],
                             handover={"number": 1001, "is_booked": True})]
    voucher.script = [lambda op, ctx: Result(outcome=f"voucher from {op.handed_over['number']}")]
    return voucher


def _follow_up_of(connection) -> SyncOperation:
    return SyncOperation.objects.get(connection=connection, kind=Kind.ITEM_CONSUMPTION, source_key="1001")


def test_a_worker_runs_the_follow_up_it_queued_in_the_same_task(active, with_follow_up, queued_not_run):
    IntegrationSettings.objects.get_or_create(connection=active)
    seen = []
    with_follow_up.script = [lambda op, ctx: seen.append(ctx.settings)
                             or Result(outcome=f"voucher from {op.handed_over['number']}")]
    invoice = queue(active)
    OrmQ.objects.all().delete()  # the invoice's own task, as a worker has taken it
    with CaptureQueriesContext(db_connection) as queries:
        ran = engine.run_operation(invoice.pk)
    # The connection's settings, read for the invoice a moment ago, serve its follow-up as well.
    settings_reads = [q["sql"] for q in queries if 'FROM "integration_integrationsettings"' in q["sql"]]
    assert len(settings_reads) == 1, settings_reads
    assert seen[0].connection_id == active.pk and seen[0].connection.pk == active.pk
    assert ran.pk == invoice.pk and ran.state == State.DONE
    voucher = _follow_up_of(active)
    assert voucher.state == State.DONE and voucher.outcome == "voucher from 1001"
    assert voucher.handed_over is None  # let go once done
    # No task was written for it, none is left behind, and its timeline reads as any operation's.
    assert OrmQ.objects.count() == 0 and voucher.enqueued_at is None
    assert [e.message for e in voucher.events.order_by("pk")][:2] == [
        "Queued (Follow-up of another transfer).", f"Attempt 1 started by {engine.worker_name()}."]


def test_the_follow_up_gets_its_task_when_another_connection_is_due_first(both_active, handler, with_follow_up,
                                                                          queued_not_run):
    busy, quiet = both_active
    booked = handler.script.pop()

    def meanwhile(op, ctx):
        _pending(busy, "busy", running=True)  # another worker took the invoice's connection's next work
        return booked

    handler.script = [meanwhile]
    invoice = queue(busy)
    waiting = queue(quiet, "9", kind=Kind.CUSTOMER)
    OrmQ.objects.all().delete()
    assert engine.run_operation(invoice.pk).pk == invoice.pk
    voucher = _follow_up_of(busy)
    assert voucher.state == State.PENDING and with_follow_up.calls == []
    assert voucher.enqueued_at is not None and OrmQ.objects.count() == 1
    assert SyncOperation.objects.get(pk=waiting.pk).state == State.PENDING  # its own task takes it


def test_a_follow_up_whose_worker_died_before_running_it_gets_a_task_from_the_sweep(active, queued_not_run):
    pk = engine.enqueue_new(active.pk, Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, "1001",
                            trigger=Trigger.FOLLOW_UP, task=False)
    assert OrmQ.objects.count() == 0
    assert engine.run_due() == 1
    assert OrmQ.objects.count() == 1 and SyncOperation.objects.get(pk=pk).enqueued_at is not None


def test_a_follow_up_marked_handled_lets_the_copy_it_was_handed_go(active, with_follow_up, queued_not_run):
    pk = engine.enqueue_new(active.pk, Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, "1001",
                            trigger=Trigger.FOLLOW_UP, handed_over={"number": 1001}, task=False)
    op = engine.mark_handled(SyncOperation.objects.get(pk=pk), user=None, note="booked by hand")
    assert op.state == State.SKIPPED and op.handed_over is None
