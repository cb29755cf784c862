"""What was sent for a Rackbeat document, kept so a change after the transfer is noticed.

A transfer stores :func:`snapshot` of the Rackbeat document in the operation's intent (``sent``)
when it writes the document to Dinero. When a webhook or poll later arrives for the done
document, :mod:`integration.transfers.transfer_checks` takes the snapshot again and compares: the total to
the øre, and each line's item, quantity, price and discount.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.clients.rackbeat_documents import line_item_ref
from integration.core.messages import Message, Money
from integration.transfers.invoice_mapping import money, ore


def _number(value: Any) -> str:
    return format(money(value).normalize(), "f") if value not in (None, "") else "0"


def line_summary(line: dict[str, Any]) -> str:
    """One line as a person reads it: ``A-1 × 2 á 50 (−10 %)``."""
    # The item reference is read the same way whether the item is embedded or not, so the
    # snapshot of the enriched document a transfer sends equals that of a plain re-read.
    ref = line_item_ref(line)
    what = ref[1] if ref else str(line.get("name") or "-")
    text = f"{what} × {_number(line.get('quantity'))} á {_number(line.get('line_price'))}"
    discount = money(line.get("discount_percentage")) if line.get("discount_percentage") not in (None, "") else 0
    if discount:
        text += f" (−{_number(discount)} %)"
    return text


def snapshot(document: dict[str, Any]) -> dict[str, Any]:
    """Total (to the øre), currency and line summaries of a Rackbeat invoice or supplier invoice."""
    currency = str(document.get("currency") or "DKK").upper()
    total = document.get("total_total")
    return {
        "total": str(ore(money(total))) if total not in (None, "") else "",
        "currency": currency,
        "lines": [line_summary(line) for line in document.get("lines") or []],
    }


def _amount(total: Any, currency: str) -> Money | str:
    """A snapshot's total as an amount in the reader's format; '?' where none was recorded."""
    try:
        return Money(Decimal(str(total)), currency) if total not in (None, "") else "?"
    except InvalidOperation:
        return str(total)


def describe_change(sent: dict[str, Any], now: dict[str, Any]) -> Message | str:
    """'' when nothing that was booked changed; else the message for the operation page."""
    currency = sent.get("currency") or now.get("currency") or "DKK"
    if sent.get("total") != now.get("total"):
        return Message(gettext_noop(
            "Changed in Rackbeat after transfer: Dinero has %(sent)s, Rackbeat now has %(now)s."),
            sent=_amount(sent.get("total"), currency),
            now=_amount(now.get("total"), now.get("currency") or currency))
    if list(sent.get("lines") or []) != list(now.get("lines") or []):
        return Message(gettext_noop(
            "Changed in Rackbeat after transfer: the total is the same, but the lines differ. Dinero has: "
            "%(sent)s. Rackbeat now has: %(now)s."),
            sent="; ".join(sent.get("lines") or []), now="; ".join(now.get("lines") or []))
    return ""
