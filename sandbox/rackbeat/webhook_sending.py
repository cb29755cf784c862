"""Sending the emulated Rackbeat's webhook deliveries, with Rackbeat's headers and its retries.

A delivery is recorded first (:mod:`sandbox.rackbeat.webhooks`, which also drops, duplicates or
holds some on purpose) and sent from here, in a background thread unless ``SANDBOX_WEBHOOKS_SYNC``
is on; a held one is sent later by :mod:`sandbox.rackbeat.webhook_faults`.
"""

from __future__ import annotations

import logging
import threading
import time

import requests
from django.conf import settings
from django.db import close_old_connections
from django.db.models import F
from django.utils import timezone

from sandbox.rackbeat import models as m

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 3.0
RESPONSE_TIMEOUT = 15.0


def synchronous() -> bool:
    """Whether deliveries are sent before the API call answers (tests), not in the background."""
    return bool(getattr(settings, "SANDBOX_WEBHOOKS_SYNC", False))


def dispatch(delivery_ids: list[int]) -> None:
    if synchronous():
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
        "Rackbeat-Webhook-Event": delivery.account.sent_event_name(delivery.event),
    }
    account_id = delivery.account.webhook_account_id()
    if account_id is not None:
        headers["Rackbeat-Account-Id"] = account_id
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
        if attempt + 1 < max_attempts and not synchronous():
            time.sleep(pause * (2 ** attempt))
    return delivery


def redeliver(delivery: m.WebhookDelivery) -> m.WebhookDelivery:
    """Send a failed or dropped delivery again (one attempt), as Rackbeat's log page allows."""
    delivery.state = m.WebhookDelivery.State.PENDING
    delivery.save(update_fields=["state"])
    return deliver(delivery.pk, max_attempts=1)
