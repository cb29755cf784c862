"""Tolerant readers of Rackbeat document fields whose names are not settled (docs/rackbeat-documents.md)."""

from __future__ import annotations

from typing import Any


def party_name(party: dict[str, Any] | None) -> str:
    """A customer's or supplier's name: ``name``, or ``company_name`` as older payloads call it."""
    party = party or {}
    return str(party.get("name") or party.get("company_name") or "").strip()


def master_data_outcome(label: str, number: Any, what: str, *, barred: bool) -> str:
    """The log sentence for a customer, supplier, product or BOM sent to Dinero.

    ``what`` is ``"unchanged"``, ``"updated"`` or ``"created"``.
    """
    from django.utils.translation import gettext as _

    messages = {
        "unchanged": _("%(label)s %(number)s is unchanged since the last transfer; nothing was sent to Dinero."),
        "updated": _("%(label)s %(number)s was updated in Dinero."),
        "created": _("%(label)s %(number)s was created in Dinero."),
    }
    outcome = messages[what] % {"label": label, "number": number}
    if barred:
        outcome += " " + _("It is barred in Rackbeat; Dinero has no barred flag, so it stays usable there.")
    return outcome
