"""A request budget per key shared by every worker process and host, kept in the database.

Dinero allows 100 requests per minute per organization and Rackbeat about 480 per token, counted
over any sliding 60 seconds. Several django-q2 workers (possibly on several hosts) call the same
API for the same customer, so the budget lives in one ``RateLimitWindow`` row per key:

* **a sliding window log** — the row holds the requests of the last span (60 s plus a small
  safety margin for hosts' clocks). A request is granted only when fewer than ``limit`` requests
  fall inside the span ending now, so no 60-second span ever holds more than the budget — unlike
  fixed calendar minutes, which allow twice the budget across a minute boundary;
* **stamped when the answer arrives** — the vendor counts a request when it *arrives*, which is
  somewhere between our grant and its answer. A request sent through :meth:`start` is logged as
  *in flight* and counts as "now" until :meth:`finish` re-stamps it with the moment its answer
  came (the latest moment the vendor can have counted it). So however long a request travels, or
  how unevenly two requests do, the spacing the vendor sees is never tighter than the spacing
  this log keeps. A request whose process died in flight counts as "now" until
  ``MAX_FLIGHT_SECONDS`` after its grant, then as answered at that moment;
* **one conditional UPDATE per grant, one per answer** — the new log is written with
  ``UPDATE … WHERE key = %s AND version = <the version read>``; a process that lost the race to
  another reads again. Both PostgreSQL and SQLite serialise the update, so two processes can never
  both take the last slot. The row a process last read or wrote is tried without reading it again
  (the version decides), and a transfer's answers may be *deferred* (``finish(…, defer=True)``):
  each is written with the next grant for the same key, or by :meth:`flush` when the transfer
  ends — until then the request counts as in flight ("now") for every other process, never less
  than it should, and this limiter already counts it at its answer time;
* ``blocked_until`` records the vendor's Retry-After after a 429: nobody sends for that key until
  then.

:meth:`SharedRateLimiter.acquire` waits at most ``max_block`` seconds (a pause shorter than
putting the work back); a longer wait raises :class:`~integration.core.clients.errors.BudgetExhausted`
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
import functools
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q

from integration.core.clients.errors import BudgetExhausted
from integration.core.models import RateLimitWindow
from integration.core.row_reads import column, first_row, prepared, reading, table
from integration.core.row_writes import update_row

WINDOW_SECONDS = 60
# Added to the window for hosts' clocks (NTP keeps them well within this) and the vendor's own
# rounding. Travel time needs no margin: requests are stamped when their answer arrives.
DEFAULT_SAFETY_SECONDS = 1.0
# A request still logged as in flight this long after its grant belonged to a process that died;
# it counts as answered at grant + this. Longer than any client timeout (Dinero's is 30 s).
MAX_FLIGHT_SECONDS = 120.0
# Waits up to this long happen inside the request (pacing); longer ones put the work back.
DEFAULT_MAX_BLOCK_SECONDS = 1.0
# Never sleep less than this between two attempts, so a full log does not turn into a busy loop.
MIN_WAIT_SECONDS = 0.05
# Attempts at the conditional update before giving the caller a short wait instead.
MAX_RACES = 25
# How long the row a process last read or wrote may answer a budget check without a statement.
REMEMBERED_SECONDS = 10.0


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
        # Answers not written yet, per key: ticket → answer time (see :meth:`finish`).
        self._answers: dict[str, dict[str, float]] = {}

    # --- public API ---------------------------------------------------------------------------
    def start(self, key: str) -> str:
        """Count one request about to be sent; it stays *in flight* until :meth:`finish`.

        Waits up to ``max_block`` seconds, else raises :class:`BudgetExhausted` with the moment
        the budget has room. Returns the ticket to hand to :meth:`finish`.
        """
        ticket = uuid.uuid4().hex[:12]
        self._acquire(key, ticket)
        return ticket

    def finish(self, key: str, ticket: str, *, defer: bool = False) -> None:
        """The answer to the request with ``ticket`` arrived (or it failed): stamp it now.

        ``defer`` keeps the stamp in this limiter until its next grant for ``key`` or
        :meth:`flush`, which write it with their own statement. Meanwhile the log in the database
        holds the request as in flight, which every process counts as "now": more than it is, never
        less. A caller that defers must call :meth:`flush` when its work ends.
        """
        self._answers.setdefault(key, {})[ticket] = round(self.clock(), 3)
        if not defer:
            self._write_answers(key)

    def flush(self) -> None:
        """Write every deferred answer (see :meth:`finish`)."""
        for key in list(self._answers):
            self._write_answers(key)

    def _write_answers(self, key: str) -> None:
        if not self._answers.get(key):
            return
        for attempt in range(MAX_RACES):
            row = self._current(key, fresh=attempt > 0)
            now = self.clock()
            log = self._parse(key, row)
            if self._write(key, row, log.pruned(now, self.span)):
                return

    def acquire(self, key: str) -> None:
        """Count one request for ``key`` answered at once; wait up to ``max_block`` seconds, else raise.

        Raises :class:`BudgetExhausted` with the seconds until the budget has room.
        """
        self._acquire(key, None)

    def _acquire(self, key: str, ticket: str | None) -> None:
        while True:
            wait = self.try_acquire(key, ticket=ticket)
            if wait <= 0:
                return
            if wait > self.max_block:
                due = self.promise(key)
                raise BudgetExhausted(key=key, retry_after=due - self.clock(), due_at=due)
            self.sleep(max(wait, MIN_WAIT_SECONDS))

    def try_acquire(self, key: str, *, ticket: str | None = None) -> float:
        """Count one request and return 0, or return the seconds to wait before trying again.

        With a ``ticket`` the request is logged as in flight (see :meth:`start`).
        """
        for attempt in range(MAX_RACES):
            # The row is read before the clock: a grant written before this read was stamped no
            # later than ``now`` (on one clock), so the log read holds every grant that can share
            # a span with ours; a grant written after it makes our conditional update fail. (The
            # row this process last read or wrote counts as read: the update succeeds only if it is
            # current. A wait is only told from a row read now: a remembered one may be stale.)
            known = None if attempt > 0 else _KNOWN.get(key)
            row = known if known is not None else self._row(key)
            now = self.clock()
            log = self._parse(key, row)
            wait = max(_blocked_seconds(row["blocked_until"], now), self._wait(log.counted(now, self.span), now))
            if wait > 0:
                if known is not None:
                    continue
                return wait
            if ticket is None:
                log.add_done(now)
            else:
                log.flying[ticket] = round(now, 3)
            if self._write(key, row, log.pruned(now, self.span)):
                return 0.0
            # Another process granted (or penalized) in between: read the log again.
        return MIN_WAIT_SECONDS

    def wait_for(self, key: str, *, remembered: bool = False) -> float:
        """Seconds until one request for ``key`` would be granted (0 now), without counting one.

        ``remembered`` first asks the row as this process last read or wrote it, without a
        statement: a row remembered for at most ``REMEMBERED_SECONDS`` that has room to spare (a
        tenth of the budget) answers "now". A remembered row may lack what other processes granted
        since, so its "now" is a hope the next grant checks (its conditional UPDATE reads the row
        again); near the budget's edge, and for any wait, the row is read now.
        """
        now = self.clock()
        known = _KNOWN.get(key) if remembered else None
        if known is not None and time.monotonic() - known.get("_known_at", 0.0) <= REMEMBERED_SECONDS \
                and _blocked_seconds(known["blocked_until"], now) <= 0 \
                and len(self._counted(known, now)) + max(1, self.limit // 10) <= self.limit:
            return 0.0
        row = self._row(key)
        return max(_blocked_seconds(row["blocked_until"], now), self._wait(self._counted(row, now), now))

    def promise(self, key: str, *, money: bool = False) -> float:
        """When a caller that found no room should come back (epoch seconds).

        The first caller is told the moment the budget has room; each further caller one
        request's share of the span (``span / limit``) after the previous one, so operations put
        back wake one by one at the budget's pace instead of all at the same instant (where all
        but one would find the budget full again).

        Booked documents (``money``) have a line of their own: they are spaced among themselves
        only, so an invoice put back behind a backlog of master data is told the budget's next
        free moment, not the end of the backlog's line (the engine makes master data yield it).
        """
        spacing = self.span / self.limit
        line = "money_promised_until" if money else "promised_until"
        now = self.clock()
        for _attempt in range(MAX_RACES):
            row = self._row(key)
            now = self.clock()
            free_at = now + max(_blocked_seconds(row["blocked_until"], now),
                                self._wait(self._counted(row, now), now))
            last = row[line]
            due = free_at if last is None else max(free_at, last + spacing)
            if RateLimitWindow.objects.filter(key=key, version=row["version"]).update(
                **{line: due}, version=row["version"] + 1
            ):
                return due
        return now + spacing

    def penalize(self, key: str, seconds: float) -> None:
        """After a 429: nobody sends for ``key`` during the next ``seconds`` (Retry-After)."""
        until = _aware(self.clock() + max(seconds, 0))
        self._row(key)
        # Never shorten a longer penalty another process already recorded; the version moves so
        # a grant being written concurrently reads the penalty first.
        RateLimitWindow.objects.filter(key=key).filter(Q(blocked_until__isnull=True) | Q(blocked_until__lt=until)).update(
            blocked_until=until, version=F("version") + 1
        )

    def blocked_for(self, key: str, *, now: float | None = None) -> float:
        """Seconds left of a penalty on ``key`` (0 when requests may be sent)."""
        now = self.clock() if now is None else now
        row = RateLimitWindow.objects.filter(key=key).values("blocked_until").first()
        return _blocked_seconds(row["blocked_until"], now) if row else 0.0

    def used(self, key: str) -> int:
        """Requests counted for ``key`` within the span ending now (in flight ones included)."""
        row = RateLimitWindow.objects.filter(key=key).values("grants").first()
        return len(self._counted(row, self.clock())) if row else 0

    def in_flight(self, key: str) -> int:
        """Requests started for ``key`` whose answer has not been recorded yet."""
        row = RateLimitWindow.objects.filter(key=key).values("grants").first()
        return len(_Log.parse(row["grants"]).flying) if row else 0

    def granted_at(self, key: str) -> list[float]:
        """The requests still in the log (epoch seconds, ascending): answer times of finished
        requests, grant times of those in flight."""
        row = RateLimitWindow.objects.filter(key=key).values("grants").first()
        if not row:
            return []
        log = _Log.parse(row["grants"])
        return sorted([*log.done, *log.flying.values()])

    # --- the log ----------------------------------------------------------------------------
    def _parse(self, key: str, row: dict[str, Any]) -> _Log:
        """The log of ``row`` with this limiter's deferred answers for ``key`` applied."""
        log = _Log.parse_known(row["grants"])
        for ticket, answered in self._answers.get(key, {}).items():
            log.flying.pop(ticket, None)
            log.add_done(answered)
        return log

    def _counted(self, row: dict[str, Any], now: float) -> list[float]:
        return _Log.parse_known(row["grants"]).counted(now, self.span)

    def _wait(self, grants: list[float], now: float) -> float:
        if len(grants) < self.limit:
            return 0.0
        # The grant that must leave the span before one more fits; a little past its edge.
        oldest_blocking = grants[len(grants) - self.limit]
        return max(oldest_blocking + self.span - now + 0.001, MIN_WAIT_SECONDS)

    # --- database steps ---------------------------------------------------------------------
    @staticmethod
    def _row(key: str) -> dict[str, Any]:
        row = _read_row(key)
        if row is None:
            try:
                with transaction.atomic():
                    RateLimitWindow.objects.create(key=key, grants="[]", version=0)
            except IntegrityError:
                pass  # another process created it first
            row = _read_row(key)
            if row is None:
                raise RateLimitWindow.DoesNotExist(key)
        _KNOWN[key] = {**row, "_known_at": time.monotonic()}
        return row

    def _current(self, key: str, *, fresh: bool) -> dict[str, Any]:
        """The row as this process last read or wrote it, or (``fresh``, or none known) as stored."""
        known = None if fresh else _KNOWN.get(key)
        return known if known is not None else self._row(key)

    def _write(self, key: str, row: dict[str, Any], log: _Log) -> bool:
        grants, version = log.dumps(), row["version"]
        # The row's id as well as its version: a row deleted and created again starts its versions anew.
        written = bool(update_row(RateLimitWindow, row["id"], where={"key": key, "version": version},
                                  grants=grants, version=version + 1))
        if written:
            _KNOWN[key] = {**row, "grants": grants, "version": version + 1, "_known_at": time.monotonic()}
            # The deferred answers of this key are in the log now.
            self._answers.pop(key, None)
        else:
            _KNOWN.pop(key, None)
        return written


# Each key's row as this process last read or wrote it. A grant or an answer is first tried as the
# conditional UPDATE against it, without reading the row: the version in the WHERE clause makes
# that exactly as safe as a fresh read (any other write moved the version, and then the row is
# read again). One statement per step instead of two while this process has the row's last version
# (a worker's own burst; the budget check before a transfer, then its first request).
_KNOWN: dict[str, dict[str, Any]] = {}


_ROW_FIELDS = ("id", "grants", "version", "blocked_until", "promised_until", "money_promised_until")


def _read_row(key: str) -> dict[str, Any] | None:
    """The budget row of ``key`` (the fields the limiter uses), or None; one prepared statement."""
    connection = reading(RateLimitWindow)
    row = first_row(connection, _row_sql(connection.alias), [prepared(RateLimitWindow, "key", key, connection)],
                    [RateLimitWindow._meta.get_field(name) for name in _ROW_FIELDS])
    return None if row is None else dict(zip(_ROW_FIELDS, row, strict=True))


@functools.cache
def _row_sql(alias: str) -> str:
    connection = connections[alias]
    columns = ", ".join(column(RateLimitWindow, name, connection) for name in _ROW_FIELDS)
    return (f"SELECT {columns} FROM {table(RateLimitWindow, connection)} "  # noqa: S608 (identifiers from the model)
            f"WHERE {column(RateLimitWindow, 'key', connection)} = %s")


def forget_rows() -> None:
    """Read every budget row afresh from now on (tests: the database is emptied between them)."""
    _KNOWN.clear()
    _DECODED.clear()


class _Log:
    """One key's request log: answered requests by answer time, in-flight ones by grant time.

    Stored as JSON in ``RateLimitWindow.grants``: a plain list of answer times when nothing is in
    flight (the format rows had before in-flight tracking), else ``{"done": […], "flying":
    {ticket: granted_at}}``.
    """

    def __init__(self, done: list[float], flying: dict[str, float]) -> None:
        self.done = done
        self.flying = flying

    @classmethod
    def parse(cls, stored: str) -> _Log:
        try:
            value = json.loads(stored or "[]")
        except ValueError:
            return cls([], {})
        if isinstance(value, dict):
            done, flying = value.get("done", []), value.get("flying", {})
        else:
            done, flying = value, {}
        if not isinstance(done, list) or not isinstance(flying, dict):
            return cls([], {})
        try:
            times = sorted(map(float, done))  # the log as written: numbers only
        except (TypeError, ValueError):
            times = sorted(float(v) for v in done if isinstance(v, int | float))
        return cls(times, {str(k): float(v) for k, v in flying.items() if isinstance(v, int | float)})

    @classmethod
    def parse_known(cls, stored: str) -> _Log:
        """:meth:`parse`, without decoding again the text this process last decoded or wrote."""
        known = _DECODED.get(stored)
        if known is None:
            known = cls.parse(stored)
            _remember_decoded(stored, known)
        return cls(list(known.done), dict(known.flying))

    def add_done(self, at: float) -> None:
        bisect.insort(self.done, round(at, 3))

    def counted(self, now: float, span: float) -> list[float]:
        """The moments the vendor may have counted, of the requests within the span ending now.

        A finished request counts at its answer time; one in flight at "now" (it may be arriving
        this instant), until it is ``MAX_FLIGHT_SECONDS`` old. A request exactly one span ago
        still counts, so two grants are always more than a span apart.
        """
        times = self.done[bisect.bisect_left(self.done, now - span):]
        if not self.flying:
            return times
        for granted in self.flying.values():
            at = min(now, granted + MAX_FLIGHT_SECONDS)
            if at >= now - span:
                times.append(at)
        return sorted(times)

    def pruned(self, now: float, span: float) -> _Log:
        """The log without what can no longer share a span with a request granted now or later."""
        done = self.done[bisect.bisect_left(self.done, now - span):]
        flying = {k: v for k, v in self.flying.items() if v + MAX_FLIGHT_SECONDS >= now - span}
        return _Log(done, flying)

    def dumps(self) -> str:
        stored = json.dumps({"done": self.done, "flying": self.flying} if self.flying else self.done)
        _remember_decoded(stored, _Log(list(self.done), dict(self.flying)))
        return stored


# The log texts this process last wrote or decoded (a few keys' worth), with their decoded form: a
# process that wrote a row last (a worker's own burst) reads the same text back, and decoding a
# full minute's log is the limiter's largest cost after the statement itself. Entries are never
# changed, only copied out.
_DECODED: dict[str, _Log] = {}
_DECODED_KEPT = 8


def _remember_decoded(stored: str, log: _Log) -> None:
    if len(_DECODED) >= _DECODED_KEPT:
        _DECODED.clear()
    _DECODED[stored] = log


def _blocked_seconds(blocked_until: datetime | None, now: float) -> float:
    return max(blocked_until.timestamp() - now, 0.0) if blocked_until else 0.0


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))

