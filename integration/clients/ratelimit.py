"""A request budget per key shared by every worker process and host, kept in the database.

Dinero allows 100 requests per minute per organization and Rackbeat about 480 per token, counted
over any sliding 60 seconds. Several django-q2 workers (possibly on several hosts) call the same
API for the same customer, so the budget lives in one ``RateLimitWindow`` row per key:

* **a sliding window log** — the row holds the times of the grants of the last span (60 s plus a
  small safety margin for the time a request takes to reach the vendor). A request is granted
  only when fewer than ``limit`` grants fall inside the span ending now, so no 60-second span ever
  holds more than the budget — unlike fixed calendar minutes, which allow twice the budget across
  a minute boundary;
* **one conditional UPDATE per grant** — the new log is written with
  ``UPDATE … WHERE key = %s AND version = <the version read>``; a process that lost the race to
  another reads again. Both PostgreSQL and SQLite serialise the update, so two processes can never
  both take the last slot;
* ``blocked_until`` records the vendor's Retry-After after a 429: nobody sends for that key until
  then.

:meth:`SharedRateLimiter.acquire` waits at most ``max_block`` seconds (a pause shorter than
putting the work back); a longer wait raises :class:`~integration.clients.errors.BudgetExhausted`
carrying the moment the budget has room again, so the engine puts the operation back with that
due time instead of holding a worker asleep.

Call the limiter outside a long database transaction: the row is written in its own short
statement so other processes see the grant at once (and a rolled-back transaction would forget
a request that was really sent).

Clocks: the grant times are the hosts' clocks, so hosts sharing a budget need NTP; the safety
margin also absorbs small differences.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from integration.clients.errors import BudgetExhausted

WINDOW_SECONDS = 60
# Added to the window: a request granted now reaches the vendor a little later, and hosts' clocks
# differ a little. 2 s of 62 costs 3 % of the throughput and keeps the vendor's count below the
# budget even when two requests travel at different speeds.
DEFAULT_SAFETY_SECONDS = 2.0
# Waits up to this long happen inside the request (pacing); longer ones put the work back.
DEFAULT_MAX_BLOCK_SECONDS = 1.0
# Never sleep less than this between two attempts, so a full log does not turn into a busy loop.
MIN_WAIT_SECONDS = 0.05
# Attempts at the conditional update before giving the caller a short wait instead.
MAX_RACES = 25


def _aware(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


class SharedRateLimiter:
    """At most ``limit_per_minute`` requests per key in any sliding minute, across all processes.

    ``clock`` returns epoch seconds and ``sleep`` waits; both are injectable so tests can run
    without real time passing.
    """

    def __init__(
        self,
        limit_per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_block: float | None = None,
        safety_seconds: float | None = None,
    ) -> None:
        if limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1")
        self.limit = limit_per_minute
        self.clock = clock
        self.sleep = sleep
        self.max_block = _setting("RATE_LIMIT_MAX_BLOCK_SECONDS", DEFAULT_MAX_BLOCK_SECONDS) \
            if max_block is None else max_block
        safety = _setting("RATE_LIMIT_SAFETY_SECONDS", DEFAULT_SAFETY_SECONDS) \
            if safety_seconds is None else safety_seconds
        # The span within which at most ``limit`` grants may fall.
        self.span = WINDOW_SECONDS + max(safety, 0.0)

    # --- public API ---------------------------------------------------------------------------
    def acquire(self, key: str) -> None:
        """Count one request for ``key``; wait up to ``max_block`` seconds, else raise.

        Raises :class:`BudgetExhausted` with the seconds until the budget has room.
        """
        while True:
            wait = self.try_acquire(key)
            if wait <= 0:
                return
            if wait > self.max_block:
                due = self.promise(key)
                raise BudgetExhausted(key=key, retry_after=due - self.clock(), due_at=due)
            self.sleep(max(wait, MIN_WAIT_SECONDS))

    def try_acquire(self, key: str) -> float:
        """Count one request and return 0, or return the seconds to wait before trying again."""
        for _attempt in range(MAX_RACES):
            # The row is read before the clock: a grant written before this read was stamped no
            # later than ``now`` (on one clock), so the log read holds every grant that can share
            # a span with ours; a grant written after it makes our conditional update fail.
            row = self._row(key)
            now = self.clock()
            blocked = _blocked_seconds(row["blocked_until"], now)
            if blocked > 0:
                return blocked
            grants = self._recent(row["grants"], now)
            wait = self._wait(grants, now)
            if wait > 0:
                return wait
            bisect.insort(grants, round(now, 3))
            if self._write(key, row["version"], grants):
                return 0.0
            # Another process granted (or penalized) in between: read the log again.
        return MIN_WAIT_SECONDS

    def wait_for(self, key: str) -> float:
        """Seconds until one request for ``key`` would be granted (0 now), without counting one."""
        now = self.clock()
        row = self._row(key)
        return max(_blocked_seconds(row["blocked_until"], now), self._wait(self._recent(row["grants"], now), now))

    def promise(self, key: str) -> float:
        """When a caller that found no room should come back (epoch seconds).

        The first caller is told the moment the budget has room; each further caller one
        request's share of the span (``span / limit``) after the previous one, so operations put
        back wake one by one at the budget's pace instead of all at the same instant (where all
        but one would find the budget full again).
        """
        spacing = self.span / self.limit
        now = self.clock()
        for _attempt in range(MAX_RACES):
            row = self._row(key)
            now = self.clock()
            free_at = now + max(_blocked_seconds(row["blocked_until"], now),
                                self._wait(self._recent(row["grants"], now), now))
            last = row["promised_until"]
            due = free_at if last is None else max(free_at, last + spacing)
            if _model().objects.filter(key=key, version=row["version"]).update(
                promised_until=due, version=row["version"] + 1
            ):
                return due
        return now + spacing

    def penalize(self, key: str, seconds: float) -> None:
        """After a 429: nobody sends for ``key`` during the next ``seconds`` (Retry-After)."""
        until = _aware(self.clock() + max(seconds, 0))
        self._row(key)
        # Never shorten a longer penalty another process already recorded; the version moves so
        # a grant being written concurrently reads the penalty first.
        _model().objects.filter(key=key).filter(Q(blocked_until__isnull=True) | Q(blocked_until__lt=until)).update(
            blocked_until=until, version=F("version") + 1
        )

    def blocked_for(self, key: str, *, now: float | None = None) -> float:
        """Seconds left of a penalty on ``key`` (0 when requests may be sent)."""
        now = self.clock() if now is None else now
        row = _model().objects.filter(key=key).values("blocked_until").first()
        return _blocked_seconds(row["blocked_until"], now) if row else 0.0

    def used(self, key: str) -> int:
        """Requests counted for ``key`` within the span ending now."""
        row = _model().objects.filter(key=key).values("grants").first()
        return len(self._recent(row["grants"], self.clock())) if row else 0

    def granted_at(self, key: str) -> list[float]:
        """The grant times still in the log (epoch seconds, ascending)."""
        row = _model().objects.filter(key=key).values("grants").first()
        return _parse(row["grants"]) if row else []

    # --- the log ----------------------------------------------------------------------------
    def _recent(self, stored: str, now: float) -> list[float]:
        # A grant exactly one span ago still counts, so two grants are always more than a span apart.
        return [t for t in _parse(stored) if t >= now - self.span]

    def _wait(self, grants: list[float], now: float) -> float:
        if len(grants) < self.limit:
            return 0.0
        # The grant that must leave the span before one more fits; a little past its edge.
        oldest_blocking = grants[len(grants) - self.limit]
        return max(oldest_blocking + self.span - now + 0.001, MIN_WAIT_SECONDS)

    # --- database steps ---------------------------------------------------------------------
    @staticmethod
    def _row(key: str) -> dict[str, Any]:
        RateLimitWindow = _model()
        fields = ("grants", "version", "blocked_until", "promised_until")
        row = RateLimitWindow.objects.filter(key=key).values(*fields).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                RateLimitWindow.objects.create(key=key, grants="[]", version=0)
        except IntegrityError:
            pass  # another process created it first
        return RateLimitWindow.objects.filter(key=key).values(*fields).get()

    @staticmethod
    def _write(key: str, version: int, grants: list[float]) -> bool:
        return bool(
            _model().objects.filter(key=key, version=version).update(
                grants=json.dumps(grants), version=version + 1
            )
        )


def _parse(stored: str) -> list[float]:
    try:
        values = json.loads(stored or "[]")
    except ValueError:
        return []
    return sorted(float(v) for v in values if isinstance(v, int | float))


def _blocked_seconds(blocked_until: datetime | None, now: float) -> float:
    return max(blocked_until.timestamp() - now, 0.0) if blocked_until else 0.0


def _setting(name: str, default: float) -> float:
    from django.conf import settings

    return float(getattr(settings, name, default))


def _model():  # type: ignore[no-untyped-def]
    # Imported lazily: the clients package is imported by settings-free code paths too.
    from integration.models import RateLimitWindow

    return RateLimitWindow
