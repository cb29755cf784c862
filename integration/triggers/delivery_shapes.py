"""What genuine Rackbeat deliveries carry, recorded per connection the first time each shape arrives.

A shape is the event name the delivery carried, the registered event it was taken as (when the
two differ), its ``Rackbeat-Account-Id`` and the names of its headers (never their values: one of
them is the token). Each process remembers the shapes it has recorded, so a known shape costs no
statement: the intake stays as fast as before. A new shape is one insert (a concurrent insert of
the same shape is ignored by the unique constraint); when its account id is not the connection's,
the alert recipients are told once.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest

from accounts.models import Connection
from integration.core import alerts
from integration.core.models import RackbeatDeliveryShape

logger = logging.getLogger(__name__)

# Added by the way to us (proxies, load balancers, tracing), not by Rackbeat: not part of a shape.
TRANSPORT_HEADERS = frozenset({
    "host", "content-length", "connection", "via", "forwarded", "x-forwarded-for", "x-forwarded-proto",
    "x-forwarded-host", "x-forwarded-port", "x-real-ip", "x-request-id", "traceparent", "tracestate",
    "cdn-loop", "x-amzn-trace-id", "cookie",
})
KNOWN_MAX = 10_000

_known: set[tuple[int, str, str, str, str]] = set()
_lock = threading.Lock()


def header_names(request: HttpRequest) -> str:
    names = sorted({name.lower() for name in request.headers} - TRANSPORT_HEADERS)
    return ",".join(names)[:1000]


def record(request: HttpRequest, connection_id: int, expected_account_id: str, *, event: str,
           taken_as: str = "") -> None:
    """Record the delivery's shape unless this process already knows it; alert on a new account id."""
    account = request.headers.get("Rackbeat-Account-Id", "")[:100]
    key = (connection_id, event[:100], taken_as[:100], account, header_names(request))
    if key in _known:
        return
    try:
        with transaction.atomic():
            shape, created = RackbeatDeliveryShape.objects.get_or_create(
                connection_id=connection_id, event=key[1], taken_as=key[2], account_id=account, headers=key[4],
                defaults={"expected_account_id": expected_account_id})
    except IntegrityError:
        # The same shape was recorded by a concurrent delivery a moment ago.
        created = False
        shape = None
    with _lock:
        if len(_known) >= KNOWN_MAX:
            _known.clear()
        _known.add(key)
    if created and shape is not None and shape.account_differs:
        logger.warning("Connection %s: a genuine delivery of %s carried %s.", connection_id, event,
                       shape.account_text)
        connection = Connection.objects.filter(pk=connection_id).first()
        if connection is not None:
            try:
                alerts.notify_delivery_account(connection, shape.account_text, event)
            except Exception:
                # The delivery is processed regardless; the row on the connection page still says it.
                logger.exception("Connection %s: the alert about the account id was not sent.", connection_id)


def forget_all(**_: Any) -> None:
    with _lock:
        _known.clear()


# A connection saved (its account may have changed) or a shape deleted: record afresh.
post_save.connect(forget_all, sender=Connection, dispatch_uid="delivery-shapes-connection-save")
post_delete.connect(forget_all, sender=Connection, dispatch_uid="delivery-shapes-connection-delete")
post_delete.connect(forget_all, sender=RackbeatDeliveryShape, dispatch_uid="delivery-shapes-shape-delete")
