"""What a webhook address (``/webhooks/rackbeat/<public id>/``) stands for, looked up once and kept briefly.

Every delivery needs the same facts about its connection: whether it is active, its Rackbeat
account id, the token of each registered webhook and the event → kind map. They are read in one
query and kept per process for :data:`CACHE_SECONDS`, so an accepted delivery spends no statement
on them. Only SHA-256 digests of the tokens are kept, compared in constant time.

Staleness is bounded both ways:

* a refusal (unknown address, inactive, wrong token) is never decided on a cached
  entry alone — the receiver looks again in the database first, so new tokens registered by a
  resume in another process work at once;
* saving or deleting a connection, a registered webhook or the integration settings empties the
  cache of the process that saved; other processes see the change within :data:`CACHE_SECONDS`.
  Nothing is stored on a cached entry alone, though: the write of a delivery checks that the
  connection exists and is active in the same statement or transaction
  (:mod:`integration.triggers.intake_insert`), so a pause or a delete in any process stops the
  intake from the next delivery on, and the stale entry is then forgotten.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db.models.signals import post_delete, post_save

from accounts.models import Connection
from integration.core.models import IntegrationSettings, RackbeatWebhook
from integration.core.webhook_events import event_map

CACHE_SECONDS = 5.0
# Enough for every connection of a large installation; past it the cache starts afresh.
CACHE_MAX_ENTRIES = 10_000

def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).digest()


@dataclass(frozen=True)
class WebhookAddress:
    connection_id: int
    is_active: bool
    rackbeat_account_id: str
    # event → SHA-256 of the token Rackbeat gave when that webhook was registered
    token_digests: dict[str, bytes] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)

    def events_for_token(self, presented: str, event: str) -> list[str]:
        """The registered events whose token was presented: only ``event`` when the header names
        one, otherwise every event of the connection with that token (the body decides).

        Every stored digest is compared, so the time taken does not reveal which one matched.
        """
        if not presented:
            return []
        digest = token_digest(presented)
        matched = []
        for registered, stored in self.token_digests.items():
            if hmac.compare_digest(digest, stored) and (not event or registered == event):
                matched.append(registered)
        return sorted(matched)


_cache: dict[str, tuple[float, WebhookAddress]] = {}
_lock = threading.Lock()


def lookup(public_id: str, *, fresh: bool = False) -> tuple[WebhookAddress | None, bool]:
    """The address for ``public_id`` (None when unknown) and whether it came from the cache."""
    now = time.monotonic()
    if not fresh:
        cached = _cache.get(public_id)
        if cached is not None and cached[0] > now:
            return cached[1], True
    address = _read(public_id)
    with _lock:
        if address is None:
            _cache.pop(public_id, None)
        else:
            if len(_cache) >= CACHE_MAX_ENTRIES:
                _cache.clear()
            _cache[public_id] = (now + CACHE_SECONDS, address)
    return address, False


def _read(public_id: str) -> WebhookAddress | None:
    # One query: the connection with its registered webhooks and its settings (LEFT JOINs).
    rows = list(Connection.objects.filter(public_id=public_id).values_list(
        "pk", "state", "rackbeat_account_id", "rackbeat_webhooks__event", "rackbeat_webhooks__token",
        "settings__webhook_events",
    ))
    if not rows:
        return None
    pk, state, account_id, _, _, configured = rows[0]
    digests = {row[3]: token_digest(row[4]) for row in rows if row[3] and row[4]}
    return WebhookAddress(connection_id=pk, is_active=state == Connection.State.ACTIVE,
                          rackbeat_account_id=account_id or "", token_digests=digests,
                          events=event_map(configured))


def forget_connection(connection_id: int) -> None:
    """Drop this process's entries for one connection (found paused or deleted when storing)."""
    with _lock:
        for public_id in [key for key, (_, address) in _cache.items() if address.connection_id == connection_id]:
            _cache.pop(public_id, None)


def forget_all(**_: Any) -> None:
    with _lock:
        _cache.clear()


for _model in (Connection, RackbeatWebhook, IntegrationSettings):
    post_save.connect(forget_all, sender=_model, dispatch_uid=f"webhook-address-{_model.__name__}-save")
    post_delete.connect(forget_all, sender=_model, dispatch_uid=f"webhook-address-{_model.__name__}-delete")
