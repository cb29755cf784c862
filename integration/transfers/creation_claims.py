"""Create each bound object once (DESIGN.md rule 11).

An invoice and a credit note for a new customer may run at the same moment in two workers; both
need the customer's Dinero contact. Before the POST that creates a contact or product, a
transfer takes the :class:`~integration.core.models.CreationClaim` row (unique per connection, kind and
Rackbeat key). The winner looks the object up (after an earlier lost answer it may exist), creates
it and writes the Binding; the claim is released in the same transaction. Whoever holds the claim
reads the Binding first: a transfer that took the claim the moment a winner released it finds the
winner's object there instead of creating a second one. A loser first looks the
object up — by the planned id the winner chose and by ExternalReference — and uses it when it is
there; otherwise it raises :class:`ObjectBeingCreated`, a transient error: its operation goes back
to the queue and continues once the object exists.

A claim whose transfer died is taken over after :data:`STALE_AFTER` (the new owner looks the
object up before it creates anything).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integration.core.clients.errors import ApiError, TransientError
from integration.core.handlers import TransferContext
from integration.core.insert_if_absent import insert_if_absent
from integration.core.models import Binding, CreationClaim
from integration.core.row_reads import one_row
from integration.core.row_writes import delete_row

# Longer than any single create request (Dinero's timeout is 60 s) with a wide margin.
STALE_AFTER = timedelta(minutes=5)


class ObjectBeingCreated(TransientError):
    default_hint = ("Another transfer is creating this customer, supplier or product in Dinero right now; this "
                    "document continues automatically once it exists.")


def _take(ctx: TransferContext, kind: str, number: str, planned_id: str) -> tuple[CreationClaim, bool, bool]:
    """(the claim, whether this operation owns it, whether it was taken just now)."""
    op_id = ctx.operation.pk
    claim = CreationClaim(connection=ctx.connection, kind=kind, rackbeat_key=number, planned_id=planned_id,
                          operation_id=op_id, claimed_at=timezone.now())
    if insert_if_absent(claim, ("connection", "kind", "rackbeat_key")) is not None:
        return claim, True, True
    claim = CreationClaim.objects.filter(connection=ctx.connection, kind=kind, rackbeat_key=number).first()
    if claim is None:  # released between our insert and this read: try once more
        return _take(ctx, kind, number, planned_id)
    if claim.operation_id == op_id:
        return claim, True, False
    if claim.claimed_at < timezone.now() - STALE_AFTER:
        taken = CreationClaim.objects.filter(pk=claim.pk, claimed_at=claim.claimed_at).update(
            operation_id=op_id, claimed_at=timezone.now())
        if taken == 1:
            claim.refresh_from_db()
            return claim, True, False
    return claim, False, False


def create_once(
    ctx: TransferContext,
    kind: str,
    number: str,
    *,
    label: str,
    planned_id: str,
    look_up: Callable[[str], str],
    create: Callable[[str], str],
    bind: Callable[[str], None],
) -> str:
    """The Dinero id of the object, created by at most one transfer at a time.

    ``look_up(planned_id)`` answers the id of the object when Dinero already has it ('' if not);
    ``create(planned_id)`` sends the POST and answers the new id; ``bind(id)`` writes the Binding.
    """
    claim, owned, fresh = _take(ctx, kind, number, planned_id)
    # Read after the claim is held: a winner writes its Binding and releases its claim in one
    # transaction, so a claim free now means either nobody created the object or the Binding is
    # here. (The caller's own look at the Binding came before the claim, and a winner may have
    # finished in between.)
    bound = one_row(Binding, connection=ctx.connection, kind=kind, rackbeat_key=number)
    if bound is not None:
        if owned:
            delete_row(CreationClaim, claim.pk)
        return bound.dinero_id
    if not owned:
        found = look_up(claim.planned_id)
        if found:
            bind(found)
            return found
        raise ObjectBeingCreated(
            f"{label} {number} is being created in Dinero by another transfer at this moment; this document "
            "waits for it instead of creating a second one.", service="dinero")
    # Our own earlier attempt, or a dead one taken over, may have created it already.
    found = "" if fresh else look_up(claim.planned_id)
    try:
        guid = found or create(claim.planned_id)
    except ApiError as exc:
        if not exc.uncertain:
            delete_row(CreationClaim, claim.pk)
        raise
    with transaction.atomic():
        bind(guid)
        delete_row(CreationClaim, claim.pk)
    return guid
