"""The JSON shapes Rackbeat answers with (see docs/rackbeat-documents.md, the service's contract)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from sandbox.rackbeat import models as m


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 with the Copenhagen offset, as Rackbeat's API renders timestamps."""
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")


def money(value: Decimal | None) -> float | None:
    """Rackbeat answers amounts as JSON numbers; readers parse them with ``Decimal(str(x))``."""
    if value is None:
        return None
    return float(value)


def _self_url(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/sandbox/rackbeat/api/{path}"


def product_group(group: m.ProductGroup) -> dict[str, Any]:
    return {
        "number": group.number,
        "name": group.name,
        "is_draft": False,
        "vat_domestic": money(group.vat_domestic),
        "vat_eu": money(group.vat_eu),
        "vat_abroad": money(group.vat_abroad),
        "vat_domestic_exempt": money(group.vat_domestic_exempt),
        "created_at": timestamp(group.created_at),
        "updated_at": timestamp(group.updated_at),
        "self": _self_url(f"product-groups/{group.number}"),
    }


def unit(obj: m.Unit | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"number": obj.number, "name": obj.name, "is_draft": False}


def layout(obj: m.Layout) -> dict[str, Any]:
    return {"number": obj.number, "name": obj.name, "locale": obj.locale, "self": _self_url(f"layouts/{obj.number}")}


def payment_term(obj: m.PaymentTerm | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {
        "number": obj.number, "name": obj.name, "type": obj.type, "maturity_days": obj.maturity_days,
        "self": _self_url(f"payment-terms/{obj.number}"),
    }


def simple_group(obj: m.CustomerGroup | m.SupplierGroup, path: str) -> dict[str, Any]:
    return {"number": obj.number, "name": obj.name, "is_draft": False, "self": _self_url(f"{path}/{obj.number}")}


def _partner(obj: m.Customer | m.Supplier) -> dict[str, Any]:
    return {
        "number": obj.number,
        "name": obj.name,
        "company_name": obj.name,
        "contact_email": obj.contact_email,
        "contact_phone": obj.contact_phone,
        "company_vat": obj.company_vat,
        "ean": obj.ean,
        "address_street": obj.address_street,
        "address_street2": obj.address_street2,
        "address_zipcode": obj.address_zipcode,
        "address_city": obj.address_city,
        "address_country": obj.address_country,
        "vat_zone": obj.vat_zone,
        "currency": obj.currency,
        "locale": obj.locale,
        "is_person": obj.is_person,
        "payment_terms_id": obj.payment_terms.number if obj.payment_terms else None,
        "payment_terms": payment_term(obj.payment_terms),
        "is_barred": obj.is_barred,
        "is_deleted": obj.is_deleted,
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
    }


def customer(obj: m.Customer) -> dict[str, Any]:
    data = _partner(obj)
    data.update({
        "customer_group_id": obj.group.number if obj.group else None,
        "group": simple_group(obj.group, "customer-groups") if obj.group else None,
        "layout_id": obj.layout.number if obj.layout else None,
        "self": _self_url(f"customers/{obj.number}"),
    })
    return data


def supplier(obj: m.Supplier) -> dict[str, Any]:
    data = _partner(obj)
    data.update({
        "supplier_group_id": obj.group.number if obj.group else None,
        "supplier_groups": [simple_group(obj.group, "supplier-groups")] if obj.group else [],
        "self": _self_url(f"suppliers/{obj.number}"),
    })
    return data


def item(obj: m.Item) -> dict[str, Any]:
    path = "lots" if obj.type == m.Item.Type.LOT else "products"
    data = {
        "number": obj.number,
        "urlfriendly_number": obj.urlfriendly_number,
        "type": obj.type,
        "name": obj.name,
        "description": obj.description,
        "barcode": obj.barcode,
        "sales_price": money(obj.sales_price),
        "cost_price": money(obj.cost_price),
        "recommended_cost_price": money(obj.recommended_cost_price),
        "group_id": obj.group.number,
        "group": product_group(obj.group),
        "unit_id": obj.unit.number if obj.unit else None,
        "unit": unit(obj.unit),
        "inventory_enabled": obj.inventory_enabled,
        "is_barred": obj.is_barred,
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
        "deleted_at": timestamp(obj.deleted_at),
        "self": _self_url(f"{path}/{obj.urlfriendly_number}"),
    }
    if obj.type == m.Item.Type.LOT:
        data["lines"] = [
            {"id": line.pk, "product_id": line.product.number, "name": line.product.name,
             "quantity": money(line.quantity)}
            for line in obj.lot_lines.select_related("product")
        ]
    return data


def _line(line: m.InvoiceLine) -> dict[str, Any]:
    """A line in the early shape: embedded item, ``item_id``, ``cost_price``."""
    embedded = None
    if line.item is not None:
        embedded = {
            "number": line.item.number,
            "urlfriendly_number": line.item.urlfriendly_number,
            "name": line.item.name,
            "type": line.item.type,
            "group": {"number": line.item.group.number, "name": line.item.group.name},
            "unit": unit(line.item.unit),
            "inventory_enabled": line.item.inventory_enabled,
            "cost_price": money(line.item.cost_price),
        }
    return {
        "id": line.pk,
        "item_id": line.item.number if line.item else None,
        "item": embedded,
        "name": line.name,
        "quantity": money(line.quantity),
        "line_price": money(line.line_price),
        "discount_percentage": money(line.discount_percentage),
        "cost_price": money(line.cost_price),
        "vat_percentage": money(line.vat_percentage),
        "unit": unit(line.unit),
        "total_subtotal": money(line.line_total),
        "total_vat": money(line.line_vat),
    }


def _real_line(line: m.InvoiceLine, *, sign: int, purchase: bool, signs: str = "quantity") -> dict[str, Any]:
    """A line as live Rackbeat answers it (rackbeat-api.md, "Evidence update").

    The item is named by ``child_id``/``child_type``; a customer-invoice line may embed a small
    ``item{number, name, group}`` (no stock flag, no unit), a supplier-invoice line embeds nothing.
    The unit cost is ``item_cost_price``. On a credit note the line totals are negative, and so are
    the quantities or the unit prices or neither, as the account's ``credit_note_signs`` says.
    """
    data: dict[str, Any] = {
        "id": line.pk,
        "child_id": line.item.number if line.item else None,
        "child_type": line.item.type if line.item else None,
        "name": line.name,
        "quantity": money((sign if signs == m.CreditNoteSigns.QUANTITY else 1) * line.quantity),
        "line_price": money((sign if signs == m.CreditNoteSigns.PRICE else 1) * line.line_price),
        "line_total": money(sign * line.line_total),
        "discount_percentage": money(line.discount_percentage),
    }
    if line.unit is not None:
        data["unit_id"] = line.unit.number
    if not purchase:
        data["item_cost_price"] = money(line.cost_price)
        data["vat_percentage"] = money(line.vat_percentage)
        if line.item is not None:
            data["item"] = {"number": line.item.number, "name": line.item.name,
                            "group": {"number": line.item.group.number, "name": line.item.group.name}}
    return data


def _invoice(obj: m.CustomerInvoice | m.SupplierInvoice, *, sign: int = 1) -> dict[str, Any]:
    real = obj.account.speaks_real_shapes
    purchase = isinstance(obj, m.SupplierInvoice)
    lines = obj.lines.select_related("item__group", "item__unit", "unit")
    data = {
        "number": obj.number,
        "invoice_date": obj.invoice_date.isoformat(),
        "due_date": obj.due_date.isoformat(),
        "currency": obj.currency,
        "currency_rate": money(obj.currency_rate),
        "vat_zone": obj.vat_zone,
        "heading": obj.heading,
        "note": obj.note,
        "total_subtotal": money(sign * obj.total_subtotal),
        "total_vat": money(sign * obj.total_vat),
        "total_total": money(sign * obj.total_total),
        "is_booked": obj.is_booked,
        "booked_at": timestamp(obj.booked_at),
        "payment_terms_id": obj.payment_terms.number if obj.payment_terms else None,
        "payment_terms": payment_term(obj.payment_terms),
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
        "lines": [_real_line(line, sign=sign, purchase=purchase, signs=obj.account.credit_note_signs) if real
                  else _line(line) for line in lines],
    }
    if real and purchase:
        # The only supplier-invoice schema seen carries no VAT zone: it is the supplier's.
        del data["vat_zone"]
    if real and not purchase:
        # Rackbeat's own sum of the lines' costs (the header's total_cost), off by the account's offset.
        cost = sum((_ore(line.cost_price * line.quantity * base_units_per(line)) for line in lines
                    if line.item is not None), Decimal(0))
        data["total_cost"] = money(sign * cost + obj.account.total_cost_offset)
        if obj.account.lines_naming_unknown_items:
            first = next((line for line in data["lines"] if line.get("child_id")), None)
            if first is not None:
                first["child_id"] = f"GONE-{first['child_id']}"
                first.pop("item", None)
    return data


def base_units_per(line: m.InvoiceLine) -> Decimal:
    """How many of the item's own units one unit of the line holds (its alternative units say)."""
    if line.item is None or line.unit is None or line.unit_id == line.item.unit_id:
        return Decimal(1)
    alternative = line.item.alternative_units.filter(unit=line.unit).first()
    return alternative.quantity if alternative else Decimal(1)


def product_units(item: m.Item) -> dict[str, Any]:
    """``products/{number}/units`` as public code reads it: rows of unit, name and quantity."""
    return {"item_units": [
        {"unit": row.unit.number, "unit_id": row.unit.number, "name": row.unit.name, "quantity": money(row.quantity)}
        for row in item.alternative_units.select_related("unit")]}


def _ore(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def customer_invoice(obj: m.CustomerInvoice) -> dict[str, Any]:
    if not obj.account.speaks_real_shapes:
        data = _invoice(obj)
        data.update({
            "customer_id": obj.customer.number,
            "customer": customer(obj.customer),
            "is_credit_note": obj.is_credit_note,
        })
    else:
        # Live credit notes carry negative totals and line amounts under ``is_creditnote``; the
        # embedded customer is the small one public code reads.
        data = _invoice(obj, sign=-1 if obj.is_credit_note else 1)
        data.update({
            "customer_id": obj.customer.number,
            "customer": {"number": obj.customer.number, "name": obj.customer.name,
                         "customer_group_id": obj.customer.group.number if obj.customer.group else None},
        })
        flag = obj.account.credit_note_flag
        if flag == m.CreditNoteFlag.IS_CREDITNOTE:
            data["is_creditnote"] = obj.is_credit_note
        elif flag == m.CreditNoteFlag.TYPE:
            data["type"] = "credit_note" if obj.is_credit_note else "invoice"
    data.update({
        "credited_invoice_number": obj.credited_invoice_number,
        "layout_id": obj.layout.number if obj.layout else None,
        "pdf_url": _self_url(f"customer-invoices/{obj.number}.pdf"),
        "self": _self_url(f"customer-invoices/{obj.number}"),
    })
    return data


def supplier_invoice(obj: m.SupplierInvoice) -> dict[str, Any]:
    data = _invoice(obj)
    data["supplier_id"] = obj.supplier.number
    if not obj.account.speaks_real_shapes:
        data["supplier"] = supplier(obj.supplier)
    data.update({
        "supplier_invoice_number": obj.supplier_invoice_number,
        "pdf_url": _self_url(f"supplier-invoices/{obj.number}.pdf"),
        "self": _self_url(f"supplier-invoices/{obj.number}"),
    })
    if obj.account.supplier_invoices_without_dates:
        data.pop("invoice_date", None)
        data.pop("due_date", None)
    return data


def webhook(obj: m.Webhook, *, with_token: bool = False) -> dict[str, Any]:
    data = {
        "id": obj.pk,
        "event": obj.event,
        "url": obj.url,
        "is_active": obj.is_active,
        "plugin": None,
        "failures_since_last_success": obj.failures_since_last_success,
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
    }
    if with_token:
        data["token"] = obj.token
    return data


def self_info(account: m.Account) -> dict[str, Any]:
    return {
        "user_account": {
            "id": account.account_id,
            "company_name": account.company_name,
            "company_vat": account.company_vat,
            "address_street": account.address_street,
            "address_zipcode": account.address_zipcode,
            "address_city": account.address_city,
            "address_country": account.address_country,
        },
        "user": {"id": account.pk, "name": account.user_name, "email": account.user_email},
    }
