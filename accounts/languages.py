"""The language a connection's e-mails and their reports are written in.

Each connection has one: chosen in the setup wizard (or on the connection), else taken from the
company's country as Rackbeat gives it — Denmark → Danish, Sweden → Swedish, any other country →
English. A company without a known country counts as Danish, as Dinero keeps Danish books.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

DANISH, SWEDISH, ENGLISH = "da", "sv", "en"
CHOICES = [(DANISH, _("Danish")), (SWEDISH, _("Swedish")), (ENGLISH, _("English"))]
# Country names Rackbeat's account address may carry instead of a code.
COUNTRY_NAMES = {"DENMARK": "DK", "DANMARK": "DK", "SWEDEN": "SE", "SVERIGE": "SE"}


def country_code(country: object) -> str:
    """An ISO country code from a code or a Danish/Swedish/English country name; "" when unknown."""
    text = str(country or "").strip().upper()
    if len(text) == 2 and text.isalpha():
        return text
    return COUNTRY_NAMES.get(text, "")


def language_for_country(country: object) -> str:
    code = country_code(country) or "DK"
    return {"DK": DANISH, "SE": SWEDISH}.get(code, ENGLISH)
