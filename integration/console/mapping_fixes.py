"""Fix, then retry, in one click: documents waiting for a mapping go again once it is in place.

A document that stopped on a missing mapping carries the link to the page and cell where it is
fixed (``fix_url``, e.g. ``…/matrix/revenue/#cell-20-domestic``). After a person saves that page,
every document waiting on it whose named mapping is now usable — and that never reached the
other side (no target id) — is retried at once: the fix was all it waited for, and the save is
the person's decision (DESIGN rule 9). Documents whose mapping is still missing, or that did
reach the other side, are offered on the page with one "Retry" button instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Connection
from integration.core.engine import retry
from integration.core.models import SyncOperation

# One save never retries more than this many documents at once (the rest are offered).
RETRY_LIMIT = 200

# Given the anchor of a fix link ("cell-20-domestic", "unit-3"), is that mapping usable now?
IsFixed = Callable[[str], bool]


@dataclass
class FixOutcome:
    retried: list[SyncOperation] = field(default_factory=list)
    still_waiting: list[SyncOperation] = field(default_factory=list)


def waiting_on(connection: Connection, page_url: str) -> list[SyncOperation]:
    """Documents of ``connection`` that stopped on a mapping fixed on the page at ``page_url``.

    Only a mapping problem links to a mapping page, so the fix link alone tells which ones.
    """
    return list(
        SyncOperation.objects.filter(connection=connection, state=SyncOperation.State.NEEDS_ATTENTION)
        .filter(Q(fix_url=page_url) | Q(fix_url__startswith=f"{page_url}#"))
        .only("pk", "connection_id", "kind", "document_number", "document_name", "source_key", "fix_url",
              "target_id", "state")
        .order_by("updated_at")[:RETRY_LIMIT]
    )


def anchor_of(op: SyncOperation) -> str:
    return op.fix_url.partition("#")[2]


def retry_fixed(request: HttpRequest, connection: Connection, page_url: str, is_fixed: IsFixed) -> FixOutcome:
    """After a save on ``page_url``: retry the documents whose mapping is now in place."""

    outcome = FixOutcome()
    if not request.user.has_perm("integration.retry_syncoperation"):
        outcome.still_waiting = waiting_on(connection, page_url)
        return outcome
    for op in waiting_on(connection, page_url):
        anchor = anchor_of(op)
        if not op.target_id and anchor and is_fixed(anchor):
            outcome.retried.append(retry(op, user=request.user))
        else:
            outcome.still_waiting.append(op)
    return outcome


def retry_all(request: HttpRequest, connection: Connection, page_url: str) -> list[SyncOperation]:
    """The "Retry them" button: every document waiting on the page, as the person asked."""

    return [retry(op, user=request.user) for op in waiting_on(connection, page_url)]


def outcome_message(outcome: FixOutcome) -> str:
    """One sentence for the page's messages ('' when no document waited)."""
    parts = []
    if outcome.retried:
        done = sum(1 for op in outcome.retried if op.state == SyncOperation.State.DONE)
        parts.append(ngettext(
            "%(count)d document that waited for this mapping was sent again",
            "%(count)d documents that waited for this mapping were sent again",
            len(outcome.retried)) % {"count": len(outcome.retried)})
        if done:
            parts[-1] += "; " + ngettext("%(done)d is transferred now.", "%(done)d are transferred now.",
                                         done) % {"done": done}
        else:
            parts[-1] += "."
    if outcome.still_waiting:
        parts.append(ngettext(
            "%(count)d document still waits for a mapping on this page.",
            "%(count)d documents still wait for a mapping on this page.",
            len(outcome.still_waiting)) % {"count": len(outcome.still_waiting)})
    return " ".join(parts)


def waiting_context(request: HttpRequest, connection: Connection, page_url: str) -> dict[str, Any]:
    """What the mapping pages show about documents waiting on them."""
    waiting = waiting_on(connection, page_url)
    return {
        "waiting": waiting,
        "can_retry_waiting": bool(waiting) and request.user.has_perm("integration.retry_syncoperation"),
        "waiting_title": ngettext("%(count)d document waits for a mapping on this page",
                                  "%(count)d documents wait for a mapping on this page",
                                  len(waiting)) % {"count": len(waiting)},
        "retry_waiting_label": _("Retry them now"),
    }


def with_next(url: str, next_url: str) -> str:
    """``url`` (which may end in a #cell anchor) with ``?next=`` so saving returns to ``next_url``."""

    base, hash_mark, anchor = url.partition("#")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'next': next_url})}{hash_mark}{anchor}"
