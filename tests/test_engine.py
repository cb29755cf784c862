"""The engine: queueing by natural key, claiming exactly once, classifying outcomes, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Connection
from integration.core import engine, handlers, worker_health
from integration.core.clients import errors
from integration.core.handlers import NeedsMapping, Result, SkipTransfer, TotalsMismatch
from integration.core.messages import Message
from integration.core.models import Direction, HttpExchange, Kind, OperationEvent, SyncOperation, Trigger

State = SyncOperation.State


class ScriptedHandler:
    """A transfer whose behaviour per call is given by the test: a Result or an exception."""

    def __init__(self) -> None:
        self.script: list = []
        self.calls: list[int] = []

    def __call__(self, op, ctx):
        self.calls.append(op.pk)
        outcome = self.script.pop(0) if self.script else Result(outcome="transferred")
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome(op, ctx)
        return outcome


@pytest.fixture
def handler(monkeypatch):
    import integration.transfers  # noqa: F401  (registers the real handlers first)

    scripted = ScriptedHandler()
    for kind in (Kind.SALES_INVOICE, Kind.CUSTOMER):
        monkeypatch.setitem(handlers._REGISTRY, (str(kind), str(Direction.TO_DINERO)), scripted)
    return scripted


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    return connection


def time_passes(op, hours=2):
    """Move the row's clock marks back, as if ``hours`` had passed."""
    from django.db.models import F

    SyncOperation.objects.filter(pk=op.pk).update(
        next_attempt_at=F("next_attempt_at") - timedelta(hours=hours),
        enqueued_at=F("enqueued_at") - timedelta(hours=hours),
    )


def queue(connection, key="1001", kind=Kind.SALES_INVOICE, trigger=Trigger.WEBHOOK):
    return engine.enqueue(connection, kind, Direction.TO_DINERO, key, trigger=trigger)


def test_enqueue_runs_the_transfer_and_records_the_timeline(active, handler):
    op = queue(active)
    assert op.state == State.DONE
    assert op.outcome == "transferred"
    assert op.attempts == 1
    messages = list(op.events.values_list("message", flat=True))
    assert messages[0].startswith("Queued")
    assert any(m.startswith("Attempt 1 started") for m in messages)
    assert messages[-1] == "Done: transferred"


def test_same_document_twice_is_one_row(active, handler):
    first = queue(active, kind=Kind.CUSTOMER)
    second = queue(active, kind=Kind.CUSTOMER)
    assert first.pk == second.pk
    assert SyncOperation.objects.filter(connection=active).count() == 1


def test_done_master_data_is_transferred_again_on_new_work(active, handler):
    queue(active, kind=Kind.CUSTOMER)
    queue(active, kind=Kind.CUSTOMER)
    assert len(handler.calls) == 2


def test_done_invoice_is_never_transferred_twice(active, handler):
    op = queue(active)
    again = queue(active, trigger=Trigger.POLL)
    retried = engine.retry(op, user=None)
    assert handler.calls == [op.pk]
    assert again.state == retried.state == State.DONE
    assert "never transferred twice" in op.events.order_by("pk").values_list("message", flat=True)[
        len(op.events.all()) - 2]


def test_claim_is_taken_by_exactly_one_worker(active, handler, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    op = queue(active)
    assert op.state == State.PENDING
    with CaptureQueriesContext(db_connection) as queries:
        claimed = engine._claim(op.pk, worker="a:1", require_active=True)
    # The row as claimed, with its connection: on PostgreSQL the claim's own statement returns it.
    assert (claimed.state, claimed.claimed_by, claimed.attempts) == (State.RUNNING, "a:1", 1)
    assert claimed.connection.pk == active.pk and claimed.connection.state == active.state
    assert len(queries) == (1 if db_connection.vendor == "postgresql" else 2), [q["sql"] for q in queries]
    assert engine._claim(op.pk, worker="b:2", require_active=True) is None
    assert engine.run_operation(op.pk) is None
    op.refresh_from_db()
    assert op.claimed_by == "a:1" and op.attempts == 1 and handler.calls == []


def test_paused_connection_keeps_its_work_pending(active, handler, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    op = queue(active)
    active.set_state(Connection.State.PAUSED)
    active.save()
    assert engine.run_operation(op.pk) is None
    assert engine.run_due() == 0
    op.refresh_from_db()
    assert op.state == State.PENDING


def test_missing_mapping_needs_attention_with_hint_and_link(active, handler):
    handler.script = [NeedsMapping("Product group 10 × EU has no revenue account.",
                                   hint="Fill in the cell.", fix_url="/admin/x/#cell-10-eu")]
    op = queue(active)
    assert op.state == State.NEEDS_ATTENTION
    assert op.last_error_class == "NeedsMapping"
    assert op.last_error == "Product group 10 × EU has no revenue account."
    assert op.hint == "Fill in the cell." and op.fix_url == "/admin/x/#cell-10-eu"


def test_totals_mismatch_names_both_figures(active, handler):
    from decimal import Decimal

    handler.script = [TotalsMismatch(Decimal("125.00"), Decimal("125.01"), "DKK")]
    op = queue(active)
    assert op.state == State.NEEDS_ATTENTION
    assert "125.01" in op.last_error and "125.00" in op.last_error


def test_skip_is_visible_with_its_reason(active, handler):
    handler.script = [SkipTransfer("The customer integration is off.")]
    op = queue(active)
    assert op.state == State.SKIPPED
    assert op.outcome == "The customer integration is off."


def test_validation_error_needs_attention_without_retry(active, handler):
    handler.script = [errors.ValidationFailed("Dinero rejected the invoice", details={"Date": ["invalid"]})]
    op = queue(active)
    assert op.state == State.NEEDS_ATTENTION
    assert "Date: invalid" in op.last_error
    assert op.hint == str(errors.ValidationFailed.default_hint)
    assert engine.run_due() == 0


def test_transient_error_backs_off_and_is_picked_up_when_due(active, handler):
    handler.script = [errors.TransientError("502 from Dinero")]
    before = timezone.now()
    op = queue(active)
    assert op.state == State.PENDING
    assert op.transient_failures == 1
    assert op.next_attempt_at >= before + timedelta(seconds=engine.BACKOFF_BASE_SECONDS / 2)
    assert engine.run_due() == 0  # not yet due
    time_passes(op)
    assert engine.run_due() == 1
    op.refresh_from_db()
    assert op.state == State.DONE and op.attempts == 2


def test_backoff_grows_and_is_capped():
    for failures in range(1, 20):
        ceiling = min(engine.BACKOFF_MAX_SECONDS, engine.BACKOFF_BASE_SECONDS * 2 ** (failures - 1))
        delay = engine.backoff_seconds(failures)
        assert ceiling / 2 <= delay <= ceiling


def test_rate_limit_honours_retry_after(active, handler):
    handler.script = [errors.RateLimited("429", retry_after=120)]
    op = queue(active)
    assert op.state == State.PENDING
    assert op.next_attempt_at >= op.updated_at + timedelta(seconds=119)


def test_gives_up_after_the_transient_limit(active, handler, settings):
    settings.MAX_TRANSIENT_ATTEMPTS = 2
    handler.script = [errors.TransientError("timeout"), errors.TransientError("timeout again")]
    op = queue(active)
    time_passes(op)
    engine.run_due()
    op.refresh_from_db()
    assert op.state == State.FAILED
    assert "Gave up after 2 attempts" in op.last_error


def test_uncertain_outcome_is_retried(active, handler):
    handler.script = [errors.UncertainOutcome("timeout on POST")]
    op = queue(active)
    assert op.state == State.PENDING and op.last_error_class == "UncertainOutcome"


def test_unexpected_exception_fails_with_class_and_message_only(active, handler):
    handler.script = [KeyError("Lines")]
    op = queue(active)
    assert op.state == State.FAILED
    assert op.last_error_class == "KeyError"
    assert op.last_error == "KeyError: 'Lines'"
    assert "Traceback" not in op.last_error


def test_rejected_credentials_mark_the_connection_broken_and_the_document_waits_for_the_repair(active, handler):
    handler.script = [errors.AuthenticationFailed("401 from Dinero", hint="Enter a new API key."),
                      Result(outcome="transferred")]
    op = queue(active)
    active.refresh_from_db()
    assert op.state == State.PENDING and op.transient_failures == 0
    assert active.state == Connection.State.BROKEN
    assert active.state_reason == "Login rejected: 401 from Dinero Enter a new API key."
    assert "Waiting for the connection to be repaired" in op.events.order_by("pk").last().message
    engine.run_due()
    op.refresh_from_db()
    assert op.state == State.PENDING and handler.calls == [op.pk]  # a broken connection is not worked on

    active.set_state(Connection.State.ACTIVE)  # a person reconnected
    active.save()
    engine.run_due()
    op.refresh_from_db()
    assert op.state == State.DONE and handler.calls == [op.pk, op.pk]


def test_missing_pro_subscription_marks_the_connection_broken(active, handler):
    handler.script = [errors.NoProSubscription("No Pro")]
    queue(active)
    active.refresh_from_db()
    assert active.state == Connection.State.BROKEN


def test_work_arriving_while_running_runs_again_afterwards(active, handler):
    def arrive_meanwhile(op, ctx):
        engine.enqueue(active, Kind.CUSTOMER, Direction.TO_DINERO, op.source_key, trigger=Trigger.WEBHOOK)
        return Result(outcome="first")

    handler.script = [arrive_meanwhile, Result(outcome="second")]
    op = queue(active, kind=Kind.CUSTOMER)
    assert handler.calls == [op.pk, op.pk]
    assert op.state == State.DONE and op.outcome == "second"
    assert op.rerun_requested is False


def test_stale_claim_is_recovered_and_the_late_result_discarded(active, handler, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    op = queue(active)
    assert engine._claim(op.pk, worker="dead:1", require_active=True)
    op.refresh_from_db()
    dead_claim = op.claimed_at
    SyncOperation.objects.filter(pk=op.pk).update(
        claimed_at=timezone.now() - timedelta(minutes=settings.STALE_CLAIM_MINUTES + 1))
    assert worker_health.recover_stale_claims() == 1
    op.refresh_from_db()
    assert op.state == State.PENDING
    assert engine.run_operation(op.pk).state == State.DONE
    # The dead worker wakes up and reports: its claim is gone, the result is discarded.
    late = engine._record(op, {"state": State.FAILED, "last_error": "late"}, claimed_at=dead_claim,
                          worker="dead:1", connection_problem=None)
    assert late.state == State.DONE
    assert handler.calls == [op.pk]


def test_fresh_claims_are_not_recovered(active, handler, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    op = queue(active)
    engine._claim(op.pk, worker="busy:1", require_active=True)
    assert worker_health.recover_stale_claims() == 0


def test_lost_task_is_queued_again_by_run_due(active, handler, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    op = queue(active)
    assert engine.run_due() == 0  # its task is still waiting
    SyncOperation.objects.filter(pk=op.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=engine.LOST_TASK_SECONDS + 1))
    assert engine.run_due() == 1


def test_retry_rereads_and_records_the_user(active, handler, accountant):
    handler.script = [errors.ValidationFailed("bad")]
    op = queue(active)
    op = engine.retry(op, user=accountant)
    assert op.state == State.DONE
    assert op.events.filter(message__contains="Retry requested by accountant").exists()


def test_mark_handled_records_who_and_why(active, handler, accountant):
    handler.script = [errors.ValidationFailed("bad")]
    op = queue(active)
    op = engine.mark_handled(op, user=accountant, note="Typed in by hand")
    assert op.state == State.SKIPPED
    assert op.handled_by == "accountant" and op.handled_note == "Typed in by hand"
    assert OperationEvent.objects.filter(operation=op, message__contains="Typed in by hand").exists()


def test_execute_now_runs_a_finished_operation_again(active, handler):
    handler.script = [errors.ValidationFailed("bad")]
    op = queue(active)
    op = engine.execute_now(op)
    assert op.state == State.DONE and op.trigger == Trigger.TROUBLESHOOTING


def test_follow_ups_are_queued(active, handler):
    handler.script = [Result(outcome="invoice", follow_ups=[(Kind.CUSTOMER, Direction.TO_DINERO, "77")])]
    queue(active)
    follow = SyncOperation.objects.get(kind=Kind.CUSTOMER, source_key="77")
    assert follow.trigger == Trigger.FOLLOW_UP and follow.state == State.DONE


def test_exchanges_are_stored_with_the_attempt_number(active, handler):
    from integration.core.clients.factory import exchange_recorder
    from integration.core.clients.transport import Exchange

    def call_api(op, ctx):
        exchange_recorder(ctx.connection, op)(Exchange("dinero", "GET", "https://x/v1/1/contacts", 200, 5, "", "{}"))
        return Result(outcome="ok")

    handler.script = [errors.TransientError("502"), call_api]
    op = queue(active)
    time_passes(op)
    engine.run_due()
    exchange = HttpExchange.objects.get(operation=op)
    assert exchange.attempt == 2 and exchange.connection == active


def test_operations_of_two_connections_are_separate(active, other_connection, handler):
    other_connection.set_state(Connection.State.ACTIVE)
    other_connection.save()
    a = queue(active, key="5")
    b = queue(other_connection, key="5")
    assert a.pk != b.pk
    assert handler.calls == [a.pk, b.pk]


def test_execute_now_leaves_a_done_invoice_alone(active, handler):
    op = queue(active)
    op = engine.execute_now(op)
    assert op.state == State.DONE and op.attempts == 1
    assert handler.calls == [op.pk]


@pytest.mark.parametrize("end", ["done", "needs attention", "temporary error"])
def test_intent_staged_by_a_transfer_is_written_with_its_outcome_whatever_it_is(active, handler, end):
    """What a transfer stages after its last write reaches the row in the outcome's own UPDATE."""
    def transfer(op, ctx):
        ctx.stage_intent(step="booked", dinero_number="42")
        if end == "needs attention":
            raise NeedsMapping("No revenue account for the group.", hint="Set it.")
        if end == "temporary error":
            raise errors.TransientError("Dinero answered 503.")
        return Result(outcome="booked")

    handler.script = [transfer]
    with CaptureQueriesContext(db_connection) as queries:
        op = queue(active)
    assert op.intent["step"] == "booked" and op.intent["dinero_number"] == "42", (op.state, op.intent)
    assert SyncOperation.objects.get(pk=op.pk).intent == op.intent
    assert not [q for q in queries if q["sql"].startswith('UPDATE "integration_syncoperation" SET "intent"')]


def test_an_attempts_start_and_outcome_reach_the_timeline_in_one_statement_in_their_order(active, handler):
    """"Attempt n started" is kept back and written with the outcome's entry: one INSERT, each
    entry at its own moment (a worker that dies before its outcome: test_worker_recovery)."""
    def transfer(op, ctx):
        ctx.note(Message("Halfway there."))
        return Result(outcome="booked")

    handler.script = [transfer]
    with CaptureQueriesContext(db_connection) as queries:
        op = queue(active)
    assert op.state == State.DONE
    timeline = [(event.message, event.state) for event in op.events.order_by("at", "pk")]
    assert timeline[1:] == [(f"Attempt 1 started by {engine.worker_name()}.", State.RUNNING),
                            ("Halfway there.", State.RUNNING), ("Done: booked", State.DONE)], timeline
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "integration_operationevent"')]
    # The queued entry, the note, then the attempt's start with its outcome.
    assert len(inserts) == 3 and inserts[-1].count("), (") == 1, inserts
