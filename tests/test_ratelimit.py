"""The shared request budget: a sliding minute per key, across processes, with 429 penalties.

Every test runs on an injected clock, so none depends on the machine's speed.
"""

from __future__ import annotations

import multiprocessing
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.db import connections

from integration.core.clients.errors import BudgetExhausted
from integration.core.clients.ratelimit import WINDOW_SECONDS, SharedRateLimiter
from integration.core.models import RateLimitWindow

T0 = 1_750_000_000.0
SAFETY = 2.0
SPAN = WINDOW_SECONDS + SAFETY


class FakeTime:
    """A clock that only moves when told to or when the limiter sleeps."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(limit: int, fake: FakeTime | SharedFakeTime, *, max_block: float = 10_000) -> SharedRateLimiter:
    return SharedRateLimiter(limit, clock=fake.clock, sleep=fake.sleep, max_block=max_block, safety_seconds=SAFETY)


def most_in_any_minute(grants: list[float]) -> int:
    """The largest number of grants inside any closed 60-second span.

    The busiest span can always be moved to start at a grant, so checking those is enough.
    """
    grants = sorted(grants)
    return max((sum(1 for t in grants[i:] if t <= start + WINDOW_SECONDS) for i, start in enumerate(grants)),
               default=0)


@pytest.mark.django_db
def test_requests_within_the_budget_are_granted_without_waiting():
    fake = FakeTime()
    rl = limiter(3, fake)
    for _ in range(3):
        rl.acquire("dinero:400555")
    assert fake.sleeps == []
    assert rl.used("dinero:400555") == 3


@pytest.mark.django_db
def test_a_full_budget_waits_until_the_oldest_request_leaves_the_sliding_minute():
    fake = FakeTime()
    rl = limiter(2, fake)
    rl.acquire("dinero:400555")
    fake.now += 20
    rl.acquire("dinero:400555")
    fake.now += 5
    wait = rl.try_acquire("dinero:400555")
    # The first grant (at T0) leaves the span at T0 + SPAN; now is T0 + 25.
    assert wait == pytest.approx(SPAN - 25, abs=0.01)
    fake.now += wait - 0.1
    assert rl.try_acquire("dinero:400555") > 0
    fake.now += 0.1
    assert rl.try_acquire("dinero:400555") == 0


@pytest.mark.django_db
def test_a_calendar_minute_boundary_gives_no_second_budget():
    """Fixed minutes allowed the budget twice within seconds across a boundary; a sliding minute does not."""
    start = T0 - (T0 % 60) + 58  # two seconds before a new calendar minute
    fake = FakeTime(start)
    rl = limiter(5, fake)
    for _ in range(5):
        assert rl.try_acquire("dinero:400555") == 0
    fake.now = start + 3  # the next calendar minute has begun
    assert rl.try_acquire("dinero:400555") == pytest.approx(SPAN - 3, abs=0.01)


@pytest.mark.django_db
def test_a_long_wait_raises_budget_exhausted_with_its_due_time_instead_of_sleeping():
    fake = FakeTime()
    rl = limiter(1, fake, max_block=1.0)
    rl.acquire("dinero:400555")
    fake.now += 10
    with pytest.raises(BudgetExhausted) as caught:
        rl.acquire("dinero:400555")
    assert fake.sleeps == []
    assert caught.value.key == "dinero:400555"
    assert caught.value.due_at == pytest.approx(T0 + SPAN, abs=0.01)
    assert caught.value.retry_after == pytest.approx(SPAN - 10, abs=0.01)
    assert not caught.value.permanent
    assert rl.used("dinero:400555") == 1


@pytest.mark.django_db
def test_a_short_wait_is_paced_inside_the_request():
    fake = FakeTime()
    rl = limiter(1, fake, max_block=1.0)
    rl.acquire("dinero:400555")
    fake.now += SPAN - 0.5
    rl.acquire("dinero:400555")
    assert len(fake.sleeps) == 1 and fake.sleeps[0] <= 1.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.django_db
def test_no_sixty_second_span_ever_holds_more_than_the_budget(seed):
    """Requests at random moments, some in bursts: the grants never exceed the budget in any minute,
    and a waiting request is granted the moment the budget has room (no longer wait than needed)."""
    rng = random.Random(seed)
    fake = FakeTime()
    rl = limiter(7, fake)
    granted: list[float] = []
    for _ in range(120):
        fake.now += rng.choice([0, 0, 0.2, 1.5, 4, 13])
        wait = rl.try_acquire("dinero:400555")
        if wait > 0:
            fake.now += wait
            assert rl.try_acquire("dinero:400555") == 0, "granted exactly when the wait said"
        granted.append(fake.now)
    assert most_in_any_minute(granted) <= 7
    # The log keeps only the last span: the row stays small however long the service runs.
    assert len(rl.granted_at("dinero:400555")) <= 7


@pytest.mark.django_db
def test_a_saturated_budget_is_used_at_its_rate():
    fake = FakeTime()
    rl = limiter(10, fake)
    for _ in range(100):
        rl.acquire("dinero:400555")
    # 100 requests at 10 per span: 9 full spans of waiting, never more.
    assert fake.now - T0 == pytest.approx(9 * SPAN, abs=0.1)


@pytest.mark.django_db
def test_callers_put_back_are_promised_due_times_one_request_apart():
    """All waiting operations would otherwise wake at the same instant and all but one find the budget full."""
    fake = FakeTime()
    rl = limiter(4, fake)
    for _ in range(4):
        rl.acquire("dinero:400555")
    fake.now += 10
    promised = [rl.promise("dinero:400555") for _ in range(3)]
    spacing = SPAN / 4
    assert promised[0] == pytest.approx(T0 + SPAN, abs=0.01)
    assert promised[1] - promised[0] == pytest.approx(spacing)
    assert promised[2] - promised[1] == pytest.approx(spacing)
    # Once the waiters are gone, the next one is told the moment of room again.
    fake.now = promised[2] + 120
    assert rl.promise("dinero:400555") == pytest.approx(fake.now)


@pytest.mark.django_db
def test_keys_have_separate_budgets():
    fake = FakeTime()
    rl = limiter(1, fake)
    rl.acquire("dinero:400555")
    rl.acquire("dinero:400777")
    assert fake.sleeps == []


@pytest.mark.django_db
def test_limiters_in_one_process_share_the_database_budget():
    fake = FakeTime()
    first, second = limiter(2, fake), limiter(2, fake)
    first.acquire("dinero:400555")
    second.acquire("dinero:400555")
    assert first.try_acquire("dinero:400555") == pytest.approx(SPAN, abs=0.01)
    assert second.wait_for("dinero:400555") == pytest.approx(SPAN, abs=0.01)
    assert RateLimitWindow.objects.filter(key="dinero:400555").count() == 1


@pytest.mark.django_db
def test_a_remembered_row_answers_room_without_a_statement_and_a_wait_only_from_a_row_read_now():
    from django.test.utils import CaptureQueriesContext

    fake = FakeTime()
    mine, other = limiter(2, fake), limiter(2, fake)
    mine.acquire("dinero:400555")  # this process wrote the row last: one grant in it
    with CaptureQueriesContext(db_connection) as queries:
        assert mine.wait_for("dinero:400555", remembered=True) == 0
    assert len(queries) == 0
    # Another process fills the budget; the remembered row does not know it. Its "room" is a hope
    # that the next grant checks (the conditional UPDATE fails on the moved version, reads, waits).
    RateLimitWindow.objects.filter(key="dinero:400555").update(grants=f"[{T0}, {T0}]", version=99)
    assert mine.wait_for("dinero:400555", remembered=True) == 0
    assert mine.try_acquire("dinero:400555") == pytest.approx(SPAN, abs=0.01)
    # A remembered row that says wait is read again: the stored one may have room by now.
    RateLimitWindow.objects.filter(key="dinero:400555").update(grants="[]", version=100)
    with CaptureQueriesContext(db_connection) as queries:
        assert mine.wait_for("dinero:400555", remembered=True) == 0
    assert len(queries) == 1
    assert other.wait_for("dinero:400555") == 0


@pytest.mark.django_db
def test_a_remembered_row_near_the_budgets_edge_or_old_is_read_again(monkeypatch):
    from django.test.utils import CaptureQueriesContext

    from integration.core.clients import ratelimit

    fake = FakeTime()
    rl = limiter(20, fake)
    for _ in range(19):
        rl.acquire("dinero:400555")
    with CaptureQueriesContext(db_connection) as queries:  # 1 left: less than a tenth to spare
        assert rl.wait_for("dinero:400555", remembered=True) == 0
    assert len(queries) == 1
    fake.now += SPAN + 1  # the log has emptied; the row remembered says so
    with CaptureQueriesContext(db_connection) as queries:
        assert rl.wait_for("dinero:400555", remembered=True) == 0
    assert len(queries) == 0
    monkeypatch.setattr(ratelimit, "REMEMBERED_SECONDS", -1.0)  # remembered too long ago
    with CaptureQueriesContext(db_connection) as queries:
        assert rl.wait_for("dinero:400555", remembered=True) == 0
    assert len(queries) == 1


@pytest.mark.django_db
def test_a_clients_own_requests_cost_one_statement_per_grant_and_per_answer():
    from django.test.utils import CaptureQueriesContext

    fake = FakeTime()
    rl = limiter(100, fake)
    rl.finish("dinero:400555", rl.start("dinero:400555"))  # the row exists and is known
    with CaptureQueriesContext(db_connection) as queries:
        for _ in range(5):
            ticket = rl.start("dinero:400555")
            fake.now += 0.2
            rl.finish("dinero:400555", ticket)
    assert len(queries.captured_queries) == 10
    assert all(q["sql"].lstrip().startswith("UPDATE") for q in queries.captured_queries)
    assert rl.used("dinero:400555") == 6


@pytest.mark.django_db
def test_deferred_answers_are_written_with_the_next_grant_and_by_flush():
    """A transfer's requests cost one statement each and one at its end; meanwhile every other
    process counts the answered request as in flight ("now"): more than it is, never less."""
    from django.test.utils import CaptureQueriesContext

    fake = FakeTime()
    rl, other = limiter(100, fake), limiter(100, fake)
    rl.finish("dinero:400555", rl.start("dinero:400555"))  # the row exists and is known
    answers = []
    with CaptureQueriesContext(db_connection) as queries:
        for _ in range(5):
            ticket = rl.start("dinero:400555")
            fake.now += 0.2
            rl.finish("dinero:400555", ticket, defer=True)
            answers.append(fake.now)
    assert len(queries.captured_queries) == 5
    assert all(q["sql"].lstrip().startswith("UPDATE") for q in queries.captured_queries)
    # The last answer is not written yet: the database holds that request as in flight.
    assert other.in_flight("dinero:400555") == 1
    assert other.used("dinero:400555") == 6
    fake.now += 30
    with CaptureQueriesContext(db_connection) as queries:
        rl.flush()
        rl.flush()  # nothing left to write
    assert len(queries.captured_queries) == 1
    assert other.in_flight("dinero:400555") == 0
    # Stamped when each answer came, not when it was written.
    assert other.granted_at("dinero:400555")[1:] == pytest.approx(answers, abs=0.001)


@pytest.mark.django_db
def test_a_deferred_answer_counts_at_its_answer_time_for_its_own_limiter():
    fake = FakeTime()
    rl, other = limiter(1, fake), limiter(1, fake)
    rl.finish("dinero:400555", rl.start("dinero:400555"), defer=True)  # answered at T0
    fake.now += SPAN + 1
    # Another process still sees the request in flight: for it the budget is full until its flight ends.
    assert other.try_acquire("dinero:400555") > 0
    # The limiter that knows the answer counts it at T0: that moment has left the span.
    assert rl.try_acquire("dinero:400555") == 0
    assert other.in_flight("dinero:400555") == 0  # the grant wrote the answer with it


@pytest.mark.django_db
def test_a_grant_by_another_process_in_between_is_read_before_counting():
    fake = FakeTime()
    mine, other = limiter(2, fake), limiter(2, fake)
    mine.acquire("dinero:400555")
    other.acquire("dinero:400555")  # the row mine last wrote is no longer current
    assert mine.try_acquire("dinero:400555") == pytest.approx(SPAN, abs=0.01)
    other.penalize("dinero:400555", 500)
    assert mine.try_acquire("dinero:400555") == pytest.approx(500, abs=0.01)


@pytest.mark.django_db
def test_penalty_after_429_blocks_the_key_until_it_ends():
    fake = FakeTime()
    rl = limiter(100, fake)
    rl.acquire("dinero:400555")
    rl.penalize("dinero:400555", 30)
    assert rl.blocked_for("dinero:400555") == 30
    assert rl.wait_for("dinero:400555") == 30
    rl.acquire("dinero:400555")
    assert fake.sleeps == [30]
    assert rl.blocked_for("dinero:400555") == 0


@pytest.mark.django_db
def test_a_shorter_penalty_never_shortens_a_longer_one():
    fake = FakeTime()
    rl = limiter(100, fake)
    rl.penalize("dinero:400555", 50)
    rl.penalize("dinero:400555", 5)
    assert rl.blocked_for("dinero:400555") == 50


@pytest.mark.django_db
def test_penalty_on_one_key_leaves_others_alone():
    fake = FakeTime()
    rl = limiter(100, fake)
    rl.penalize("dinero:400555", 60)
    rl.acquire("dinero:400777")
    assert fake.sleeps == []


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        SharedRateLimiter(0)


# --- Two operating-system processes, one budget ----------------------------------------------------

class SharedFakeTime:
    """One fake clock for every process of the test, in shared memory.

    Each process used to run its own fake clock, so the two disagreed about which minute it was
    depending on how the machine scheduled them; one clock makes the grants of both processes
    comparable whatever the scheduling.
    """

    def __init__(self, ctx, start: float = T0) -> None:  # type: ignore[no-untyped-def]
        self.value = ctx.Value("d", start)
        # What this process last read: the time the limiter granted at (the other process may
        # move the clock between the grant and any later read).
        self.last_read = start

    def clock(self) -> float:
        with self.value.get_lock():
            self.last_read = self.value.value
        return self.last_read

    def sleep(self, seconds: float) -> None:
        with self.value.get_lock():
            self.value.value += seconds


@contextmanager
def shared_database():
    """A database both the test and forked children open; yields its settings for the children.

    PostgreSQL's test database is shared already. SQLite's test database lives in memory, so the
    test switches the default connection to a temporary file with the limiter's table for the
    duration of the test.
    """
    if db_connection.vendor != "sqlite":
        yield dict(connections["default"].settings_dict)
        return
    # Django keeps in-memory SQLite connections open for the whole run, so the file database
    # gets its own connection object, swapped in as the default alias for the test's duration.
    original = connections["default"]
    with tempfile.TemporaryDirectory() as tmp:
        settings_dict = {**original.settings_dict, "NAME": str(Path(tmp) / "ratelimit.sqlite3")}
        file_db = original.__class__(settings_dict, alias="default")
        connections["default"] = file_db
        try:
            with file_db.schema_editor() as editor:
                editor.create_model(RateLimitWindow)
            yield settings_dict
        finally:
            file_db.close()
            connections["default"] = original


def _worker(settings_dict, limit: int, requests: int, fake: SharedFakeTime, start, results) -> None:  # type: ignore[no-untyped-def]
    # A forked child must never reuse the parent's database socket, and it opens the shared
    # database by its settings: which connection object the parent had swapped in is not
    # something a child can rely on (a full test run may have replaced the handler's state).
    original = connections["default"]
    for conn in connections.all(initialized_only=True):
        conn.close()
    connections["default"] = original.__class__(dict(settings_dict), alias="default")
    rl = limiter(limit, fake)
    start.wait()
    granted_at = []
    for _ in range(requests):
        rl.acquire("dinero:shared")
        granted_at.append(fake.last_read)
    results.put(granted_at)
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_two_processes_never_exceed_the_shared_budget_in_any_window():
    limit, per_process = 5, 12
    ctx = multiprocessing.get_context("fork")
    fake = SharedFakeTime(ctx)
    with shared_database() as settings_dict:
        connections.close_all()
        start, results = ctx.Event(), ctx.Queue()
        children = [
            ctx.Process(target=_worker, args=(settings_dict, limit, per_process, fake, start, results))
            for _ in range(2)
        ]
        for child in children:
            child.start()
        start.set()
        granted = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=60)
            assert child.exitcode == 0
        stored = SharedRateLimiter(limit).granted_at("dinero:shared")
    everything = sorted(at for process in granted for at in process)
    assert len(everything) == 2 * per_process
    assert most_in_any_minute(everything) <= limit
    # The log in the database is the tail of what the two processes were granted.
    assert stored == pytest.approx(everything[-len(stored):], abs=0.002)
    # 24 requests at 5 per sliding span need at least four full spans of waiting.
    assert everything[-1] - everything[0] >= 4 * SPAN


# --- Requests counted until their answer arrives -------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.django_db
def test_no_vendor_minute_holds_more_than_the_budget_whatever_the_travel_times(seed):
    """The vendor counts a request when it arrives: anywhere between our grant and its answer.

    Four senders share a budget of 7; requests take from 50 ms to 25 s, and each arrives at its
    grant, at its answer or in between. Stamping at the grant let a slow request arriving late
    share the vendor's minute with eight others; counted as in flight until the answer, no
    arrival pattern can.
    """
    rng = random.Random(seed)
    fake = FakeTime()
    rl = limiter(7, fake, max_block=0)
    key = "dinero:400555"
    flying: list[tuple[float, str]] = []  # (answer at, ticket)
    arrivals: list[float] = []

    def advance_to(moment: float) -> None:
        for answer_at, ticket in sorted(flying):
            if answer_at <= moment:
                fake.now = max(fake.now, answer_at)
                rl.finish(key, ticket)
                flying.remove((answer_at, ticket))
        fake.now = max(fake.now, moment)

    for n in range(120):
        advance_to(fake.now + rng.choice([0, 0, 0.1, 0.5, 3]))
        while len(flying) >= 4:
            advance_to(min(flying)[0])
        ticket = f"t{n}"
        while (wait := rl.try_acquire(key, ticket=ticket)) > 0:
            advance_to(fake.now + wait)
        travel = rng.choice([0.05, 0.2, 2.0, 8.0, 25.0])
        arrivals.append(fake.now + travel * rng.choice([0.0, 1.0, rng.random()]))
        flying.append((fake.now + travel, ticket))
    advance_to(fake.now + 30)
    assert most_in_any_minute(arrivals) <= 7
    assert rl.in_flight(key) == 0


@pytest.mark.django_db
def test_a_request_in_flight_counts_as_now_until_its_answer_and_then_at_the_answer():
    fake = FakeTime()
    rl = limiter(1, fake, max_block=0)
    ticket = rl.start("dinero:400555")
    fake.now += 50
    # Still in flight after 50 s: the vendor may be counting it this instant.
    assert rl.try_acquire("dinero:400555") == pytest.approx(SPAN, abs=0.01)
    rl.finish("dinero:400555", ticket)
    assert rl.in_flight("dinero:400555") == 0
    fake.now += 10
    # Answered at T0 + 50: room again a span after the answer, not after the grant.
    wait = rl.try_acquire("dinero:400555")
    assert wait == pytest.approx(SPAN - 10, abs=0.01)
    fake.now += wait
    assert rl.try_acquire("dinero:400555") == 0


@pytest.mark.django_db
def test_a_request_whose_process_died_in_flight_stops_counting_after_the_longest_flight():
    from integration.core.clients.ratelimit import MAX_FLIGHT_SECONDS

    fake = FakeTime()
    rl = limiter(1, fake, max_block=0)
    rl.start("dinero:400555")  # the process is killed before the answer: finish never runs
    fake.now += MAX_FLIGHT_SECONDS + SPAN - 1
    assert rl.try_acquire("dinero:400555") > 0
    fake.now += 1.01
    assert rl.try_acquire("dinero:400555") == 0
    # The dead request has left the log: the row does not grow with dead processes.
    assert rl.in_flight("dinero:400555") == 0


@pytest.mark.django_db
def test_a_log_written_before_in_flight_tracking_is_read_as_answered_requests():
    fake = FakeTime()
    RateLimitWindow.objects.create(key="dinero:400555", grants=f"[{T0 - 30}, {T0 - 10}]", version=3)
    rl = limiter(2, fake, max_block=0)
    assert rl.used("dinero:400555") == 2
    assert rl.try_acquire("dinero:400555") == pytest.approx(SPAN - 30, abs=0.01)


@pytest.mark.django_db
def test_a_log_with_foreign_entries_counts_only_its_times():
    fake = FakeTime()
    RateLimitWindow.objects.create(key="dinero:9", version=0,
                                   grants=f'[{T0 - 2}, "x", null, {T0 - 1}, true, {{"a": 1}}]')
    rl = limiter(100, fake)
    # The numbers count (a JSON true is the number 1 to Python: far outside the span); the rest is ignored.
    assert rl.used("dinero:9") == 2
    assert rl.try_acquire("dinero:9") == 0 and rl.used("dinero:9") == 3


def test_a_decoded_log_is_handed_out_as_a_copy():
    from integration.core.clients.ratelimit import _Log

    stored = _Log([T0 - 3, T0 - 2], {"t1": T0 - 1}).dumps()
    first = _Log.parse_known(stored)
    first.add_done(T0)
    first.flying.clear()
    again = _Log.parse_known(stored)
    assert again.done == [T0 - 3, T0 - 2] and again.flying == {"t1": T0 - 1}
    assert _Log.parse(stored).done == again.done
