"""The Rackbeat webhook receiver: verify, record once, queue the work, answer at once.

``POST /webhooks/rackbeat/<public id>/`` — one URL per connection. The answer is fast because
nothing is fetched here: the body is thin and the worker re-reads the document by its key.

Checks, in order (anything invalid gets a 4xx and causes no work):

* unknown connection → 404; a connection that is not active → 409, recorded nowhere (Rackbeat
  retries for about a day, and the polling safety net picks changes up after a resume anyway);
* ``Rackbeat-Account-Id`` differs from the connection's Rackbeat account → 403;
* ``Rackbeat-Webhook-Token`` does not match (constant-time compare) the token stored for that
  event when the webhook was registered → 401;
* the body is not a JSON object → 400.

Then, in one transaction, the delivery is stored — the same event for the same key and body is
recorded once and answered ``200 duplicate`` — and the operation is created. Unknown events are
recorded as ignored (200). Events of a kind whose integration is switched off still create the
operation: it ends *skipped* with the reason in the sync log, so a consultant can see that
Rackbeat announced the change and why it was not transferred.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Connection
from integration.models import (
    Direction,
    IntegrationSettings,
    Kind,
    RackbeatWebhook,
    Trigger,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

# Event name → document kind. Rackbeat's catalogue is only partly published; a connection can
# override these in its integration settings (``webhook_events``).
DEFAULT_WEBHOOK_EVENTS: dict[str, str] = {
    "customer.created": Kind.CUSTOMER.value,
    "customer.updated": Kind.CUSTOMER.value,
    "supplier.created": Kind.SUPPLIER.value,
    "supplier.updated": Kind.SUPPLIER.value,
    "product.created": Kind.PRODUCT.value,
    "product.updated": Kind.PRODUCT.value,
    "lot.created": Kind.BOM.value,
    "lot.updated": Kind.BOM.value,
    "customer_invoice.booked": Kind.SALES_INVOICE.value,
    "supplier_invoice.booked": Kind.SUPPLIER_INVOICE.value,
}


def webhook_events(connection: Connection) -> dict[str, str]:
    """The event → kind map in force for ``connection``."""
    configured = (
        IntegrationSettings.objects.filter(connection=connection).values_list("webhook_events", flat=True).first()
    )
    if isinstance(configured, dict) and configured:
        return {str(event): str(kind) for event, kind in configured.items() if kind in Kind.values}
    return dict(DEFAULT_WEBHOOK_EVENTS)


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _token_matches(connection: Connection, event: str, presented: str) -> bool:
    tokens = [hook.token for hook in RackbeatWebhook.objects.filter(connection=connection, event=event)]
    presented_bytes = presented.encode()
    matched = False
    for token in tokens:
        # Every stored token is compared, so the time taken does not depend on which one matched.
        if token and hmac.compare_digest(presented_bytes, token.encode()):
            matched = True
    return matched and bool(presented)


def _key_of(body: dict[str, Any]) -> str:
    key = body.get("key")
    if key in (None, ""):
        key = body.get("new_key")
    if key in (None, "") and isinstance(body.get("data"), dict):
        data = body["data"]
        key = data.get(body.get("key_name") or "number") or data.get("number")
    return "" if key is None else str(key)[:128]


@csrf_exempt
@require_POST
def rackbeat_webhook(request: HttpRequest, public_id: Any) -> HttpResponse:
    connection = Connection.objects.filter(public_id=public_id).first()
    if connection is None:
        return _text("Unknown webhook address.", 404)
    if not connection.is_active:
        return _text("The integration is not active for this account.", 409)
    if request.headers.get("Rackbeat-Account-Id", "") != (connection.rackbeat_account_id or "") \
            or not connection.rackbeat_account_id:
        return _text("This webhook address belongs to another Rackbeat account.", 403)
    raw = request.body
    try:
        body = json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        body = None
    event = request.headers.get("Rackbeat-Webhook-Event", "") or (body.get("event", "") if isinstance(body, dict)
                                                                   else "")
    event = str(event)[:100]
    if not _token_matches(connection, event, request.headers.get("Rackbeat-Webhook-Token", "")):
        return _text("Invalid webhook token.", 401)
    if not isinstance(body, dict):
        return _text("The body is not a JSON object.", 400)
    return _accept(connection, event, body, raw)


def _accept(connection: Connection, event: str, body: dict[str, Any], raw: bytes) -> HttpResponse:
    from integration import engine

    key = _key_of(body)
    digest = hashlib.sha256(raw).hexdigest()
    kind = webhook_events(connection).get(event)
    text = raw.decode("utf-8", errors="replace")
    try:
        with transaction.atomic():
            if kind is None or not key:
                WebhookDelivery.objects.create(connection=connection, event=event, key=key, body_sha256=digest,
                                               body=text, outcome=WebhookDelivery.Outcome.IGNORED)
                return JsonResponse({"status": "ignored"}, status=200)
            delivery = WebhookDelivery.objects.create(connection=connection, event=event, key=key,
                                                      body_sha256=digest, body=text,
                                                      outcome=WebhookDelivery.Outcome.ACCEPTED)
            op = engine.enqueue(connection, kind, Direction.TO_DINERO, key, trigger=Trigger.WEBHOOK,
                                document_number=key)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(operation=op)
    except IntegrityError:
        # The same event for the same key and body was recorded before (Rackbeat delivers at least once).
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": "accepted", "operation": op.pk}, status=202)
