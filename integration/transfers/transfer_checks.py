"""A done money document is compared with its source when new work arrives for it.

DESIGN.md rule 9 keeps a transferred document from ever being sent again; this module keeps a
change made in Rackbeat after the transfer (unbooked, changed, booked again) from being silently
ignored: the operation goes from done to *needs attention* with "changed in Rackbeat after
transfer: Dinero has X, Rackbeat now has Y". Nothing is written to Dinero; a person corrects
Dinero by hand and marks the operation handled.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_noop

from integration.core import engine, lifecycle
from integration.core.clients.errors import ApiError, NotFound
from integration.core.handlers import SkipTransfer
from integration.core.messages import Message, Text, stored
from integration.core.models import Direction, Kind, OperationEvent, SyncOperation
from integration.transfers.sent_snapshot import describe_change, snapshot

logger = logging.getLogger(__name__)

State = SyncOperation.State


def refuse_before_go_live(op: SyncOperation, connection: Any, document: dict[str, Any], label: str) -> None:
    """An automatic trigger never transfers a document booked in Rackbeat before the go-live moment."""
    if op.trigger not in lifecycle.AUTOMATIC_TRIGGERS:
        return
    booked = lifecycle.booked_before_go_live(connection, document)
    if booked is None:
        return
    raise SkipTransfer(Message(gettext_noop(
        "%(document)s was booked in Rackbeat at %(booked)s, before the integration went live at %(live)s, "
        "so it is not transferred automatically (it belongs to the books kept by hand until then). If it "
        "should be in Dinero, transfer it from Troubleshooting › Transfer now."),
        document=label, booked=booked, live=connection.state_changed_at))


def changed_hint() -> Message:
    return Message(gettext_noop(
        "Nothing was changed in Dinero, and the document will not be sent again. Correct Dinero by hand "
        "(for example a credit note and a new invoice), then mark this operation handled."))


def _read_source(op: SyncOperation, ctx: Any) -> dict[str, Any] | None:
    if op.direction != Direction.TO_DINERO:
        return None
    if op.kind in (Kind.SALES_INVOICE, Kind.CREDIT_NOTE, Kind.ITEM_CONSUMPTION):
        return ctx.rackbeat.get_customer_invoice(op.source_key)
    if op.kind == Kind.SUPPLIER_INVOICE:
        return ctx.rackbeat.get_supplier_invoice(op.source_key)
    return None


def _note(op: SyncOperation, message: Text) -> None:
    OperationEvent.objects.create(operation=op, attempt=op.attempts, state=op.state, **stored(message=message))


def check_transferred_document(op_id: int) -> str:
    """Compare a done document with what was sent; answers what was found (for the task log)."""

    op = SyncOperation.objects.select_related("connection").filter(pk=op_id).first()
    if op is None or op.state != State.DONE:
        return "not done"
    sent = (op.intent or {}).get("sent")
    if not sent:
        return "nothing recorded"
    seen_at = op.updated_at
    try:
        document = _read_source(op, engine._context(op))
    except NotFound:
        _note(op, Message(gettext_noop(
            "Compared after new work: the document no longer exists in Rackbeat. Dinero keeps what was "
            "transferred.")))
        return "gone"
    except ApiError as exc:
        # A read that failed proves nothing; the next webhook or poll compares again.
        _note(op, Message(gettext_noop("Could not compare with Rackbeat after new work: %(error)s"),
                          error=exc.describe()))
        return "unreadable"
    if document is None:
        return "not compared"
    if not document.get("is_booked", True):
        _note(op, Message(gettext_noop(
            "Not booked in Rackbeat at the moment; it is compared with what was transferred when it is "
            "booked again.")))
        return "unbooked"
    change = describe_change(sent, snapshot(document))
    if not change:
        _note(op, Message(gettext_noop(
            "Compared with Rackbeat after new work: unchanged since the transfer.")))
        return "unchanged"
    changed = SyncOperation.objects.filter(pk=op.pk, state=State.DONE, updated_at=seen_at).update(
        state=State.NEEDS_ATTENTION, last_error_class="ChangedAfterTransfer",
        **stored(last_error=change, hint=changed_hint()), fix_url="", finished_at=timezone.now(), updated_at=timezone.now())
    if changed == 1:
        op.refresh_from_db()
        _note(op, change)
        return "changed"
    return "moved meanwhile"
