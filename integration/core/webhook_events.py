"""Rackbeat's webhook event names and the document kind each one starts.

Rackbeat's catalogue of events is only partly published; these are the defaults a connection
starts with, and its integration settings (``webhook_events``) may override them.
"""

from __future__ import annotations

from typing import Any

from integration.core.kinds import Kind

# Event name → document kind.
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


def event_map(configured: Any) -> dict[str, str]:
    """The event → kind map from a connection's ``webhook_events`` setting (empty: the defaults)."""
    if isinstance(configured, dict) and configured:
        return {str(event): str(kind) for event, kind in configured.items() if kind in Kind.values}
    return dict(DEFAULT_WEBHOOK_EVENTS)
