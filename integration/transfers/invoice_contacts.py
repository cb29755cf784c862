"""The Dinero contact an invoice needs: the customer's or supplier's, created on the fly if missing.

The contact transfer (``integration.transfers.contacts.ensure_contact``) is the one place that
knows how a Rackbeat customer or supplier becomes a Dinero contact; invoices use it when it is
installed. Without it, this module does the same minimal work itself, with the same safety as the
invoices: the Binding first, then Dinero's ``ExternalReference``, and a ``ContactGuid`` chosen and
stored in the operation's intent before the contact is created, so a retry after a lost answer
finds the contact instead of creating a second one.
"""

from __future__ import annotations

import uuid
from typing import Any

from integration.clients.errors import NotFound
from integration.models import Binding, Kind
from integration.transfers.base import NeedsMapping, TransferContext
from integration.transfers.invoice_mapping import PAYMENT_CONDITION_TYPES, external_reference
from integration.transfers.rackbeat_documents import party_name


def ensure_contact(ctx: TransferContext, kind: str, rackbeat_number: Any,
                   embedded: dict[str, Any] | None = None) -> str:
    """The ContactGuid of Rackbeat customer/supplier ``rackbeat_number`` (``kind`` customer|supplier)."""
    shared = _shared_ensure_contact()
    if shared is not None:
        # The invoice's embedded copy goes along: without it a customer missing in Rackbeat
        # would make the shared code read the whole invoice again for that copy.
        return shared(ctx, kind, str(rackbeat_number), embedded)
    return _ensure_contact_here(ctx, kind, str(rackbeat_number), embedded)


def _shared_ensure_contact():  # type: ignore[no-untyped-def]
    try:
        from integration.transfers import contacts
    except ImportError:
        return None
    return getattr(contacts, "ensure_contact", None)


def _ensure_contact_here(ctx: TransferContext, kind: str, number: str, embedded: dict[str, Any] | None) -> str:
    binding = Binding.objects.filter(connection=ctx.connection, kind=kind, rackbeat_key=number).first()
    if binding:
        return binding.dinero_id
    reference = external_reference(kind, number)
    intent_key = f"{kind}_contact_guid"
    planned = (ctx.operation.intent or {}).get(intent_key)
    guid = ""
    if planned and _contact_exists(ctx, planned):
        guid = planned
    if not guid:
        found = ctx.dinero.find_contact(reference)
        if found:
            guid = str(found.get("ContactGuid") or found.get("contactGuid") or found.get("Guid"))
    if not guid:
        party = embedded or (ctx.rackbeat.get_customer(number) if kind == Kind.CUSTOMER
                             else ctx.rackbeat.get_supplier(number))
        guid = planned or str(uuid.uuid4())
        ctx.save_intent(**{intent_key: guid})
        body = contact_body(party, kind=kind, number=number, settings=ctx.settings)
        body["ContactGuid"] = guid
        guid = ctx.dinero.create_contact(body) or guid
    Binding.objects.update_or_create(connection=ctx.connection, kind=kind, rackbeat_key=number,
                                     defaults={"dinero_id": guid})
    return guid


def _contact_exists(ctx: TransferContext, guid: str) -> bool:
    try:
        return bool(ctx.dinero.get_contact(guid))
    except NotFound:
        return False


def contact_body(party: dict[str, Any], *, kind: str, number: str, settings: Any) -> dict[str, Any]:
    """A Dinero ContactCreateModel for a Rackbeat customer or supplier."""
    name = party_name(party)
    if not name:
        raise NeedsMapping(f"The Rackbeat {kind} {number} has no name, so no Dinero contact can be created.",
                           hint=f"Give the {kind} a name in Rackbeat, then press Retry.")
    with_number = (settings.customer_number_in_name if kind == Kind.CUSTOMER
                   else settings.supplier_number_in_name)
    body: dict[str, Any] = {
        "ExternalReference": external_reference(kind, number),
        "Name": f"{name} ({number})" if with_number else name,
        "CountryKey": str(party.get("address_country") or "DK").upper()[:2],
        "IsPerson": bool(party.get("is_person")),
        "IsMember": False,
        "UseCvr": False,
    }
    optional = {
        "Email": party.get("contact_email"), "Phone": party.get("contact_phone"),
        "Street": " ".join(filter(None, [party.get("address_street"), party.get("address_street2")])),
        "ZipCode": party.get("address_zipcode"), "City": party.get("address_city"),
        "VatNumber": party.get("company_vat"), "EanNumber": party.get("ean"),
    }
    body.update({key: str(value) for key, value in optional.items() if value})
    terms = party.get("payment_terms") or {}
    condition = PAYMENT_CONDITION_TYPES.get(str(terms.get("type") or ""))
    if condition:
        body["PaymentConditionType"] = condition
        body["PaymentConditionNumberOfDays"] = None if condition == "NettoCash" else int(terms.get("maturity_days") or 0)
    return body
