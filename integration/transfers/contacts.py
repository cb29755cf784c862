"""Rackbeat customers and suppliers → Dinero contacts.

Runs when Rackbeat announces a create or update (webhook or poll) and the customer or supplier
integration is on; invoices also call :func:`ensure_contact` for the contact they need.

* **Binding first.** A bound contact is updated in place (GET, merge our fields, PUT /v2 — Dinero
  replaces the whole contact, so fields a person added in Dinero are kept). When the payload's
  fingerprint equals the last one sent, no call is made at all.
* **Look-up before create.** An unbound customer is searched in Dinero by its ExternalReference
  (``rackbeat:customer:<number>``) before one is created; the ContactGuid is chosen and stored in
  the operation's intent first, so a retry after a lost answer finds the contact it created.
* **Barred** customers and suppliers are still transferred and updated: Dinero has no barred
  flag, and invoices already made for them must keep a correct contact.
* **Deleted** in Rackbeat (the re-fetch answers 404, or ``is_deleted``): the operation is skipped
  with the reason; the Dinero contact is kept, because Dinero keeps the history of its invoices.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.clients.errors import NotFound
from integration.core.clients.rackbeat_documents import master_data_outcome, party_name
from integration.core.handlers import NeedsMapping, Result, SkipTransfer, TransferContext, register
from integration.core.messages import Message
from integration.core.models import Binding, Direction, IntegrationSettings, Kind, SyncOperation
from integration.core.row_reads import one_row
from integration.transfers.creation_claims import create_once

PAYMENT_CONDITION_TYPES = {"net": "Netto", "current_month": "CurrentMonthOut", "cash": "NettoCash"}

# Dinero's ContactUpdateModel: a PUT must carry exactly these fields (it rejects any other).
UPDATE_FIELDS = (
    "ExternalReference", "Name", "Street", "ZipCode", "City", "CountryKey", "Phone", "Email", "Webpage",
    "AttPerson", "VatNumber", "EanNumber", "SENumber", "PNumber", "PaymentConditionType",
    "PaymentConditionNumberOfDays", "IsPerson", "IsMember", "MemberNumber", "UseCvr", "CompanyTypeKey",
    "InvoiceMailOutOptionKey", "PreferredInvoiceLanguageKey", "PreferredInvoiceCurrencyKey",
)


def external_reference(kind: str, number: Any) -> str:
    return f"rackbeat:{kind}:{number}"


def _label(kind: str) -> str:
    return Message(gettext_noop("Customer")) if kind == Kind.CUSTOMER else Message(gettext_noop("Supplier"))


def contact_payload(party: dict[str, Any], *, kind: str, number: str, settings: IntegrationSettings) -> dict[str, Any]:
    """The Dinero contact fields for a Rackbeat customer or supplier (a pure function)."""
    name = party_name(party)
    if not name:
        raise NeedsMapping(
            Message(gettext_noop(
                "%(label)s %(number)s has no name in Rackbeat, so no Dinero contact can be made."),
                label=_label(kind), number=number),
            hint=Message(gettext_noop(
                "Give it a name in Rackbeat; the change is transferred automatically.")),
        )
    with_number = settings.customer_number_in_name if kind == Kind.CUSTOMER else settings.supplier_number_in_name
    is_person = bool(party.get("is_person"))
    street = ", ".join(str(part).strip() for part in (party.get("address_street"), party.get("address_street2"))
                       if part and str(part).strip())
    payload: dict[str, Any] = {
        "ExternalReference": external_reference(kind, number),
        "Name": f"{number} – {name}" if with_number else name,
        "Street": street or None,
        "ZipCode": _text(party.get("address_zipcode")),
        "City": _text(party.get("address_city")),
        "CountryKey": (_text(party.get("address_country")) or "DK").upper()[:2],
        "Phone": _text(party.get("contact_phone")),
        "Email": _text(party.get("contact_email")),
        # Company identifiers only exist for companies in Dinero.
        "VatNumber": None if is_person else _text(party.get("company_vat")),
        "EanNumber": None if is_person else _text(party.get("ean")),
        "IsPerson": is_person,
        "IsMember": False,
        "UseCvr": False,
        "PreferredInvoiceCurrencyKey": _text(party.get("currency")),
    }
    terms = party.get("payment_terms") or {}
    condition = PAYMENT_CONDITION_TYPES.get(str(terms.get("type") or ""))
    if condition:
        payload["PaymentConditionType"] = condition
        payload["PaymentConditionNumberOfDays"] = (
            None if condition == "NettoCash" else int(terms.get("maturity_days") or 0)
        )
    return payload


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _create_body(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if value is not None}


def _merged(current: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """Dinero's current contact with our fields on top, limited to what a PUT accepts."""
    body = {key: current[key] for key in UPDATE_FIELDS if current.get(key) is not None}
    body.update({key: value for key, value in payload.items() if key in UPDATE_FIELDS})
    return {key: value for key, value in body.items() if value is not None}


def _guid_of(row: dict[str, Any] | None) -> str:
    row = row or {}
    return str(row.get("ContactGuid") or row.get("contactGuid") or row.get("Guid") or "")


def _integration_on(settings: IntegrationSettings, kind: str) -> bool:
    return settings.customer_integration_enabled if kind == Kind.CUSTOMER else settings.supplier_integration_enabled


def _fetch(ctx: TransferContext, kind: str, number: str) -> dict[str, Any] | None:
    # Through the attempt's cache: an invoice that read its supplier for the VAT zone does not read it again.
    party = ctx.related.party("customer" if kind == Kind.CUSTOMER else "supplier", number)
    if party is None:
        return None
    return None if party.get("is_deleted") else party


def _bind(ctx: TransferContext, kind: str, number: str, guid: str, fingerprint: str) -> None:
    # A Dinero contact bound to another number (e.g. matched by the start sync) is moved here.
    Binding.objects.filter(connection=ctx.connection, kind=kind, dinero_id=guid).exclude(rackbeat_key=number).delete()
    Binding.objects.update_or_create(connection=ctx.connection, kind=kind, rackbeat_key=number,
                                     defaults={"dinero_id": guid, "fingerprint": fingerprint})


def _exists(ctx: TransferContext, guid: str) -> dict[str, Any] | None:
    try:
        contact = ctx.dinero.get_contact(guid)
    except NotFound:
        return None
    if contact and contact.get("DeletedAt"):
        return None
    return contact


def sync_contact(ctx: TransferContext, kind: str, number: str, party: dict[str, Any], *,
                 not_found_by_reference: bool = False) -> tuple[str, str]:
    """Create or update the Dinero contact; returns (ContactGuid, what happened).

    ``not_found_by_reference``: the caller has just asked Dinero for the ExternalReference and
    found nothing, so the look-up before the create is not sent a second time.
    """
    payload = contact_payload(party, kind=kind, number=number, settings=ctx.settings)
    fingerprint = Binding.fingerprint_of(payload)
    binding = one_row(Binding, connection=ctx.connection, kind=kind, rackbeat_key=number)
    if binding and binding.fingerprint == fingerprint:
        return binding.dinero_id, "unchanged"
    current = _exists(ctx, binding.dinero_id) if binding else None
    guid = binding.dinero_id if current else ""
    if not guid and not (not_found_by_reference and binding is None):
        found = ctx.dinero.find_contact(payload["ExternalReference"])
        guid = _guid_of(found)
        if guid:
            current = _exists(ctx, guid) or found
    if guid:
        ctx.dinero.update_contact(guid, _merged(current or {}, payload))
        _bind(ctx, kind, number, guid, fingerprint)
        return guid, "updated"
    planned = str((ctx.operation.intent or {}).get(f"{kind}_contact_guid") or "")
    if planned and _exists(ctx, planned):
        # An earlier attempt created it but its answer was lost.
        ctx.dinero.update_contact(planned, _merged(_exists(ctx, planned) or {}, payload))
        _bind(ctx, kind, number, planned, fingerprint)
        return planned, "created"
    guid = planned or str(uuid.uuid4())
    ctx.save_intent(**{f"{kind}_contact_guid": guid})

    def look_up(claimed_guid: str) -> str:
        if claimed_guid and _exists(ctx, claimed_guid):
            return claimed_guid
        return _guid_of(ctx.dinero.find_contact(payload["ExternalReference"]))

    def create(claimed_guid: str) -> str:
        return ctx.dinero.create_contact({**_create_body(payload), "ContactGuid": claimed_guid}) or claimed_guid

    # Rule 11: one transfer at a time creates this contact; another one waits or finds it.
    guid = create_once(ctx, kind, number, label=_label(kind), planned_id=guid, look_up=look_up, create=create,
                       bind=lambda found: _bind(ctx, kind, number, found, fingerprint))
    return guid, "created"


def _embedded_in_document(ctx: TransferContext, kind: str, number: str) -> dict[str, Any] | None:
    """The copy of the customer or supplier embedded in the invoice being transferred."""
    op = ctx.operation
    try:
        if kind == Kind.CUSTOMER and op.kind in (Kind.SALES_INVOICE, Kind.CREDIT_NOTE, Kind.ITEM_CONSUMPTION):
            party = (ctx.rackbeat.get_customer_invoice(op.source_key) or {}).get("customer")
        elif kind == Kind.SUPPLIER and op.kind == Kind.SUPPLIER_INVOICE:
            party = (ctx.rackbeat.get_supplier_invoice(op.source_key) or {}).get("supplier")
        else:
            return None
    except NotFound:
        return None
    if isinstance(party, dict) and str(party.get("number", number)) == number:
        return party
    return None


def ensure_contact(ctx: TransferContext, kind: str, number: str, embedded: dict[str, Any] | None = None) -> str:
    """The ContactGuid of a Rackbeat customer or supplier, transferring it first if needed.

    A customer or supplier deleted in Rackbeat after it was invoiced is taken from the copy
    embedded in the invoice, so the invoice still gets its contact.
    """
    number = str(number)
    binding = one_row(Binding, connection=ctx.connection, kind=kind, rackbeat_key=number)
    if binding:
        return binding.dinero_id
    # An invoice only needs the contact to exist; the customer's own transfer keeps its details
    # current (an empty fingerprint makes that transfer update it).
    guid = _guid_of(ctx.dinero.find_contact(external_reference(kind, number)))
    if guid:
        _bind(ctx, kind, number, guid, "")
        return guid
    party = _fetch(ctx, kind, number) or embedded or _embedded_in_document(ctx, kind, number)
    if party is None:
        raise NeedsMapping(
            Message(gettext_noop(
                "%(label)s %(number)s was not found in Rackbeat, so the document has no Dinero contact."),
                label=_label(kind), number=number),
            hint=Message(gettext_noop("Check the document in Rackbeat, then press Retry.")),
        )
    guid, _what = sync_contact(ctx, kind, number, party, not_found_by_reference=True)
    return guid


@register(Kind.CUSTOMER, Direction.TO_DINERO)
@register(Kind.SUPPLIER, Direction.TO_DINERO)
def transfer_contact(op: SyncOperation, ctx: TransferContext) -> Result:
    kind, number = op.kind, op.source_key
    label = _label(kind)
    if not _integration_on(ctx.settings, kind):
        raise SkipTransfer(
            Message(gettext_noop(
                "The customer integration is off for this connection, so customers are not transferred to "
                "Dinero."))
            if kind == Kind.CUSTOMER else
            Message(gettext_noop(
                "The supplier integration is off for this connection, so suppliers are not transferred to "
                "Dinero.")))
    party = _fetch(ctx, kind, number)
    if party is None:
        raise SkipTransfer(Message(gettext_noop(
            "%(label)s %(number)s was deleted in Rackbeat; the Dinero contact is kept because Dinero keeps "
            "history."),
            label=label, number=number))
    guid, what = sync_contact(ctx, kind, number, party)
    name = party_name(party)
    outcome = master_data_outcome(label, number, what, barred=bool(party.get("is_barred")))
    return Result(outcome=outcome, target_id=guid, document_number=number, document_name=name)
