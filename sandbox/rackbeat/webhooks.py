"""Webhooks the emulated Rackbeat sends when a document is created, updated or booked.

Deliveries are recorded before anything is sent and go out only after the write's transaction
commits (a receiver that re-reads the document must find it). They run in a background thread,
like Rackbeat's own queue, unless ``SANDBOX_WEBHOOKS_SYNC`` is on — then they are sent before the
API call answers, which makes tests deterministic. A failed delivery is retried a few times with
a growing pause; the fault injection switches of the account can drop webhooks on purpose, send
them twice or hold them back (:mod:`sandbox.rackbeat.webhook_faults`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import requests
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from sandbox.rackbeat import models as m
from sandbox.rackbeat import webhook_faults

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 3.0
RESPONSE_TIMEOUT = 15.0


def _sync() -> bool:
    return bool(getattr(settings, "SANDBOX_WEBHOOKS_SYNC", False))


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


def dispatch(delivery_ids: list[int]) -> None:
    if _sync():
        for delivery_id in delivery_ids:
            deliver(delivery_id)
        return
    threading.Thread(target=_deliver_in_background, args=(delivery_ids,), daemon=True,
                     name="sandbox-rackbeat-webhooks").start()


def _deliver_in_background(delivery_ids: list[int]) -> None:
    try:
        for delivery_id in delivery_ids:
            deliver(delivery_id)
    except Exception:  # a dying background thread must not take anything else with it
        log.exception("Sandbox webhook delivery failed")
    finally:
        close_old_connections()


def _send_once(delivery: m.WebhookDelivery) -> None:
    hook = delivery.webhook
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Rackbeat Webhook",
        "Rackbeat-Webhook-Token": hook.token if hook else "",
        "Rackbeat-Webhook-Event": delivery.event,
        "Rackbeat-Account-Id": str(delivery.account.account_id),
    }
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    try:
        response = requests.post(delivery.url, json=delivery.payload, headers=headers,
                                 timeout=(CONNECT_TIMEOUT, RESPONSE_TIMEOUT))
    except requests.RequestException as exc:
        delivery.status_code = None
        delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
        delivery.state = m.WebhookDelivery.State.FAILED
    else:
        delivery.status_code = response.status_code
        if 200 <= response.status_code < 300:
            delivery.state = m.WebhookDelivery.State.DELIVERED
            delivery.error = ""
        else:
            delivery.state = m.WebhookDelivery.State.FAILED
            delivery.error = response.text[:2000]
    delivery.save(update_fields=["attempts", "last_attempt_at", "status_code", "state", "error"])
    if hook is not None:
        if delivery.state == m.WebhookDelivery.State.DELIVERED:
            m.Webhook.objects.filter(pk=hook.pk).update(failures_since_last_success=0)
        else:
            m.Webhook.objects.filter(pk=hook.pk).update(failures_since_last_success=F("failures_since_last_success") + 1)


def deliver(delivery_id: int, *, max_attempts: int = MAX_ATTEMPTS) -> m.WebhookDelivery:
    """Send one delivery, retrying a failure up to ``max_attempts`` times in all."""
    delivery = m.WebhookDelivery.objects.select_related("webhook", "account").get(pk=delivery_id)
    pause = float(getattr(settings, "SANDBOX_WEBHOOK_RETRY_SECONDS", 2.0))
    for attempt in range(max_attempts):
        _send_once(delivery)
        if delivery.state == m.WebhookDelivery.State.DELIVERED:
            break
        if attempt + 1 < max_attempts and not _sync():
            time.sleep(pause * (2 ** attempt))
    return delivery


def redeliver(delivery: m.WebhookDelivery) -> m.WebhookDelivery:
    """Send a failed or dropped delivery again (one attempt), as Rackbeat's log page allows."""
    delivery.state = m.WebhookDelivery.State.PENDING
    delivery.save(update_fields=["state"])
    return deliver(delivery.pk, max_attempts=1)
