"""Who is calling, how often, and which faults the account wants injected into the answer."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from sandbox.rackbeat import models as m


def account_for(request: HttpRequest) -> m.Account | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return m.Account.objects.filter(api_token=token.strip()).first()


@dataclass
class Budget:
    limit: int
    used: int

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def retry_after(self) -> int:
        return 60 - timezone.now().second


def count_request(account: m.Account) -> Budget:
    """Count one request in the current minute (shared by every process through the database)."""
    minute = timezone.now().replace(second=0, microsecond=0)
    updated = m.RequestCount.objects.filter(account=account, minute=minute).update(count=F("count") + 1)
    if not updated:
        # A new minute: forget the old ones so the table stays small.
        m.RequestCount.objects.filter(account=account, minute__lt=minute - timedelta(hours=1)).delete()
        try:
            with transaction.atomic():
                m.RequestCount.objects.create(account=account, minute=minute, count=1)
        except IntegrityError:
            m.RequestCount.objects.filter(account=account, minute=minute).update(count=F("count") + 1)
    used = m.RequestCount.objects.filter(account=account, minute=minute).values_list("count", flat=True).first()
    return Budget(limit=account.rate_limit_per_minute, used=used or 0)


def _take(account: m.Account, counter: str) -> bool:
    """Use up one unit of a deterministic "next N" counter; True when one was left."""
    return bool(m.Account.objects.filter(pk=account.pk, **{f"{counter}__gt": 0}).update(**{counter: F(counter) - 1}))


def _roll(rate: float) -> bool:
    return rate > 0 and random.random() < rate


def injected_status(account: m.Account, *, read: bool = False) -> int | None:
    """Sleep the configured latency, then tell whether this request fails with 429 or 500.

    ``read`` requests (GET) can also meet the read-only 500s, which leave writes alone.
    """
    if account.latency_ms:
        time.sleep(account.latency_ms / 1000)
    if _take(account, "fail_next_429") or _roll(account.error_429_rate):
        return 429
    if _take(account, "fail_next_500") or _roll(account.error_500_rate):
        return 500
    if read and (_take(account, "fail_next_read_500") or _roll(account.error_500_read_rate)):
        return 500
    return None


def fails_after_write(account: m.Account) -> bool:
    """Whether this (stored) write should nevertheless be answered with 500."""
    return _take(account, "fail_next_500_after_write") or _roll(account.error_500_after_write_rate)
