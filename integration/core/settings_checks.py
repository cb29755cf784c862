"""Checks of integration settings that every form shares (admin, setup wizard, any future one).

The model calls them from ``clean_fields``, so a value is judged the same way wherever it is
entered. The webhook-events setting maps Rackbeat event names to the document kinds the receiver
transfers; anything else would be saved and then silently ignore the events it was meant for.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from integration.core.kinds import Kind
from integration.core.webhook_events import DEFAULT_WEBHOOK_EVENTS

# Rackbeat's event names: "customer_invoice.booked", "product.updated" …
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def webhook_kinds() -> dict[str, str]:
    """The document kinds a webhook can start, with their labels."""
    values = set(DEFAULT_WEBHOOK_EVENTS.values())
    return {kind.value: str(kind.label) for kind in Kind if kind.value in values}


def webhook_events_problems(value: Any) -> list[str]:
    """What is wrong with a webhook-events setting, one sentence per problem ([] when it is fine)."""
    if value in (None, "", {}):
        return []
    if not isinstance(value, dict):
        return [_("Write an object of event name → document kind, e.g. {\"customer_invoice.booked\": "
                  "\"sales_invoice\"}; leave it empty for the built-in events.")]
    kinds = webhook_kinds()
    known = ", ".join(sorted(kinds))
    problems = []
    for event, kind in value.items():
        if not isinstance(event, str) or not EVENT_NAME.match(event):
            problems.append(_("“%(event)s” is not a Rackbeat event name (like customer_invoice.booked).")
                            % {"event": event})
        if not isinstance(kind, str) or kind not in kinds:
            problems.append(_("“%(event)s” → %(kind)s: not a document kind a webhook can transfer. Use one of: "
                              "%(known)s.") % {"event": event, "kind": _shown(kind), "known": known})
    return problems


def _shown(value: Any) -> str:
    return f"“{value}”" if isinstance(value, str) else str(value)
