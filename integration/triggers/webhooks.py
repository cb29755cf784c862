"""The Rackbeat webhook receiver: authenticate, then read, record, queue the work, answer at once.

``POST /webhooks/rackbeat/<public id>/`` — one URL per connection. The answer is fast because
nothing is fetched here: the body is thin and the worker re-reads the record by its key.

Checks, in this order — nothing of the body is parsed before the token is verified, and anything
refused gets a 4xx with a readable reason and causes no work (never a 500):

1. a body larger than :data:`~integration.triggers.webhook_body.MAX_BODY_BYTES` → 413 (by its
   ``Content-Length`` before reading, and again while reading);
2. unknown address → 404; a connection that is not active → 409, recorded nowhere (Rackbeat
   retries for about a day, and the polling safety net picks changes up after a resume anyway).
   The address cache only speeds up the checks: whatever stores a delivery checks the connection
   again in the same transaction (share-locked), so a connection paused or deleted by any
   process stores nothing from the next delivery on — 409 or 404, never a 500;
3. ``Rackbeat-Webhook-Token`` is not the token Rackbeat gave for the ``Rackbeat-Webhook-Event``
   webhook (SHA-256 digests compared in constant time) → 401. Without the event header (older
   senders) the token must be one of the connection's, and names the event. A header naming an
   event the connection never registered, with the token of exactly one registered webhook, is
   genuine but unexpected: Rackbeat's event names are not documented, so the name is recorded with
   the webhook whose token it carried, and the delivery is stored as ignored (200) — the poll
   reads the change;
4. the body is not a JSON object with a plausible key (see :mod:`integration.triggers.webhook_body`), or
   its ``event`` contradicts the header → 400.

De-duplication keeps real updates. Rackbeat sends the same body for every update of a record, so
the body says nothing about whether a delivery is new. What is collapsed is only what the next
read of the record covers anyway: a delivery for a record whose operation is still *queued*
(a retry, a concurrent duplicate, or a second change before the worker got to the first) joins
that operation and is answered ``200 duplicate``. Any later delivery — an hour later with an
identical body, say — queues the operation again (or asks the running worker to read once more),
so the change reaches Dinero within seconds, not at the next poll. Every delivery is stored with
its outcome. Unknown events are recorded as ignored (200).

The token is the secret; ``Rackbeat-Account-Id`` is only a cross-check of the account read from
``GET self``. A genuine delivery carrying another account id, or none, is processed, and what it
carried is recorded as a fact of the connection (:mod:`integration.triggers.delivery_shapes`):
every event name and header set genuine deliveries carry is kept once, shown on the connection
page and in the shape check, and an account id other than the connection's alerts the recipients.
"""

from __future__ import annotations

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Connection
from integration.core import engine
from integration.core.models import Direction, IntegrationSettings, SyncOperation, Trigger, WebhookDelivery
from integration.core.webhook_events import DEFAULT_WEBHOOK_EVENTS, event_map
from integration.triggers import delivery_shapes, intake_insert, webhook_addresses, webhook_body
from integration.triggers.webhook_addresses import WebhookAddress
from integration.triggers.webhook_body import MAX_BODY_BYTES, DeliveryBody, UnreadableDelivery

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_WEBHOOK_EVENTS", "rackbeat_webhook", "webhook_events"]

Outcome = WebhookDelivery.Outcome


def webhook_events(connection: Connection) -> dict[str, str]:
    """The event → kind map in force for ``connection``."""
    configured = IntegrationSettings.objects.filter(connection=connection).values_list(
        "webhook_events", flat=True).first()
    return event_map(configured)


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _refusal(address: WebhookAddress | None, request: HttpRequest) -> tuple[HttpResponse | None, list[str]]:
    """Steps 2–3: the answer refusing the delivery, or None and the events the token is valid for."""
    if address is None:
        return _text("Unknown webhook address.", 404), []
    if not address.is_active:
        return _text("The integration is not active for this account.", 409), []
    header_event = request.headers.get("Rackbeat-Webhook-Event", "")
    token = request.headers.get("Rackbeat-Webhook-Token", "")
    events = address.events_for_token(token, header_event)
    if not events and header_event and header_event not in address.token_digests:
        # An event name never registered here: the token alone says which webhook it is.
        events = address.events_for_token(token, "")
        events = events if len(events) == 1 else []
    if not events:
        return _text("Invalid webhook token.", 401), []
    return None, events


def _event(events: list[str], body: DeliveryBody) -> str:
    """The delivery's event: the header's (already matched to the token), else the body's."""
    if len(events) == 1 and (not body.body_event or body.body_event == events[0]):
        return events[0]
    if body.body_event and body.body_event in events:
        return body.body_event
    if body.body_event:
        raise UnreadableDelivery("The event in the body differs from the Rackbeat-Webhook-Event header "
                                 "or is not the event of this token.")
    raise UnreadableDelivery("The delivery names no event (Rackbeat-Webhook-Event header).")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
@require_POST
def rackbeat_webhook(request: HttpRequest, public_id: object) -> HttpResponse:
    too_large = _text(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB; Rackbeat webhooks are small.", 413)
    if _content_length(request) > MAX_BODY_BYTES:
        return too_large
    address, cached = webhook_addresses.lookup(str(public_id))
    refusal, events = _refusal(address, request)
    if refusal is not None and cached:
        # Never refuse on what may be stale: tokens, account or state may have changed since.
        address, _ = webhook_addresses.lookup(str(public_id), fresh=True)
        refusal, events = _refusal(address, request)
    if refusal is not None or address is None:
        return refusal or _text("Unknown webhook address.", 404)

    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return too_large
    header_event = request.headers.get("Rackbeat-Webhook-Event", "")
    unregistered = bool(header_event) and header_event not in address.token_digests
    try:
        body = webhook_body.parse(raw)
        event = header_event if unregistered else _event(events, body)
        kind = None if unregistered else address.events.get(event)
        if kind is not None:
            webhook_body.check_key_for_kind(kind, body.key_name, body.key)
    except UnreadableDelivery as exc:
        logger.info("Webhook for connection %s refused: %s", address.connection_id, exc)
        return _text(str(exc), 400)
    try:
        # Inside the guard: a shape seen first for a connection deleted a moment ago is a 404 too.
        delivery_shapes.record(request, address.connection_id, address.rackbeat_account_id, event=event,
                               taken_as=events[0] if unregistered else "")
        if kind is None:
            with transaction.atomic():
                gone = _connection_refusal(address)
                if gone is not None:
                    return gone
                _store(address, event, body, Outcome.IGNORED, None)
            return JsonResponse({"status": "ignored"}, status=200)
        return _accept(address, event, kind, body)
    except IntegrityError:
        # The connection was deleted between the check and the write (a database without the
        # share lock): nothing was stored, and there is nothing left to deliver to.
        logger.info("Webhook for connection %s refused: the connection was deleted", address.connection_id)
        webhook_addresses.forget_connection(address.connection_id)
        return _text("Unknown webhook address.", 404)


def _connection_refusal(address: WebhookAddress) -> HttpResponse | None:
    """The answer when the connection was paused or deleted since its address was cached, else None.

    Read in the caller's transaction, with the row share-locked on PostgreSQL, so a pause or a
    delete committed before this delivery writes is seen here and nothing is stored for it.
    """
    state = intake_insert.lock_connection_state(address.connection_id)
    if state == Connection.State.ACTIVE:
        return None
    webhook_addresses.forget_connection(address.connection_id)
    if state is None:
        return _text("Unknown webhook address.", 404)
    return _text("The integration is not active for this account.", 409)


def _store(address: WebhookAddress, event: str, body: DeliveryBody, outcome: str, op_id: int | None) -> None:
    WebhookDelivery.objects.create(
        connection_id=address.connection_id, event=event, key=body.key, outcome=outcome, operation_id=op_id,
        body=body.text, body_sha256=hashlib.sha256(body.text.encode()).hexdigest(),
    )


def _accept(address: WebhookAddress, event: str, kind: str, body: DeliveryBody) -> HttpResponse:
    one_statement = intake_insert.available()
    if one_statement:
        # PostgreSQL: new or still queued is one statement (see integration.triggers.intake_insert).
        stored = intake_insert.accept(address.connection_id, kind, body.key, event=event, body_text=body.text)
        if stored is not None:
            op_id, outcome = stored
            return JsonResponse({"status": outcome, "operation": op_id},
                                status=202 if outcome == Outcome.ACCEPTED else 200)
    # One transaction, no savepoints: the delivery is stored exactly when its work is queued.
    with transaction.atomic():
        gone = _connection_refusal(address)
        if gone is not None:
            return gone
        op_id = None if one_statement else engine.enqueue_new(
            address.connection_id, kind, Direction.TO_DINERO, body.key, trigger=Trigger.WEBHOOK,
            document_number=body.key)
        if op_id is not None:
            _store(address, event, body, Outcome.ACCEPTED, op_id)
            return JsonResponse({"status": "accepted", "operation": op_id}, status=202)
        # The record has an operation. Locked, so a worker cannot claim it between look and decision.
        existing = SyncOperation.objects.select_for_update().only("pk", "state").filter(
            connection_id=address.connection_id, kind=kind, direction=Direction.TO_DINERO, source_key=body.key,
        ).first()
        if existing is not None and existing.state == SyncOperation.State.PENDING:
            # Still queued: its coming read of the record covers this delivery too.
            _store(address, event, body, Outcome.DUPLICATE, existing.pk)
            return JsonResponse({"status": "duplicate", "operation": existing.pk}, status=200)
        # Done, failed, running — or the concurrent insert it conflicted with was rolled back: the
        # engine's lifecycle rules decide.
        connection = Connection.objects.get(pk=address.connection_id)
        op = engine.enqueue(connection, kind, Direction.TO_DINERO, body.key, trigger=Trigger.WEBHOOK,
                            document_number=body.key)
        queued = op.state == SyncOperation.State.PENDING or op.rerun_requested
        _store(address, event, body, Outcome.ACCEPTED if queued else Outcome.KEPT, op.pk)
    if queued:
        return JsonResponse({"status": "accepted", "operation": op.pk}, status=202)
    # Done (money is transferred once) or waiting for a person: the operation's timeline says which.
    return JsonResponse({"status": "kept", "operation": op.pk}, status=200)
