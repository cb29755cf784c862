"""Webhooks the emulated Rackbeat sends when a document is created, updated or booked.

Deliveries are recorded before anything is sent and go out only after the write's transaction
commits (a receiver that re-reads the document must find it). They run in a background thread,
like Rackbeat's own queue, unless ``SANDBOX_WEBHOOKS_SYNC`` is on — then they are sent before the
API call answers, which makes tests deterministic. A failed delivery is retried a few times with
a growing pause; the fault injection switches of the account can drop webhooks on purpose, send
them twice or hold them back (:mod:`sandbox.rackbeat.webhook_faults`).
"""

from __future__ import annotations

import random
from typing import Any

from django.db import transaction
from django.db.models import F

from sandbox.rackbeat import models as m
from sandbox.rackbeat import webhook_faults
from sandbox.rackbeat.webhook_sending import dispatch
from sandbox.rackbeat.webhook_sending import synchronous as _sync


def _should_drop(account: m.Account) -> bool:
    # A conditional UPDATE so that "drop the next N" is exact even with concurrent writers.
    if m.Account.objects.filter(pk=account.pk, drop_next_webhooks__gt=0).update(
        drop_next_webhooks=F("drop_next_webhooks") - 1
    ):
        return True
    rate = m.Account.objects.filter(pk=account.pk).values_list("webhook_drop_rate", flat=True).first() or 0.0
    return rate > 0 and random.random() < rate


def emit(account: m.Account, event: str, key: Any, *, key_name: str = "number", old_key: Any = None,
         changed: list[str] | None = None, data: dict[str, Any] | None = None) -> list[m.WebhookDelivery]:
    """Record a delivery for every active webhook registered for ``event``; send after commit."""
    payload = _payload(account, event, key, key_name=key_name, old_key=old_key, changed=changed, data=data)
    deliveries = []
    held: list[tuple[int, float]] = []
    for hook in m.Webhook.objects.filter(account=account, event=event, is_active=True):
        deliveries += _record(account, hook, event, payload, held)
    pending = [d.pk for d in deliveries if d.state == m.WebhookDelivery.State.PENDING]
    if pending:
        transaction.on_commit(lambda: dispatch(pending))
    if held:
        transaction.on_commit(lambda: [webhook_faults.later(pk, seconds) for pk, seconds in held])
    return deliveries


def _payload(account: m.Account, event: str, key: Any, *, key_name: str, old_key: Any,
             changed: list[str] | None, data: dict[str, Any] | None) -> dict[str, Any]:
    """The body in the account's shape: thin by default (as real Rackbeat), or the older full one."""
    if account.webhook_body_shape != m.Account.WebhookBodyShape.FULL:
        # Real deliveries carry the key as a string and nothing else; the event is in the header.
        return {"key_name": key_name, "key": str(key)}
    payload: dict[str, Any] = {"key": key, "key_name": key_name, "event": event, "data": data or {key_name: key}}
    if event.endswith(".updated"):
        payload.update({"old_key": key if old_key is None else old_key, "new_key": key, "changed": changed or []})
    return payload


def _record(account: m.Account, hook: m.Webhook, event: str, payload: dict[str, Any],
            held: list[tuple[int, float]]) -> list[m.WebhookDelivery]:
    """One delivery, or none sent (dropped), two (duplicated) or one held back, as the faults decide."""
    State = m.WebhookDelivery.State
    if _should_drop(account):
        return [m.WebhookDelivery.objects.create(account=account, webhook=hook, event=event, url=hook.url,
                                                 payload=payload, state=State.DROPPED)]
    fate = webhook_faults.decide(account)
    first = m.WebhookDelivery.objects.create(account=account, webhook=hook, event=event, url=hook.url,
                                             payload=payload,
                                             state=State.PENDING if fate.hold_seconds is None else State.HELD)
    if fate.hold_seconds is not None:
        held.append((first.pk, fate.hold_seconds))
    recorded = [first]
    if fate.duplicate:
        # The copy goes out a moment after the original (at once when deliveries are synchronous).
        copy = m.WebhookDelivery.objects.create(account=account, webhook=hook, event=event, url=hook.url,
                                                payload=payload, state=State.HELD if not _sync() else State.PENDING)
        if not _sync():
            held.append((copy.pk, (fate.hold_seconds or 0) + random.uniform(0.2, 3.0)))
        recorded.append(copy)
    return recorded
