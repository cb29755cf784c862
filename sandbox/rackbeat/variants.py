"""Named switch settings of a sandbox Rackbeat account: the ways a real account may differ from our reading.

``manage.py sandbox_seed --variant <name>`` puts the demo account into one of them (``real``
switches every one back), so a consultant can watch the shape check and the transfers meet it; the
end-to-end tests use the same names.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.rackbeat import models as m

REAL: dict[str, Any] = {
    "credit_note_flag": m.CreditNoteFlag.IS_CREDITNOTE,
    "lines_naming_unknown_items": False,
    "total_cost_offset": Decimal("0"),
    "supplier_invoices_without_dates": False,
    "webhook_account_header": m.Account.WebhookAccountHeader.OWN,
    "sent_webhook_event_names": "",
}

VARIANTS: dict[str, dict[str, Any]] = {
    "real": {},
    "credit-note-type": {"credit_note_flag": m.CreditNoteFlag.TYPE},
    "credit-note-unflagged": {"credit_note_flag": m.CreditNoteFlag.NONE},
    "unknown-line-items": {"lines_naming_unknown_items": True},
    "total-cost-disagrees": {"total_cost_offset": Decimal("10.00")},
    "supplier-invoices-without-dates": {"supplier_invoices_without_dates": True},
    "other-account-id": {"webhook_account_header": m.Account.WebhookAccountHeader.OTHER},
    "no-account-id": {"webhook_account_header": m.Account.WebhookAccountHeader.NONE},
    "unknown-event-names": {"sent_webhook_event_names": "customer.created=debtor.created\n"
                                                        "customer_invoice.booked=invoice.booked"},
}


def apply_variant(account: m.Account, name: str) -> None:
    """Switch ``account`` to the variant ``name`` (every other switch of the list back to real)."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant {name!r}; known: {', '.join(VARIANTS)}.")
    values = {**REAL, **VARIANTS[name]}
    for field_name, value in values.items():
        setattr(account, field_name, value)
    account.save(update_fields=list(values))


EMPTY_ACCOUNT_ID = 418002
EMPTY_ACCOUNT_TOKEN = "sandbox-empty-rackbeat-token-418002"


def ensure_empty_account() -> m.Account:
    """A second Rackbeat company with no data at all: the shape check's "not verifiable yet" case."""
    account, _created = m.Account.objects.get_or_create(
        account_id=EMPTY_ACCOUNT_ID, defaults={"company_name": "Tom ApS", "api_token": EMPTY_ACCOUNT_TOKEN})
    return account
