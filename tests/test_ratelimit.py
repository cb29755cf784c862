"""The shared request budget: per key and minute, across processes, with 429 penalties."""

from __future__ import annotations

import multiprocessing
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.db import connections

from integration.clients.ratelimit import WINDOW_SECONDS, SharedRateLimiter
from integration.models import RateLimitWindow

# Mid-window, so a few seconds of fake time never cross into the next minute by accident.
T0 = 1_750_000_000 - (1_750_000_000 % WINDOW_SECONDS) + 10


class FakeTime:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(limit: int, fake: FakeTime) -> SharedRateLimiter:
    return SharedRateLimiter(limit, clock=fake.clock, sleep=fake.sleep)


@pytest.mark.django_db
def test_requests_within_the_budget_are_granted_without_waiting():
    fake = FakeTime()
    rl = limiter(3, fake)
    for _ in range(3):
        rl.acquire("dinero:400555")
    assert fake.sleeps == []
    assert rl.used("dinero:400555") == 3


@pytest.mark.django_db
def test_request_beyond_the_budget_waits_for_the_next_minute():
    fake = FakeTime()
    rl = limiter(2, fake)
    rl.acquire("dinero:400555")
    rl.acquire("dinero:400555")
    rl.acquire("dinero:400555")
    assert fake.sleeps == [WINDOW_SECONDS - 10]
    assert rl.used("dinero:400555") == 1
    counts = sorted(RateLimitWindow.objects.filter(key="dinero:400555").values_list("count", flat=True))
    assert counts == [1, 2]


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
    assert first.try_acquire("dinero:400555") == WINDOW_SECONDS - 10
    assert second.try_acquire("dinero:400555") == WINDOW_SECONDS - 10


@pytest.mark.django_db
def test_penalty_after_429_blocks_the_key_until_it_ends():
    fake = FakeTime()
    rl = limiter(100, fake)
    rl.acquire("dinero:400555")
    rl.penalize("dinero:400555", 30)
    assert rl.blocked_for("dinero:400555") == 30
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


@pytest.mark.django_db
def test_old_windows_are_pruned_when_a_new_window_starts():
    fake = FakeTime()
    rl = limiter(5, fake)
    rl.acquire("dinero:400555")
    fake.now += 2 * 3600
    rl.acquire("dinero:400555")
    assert RateLimitWindow.objects.filter(key="dinero:400555").count() == 1


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
        stored = {
            int(row.window_start.timestamp()) // WINDOW_SECONDS: row.count
            for row in RateLimitWindow.objects.filter(key="dinero:shared")
        }
    per_window = Counter(int(at // WINDOW_SECONDS) for process in granted for at in process)
    assert sum(per_window.values()) == 2 * per_process
    assert max(per_window.values()) <= limit
    assert stored == dict(per_window)
    # 24 requests at 5 per minute need at least five windows between the two processes.
    assert len(per_window) >= 5
