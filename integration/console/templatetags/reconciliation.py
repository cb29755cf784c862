"""The reconciliation's own words in templates: Dinero's document statuses in the reader's language."""

from __future__ import annotations

from django import template

from integration.books.reconciliation_keys import dinero_status_label

register = template.Library()


@register.filter
def dinero_status(status: str) -> str:
    return dinero_status_label(status)
