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
