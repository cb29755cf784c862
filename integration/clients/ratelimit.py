"""A request budget per key shared by every worker process and host, kept in the database.

Dinero allows 100 requests per minute per organization and Rackbeat about 480 per token. Several
django-q2 workers (possibly on several hosts) call the same API for the same customer, so a
per-process counter would overspend the budget. The budget lives in ``RateLimitWindow`` rows:

* fixed one-minute windows keyed by ``(key, window_start)``; a request is granted by a
  conditional ``UPDATE … SET count = count + 1 WHERE count < limit`` — the database serialises
  the increments, so two processes can never both take the last slot;
* the row of a new window is created on the first miss; a concurrent creator losing the race
  (``IntegrityError``) simply tries the update again;
* ``blocked_until`` records a penalty after a 429: nobody sends for that key until then.

Call :meth:`SharedRateLimiter.acquire` outside a long database transaction: the counter row is
written in its own short statement so other processes see it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q

WINDOW_SECONDS = 60
# Rows of windows older than this (and without a running penalty) are deleted as new windows start.
KEEP_WINDOWS = timedelta(hours=1)
# Never sleep less than this between two attempts, so a full window does not turn into a busy loop.
MIN_WAIT_SECONDS = 0.05


def _aware(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


class SharedRateLimiter:
    """At most ``limit_per_minute`` requests per key and fixed minute, across all processes.

    ``clock`` returns epoch seconds and ``sleep`` waits; both are injectable so tests can run
    without real time passing.
    """

    def __init__(
        self,
        limit_per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit_per_minute < 1:
            raise ValueError("limit_per_minute must be at least 1")
        self.limit = limit_per_minute
        self.clock = clock
        self.sleep = sleep

    # --- public API ---------------------------------------------------------------------------
    def acquire(self, key: str) -> None:
        """Block until one request for ``key`` fits the budget, then count it."""
        while True:
            wait = self.try_acquire(key)
            if wait <= 0:
                return
            self.sleep(max(wait, MIN_WAIT_SECONDS))

    def try_acquire(self, key: str) -> float:
        """Count one request and return 0, or return the seconds to wait before trying again."""
        now = self.clock()
        blocked = self.blocked_for(key, now=now)
        if blocked > 0:
            return blocked
        window_start = self._window_start(now)
        while True:
            if self._increment(key, window_start):
                return 0.0
            if self._window_exists(key, window_start):
                return window_start.timestamp() + WINDOW_SECONDS - now
            if self._create_window(key, window_start):
                self._prune(key, now)
                return 0.0
            # Another process created the window first: its row exists now, count against it.

    def penalize(self, key: str, seconds: float) -> None:
        """After a 429: nobody sends for ``key`` during the next ``seconds``."""
        now = self.clock()
        until = _aware(now + max(seconds, 0))
        window_start = self._window_start(now)
        self._ensure_window(key, window_start)
        # Never shorten a longer penalty another process already recorded.
        RateLimitWindow = _model()
        RateLimitWindow.objects.filter(key=key, window_start=window_start).filter(
            Q(blocked_until__isnull=True) | Q(blocked_until__lt=until)
        ).update(blocked_until=until)

    def blocked_for(self, key: str, *, now: float | None = None) -> float:
        """Seconds left of a penalty on ``key`` (0 when requests may be sent)."""
        now = self.clock() if now is None else now
        RateLimitWindow = _model()
        until = RateLimitWindow.objects.filter(
            key=key, window_start__gte=_aware(now) - KEEP_WINDOWS, blocked_until__gt=_aware(now)
        ).aggregate(until=Max("blocked_until"))["until"]
        return (until.timestamp() - now) if until else 0.0

    def used(self, key: str) -> int:
        """Requests already counted for ``key`` in the current window."""
        RateLimitWindow = _model()
        row = RateLimitWindow.objects.filter(key=key, window_start=self._window_start(self.clock())).first()
        return row.count if row else 0

    # --- database steps ---------------------------------------------------------------------
    @staticmethod
    def _window_start(now: float) -> datetime:
        return _aware(int(now // WINDOW_SECONDS) * WINDOW_SECONDS)

    def _increment(self, key: str, window_start: datetime) -> bool:
        RateLimitWindow = _model()
        return bool(
            RateLimitWindow.objects.filter(key=key, window_start=window_start, count__lt=self.limit)
            .update(count=F("count") + 1)
        )

    @staticmethod
    def _window_exists(key: str, window_start: datetime) -> bool:
        return _model().objects.filter(key=key, window_start=window_start).exists()

    @staticmethod
    def _create_window(key: str, window_start: datetime, count: int = 1) -> bool:
        try:
            with transaction.atomic():
                _model().objects.create(key=key, window_start=window_start, count=count)
        except IntegrityError:
            return False
        return True

    def _ensure_window(self, key: str, window_start: datetime) -> None:
        if not self._window_exists(key, window_start):
            self._create_window(key, window_start, count=0)

    @staticmethod
    def _prune(key: str, now: float) -> None:
        cutoff = _aware(now) - KEEP_WINDOWS
        _model().objects.filter(key=key, window_start__lt=cutoff).filter(
            Q(blocked_until__isnull=True) | Q(blocked_until__lt=_aware(now))
        ).delete()


def _model():  # type: ignore[no-untyped-def]
    # Imported lazily: the clients package is imported by settings-free code paths too.
    from integration.models import RateLimitWindow

    return RateLimitWindow
