"""The life of a money document, and who may move it on (DESIGN.md rule 9).

Money documents — sales invoices, credit notes, supplier invoices, item consumption and Dinero
invoices copied to Rackbeat — follow one rule: automatic triggers (webhook, poll, follow-up, start
sync) may start a document that never touched the other side, or continue one that is retrying a
transient failure. Once the document has touched the other side, only a person moves it on.

"Touched" means any of: it is done; a person marked it handled; a Dinero Guid, voucher id or
Rackbeat number of the document is stored; or a create request is in flight without a clear
answer (``intent["in_flight"]``, see :meth:`TransferContext.writing`).

The functions here only read an operation; the engine applies them and
``integration.core.engine.link_existing`` / ``post_now`` are the two choices a person has.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_noop

from integration.core import kinds
from integration.core.clients.rackbeat import parse_rackbeat_time
from integration.core.messages import Message
from integration.core.models import Direction, SyncOperation, Trigger

State = SyncOperation.State

MONEY_KINDS = kinds.MONEY_KINDS

# Intent keys naming the document on the other side once it exists there.
DOCUMENT_KEYS = ("voucher_guid", "rackbeat_number")
# Steps written before anything was sent: a chosen Guid alone proves nothing was written.
UNWRITTEN_STEPS = ("", "guid_chosen")
# Steps older versions wrote just before a create; on such rows the create may have happened.
LEGACY_IN_FLIGHT_STEPS = ("posting", "creating")


# Work that arrives by itself; a person (Troubleshooting, Retry) may transfer what these may not.
AUTOMATIC_TRIGGERS = frozenset({Trigger.WEBHOOK, Trigger.POLL})


def booked_before_go_live(connection: Any, document: dict[str, Any]) -> datetime | None:
    """When a Rackbeat document was booked, if that was before ``connection`` went live; else None.

    The go-live moment is the activation (``state_changed_at`` of an active connection). What was
    booked before it belongs to the books the accountant kept by hand while setting up: no poll or
    webhook transfers it, only a person asking for it on the troubleshooting page.
    """
    went_live = getattr(connection, "state_changed_at", None)
    booked = parse_rackbeat_time(document.get("booked_at"))
    # Rackbeat's times have whole seconds: a document booked in the activation's second is after it.
    if went_live is None or booked is None or booked >= went_live.replace(microsecond=0):
        return None
    return booked


def is_money(op: SyncOperation) -> bool:
    return op.kind in MONEY_KINDS


def in_flight(op: SyncOperation) -> str:
    """What a create request that got no clear answer was creating ('' when none)."""
    intent = op.intent or {}
    if intent.get("in_flight"):
        return str(intent["in_flight"])
    if not intent.get("touched") and intent.get("step") in LEGACY_IN_FLIGHT_STEPS \
            and not any(intent.get(key) for key in DOCUMENT_KEYS):
        return str(intent["step"])
    return ""


def touched(op: SyncOperation) -> bool:
    """Whether the document may exist on the other side (or a person took it over)."""
    if not is_money(op):
        return False
    if op.state == State.DONE or op.handled_at:
        return True
    intent = op.intent or {}
    if intent.get("touched") or in_flight(op):
        return True
    if any(intent.get(key) for key in DOCUMENT_KEYS):
        return True
    return bool(intent.get("dinero_guid")) and str(intent.get("step") or "") not in UNWRITTEN_STEPS


def automatic_may_restart(op: SyncOperation) -> bool:
    """Whether new automatic work may put a finished row back to pending."""
    return not touched(op)


# Problems after which nobody knows (or the document is gone) whether Dinero has the document.
UNKNOWN_OUTCOME_ERRORS = ("VoucherOutcomeUnknown",)


def person_may_choose(op: SyncOperation) -> bool:
    """Whether the page offers "it is there: link it" / "it is not: post it now".

    Only where the answer is a person's to give: a create without a clear answer, a stored
    document that is gone, or a document a person marked handled. A document that is known to be
    there (a draft to fix, a change after the transfer) is moved on by Retry or Mark as handled —
    "post it now" there would make a second one.
    """
    if not is_money(op) or op.state not in (State.NEEDS_ATTENTION, State.FAILED, State.SKIPPED):
        return False
    return bool(in_flight(op) or op.handled_at or op.last_error_class in UNKNOWN_OUTCOME_ERRORS)


def known_document(op: SyncOperation) -> str:
    """The document the service knows on the other side for this operation ('' when none).

    A stored voucher Guid, a written invoice Guid or the id of a transferred document, unless
    the transfer found that document gone (``document_gone``). While one is known, "post it now"
    would make a second document: the page shows this one instead.
    """
    intent = op.intent or {}
    gone = str(intent.get("document_gone") or "")
    candidates = [str(intent.get("voucher_guid") or ""), str(op.target_id or "")]
    if intent.get("dinero_guid") and str(intent.get("step") or "") not in UNWRITTEN_STEPS \
            and not in_flight(op):
        candidates.append(str(intent["dinero_guid"]))
    for guid in candidates:
        if guid and guid != gone:
            return guid
    return ""


def person_may_post(op: SyncOperation) -> bool:
    """Whether "It is not there: post it now" is offered: a person's choice, and no known document."""
    return person_may_choose(op) and not known_document(op)


def other_side(op: SyncOperation) -> str:
    return "Rackbeat" if op.direction == Direction.TO_RACKBEAT else "Dinero"


def held_message(op: SyncOperation, trigger_label: Any) -> Message:
    """The timeline line when an automatic trigger meets a touched document."""
    if op.state == State.DONE:
        return Message(gettext_noop(
            "Already transferred; %(trigger)s ignored so the document is never transferred twice."),
            trigger=trigger_label)
    if op.handled_at:
        reason = Message(gettext_noop("a person marked it handled"))
    elif in_flight(op):
        reason = Message(gettext_noop("a request to create it in %(side)s got no clear answer"),
                         side=other_side(op))
    else:
        reason = Message(gettext_noop("it was already written to %(side)s"), side=other_side(op))
    return Message(gettext_noop(
        "%(trigger)s ignored: %(reason)s, so only a person moves it on (on this page: link the document "
        "that is there, or post it now)."),
        trigger=trigger_label, reason=reason)


def link_target(op: SyncOperation, reference: str) -> dict[str, Any]:
    """The fields a person's "it is there" stores: a Guid as the id, anything else as the number."""

    reference = reference.strip()
    try:
        uuid.UUID(reference)
    except ValueError:
        return {"target_number": reference[:64]}
    return {"target_id": reference}


def intent_for_post_now(intent: dict[str, Any], who: str) -> dict[str, Any]:
    """The intent after a person said "it is not there": no create in flight, no gone document.

    The chosen Dinero Guid of a sales invoice is kept (Dinero refuses a second document with
    it); a voucher id or Rackbeat number whose document a person says is not there is dropped,
    and so is the step, so the transfer creates the document instead of looking for it.
    """
    kept = {key: value for key, value in intent.items()
            if key not in ("in_flight", "touched", "voucher_guid", "voucher_timestamp", "rackbeat_number",
                           "step", "uncertain_reported")}
    if intent.get("dinero_guid"):
        kept["step"] = "guid_chosen"
    return {**kept, "post_confirmed_by": who}
