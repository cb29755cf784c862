"""Rackbeat products and bills of materials (BOMs) → Dinero products.

Products and BOMs are needed on sales invoice lines, so they follow the customer integration
switch and can also be turned off on their own (``product_integration_enabled``). A BOM becomes an
ordinary Dinero product: Dinero has no bills of materials, and invoices sell the BOM as one line.

Fields: product number, name, price excluding VAT (``sales_price``), quantity 1, the unit from the
unit mapping and the sales account from the revenue matrix (the product group's *domestic*
cell — on invoices every line gets its account from the matrix for the invoice's VAT zone, so
this is only the default Dinero shows when a person uses the product by hand). A missing mapping
stops the product with a link to the cell to fill in.

Same rules as contacts: an unchanged fingerprint makes no call; a bound product is updated; an
unbound one is looked up by ExternalReference (``rackbeat:product:<number>`` or
``rackbeat:bom:<number>``) and then by product number before it is created. Barred items are
still transferred (Dinero has no barred flag); an item deleted in Rackbeat is skipped with the
reason and its Dinero product kept, because Dinero keeps history.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_noop

from integration.core import product_facts
from integration.core.clients.errors import NotFound
from integration.core.clients.rackbeat_documents import item_facts, master_data_outcome
from integration.core.handlers import NeedsMapping, Result, SkipTransfer, TransferContext, register
from integration.core.messages import Message
from integration.core.models import Binding, Direction, IntegrationSettings, Kind, SyncOperation
from integration.core.row_reads import one_row
from integration.transfers.creation_claims import create_once
from mappings import lookup


def external_reference(kind: str, number: Any) -> str:
    return f"rackbeat:{'bom' if kind == Kind.BOM else 'product'}:{number}"


def _label(kind: str) -> str:
    return Message(gettext_noop("BOM")) if kind == Kind.BOM else Message(gettext_noop("Product"))


def _number_of(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("number")
    return "" if value in (None, "") else str(value)


def _price(item: dict[str, Any], kind: str, number: str) -> Decimal:
    try:
        return Decimal(str(item.get("sales_price") if item.get("sales_price") is not None else "0"))
    except (InvalidOperation, ValueError) as exc:
        raise NeedsMapping(
            Message(gettext_noop("%(label)s %(number)s has a sales price Dinero cannot read: %(price)s."),
                    label=_label(kind), number=number, price=item.get("sales_price")),
            hint=Message(gettext_noop(
                "Correct the sales price in Rackbeat; the change is transferred automatically.")),
        ) from exc


def product_payload(connection: Any, item: dict[str, Any], *, kind: str, number: str) -> dict[str, Any]:
    """The Dinero product fields for a Rackbeat product or BOM (mappings read, nothing written)."""

    group = _number_of(item.get("group")) or _number_of(item.get("group_id"))
    unit = _number_of(item.get("unit")) or _number_of(item.get("unit_id"))
    if not group:
        raise NeedsMapping(
            Message(gettext_noop(
                "%(label)s %(number)s has no product group in Rackbeat, so no sales account can be chosen."),
                label=_label(kind), number=number),
            hint=Message(gettext_noop(
                "Put it in a product group in Rackbeat; the change is transferred automatically.")),
        )
    name = str(item.get("name") or "").strip() or str(number)
    return {
        "ProductNumber": str(number),
        "Name": name,
        "BaseAmountValue": _price(item, kind, number),
        "Quantity": Decimal("1"),
        "AccountNumber": lookup.revenue_account(connection, group, "domestic"),
        "Unit": lookup.dinero_unit(connection, unit),
        "ExternalReference": external_reference(kind, number),
    }


def _integration_on(settings: IntegrationSettings) -> bool:
    return product_facts.followed(settings)


def _fetch(ctx: TransferContext, kind: str, number: str) -> dict[str, Any] | None:
    # Through the attempt's cache: an invoice that read the item for its lines does not read it again.
    item = ctx.related.item("lot" if kind == Kind.BOM else "product", number)
    if item is None:
        return None
    return None if item.get("deleted_at") or item.get("is_deleted") else item


def _guid_of(row: dict[str, Any] | None) -> str:
    row = row or {}
    return str(row.get("ProductGuid") or row.get("productGuid") or row.get("Guid") or "")


def _bind(ctx: TransferContext, kind: str, number: str, guid: str, fingerprint: str, item: dict[str, Any]) -> None:
    Binding.objects.filter(connection=ctx.connection, kind=kind, dinero_id=guid).exclude(rackbeat_key=number).delete()
    # The item's facts travel with the binding: the invoices that sell it need not read it again.
    Binding.objects.update_or_create(connection=ctx.connection, kind=kind, rackbeat_key=number,
                                     defaults={"dinero_id": guid, "fingerprint": fingerprint,
                                               "facts": item_facts(item)})


def _still_there(ctx: TransferContext, guid: str) -> bool:
    try:
        product = ctx.dinero.get_product(guid)
    except NotFound:
        return False
    return bool(product) and not product.get("DeletedAt")


def sync_product(ctx: TransferContext, kind: str, number: str, item: dict[str, Any]) -> tuple[str, str]:
    """Create or update the Dinero product; returns (ProductGuid, what happened)."""
    payload = product_payload(ctx.connection, item, kind=kind, number=number)
    fingerprint = Binding.fingerprint_of(payload)
    binding = one_row(Binding, connection=ctx.connection, kind=kind, rackbeat_key=number)
    if binding and binding.fingerprint == fingerprint:
        return binding.dinero_id, "unchanged"
    guid = binding.dinero_id if binding and _still_there(ctx, binding.dinero_id) else ""
    if not guid:
        # Also after an uncertain create: the product made by a lost answer is found here.
        guid = _guid_of(ctx.dinero.find_product(payload["ExternalReference"])
                        or ctx.dinero.find_product_by_number(number))
    if guid:
        ctx.dinero.update_product(guid, payload)
        _bind(ctx, kind, number, guid, fingerprint, item)
        return guid, "updated"
    ctx.save_intent(product_create_sent=True)

    def look_up(_claimed: str) -> str:
        return _guid_of(ctx.dinero.find_product(payload["ExternalReference"])
                        or ctx.dinero.find_product_by_number(number))

    # Rule 11: one transfer at a time creates this product; another one waits or finds it.
    guid = create_once(ctx, kind, number, label=_label(kind), planned_id="", look_up=look_up,
                       create=lambda _claimed: ctx.dinero.create_product(payload),
                       bind=lambda found: _bind(ctx, kind, number, found, fingerprint, item))
    return guid, "created"


def ensure_product(ctx: TransferContext, kind: str, number: str,
                   read: Callable[[str, str], dict[str, Any] | None] | None = None) -> str | None:
    """The ProductGuid of a Rackbeat product or BOM an invoice line refers to (rule 11: a document
    ensures the objects it refers to), transferring it first when products are transferred.

    None when product transfer is off for the connection or the item no longer exists in Rackbeat:
    the line then carries its description instead.
    """
    binding = one_row(Binding, connection=ctx.connection, kind=kind, rackbeat_key=str(number))
    if binding is not None:
        return binding.dinero_id
    if not _integration_on(ctx.settings):
        return None
    if read is not None:
        # The document's own cache of items (``RelatedRecords.item``: type "lot" or "product").
        item = read("lot" if kind == Kind.BOM else "product", str(number))
        item = None if item is None or item.get("deleted_at") or item.get("is_deleted") else item
    else:
        item = _fetch(ctx, kind, str(number))
    if item is None:
        return None
    guid, _what = sync_product(ctx, kind, str(number), item)
    return guid


@register(Kind.PRODUCT, Direction.TO_DINERO)
@register(Kind.BOM, Direction.TO_DINERO)
def transfer_product(op: SyncOperation, ctx: TransferContext) -> Result:
    kind, number = op.kind, op.source_key
    label = _label(kind)
    if not _integration_on(ctx.settings):
        raise SkipTransfer(Message(gettext_noop(
            "Products and BOMs are transferred only when the customer integration and the product transfer "
            "are on for this connection.")))
    item = _fetch(ctx, kind, number)
    if item is None:
        raise SkipTransfer(Message(gettext_noop(
            "%(label)s %(number)s was deleted in Rackbeat; the Dinero product is kept because Dinero keeps "
            "history."),
            label=label, number=number))
    guid, what = sync_product(ctx, kind, number, item)
    outcome = master_data_outcome(label, number, what, barred=bool(item.get("is_barred")))
    return Result(outcome=outcome, target_id=guid, document_number=number, document_name=str(item.get("name") or ""))
