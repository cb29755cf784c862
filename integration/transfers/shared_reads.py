"""Documents read once and handed to the follow-up that needs them again.

A booked sales invoice is read from Rackbeat (with its items) by the invoice transfer; its item
consumption, a follow-up operation possibly run by another worker process a moment later, needs
the very same document. It is kept for a short while in the ``shared`` cache (the database by
default, so every process and host sees it) instead of being read from Rackbeat a second time.

A booked invoice does not change in Rackbeat, so the copy is what the follow-up would read; when
the copy is gone (expired, a different cache, a retry much later) the follow-up simply reads the
invoice again.
"""

from __future__ import annotations

from typing import Any

from integration.core.shared_cache import shared_cache

# Long enough for a follow-up queued behind a budget wait; short enough to stay small.
KEEP_SECONDS = 30 * 60


def _key(connection_id: int, number: Any) -> str:
    return f"rackbeat-customer-invoice:{connection_id}:{number}"


def remember_customer_invoice(connection_id: int, number: Any, invoice: dict[str, Any]) -> None:
    shared_cache().set(_key(connection_id, number), invoice, timeout=KEEP_SECONDS)


def recall_customer_invoice(connection_id: int, number: Any) -> dict[str, Any] | None:
    """The invoice as its transfer read it, or None."""
    invoice = shared_cache().get(_key(connection_id, number))
    return invoice if isinstance(invoice, dict) else None


def forget_customer_invoice(connection_id: int, number: Any) -> None:
    """The follow-up is done with it."""
    shared_cache().delete(_key(connection_id, number))
