"""The words of the ledger: which way a document goes, what kind it is, what started its transfer.

Plain choices, free of models, so the checks of settings and the webhook event map can use them
while ``integration.core.models`` is being built (it re-exports them).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Direction(models.TextChoices):
    TO_DINERO = "to_dinero", _("Rackbeat → Dinero")
    TO_RACKBEAT = "to_rackbeat", _("Dinero → Rackbeat")


class Kind(models.TextChoices):
    """What a SyncOperation transfers. Binding kinds reuse the master-data values."""

    CUSTOMER = "customer", _("Customer")
    SUPPLIER = "supplier", _("Supplier")
    SUPPLIER_GROUP = "supplier_group", _("Supplier group")
    PRODUCT = "product", _("Product")
    BOM = "bom", _("Bill of materials")
    SALES_INVOICE = "sales_invoice", _("Sales invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")
    SUPPLIER_INVOICE = "supplier_invoice", _("Supplier invoice")
    ITEM_CONSUMPTION = "item_consumption", _("Item consumption")


class Trigger(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook")
    POLL = "poll", _("Poll")
    START_SYNC = "start_sync", _("Start sync")
    TROUBLESHOOTING = "troubleshooting", _("Troubleshooting")
    RETRY = "retry", _("Retry")
    FOLLOW_UP = "follow_up", _("Follow-up of another transfer")


# Kinds that move money: booked documents, transferred exactly once (DESIGN.md rule 9).
MONEY_KINDS = frozenset({
    Kind.SALES_INVOICE, Kind.CREDIT_NOTE, Kind.SUPPLIER_INVOICE, Kind.ITEM_CONSUMPTION,
})


class Priority(models.IntegerChoices):
    """Which of a connection's due operations runs first and takes its budget's next free request.

    Booked documents go before master-data backlog: an invoice ensures its own contact and
    products (DESIGN.md rule 11), so nothing obliges it to wait behind a product sync.
    """

    MONEY = 0, _("Booked document")
    MASTER_DATA = 1, _("Master data")


def priority_of(kind: str) -> int:
    return Priority.MONEY if kind in MONEY_KINDS else Priority.MASTER_DATA
