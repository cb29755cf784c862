"""A voucher's file, uploaded to Dinero's file archive once (DESIGN.md rule 11).

Purchase vouchers carry Rackbeat's PDF of the supplier invoice, consumption vouchers their
specification. The file is uploaded *before* the voucher, and its FileGuid kept on the operation:
it is what makes an unanswered voucher create answerable (Dinero can say which voucher carries a
file, though it cannot list vouchers by reference).

The upload is a creation like a contact's: it runs under the document's creation claim
(:func:`~integration.transfers.creation_claims.create_once`, keyed ``file:<number>`` under the
document's kind). An upload whose answer was lost keeps the claim, so the next attempt looks for
the unused file of that name in Dinero's archive and attaches it instead of uploading another copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from integration.core.handlers import TransferContext
from integration.transfers.creation_claims import create_once


def upload_once(ctx: TransferContext, kind: str, number: str, name: str, content: Callable[[], bytes | None]) -> str:
    """The FileGuid of the document's file in Dinero: kept, found again or uploaded now; '' without content."""
    known = str((ctx.operation.intent or {}).get("file_guid") or "")
    if known:
        return known
    data = content()
    if not data:
        return ""

    def look_up(_planned: str) -> str:
        found = ctx.dinero.find_unused_file(name) or ""
        if found:
            ctx.note(_("Reused the PDF %(file)s an earlier attempt uploaded.") % {"file": found})
        return found

    def bind(file_guid: str) -> None:
        ctx.save_intent(file_guid=file_guid)

    if (ctx.operation.intent or {}).get("file_upload_in_flight"):
        # Marked by an attempt made before uploads ran under the creation claim.
        found = look_up("")
        if found:
            bind(found)
            return found
    return create_once(ctx, kind, f"file:{number}", label="The voucher file", planned_id="", look_up=look_up,
                       create=lambda _planned: str(ctx.dinero.upload_file(name, data) or ""), bind=bind)


def voucher_carrying_file(ctx: TransferContext, *, find: Callable[[str], str | None],
                          read: Callable[[str], dict[str, Any]], found: str, missing: str) -> dict[str, Any] | None:
    """After a create without a clear answer, ask Dinero for the voucher carrying the document's file.

    The file is uploaded before the voucher and its FileGuid kept in the intent, so Dinero can
    answer: found → that voucher (its Guid stored, the ``found`` note written); not found → Dinero
    says it was not written (the ``missing`` note), and the create may be sent (once). Without a
    file there is nothing to ask: None, and the create stays in flight for a person.
    """
    file_guid = str((ctx.operation.intent or {}).get("file_guid") or "")
    if not file_guid:
        return None
    guid = find(file_guid)
    if not guid:
        ctx.save_intent(in_flight="")
        ctx.note(missing % {"file": file_guid})
        return None
    voucher = read(guid)
    ctx.save_intent(voucher_guid=guid, voucher_timestamp=str(voucher.get("Timestamp") or voucher.get("TimeStamp") or ""),
                    step="found_existing", in_flight="", touched=True)
    ctx.note(found % {"guid": guid, "file": file_guid})
    return voucher
