"""Webhook delivery faults of the emulated Rackbeat: sent twice, or held back so later ones overtake.

(Dropping lives in :mod:`sandbox.rackbeat.webhooks`, sending in :mod:`sandbox.rackbeat.webhook_sending`.) Each fault has a rate and a deterministic
"next N" counter per account, taken with conditional UPDATEs so concurrent writers count exactly.

* **Duplicate** — a second delivery of the same body is recorded. In the background it goes out
  0.2–3 s after the first (so it may arrive after the first was processed); with
  ``SANDBOX_WEBHOOKS_SYNC`` both are sent before the API call answers.
* **Held back** — the delivery is recorded as *held*. In the background it goes out after a random
  0.5 s up to ``webhook_delay_max_seconds`` (the longest for a "next N" hold), so webhooks of later
  changes arrive first. With ``SANDBOX_WEBHOOKS_SYNC`` it stays held until a test calls
  :func:`release_held`, which sends the held deliveries of an account, oldest last (reversed), so a
  test decides exactly when and in which order they arrive.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import F

from sandbox.rackbeat import models as m
from sandbox.rackbeat.webhook_sending import deliver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fate:
    duplicate: bool = False
    hold_seconds: float | None = None


def _take(account: m.Account, counter: str) -> bool:
    return bool(m.Account.objects.filter(pk=account.pk, **{f"{counter}__gt": 0}).update(**{counter: F(counter) - 1}))


def decide(account: m.Account) -> Fate:
    """The delivery faults of one webhook (read fresh: the switches may change during a run)."""
    rates = m.Account.objects.filter(pk=account.pk).values(
        "webhook_duplicate_rate", "webhook_delay_rate", "webhook_delay_max_seconds").first() or {}
    duplicate = _take(account, "duplicate_next_webhooks") or random.random() < (rates.get("webhook_duplicate_rate") or 0)
    longest = max(0.5, float(rates.get("webhook_delay_max_seconds") or 0.5))
    hold = None
    if _take(account, "delay_next_webhooks"):
        hold = longest
    elif random.random() < (rates.get("webhook_delay_rate") or 0):
        hold = random.uniform(0.5, longest)
    return Fate(duplicate=duplicate, hold_seconds=hold)


def _sync() -> bool:
    return bool(getattr(settings, "SANDBOX_WEBHOOKS_SYNC", False))


def later(delivery_id: int, seconds: float) -> None:
    """Send a held delivery after ``seconds`` (background mode only; sync mode waits for release_held)."""
    if _sync():
        return
    timer = threading.Timer(seconds, _release_one, args=(delivery_id,))
    timer.daemon = True
    timer.name = "sandbox-rackbeat-held-webhook"
    timer.start()


def _release_one(delivery_id: int) -> None:
    try:
        claimed = m.WebhookDelivery.objects.filter(pk=delivery_id, state=m.WebhookDelivery.State.HELD).update(
            state=m.WebhookDelivery.State.PENDING)
        if claimed:
            deliver(delivery_id)
    except Exception:  # a background thread must not die loudly inside the web server
        log.exception("Sandbox held webhook delivery failed")
    finally:
        # This thread ends here: its database connection must not outlive it.
        connections.close_all()


def release_held(account: m.Account) -> list[m.WebhookDelivery]:
    """Send every held delivery of ``account`` now, newest first (the held ones arrive out of order)."""
    sent = []
    for delivery_id in m.WebhookDelivery.objects.filter(account=account, state=m.WebhookDelivery.State.HELD) \
            .order_by("-id").values_list("pk", flat=True):
        if m.WebhookDelivery.objects.filter(pk=delivery_id, state=m.WebhookDelivery.State.HELD).update(
                state=m.WebhookDelivery.State.PENDING):
            sent.append(deliver(delivery_id))
    return sent
