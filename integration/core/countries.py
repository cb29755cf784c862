"""Countries as VAT sees them: Denmark, the other EU member states, and the rest of the world."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

# The EU member states other than Denmark, by ISO 3166 code (Greece also by its VAT prefix EL).
# Greenland and the Faroe Islands are outside the EU's VAT area.
EU_MEMBERS = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "EE", "EL", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})

DOMESTIC, EU, ABROAD = "domestic", "eu", "abroad"


def vat_zone_for_country(country: Any) -> str:
    """Rackbeat's VAT zone for a customer or supplier in ``country`` (no country: Denmark)."""
    code = str(country or "DK").strip().upper()[:2] or "DK"
    if code == "DK":
        return DOMESTIC
    return EU if code in EU_MEMBERS else ABROAD


def vat_zone_label(zone: str) -> str:
    return {DOMESTIC: _("domestic"), EU: _("EU"), ABROAD: _("outside the EU")}.get(zone, zone)
