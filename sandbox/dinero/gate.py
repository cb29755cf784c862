"""What stands before every emulated API call: the bearer token, the rate limit and the faults.

The rate limit and the "next N requests" fault counters are kept in the database and changed
with conditional UPDATEs, so every server process (and the live test server) shares them.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Sum
from django.http import HttpRequest
from django.utils import timezone

from sandbox.dinero.models import AccessToken, Organization, RequestCount

TOKEN_LIFETIME = timedelta(seconds=3600)
DEFAULT_RATE_LIMIT = 100


def issue_access_token(*, organization: Organization | None = None, consent=None) -> AccessToken:
    return AccessToken.objects.create(token=secrets.token_urlsafe(32), organization=organization, consent=consent,
                                      expires_at=timezone.now() + TOKEN_LIFETIME)


def bearer(request: HttpRequest) -> AccessToken | None:
    """The valid access token of the request, or None (missing, unknown or expired)."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    found = AccessToken.objects.select_related("consent").filter(token=token).first()
    if found is None or found.expires_at <= timezone.now():
        return None
    return found


def rate_limit(org: Organization) -> int:
    return org.rate_limit_per_minute or getattr(settings, "SANDBOX_DINERO_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT)


def count_request(org: Organization) -> tuple[bool, int]:
    """Counts one request; returns (within the limit, seconds until the minute ends)."""
    if getattr(settings, "SANDBOX_DINERO_SLIDING_MINUTE", False):
        return _count_sliding(org)
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    RequestCount.objects.get_or_create(organization=org, minute=minute)
    RequestCount.objects.filter(organization=org, minute=minute).update(count=F("count") + 1)
    count = RequestCount.objects.values_list("count", flat=True).get(organization=org, minute=minute)
    RequestCount.objects.filter(organization=org, minute__lt=minute - timedelta(minutes=5)).delete()
    return count <= rate_limit(org), 60 - now.second


def _count_sliding(org: Organization) -> tuple[bool, int]:
    """The stricter count a real API may keep: every request of the last 60 seconds.

    Requests are counted per second (``RequestCount.minute`` holds the second then); the current
    second and the 60 before it are summed, so a request is refused when the budget was used up at
    any point of the last 60–61 seconds. Fixed calendar minutes would let twice the budget through
    across a minute boundary; this is how a client's self-inflicted 429s are proven absent.
    """

    now = timezone.now()
    second = now.replace(microsecond=0)
    RequestCount.objects.get_or_create(organization=org, minute=second)
    RequestCount.objects.filter(organization=org, minute=second).update(count=F("count") + 1)
    window = RequestCount.objects.filter(organization=org, minute__gte=second - timedelta(seconds=60))
    count = window.aggregate(n=Sum("count"))["n"] or 0
    RequestCount.objects.filter(organization=org, minute__lt=second - timedelta(minutes=5)).delete()
    oldest = window.order_by("minute").values_list("minute", flat=True).first() or second
    return count <= rate_limit(org), max(1, int((oldest + timedelta(seconds=61) - now).total_seconds()))


def quota_message(org: Organization) -> str:
    return f"API calls quota exceeded! maximum admitted {rate_limit(org)} per 1m."


@dataclass
class Faults:
    """The faults one request suffers, decided before it is handled."""

    too_many: bool = False
    server_error: bool = False
    timeout: bool = False


def _consume(org: Organization, counter: str) -> bool:
    return Organization.objects.filter(pk=org.pk, **{f"{counter}__gt": 0}).update(**{counter: F(counter) - 1}) == 1


def _roll(rate: float) -> bool:
    return rate > 0 and random.random() < rate


def decide_faults(org: Organization) -> Faults:
    """At most one answer fault (429 or 500) per request, so each "next N" counter means N requests."""
    faults = Faults(timeout=_consume(org, "fail_next_timeout") or _roll(org.rate_timeout))
    faults.too_many = _consume(org, "fail_next_429") or _roll(org.rate_429)
    if not faults.too_many:
        faults.server_error = _consume(org, "fail_next_500") or _roll(org.rate_500)
    return faults


def fails_after_write(org: Organization) -> bool:
    """Asked after a write committed: answer 500 although the write took effect?"""
    return _consume(org, "fail_next_500_after_write") or _roll(org.rate_500_after_write)


def times_out_after_write(org: Organization) -> bool:
    """Asked after a write committed: keep the answer back until the client has given up?"""
    return _consume(org, "fail_next_timeout_after_write") or _roll(org.rate_timeout_after_write)


def add_latency(org: Organization) -> None:
    delay = org.latency_ms + (random.randint(0, org.latency_jitter_ms) if org.latency_jitter_ms else 0)
    if delay:
        time.sleep(delay / 1000)


def stall() -> None:
    """Sleep past the client's timeout (bounded; tests set a tiny value)."""
    default = min(float(getattr(settings, "HTTP_TIMEOUT_SECONDS", 30)) + 5, 60.0)
    time.sleep(float(getattr(settings, "SANDBOX_DINERO_TIMEOUT_SECONDS", default)))
