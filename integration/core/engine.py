"""The sync engine: queue → claim → run the transfer → record the outcome.

Every transfer, whatever started it (webhook, poll, start sync, troubleshooting, retry), is a
:class:`~integration.core.models.SyncOperation` row with a natural key. The row is the unit of truth;
django-q2 only executes ``integration.tasks.run_operation(op_id)``.

Guarantees:

* **One row per document.** The natural key (connection, kind, direction, source key) is unique;
  new work for a document that is already queued joins the existing row, new work for a row that
  is running sets ``rerun_requested`` so the worker reads the source once more afterwards.
* **Exactly once for money** (DESIGN.md rule 9, :mod:`integration.core.lifecycle`). A sales invoice,
  credit note, supplier invoice or item consumption that has *touched* the other side (done,
  handled, a stored Dinero id, a create without a clear answer) is moved on only by a person: a
  later webhook, poll, follow-up or start sync leaves it where it is — for a done document it only
  checks whether Rackbeat changed it after the transfer. Master data that is done is queued
  again, because a change in Rackbeat must reach Dinero.
* **One writer.** A worker claims a row with one conditional UPDATE (pending and due → running)
  and goes on only if exactly one row changed; recording the outcome is conditional on the same
  claim, so a worker that lost its claim (stale-claim recovery) cannot overwrite a newer result.
* **Crashes lose nothing.** A claim older than ``STALE_CLAIM_MINUTES`` goes back to pending; the
  handlers are idempotent (intent stored before side effects, look-ups before creates).
* **Paused and broken connections wait.** Their rows stay pending and continue when the
  connection is active again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.models import OrmQ
from django_q.tasks import async_task

from accounts.models import Connection
from integration.core import alerts, claim_rows, dispatch, handlers, lifecycle
from integration.core.clients import errors
from integration.core.clients.dinero import limiter_key
from integration.core.clients.factory import LazyClient, dinero_client, rackbeat_client
from integration.core.clients.ratelimit import SharedRateLimiter
from integration.core.handlers import (
    Result,
    SkipTransfer,
    TransferContext,
    TransferProblem,
    handler_for,
)
from integration.core.insert_if_absent import insert_if_absent_with
from integration.core.messages import Key, Message, Sentences, Text, meaning, set_texts, stored, with_texts
from integration.core.models import (
    IntegrationSettings,
    OperationEvent,
    Priority,
    SyncOperation,
    SyncRun,
    Trigger,
)
from integration.core.row_writes import insert_rows, insert_values, update_row_returning

logger = logging.getLogger(__name__)

State = SyncOperation.State

TASK = "integration.tasks.run_operation"

# Kinds that move money: once done, never transferred again automatically.
EXACTLY_ONCE_KINDS = lifecycle.MONEY_KINDS
CHECK_TASK = "integration.tasks.check_transferred_document"

# Connections in these states keep their work pending until they are active again.
WAITING_CONNECTION_STATES = (Connection.State.PAUSED, Connection.State.BROKEN)
# Errors that are the connection's, not the document's: the document waits for the repair.
CONNECTION_PROBLEMS = ("AuthenticationFailed", "NoProSubscription")

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 60 * 60
# A due row whose task was queued this long ago and has not run is considered to have lost its
# task (fetched by a worker process that died): run_due queues another. Tasks merely waiting in a
# busy queue are not counted as lost (see run_due), and a second task is harmless: the claim
# decides, and a task without work to claim ends at once.
LOST_TASK_SECONDS = 60


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


# The columns of an operation that hold texts for people (and, beside each, its meaning).
TEXT_FIELDS = ("last_error", "hint", "outcome")


def record_event(op: SyncOperation, message: Text, *, state: str | None = None) -> None:
    insert_values(OperationEvent, **event_values(op, message, state=state))


def event_values(op: SyncOperation, message: Text, *, state: str | None = None,
                 at: datetime | None = None) -> dict[str, Any]:
    """The columns of a timeline entry of ``op`` (now, in its present state, unless given)."""
    return {"operation_id": op.pk, "attempt": op.attempts, "state": state or op.state,
            "at": at or timezone.now(), **stored(message=message)}


def _started(op: SyncOperation, worker: str, *, at: datetime | None = None) -> dict[str, Any]:
    """The entry "Attempt n started by worker": written with the attempt's outcome (or, should the
    worker die, with the recovery's entry), at the moment it started, rather than on its own."""
    return event_values(op, Message(gettext_noop("Attempt %(n)s started by %(worker)s."),
                                    n=op.attempts, worker=worker), state=State.RUNNING, at=at)


# --- queueing -------------------------------------------------------------------------------------

def _sync_mode() -> bool:
    return bool(settings.Q_CLUSTER.get("sync"))


def _queue_task(op_pk: int, at: datetime | None = None) -> None:
    """Queue the django-q2 task for ``op_pk`` (handed out from ``at`` when that is in the future).

    With the ORM broker the task row is written in the caller's transaction, so it exists exactly
    when the operation row does. In sync mode (development, tests) the task runs in this process
    once the transaction commits, so it sees the committed row and its HTTP calls happen outside
    the caller's transaction.

    A task for a later moment (budget wait, backoff) is written to be handed out at that moment
    (see :mod:`integration.core.dispatch`); ``enqueued_at`` then records that moment, so ``run_due``
    knows the row has its task. In sync mode, or with a broker that cannot delay, ``run_due``
    queues the row once it is due.
    """
    if at is not None and at > timezone.now():
        if not _sync_mode() and dispatch.queue_at(TASK, op_pk, due=at, task_name=f"operation-{op_pk}"):
            SyncOperation.objects.filter(pk=op_pk).update(enqueued_at=at)
        return
    SyncOperation.objects.filter(pk=op_pk).update(enqueued_at=timezone.now())
    _send_task(op_pk)


def _send_task(op_pk: int) -> None:
    """The django-q2 task alone, due now, for a row whose ``enqueued_at`` is already set."""

    if not _sync_mode():
        async_task(TASK, op_pk, task_name=f"operation-{op_pk}", sync=False)
        return

    def run_inline() -> None:
        async_task(TASK, op_pk, task_name=f"operation-{op_pk}", sync=True)

    _after_commit(run_inline)


def _queue_change_check(op_pk: int) -> None:
    """Compare a done document with its source again, after the caller's transaction commits."""

    _after_commit(lambda: async_task(CHECK_TASK, op_pk, task_name=f"check-{op_pk}", sync=_sync_mode()))


def _after_commit(func: Any) -> None:
    conn = transaction.get_connection()
    # Test cases wrap every test in transactions of their own; for them the work counts as
    # committed once no transaction of the application is open.
    if all(getattr(block, "_from_testcase", False) for block in conn.atomic_blocks):
        func()
    else:
        transaction.on_commit(func)


def enqueue(
    connection: Connection,
    kind: str,
    direction: str,
    source_key: Any,
    *,
    trigger: str,
    run: SyncRun | None = None,
    document_number: str = "",
    document_name: str = "",
) -> SyncOperation:
    """Create or reuse the operation for one document and queue its task (see module docstring)."""
    source_key = str(source_key)
    queue = False
    with transaction.atomic():
        try:
            with transaction.atomic():
                op, created = SyncOperation.objects.get_or_create(
                    connection=connection, kind=kind, direction=direction, source_key=source_key,
                    defaults={
                        "trigger": trigger, "run": run, "document_number": str(document_number or ""),
                        "document_name": str(document_name or "")[:255],
                        "next_attempt_at": timezone.now(),
                    },
                )
        except IntegrityError:
            op, created = SyncOperation.objects.get(
                connection=connection, kind=kind, direction=direction, source_key=source_key
            ), False
        label = Key("trigger", trigger)
        if created:
            record_event(op, Message(gettext_noop("Queued (%(trigger)s)."), trigger=label))
            queue = True
        else:
            op = SyncOperation.objects.select_for_update().get(pk=op.pk)
            queue = _join_existing(op, trigger=trigger, run=run, label=label,
                                   document_number=document_number, document_name=document_name)
        if queue and not _sync_mode():
            _queue_task(op.pk)
    if queue and _sync_mode():
        _queue_task(op.pk)
    op.refresh_from_db()
    if not created and not queue and op.state == State.DONE and lifecycle.is_money(op):
        # New work for a transferred document: it is never sent again, but a change is made loud.
        _queue_change_check(op.pk)
        op.refresh_from_db()
    return op


def enqueue_new(connection_id: int, kind: str, direction: str, source_key: str, *, trigger: str,
                document_number: str = "", handed_over: dict[str, Any] | None = None,
                task: bool = True) -> int | None:
    """The webhook intake's lean :func:`enqueue`: only a document that has no operation yet.

    One INSERT creates the row already marked as queued (``enqueued_at``) with its timeline entry
    (on PostgreSQL the same statement), then its task — in the caller's transaction, with no
    savepoint and no read-back. Returns
    the new row's id, or ``None`` when the row exists (or a concurrent delivery is creating it):
    the caller then joins it or calls :func:`enqueue`, which applies the lifecycle rules.
    ``handed_over`` is the source document as the caller just read it (``SyncOperation.handed_over``).
    Without ``task`` the row is left for the caller to run (``enqueued_at`` empty: ``run_due``
    queues it should the caller not).
    """

    now = timezone.now()
    op = SyncOperation(connection_id=connection_id, kind=kind, direction=direction, source_key=str(source_key),
                       trigger=trigger, document_number=str(document_number or ""), next_attempt_at=now,
                       enqueued_at=now if task else None, created_at=now, handed_over=handed_over)
    # The row with its first timeline entry (on PostgreSQL in one statement).
    op_pk = insert_if_absent_with(op, ("connection", "kind", "direction", "source_key"), OperationEvent,
                                  "operation_id", attempt=0, state=State.PENDING, **queued_texts(trigger))
    if op_pk is None:
        return None
    if task:
        _send_task(op_pk)
    return op_pk


def queued_texts(trigger: str) -> dict[str, Any]:
    """The text and meaning columns of a new operation's first timeline entry."""
    return stored(message=Message(gettext_noop("Queued (%(trigger)s)."), trigger=Key("trigger", trigger)))


def _join_existing(op: SyncOperation, *, trigger: str, run: SyncRun | None, label: Key,
                   document_number: str, document_name: str) -> bool:
    """New work arrived for an existing row; return True when a task must be queued."""
    if op.state == State.RUNNING:
        if not op.rerun_requested:
            op.rerun_requested = True
            op.save(update_fields=["rerun_requested", "updated_at"])
            record_event(op, Message(gettext_noop(
                "New work arrived (%(trigger)s) while running: it runs again afterwards."),
                trigger=label))
        return False
    if op.state == State.PENDING:
        if lifecycle.touched(op):
            # Rule 13: the retry reads the source again and compares before booking anything.
            record_event(op, Message(gettext_noop(
                "New work arrived (%(trigger)s) while a retry is waiting: the retry compares the document "
                "with its source as it is then, before anything is booked."),
                trigger=label))
        return False
    if not lifecycle.automatic_may_restart(op):
        record_event(op, lifecycle.held_message(op, label))
        return False
    _reset_to_pending(op, trigger=trigger, run=run)
    if document_number and not op.document_number:
        op.document_number = str(document_number)
    if document_name and not op.document_name:
        op.document_name = str(document_name)[:255]
    op.save()
    record_event(op, Message(gettext_noop("Queued again (%(trigger)s)."), trigger=label))
    return True


def _reset_to_pending(op: SyncOperation, *, trigger: str, run: SyncRun | None) -> None:
    """Back to pending for a fresh try. The intent (our Dinero Guid, the step reached) is kept."""
    op.state = State.PENDING
    op.trigger = trigger
    if run is not None:
        op.run = run
    op.next_attempt_at = timezone.now()
    op.transient_failures = 0
    op.budget_key = ""
    op.rerun_requested = False
    op.claimed_at = None
    op.claimed_by = ""
    op.last_error_class = ""
    set_texts(op, last_error="", hint="")
    op.fix_url = ""
    op.finished_at = None


# --- running --------------------------------------------------------------------------------------

def _claim(op_id: int, *, worker: str, require_active: bool) -> SyncOperation | None:
    """The row ``op_id`` with its connection, claimed for ``worker``; None when it could not be."""
    return claim_rows.claim_and_read(op_id, worker=worker, now=timezone.now(),
                                     waiting_states=WAITING_CONNECTION_STATES if require_active else None)


def run_operation(op_id: int) -> SyncOperation | None:
    """Claim and run the operation — or a fairer due one; None when nothing could be claimed.

    A task is a reason to look for work: when another connection has fewer operations running,
    its due operation goes first (see :mod:`integration.core.dispatch`), so one connection's backlog
    never holds up another's documents. In sync mode the task runs exactly its own operation.
    """
    if _sync_mode():
        return _run(op_id, require_active=True)
    tried = dispatch.each_candidate(op_id, waiting_connection_states=WAITING_CONNECTION_STATES)
    for candidate in itertools.islice(tried, dispatch.CANDIDATES):
        result = _run(candidate, require_active=True, follow_ups_here=True)
        if result is not None:
            return result
    return None


def execute_now(op: SyncOperation) -> SyncOperation:
    """Run one operation in this process now (troubleshooting), under the same claim rules.

    A finished or waiting row is made due first; a row another worker is running is left alone,
    and so is a money document that touched the other side (only the choices on its operation
    page move it on, see :mod:`integration.core.lifecycle`).
    """
    with transaction.atomic():
        locked = SyncOperation.objects.select_for_update().get(pk=op.pk)
        if locked.state not in (State.PENDING, State.RUNNING) and lifecycle.touched(locked):
            if locked.state != State.DONE:
                record_event(locked, lifecycle.held_message(locked, Key("trigger", Trigger.TROUBLESHOOTING)))
            op.refresh_from_db()
            return op
        if locked.state != State.RUNNING:
            if locked.state != State.PENDING:
                _reset_to_pending(locked, trigger=Trigger.TROUBLESHOOTING, run=None)
            locked.next_attempt_at = timezone.now()
            locked.save()
    result = _run(op.pk, require_active=False)
    if result is None:
        op.refresh_from_db()
        return op
    return result


def _run(op_id: int, *, require_active: bool, follow_ups_here: bool = False,
         carried: _Carried | None = None) -> SyncOperation | None:
    """Claim ``op_id`` and run one attempt. ``carried``: what the attempt this one follows (a
    follow-up continuing in the same worker) hands on."""
    worker = worker_name()
    op = _claim(op_id, worker=worker, require_active=require_active)
    if op is None:
        return None
    claimed_at = op.claimed_at
    exhausted = _dinero_budget_exhausted(op)
    if exhausted is not None:
        # Nothing would fit: put back at once, before any call (a Rackbeat read included).
        return _record(op, _budget_wait(op, exhausted), claimed_at=claimed_at, worker=worker,
                       connection_problem=None)
    started = _started(op, worker)
    carried = carried if carried is not None and carried.connection_id == op.connection_id else _Carried(op.connection_id)
    try:
        try:
            updates, connection_problem = _execute(op, carried)
        except Exception as exc:  # a bug or an unforeseen answer: visible, never a crash of the worker
            logger.exception("Operation %s failed unexpectedly", op_id)
            updates, connection_problem = _failed(op, f"{type(exc).__name__}: {exc}", type(exc).__name__), None
        return _record(op, updates, claimed_at=claimed_at, worker=worker, connection_problem=connection_problem,
                       follow_ups_here=follow_ups_here, started=started, carried=carried)
    finally:
        # The answers' times still kept back — after the follow-up this worker continued with,
        # whose first request to the same budget wrote them with its own.
        carried.flush()


@dataclasses.dataclass
class _Carried:
    """What an attempt hands on to the follow-up it continues with on the same connection: the
    connection's settings as it read them a moment before, and its clients' budgets with the
    answer times they keep back (written with the follow-up's next request for the same budget,
    or by :meth:`flush` when the chain of attempts ends)."""

    connection_id: int
    settings: IntegrationSettings | None = None
    limiters: dict[str, Any] = dataclasses.field(default_factory=dict)

    def flush(self) -> None:
        for limiter in self.limiters.values():
            try:
                limiter.flush()
            except Exception:
                logger.exception("Could not record the answer times of requests")


def _context(op: SyncOperation, carried: _Carried | None = None) -> TransferContext:
    """The clients and settings of one attempt. With ``carried`` (an engine attempt) the settings
    it holds are used rather than read again, and the clients share its budgets and keep each
    answer's time back, to be written with their next request to the same budget (see
    :meth:`~integration.core.clients.ratelimit.SharedRateLimiter.finish`) or by
    :meth:`_Carried.flush` when the attempts end."""
    connection = op.connection
    if carried is not None and carried.settings is not None:
        carried.settings.connection = connection
        integration_settings = carried.settings
    else:
        integration_settings = claim_rows.settings_of(connection)
        if carried is not None:
            carried.settings = integration_settings

    def built(service: str, build: Any) -> Any:
        limiter = carried.limiters.get(service) if carried is not None else None
        client = build(connection, op) if limiter is None else build(connection, op, limiter=limiter)
        transport = getattr(client, "transport", None)  # stand-ins in tests may have none
        if carried is not None and transport is not None and transport.limiter is not None:
            transport.defer_answers = True
            carried.limiters.setdefault(service, transport.limiter)
        return client

    return TransferContext(
        connection=connection,
        settings=integration_settings,
        rackbeat=LazyClient(lambda: built("rackbeat", rackbeat_client)),  # type: ignore[arg-type]
        dinero=LazyClient(lambda: built("dinero", dinero_client)),  # type: ignore[arg-type]
        operation=op,
    )


def _execute(op: SyncOperation, carried: _Carried) -> tuple[dict[str, Any], errors.ApiError | None]:
    handler = handler_for(op.kind, op.direction)
    if handler is None:
        return _failed(op, Message(gettext_noop(
            "No transfer exists for %(kind)s in the direction %(direction)s."),
            kind=Key("kind", op.kind), direction=Key("direction", op.direction)), "NoHandler"), None
    ctx = _context(op, carried)
    updates, problem = _outcome(op, handler, ctx)
    if ctx.intent_staged:
        # Written with the outcome, in the same conditional UPDATE, rather than on its own.
        updates["intent"] = op.intent
    return updates, problem


def _outcome(op: SyncOperation, handler: Any, ctx: TransferContext) -> tuple[dict[str, Any], errors.ApiError | None]:
    try:
        result = handler(op, ctx)
    except SkipTransfer as exc:
        return {"state": State.SKIPPED, "outcome": exc.args[0] if exc.args else "", **_clear_error()}, None
    except TransferProblem as exc:
        return {
            "state": State.NEEDS_ATTENTION, "last_error_class": type(exc).__name__,
            "last_error": exc.message, "hint": exc.hint, "fix_url": exc.fix_url,
        }, None
    except errors.BudgetExhausted as exc:
        return _budget_wait(op, _in_money_line(op, exc)), None
    except errors.ApiError as exc:
        return _api_error(op, exc)
    if not isinstance(result, Result):
        return _failed(op, Message(gettext_noop("The transfer returned no result.")), "NoResult"), None
    return _result(op, result), None


def _clear_error() -> dict[str, Any]:
    return {"last_error_class": "", "last_error": "", "hint": "", "fix_url": ""}


def _result(op: SyncOperation, result: Result) -> dict[str, Any]:
    updates: dict[str, Any] = {
        "state": State.SKIPPED if result.skipped else State.DONE,
        "outcome": result.outcome, **_clear_error(),
    }
    for field in ("target_id", "target_number", "document_number", "document_name"):
        value = getattr(result, field)
        if value:
            updates[field] = str(value)[:255]
    updates["_follow_ups"] = list(result.follow_ups)
    updates["_handover"] = result.handover
    return updates


def _dinero_budget_exhausted(op: SyncOperation) -> errors.BudgetExhausted | None:
    """The organization's Dinero budget has no room now (every transfer calls Dinero), or it has
    room that a booked document of the same connection is waiting for: master data yields it."""
    organization = str(op.connection.dinero_organization_id or "")
    if not organization:
        return None

    limiter = SharedRateLimiter(settings.DINERO_RATE_LIMIT_PER_MINUTE)
    key = limiter_key(organization)
    money = op.priority == Priority.MONEY
    # A row this process read or wrote seconds ago, with room to spare, answers "room" without a
    # statement; the first request's grant is the real check (a full budget then puts the
    # transfer back before anything is sent).
    if limiter.wait_for(key, remembered=True) <= limiter.max_block and (
            money or not _money_waiting(op, key, limiter.span)):
        return None
    due = limiter.promise(key, money=money)
    return errors.BudgetExhausted(key=key, retry_after=due - time.time(), due_at=due)


def _money_waiting(op: SyncOperation, key: str, span: float) -> bool:
    """A booked document of ``op``'s connection waits for the budget ``key`` and wakes within one
    budget span: the next free request is its."""
    return SyncOperation.objects.filter(
        connection_id=op.connection_id, state=State.PENDING, priority=Priority.MONEY, budget_key=key[:120],
        next_attempt_at__lte=timezone.now() + timedelta(seconds=span),
    ).exists()


def _in_money_line(op: SyncOperation, exc: errors.BudgetExhausted) -> errors.BudgetExhausted:
    """A booked document that met a full budget mid-transfer waits in the line of booked documents
    (the budget's next free moment), not at the end of the master-data backlog's line."""
    if op.priority != Priority.MONEY or exc.key != limiter_key(str(op.connection.dinero_organization_id or "")):
        return exc  # master data, or Rackbeat's budget (its line is the organization's own)
    limiter = SharedRateLimiter(settings.DINERO_RATE_LIMIT_PER_MINUTE)
    if limiter.wait_for(exc.key) <= 0:
        return exc  # the log has room again: keep the moment the budget named
    due = limiter.promise(exc.key, money=True)
    return errors.BudgetExhausted(key=exc.key, retry_after=due - time.time(), due_at=due)


def _budget_wait(op: SyncOperation, exc: errors.BudgetExhausted) -> dict[str, Any]:
    """Back to pending until the budget has room: neither a failure nor a counted attempt.

    The step reached is kept in the row's intent as for any interruption, so the operation goes
    on from there; the claim is given back so the worker takes other work meanwhile.
    """
    return {
        "state": State.PENDING, "next_attempt_at": datetime.fromtimestamp(exc.due_at, tz=UTC),
        "attempts": op.attempts - 1, "budget_key": exc.key[:120],  # the claim is ours: nobody else counts
        # One timeline entry per wait, not one per wake-up that found the budget still full.
        "_budget_event": not op.budget_key,
    }


def _failed(op: SyncOperation, message: Text, error_class: str) -> dict[str, Any]:
    return {
        "state": State.FAILED, "last_error_class": error_class[:100], "last_error": message,
        "hint": Message(gettext_noop(
            "An unexpected error stopped the transfer. Press Retry; if it fails again, contact support "
            "with the operation's timeline.")),
        "fix_url": "",
    }


def backoff_seconds(failures: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; a server's Retry-After is honoured as the minimum."""
    # Settings may compress the clock (the chaos suite does); the defaults are the product's.
    base = float(getattr(settings, "BACKOFF_BASE_SECONDS", BACKOFF_BASE_SECONDS))
    longest = float(getattr(settings, "BACKOFF_MAX_SECONDS", BACKOFF_MAX_SECONDS))
    ceiling = min(longest, base * 2 ** max(0, failures - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(float(retry_after), 0.0) + random.uniform(0, 5)
    return delay


def _api_error(op: SyncOperation, exc: errors.ApiError) -> tuple[dict[str, Any], errors.ApiError | None]:
    message = exc.describe()
    connection_problem = exc if isinstance(exc, errors.AuthenticationFailed | errors.NoProSubscription) else None
    if connection_problem is not None:
        # The connection's login, not the document: nothing was written (a 4xx), so the document
        # waits, without using up an attempt, until a person repairs the connection.
        return {
            "state": State.PENDING, "next_attempt_at": timezone.now(), "last_error_class": type(exc).__name__,
            "last_error": message, "hint": exc.hint, "fix_url": "",
        }, connection_problem
    if exc.permanent:
        return {
            "state": State.NEEDS_ATTENTION, "last_error_class": type(exc).__name__, "last_error": message,
            "hint": exc.hint, "fix_url": "",
        }, connection_problem
    failures = op.transient_failures + 1
    if failures >= settings.MAX_TRANSIENT_ATTEMPTS:
        return {
            "state": State.FAILED, "transient_failures": failures, "last_error_class": type(exc).__name__,
            "last_error": Message(gettext_noop("Gave up after %(n)s attempts. Last answer: %(message)s"),
                                  n=failures, message=message),
            "hint": Message(gettext_noop(
                "The service kept failing. Check the HTTP exchanges below, then press Retry.")),
            "fix_url": "",
        }, None
    retry_after = getattr(exc, "retry_after", None) if isinstance(exc, errors.RateLimited) else None
    delay = backoff_seconds(failures, retry_after)
    return {
        "state": State.PENDING, "transient_failures": failures,
        "next_attempt_at": timezone.now() + timedelta(seconds=delay),
        "last_error_class": type(exc).__name__, "last_error": message, "hint": exc.hint, "fix_url": "",
    }, None


def _record(op: SyncOperation, updates: dict[str, Any], *, claimed_at: Any, worker: str,
            connection_problem: errors.ApiError | None, follow_ups_here: bool = False,
            started: dict[str, Any] | None = None, carried: _Carried | None = None) -> SyncOperation:
    """Write the attempt's outcome (conditional on its claim) with its timeline entries — the
    ``started`` one first, kept back until now — and act on it."""
    entries = [started] if started is not None else []
    follow_ups = updates.pop("_follow_ups", [])
    handover = updates.pop("_handover", None)
    budget_event = updates.pop("_budget_event", None)
    if budget_event is None:
        updates["budget_key"] = ""
    final = updates["state"]
    now = timezone.now()
    updates["updated_at"] = now
    if final != State.PENDING:
        updates["finished_at"] = now
        if op.handed_over is not None:
            updates["handed_over"] = None  # what a later try uses is read afresh
    updates["claimed_by"] = ""
    updates = with_texts(updates, TEXT_FIELDS)
    # Conditional on our own claim: a claim recovered as stale and taken by another worker wins.
    # The row comes back with the update (a rerun asked for meanwhile included).
    stored_row = update_row_returning(SyncOperation, op.pk, where={
        "state": State.RUNNING, "claimed_by": worker, "claimed_at": claimed_at}, **updates)
    if stored_row is None:
        connection = op.connection
        op.refresh_from_db()
        op.connection = connection  # the same row: kept rather than read again
        insert_rows(OperationEvent, [*entries, event_values(op, Message(gettext_noop(
            "The result of attempt by %(worker)s was discarded: its claim had been given up as stale."),
            worker=worker))])
        return op
    for attname, value in stored_row.items():
        setattr(op, attname, value)
    if budget_event is None:
        entries.append(event_values(op, _describe_outcome(op)))
    elif budget_event:
        entries.append(event_values(op, Message(gettext_noop(
            "Waiting for the request budget of %(budget)s; continues at %(when)s (not a failure, not "
            "counted as an attempt)."),
            budget=op.budget_key.split(":", 1)[0].capitalize(), when=op.next_attempt_at)))
    insert_rows(OperationEvent, entries)
    if connection_problem is not None:
        # No task: a broken connection is not worked on. The document waits, due and without a
        # task, so the schedule's run_due queues it as soon as a person repairs the connection.
        mark_connection_broken(op.connection, connection_problem)
    elif op.state == State.PENDING:
        _queue_task(op.pk, at=op.next_attempt_at)
    here = [pk for kind, direction, source_key in follow_ups
            if (pk := _follow_up(op, kind, direction, source_key, handover, here=follow_ups_here)) is not None]
    # Read again only where the row moved on since (queued again, or its task's time written).
    if _rerun_if_requested(op) or op.state == State.PENDING:
        op.refresh_from_db()
    for follow_up in here:
        _continue_here(follow_up, carried)
    return op


def _follow_up(op: SyncOperation, kind: str, direction: str, source_key: str,
               handover: dict[str, Any] | None, *, here: bool) -> int | None:
    """Queue the document ``op``'s transfer asks for (its consumption voucher): one INSERT with
    its timeline entry and task — and the ``handover`` — when it is new, the lifecycle rules of
    :func:`enqueue` otherwise (an existing row reads its source itself).

    ``here`` (a worker, not sync mode): a new row gets no task; its id is returned for this worker
    to continue with (:func:`_continue_here`). Should the worker die first, the row is due without a
    task, and ``run_due`` gives it one within a minute.
    """
    here = here and not _sync_mode()
    if op.run_id is None:
        # In sync mode the new row's task runs at once, after the row is committed.
        with contextlib.nullcontext() if _sync_mode() else transaction.atomic():
            created = enqueue_new(op.connection_id, kind, direction, source_key, trigger=Trigger.FOLLOW_UP,
                                  handed_over=handover, task=not here)
            if created is not None:
                return created if here else None
    enqueue(op.connection, kind, direction, source_key, trigger=Trigger.FOLLOW_UP, run=op.run)
    return None


def _continue_here(op_pk: int, carried: _Carried | None = None) -> None:
    """Run the follow-up this worker just queued without a task — the same document's next part,
    its source at hand — unless the fair choice (:mod:`integration.core.dispatch`) puts another
    connection's work first: then the follow-up gets its task and waits its turn like any row.

    One task per booked invoice instead of two: each task is a broker row written, handed out,
    locked and deleted, and a trip through the cluster's pusher, worker and monitor processes."""
    first = next(dispatch.each_candidate(op_pk, waiting_connection_states=WAITING_CONNECTION_STATES), None)
    if first == op_pk and _run(op_pk, require_active=True, carried=carried) is not None:
        return
    _queue_task(op_pk)


def _describe_outcome(op: SyncOperation) -> Message:
    if op.state == State.DONE:
        return Message(gettext_noop("Done: %(outcome)s"), outcome=meaning(op, "outcome"))
    if op.state == State.SKIPPED:
        return Message(gettext_noop("Skipped: %(outcome)s"), outcome=meaning(op, "outcome"))
    if op.state == State.PENDING and op.last_error_class in CONNECTION_PROBLEMS:
        return Message(gettext_noop(
            "Waiting for the connection to be repaired (%(error)s); nothing was transferred, and the "
            "document is transferred once the connection works again."),
            error=meaning(op, "last_error"))
    if op.state == State.PENDING:
        return Message(gettext_noop("Temporary problem (%(error)s); next try at %(when)s."),
                       error=meaning(op, "last_error"), when=op.next_attempt_at)
    return Message(gettext_noop("%(state)s: %(error)s"), state=Key("operation_state", op.state),
                   error=meaning(op, "last_error"))


def _rerun_if_requested(op: SyncOperation) -> bool:
    """Whether the row changed: work that arrived while it ran queues it again, or is noted."""
    if not op.rerun_requested:
        return False
    check = False
    with transaction.atomic():
        locked = SyncOperation.objects.select_for_update().get(pk=op.pk)
        if not locked.rerun_requested or locked.state in (State.RUNNING, State.PENDING):
            return False
        if lifecycle.touched(locked):
            # Rule 9: the work that arrived meanwhile does not move a touched document on.
            locked.rerun_requested = False
            locked.save(update_fields=["rerun_requested", "updated_at"])
            check = locked.state == State.DONE
        else:
            _reset_to_pending(locked, trigger=locked.trigger, run=None)
            locked.save()
            record_event(locked, Message(gettext_noop("Running again for the work that arrived meanwhile.")))
    if check:
        _queue_change_check(op.pk)
    else:
        _queue_task(op.pk)
    return True


def wait_for_repair(op: SyncOperation, exc: errors.ApiError) -> SyncOperation:
    """``op`` could not start because the connection's login was rejected (or Dinero Pro is gone):
    the connection is broken (one alert) and the document waits, recorded in its timeline, until a
    person repairs the connection. Nothing was written."""
    mark_connection_broken(op.connection, exc)
    SyncOperation.objects.filter(pk=op.pk, state=State.PENDING).update(
        last_error_class=type(exc).__name__, **stored(last_error=exc.describe(), hint=exc.hint), fix_url="",
        updated_at=timezone.now())
    op.refresh_from_db()
    record_event(op, Message(gettext_noop(
        "Waiting for the connection to be repaired (%(error)s); nothing was transferred, and the document "
        "is transferred once the connection works again."),
        error=meaning(op, "last_error")))
    return op


def broken_reason(exc: errors.ApiError) -> Text:
    """The connection's state reason for ``exc``: what happened and what to do."""
    if isinstance(exc, errors.AuthenticationFailed):
        return Message(gettext_noop(
            "Login rejected: %(message)s %(hint)s"),
            message=exc.message, hint=exc.hint or "")
    return Sentences(exc.message, exc.hint)


def mark_connection_broken(connection: Connection, exc: errors.ApiError) -> None:
    """A login rejected or Dinero Pro lost, wherever it was seen: the connection is broken (one alert)."""
    connection.refresh_from_db()
    reason = stored(state_reason=broken_reason(exc))
    if connection.set_state(Connection.State.BROKEN, reason["state_reason"].strip(),
                            reason_meaning=reason["state_reason_meaning"]):
        connection.save(update_fields=["state", "state_reason", "state_reason_meaning", "state_changed_at",
                                       "updated_at"])
        try:
            alerts.notify_connection_broken(connection)
        except Exception:
            logger.exception("Could not send the broken-connection alert for %s", connection.pk)


# --- people ---------------------------------------------------------------------------------------

def _user_label(user: Any) -> str:
    if user is None:
        return _("the system")
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or getattr(user, "username", str(user))


def retry(op: SyncOperation, *, user: Any) -> SyncOperation:
    """Read the source again now: back to pending and queued (a done invoice stays done)."""
    queue = False
    with transaction.atomic():
        locked = SyncOperation.objects.select_for_update().get(pk=op.pk)
        if locked.state == State.RUNNING:
            record_event(locked, Message(gettext_noop(
                "Retry requested by %(user)s while running: it runs again afterwards."),
                user=_user_label(user)))
            SyncOperation.objects.filter(pk=op.pk).update(rerun_requested=True)
        elif locked.state == State.DONE and locked.kind in EXACTLY_ONCE_KINDS:
            record_event(locked, Message(gettext_noop(
                "Retry requested by %(user)s refused: the document was already transferred."),
                user=_user_label(user)))
        elif locked.handled_at and lifecycle.is_money(locked):
            # Handled may mean "entered by hand": posting it again needs the explicit choice.
            record_event(locked, Message(gettext_noop(
                "Retry requested by %(user)s refused: the document was marked handled. If it is not in "
                "%(side)s, choose “It is not there: post it now”."),
                user=_user_label(user), side=lifecycle.other_side(locked)))
        else:
            _reset_to_pending(locked, trigger=Trigger.RETRY, run=None)
            locked.save()
            record_event(locked, Message(gettext_noop("Retry requested by %(user)s."),
                                         user=_user_label(user)))
            queue = True
    if queue:
        _queue_task(op.pk)
    op.refresh_from_db()
    return op


def mark_handled(op: SyncOperation, *, user: Any, note: str) -> SyncOperation:
    """A person dealt with the problem outside the integration; the row leaves the problem lists."""
    now = timezone.now()
    with transaction.atomic():
        locked = SyncOperation.objects.select_for_update().get(pk=op.pk)
        locked.handled_by = _user_label(user)[:150]
        locked.handled_note = note
        locked.handled_at = now
        if locked.state in SyncOperation.PROBLEM_STATES or locked.state == State.PENDING:
            locked.state = State.SKIPPED
            locked.outcome = Message(gettext_noop("Marked as handled by %(user)s: %(note)s"),
                                     user=locked.handled_by, note=note)
            locked.finished_at = now
            locked.handed_over = None
        locked.save()
        record_event(locked, Message(gettext_noop("Marked as handled by %(user)s: %(note)s"),
                                     user=locked.handled_by, note=note))
    op.refresh_from_db()
    return op


def find_for_link(op: SyncOperation, reference: str) -> handlers.FoundDocument:
    """The document a person named for "It is there: link it", read from the other side.

    Raises :class:`~integration.core.handlers.LinkRefused` with a readable message when it is
    not there (or cannot be read now); nothing is changed either way.
    """
    reference = reference.strip()
    lookup = handlers.link_lookup_for(op)
    if not reference or lookup is None:
        raise handlers.LinkRefused(_("Enter the number or Guid of the document you found."))
    return lookup(op, _context(op), reference)


def link_existing(op: SyncOperation, *, user: Any, reference: str) -> SyncOperation:
    """A person found the document on the other side: "It is in Dinero: link voucher number …".

    The document is looked up first (:func:`find_for_link`): what is not there is refused with
    the reason in the timeline. What is found becomes the operation's document, and the transfer
    runs with it at once — it is compared with Rackbeat's current document before anything is
    booked (a draft is updated and booked, a booked document that differs stops with both
    figures), exactly as a document the service created itself. Refused for a document that is
    done or running.
    """
    reference = reference.strip()
    who = _user_label(user)
    locked = SyncOperation.objects.get(pk=op.pk)
    if not reference or not lifecycle.is_money(locked) or locked.state in (State.DONE, State.RUNNING):
        record_event(locked, Message(gettext_noop("Linking by %(user)s refused: the document is %(state)s."),
                                     user=who, state=Key("operation_state_in_sentence", locked.state)))
        op.refresh_from_db()
        return op
    try:
        found = find_for_link(locked, reference)
    except handlers.LinkRefused as exc:
        record_event(locked, Message(gettext_noop("Linking by %(user)s to %(reference)s refused: %(reason)s"),
                                     user=who, reference=reference, reason=exc.message))
        op.refresh_from_db()
        return op
    queue = False
    with transaction.atomic():
        locked = SyncOperation.objects.select_for_update().get(pk=op.pk)
        if locked.state in (State.DONE, State.RUNNING):
            record_event(locked, Message(gettext_noop(
                "Linking by %(user)s refused: the document is %(state)s."),
                user=who, state=Key("operation_state_in_sentence", locked.state)))
        else:
            kept = {key: value for key, value in (locked.intent or {}).items() if key != "document_gone"}
            locked.intent = {**kept, **found.intent, "in_flight": "", "touched": True, "linked_by": who,
                             "linked_reference": reference}
            locked.target_id = found.guid
            locked.target_number = found.number[:64]
            locked.handled_at = None
            locked.handled_by = locked.handled_note = ""
            _reset_to_pending(locked, trigger=Trigger.RETRY, run=None)
            locked.save()
            record_event(locked, Message(gettext_noop(
                "Linked by %(user)s to %(side)s document %(found)s; it is compared with Rackbeat's "
                "document before anything is booked."),
                user=who, side=lifecycle.other_side(locked), found=found.describe()))
            queue = True
    if queue:
        _queue_task(op.pk)
    op.refresh_from_db()
    return op


def post_now(op: SyncOperation, *, user: Any) -> SyncOperation:
    """A person looked and the document is not there: "It is not there: post it now".

    Forgets the unanswered create (and a stored id whose document is gone) and queues the
    transfer, which creates the document once. Refused for a document that is done or running.
    """
    queue = False
    with transaction.atomic():
        locked = SyncOperation.objects.select_for_update().get(pk=op.pk)
        known = lifecycle.known_document(locked)
        if known:
            # Posting now would make a second document beside the one the service knows.
            record_event(locked, Message(gettext_noop(
                "Posting by %(user)s refused: %(side)s already has this document (%(known)s). Correct it "
                "there, or mark this operation handled."),
                user=_user_label(user), side=lifecycle.other_side(locked), known=known))
        elif not lifecycle.person_may_choose(locked):
            record_event(locked, Message(gettext_noop(
                "Posting by %(user)s refused: the document is %(state)s."),
                user=_user_label(user), state=Key("operation_state_in_sentence", locked.state)))
        else:
            who = _user_label(user)
            locked.intent = lifecycle.intent_for_post_now(locked.intent or {}, who)
            locked.handled_at = None
            locked.handled_by = ""
            locked.handled_note = ""
            _reset_to_pending(locked, trigger=Trigger.RETRY, run=None)
            locked.save()
            record_event(locked, Message(gettext_noop(
                "%(user)s confirmed the document is not in %(side)s: posting it now."),
                user=who, side=lifecycle.other_side(locked)))
            queue = True
    if queue:
        _queue_task(op.pk)
    op.refresh_from_db()
    return op


# --- schedules ------------------------------------------------------------------------------------

def run_due() -> int:
    """Queue tasks for pending rows that are due and have no task waiting (backoff, lost tasks)."""
    now = timezone.now()
    lost_before = now - timedelta(seconds=LOST_TASK_SECONDS)
    due = (
        SyncOperation.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
        .exclude(connection__state__in=WAITING_CONNECTION_STATES)
    )
    without_task = list(due.filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("next_attempt_at")))
                        .order_by("priority", "next_attempt_at").values_list("pk", flat=True)[:1000])
    lost = list(due.filter(enqueued_at__gte=F("next_attempt_at"), enqueued_at__lt=lost_before)
                .order_by("priority", "next_attempt_at").values_list("pk", flat=True)[:1000])
    # Tasks still waiting in the broker will run these rows (a task runs the fairest due row):
    # only the shortfall was lost with a dead worker.
    lost = lost[:max(0, len(lost) - _tasks_waiting(now))]
    for pk in without_task + lost:
        _queue_task(pk)
    return len(without_task) + len(lost) + _queue_missing_tasks()


def queue_waiting(connection: Connection) -> int:
    """Queue the documents that waited while ``connection`` was paused or broken (it works again)."""
    waiting = list(SyncOperation.objects.filter(connection=connection, state=State.PENDING,
                                                next_attempt_at__lte=timezone.now())
                   .order_by("priority", "next_attempt_at", "pk").values_list("pk", flat=True)[:1000])
    for pk in waiting:
        _queue_task(pk)
    return len(waiting)


def _tasks_waiting(now: datetime) -> int:
    """Operation tasks the broker would hand out now (0 for brokers that cannot tell)."""
    if _sync_mode() or not isinstance(get_broker(), ORM):
        return 0
    return OrmQ.objects.filter(lock__lte=now).count()


def _queue_missing_tasks() -> int:
    """Top the broker up to one waiting task per due row (ORM broker; 0 with others).

    A task is only a reason to look for work (:mod:`integration.core.dispatch`): it may run another
    connection's operation, and then the row it was queued for waits without a task of its own
    (found by the chaos suite: rows due for minutes, nothing in the queue, ``enqueued_at`` recent).
    Counting instead of matching task to row keeps the fair choice; a surplus task finds nothing
    to claim and ends.
    """

    broker = get_broker()
    if _sync_mode() or not isinstance(broker, ORM):
        return 0
    due = dispatch.due_operations(waiting_connection_states=WAITING_CONNECTION_STATES)
    # The tasks just queued above are in the broker already and counted here.
    missing = due.count() - broker.queue_size()
    if missing <= 0:
        return 0
    oldest = list(due.order_by("priority", "next_attempt_at", "pk").values_list("pk", flat=True)[:min(missing, 1000)])
    for pk in oldest:
        _queue_task(pk)
    return len(oldest)


def release_claims(running: Any, *, reason: str) -> int:
    """Put the claimed rows of ``running`` back to pending and queue them; returns how many.

    Each release is conditional on the claim read, so a worker that finished meanwhile keeps its
    result, and two sweepers never release the same claim twice.
    """
    recovered = 0
    for op in list(running):
        with transaction.atomic():
            changed = SyncOperation.objects.filter(
                pk=op.pk, state=State.RUNNING, claimed_at=op.claimed_at, claimed_by=op.claimed_by,
            ).update(state=State.PENDING, next_attempt_at=timezone.now(), claimed_at=None, claimed_by="",
                     updated_at=timezone.now())
            if changed != 1:
                continue
            lost_worker = op.claimed_by or "?"
            # The attempt's own entry is written with its outcome, which never came: written here.
            started = _started(op, lost_worker, at=op.claimed_at)
            op.refresh_from_db()
            if reason == "dead":
                message = gettext_noop("The worker %(worker)s died during attempt %(n)s (its heartbeat stopped); the "
                            "operation is queued again (it looks documents up before creating anything).")
            else:
                message = gettext_noop("The worker %(worker)s stopped answering during attempt %(n)s; the operation "
                            "is queued again (it looks documents up before creating anything).")
            insert_rows(OperationEvent, [started, event_values(op, Message(message, worker=lost_worker, n=op.attempts))])
        _queue_task(op.pk)
        recovered += 1
    return recovered
