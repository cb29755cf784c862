"""Sales and supplier invoices: drafts, their totals as Rackbeat computes them, and booking.

A line's total is ``quantity × line_price × (1 − discount_percentage / 100)`` rounded to øre;
its VAT is that total times the line's VAT rate, also rounded to øre. The rate comes from the
product group of the line's item for the invoice's VAT zone (the customer's or supplier's zone
unless the invoice names one); a free line without item uses the zone's standard rate. The invoice totals are the sums of the rounded line figures.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from sandbox.rackbeat import models as m
from sandbox.rackbeat import webhooks
from sandbox.rackbeat.writes import Reader, ValidationFailed, next_number

ORE = Decimal("0.01")
# A line without item (a free line) is taxed at the standard rate of the VAT zone unless the line
# names its own ``vat_percentage``: Danish VAT domestically, none on EU and export sales.
FREE_LINE_VAT = {"domestic": Decimal(25)}
CUSTOMER_INVOICE_START = 10001
SUPPLIER_INVOICE_START = 50001


def round_ore(value: Decimal) -> Decimal:
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


def line_figures(quantity: Decimal, line_price: Decimal, discount_percentage: Decimal,
                 vat_percentage: Decimal) -> tuple[Decimal, Decimal]:
    """(total excl. VAT, VAT) of one line, each rounded to øre."""
    total = round_ore(quantity * line_price * (Decimal(1) - discount_percentage / Decimal(100)))
    return total, round_ore(total * vat_percentage / Decimal(100))


def due_date_for(invoice_date: date, terms: m.PaymentTerm | None) -> date:
    if terms is None:
        return invoice_date + timedelta(days=8)
    if terms.type == "cash":
        return invoice_date
    if terms.type == "current_month":
        next_month = (invoice_date.replace(day=28) + timedelta(days=4)).replace(day=1)
        return next_month - timedelta(days=1) + timedelta(days=terms.maturity_days)
    return invoice_date + timedelta(days=terms.maturity_days)


def _date(reader: Reader, name: str) -> date | None:
    value = reader.text(name, max_length=40)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        reader.fail(name, f"The {name} is not a valid date.")
        return None


def _read_lines(reader: Reader, account: m.Account, *, purchase: bool, zone: str) -> list[dict[str, Any]] | None:
    if "lines" not in reader.body:
        return None
    raw_lines = reader.body["lines"]
    if not isinstance(raw_lines, list) or not raw_lines:
        reader.fail("lines", "The lines field is required.")
        return None
    lines = []
    for index, raw in enumerate(raw_lines):
        line = Reader(raw if isinstance(raw, dict) else {})
        item_number = line.raw("item_id", "product_id", "child_id", "item")
        item = None
        if item_number not in (None, ""):
            item = m.Item.objects.select_related("group", "unit").filter(
                account=account, number=str(item_number)).first()
            if item is None:
                line.fail("item_id", "The selected item id is invalid.")
            elif item.is_barred:
                line.fail("item_id", f"Product '{item.number}' is barred.")
        name = line.text("name", max_length=300)
        quantity = line.decimal("quantity", required=item is not None)
        price = line.decimal("line_price", "unit_price", "price")
        discount = line.decimal("discount_percentage", "discount") or Decimal(0)
        if not Decimal(0) <= discount <= Decimal(100):
            line.fail("discount_percentage", "The discount percentage must be between 0 and 100.")
        free_rate = line.decimal("vat_percentage") if item is None else None
        unit = None
        if line.has("unit_id", "unit"):
            unit = line.related(account, m.Unit, "unit_id", "unit")
        if item is None and item_number in (None, "") and not name:
            line.fail("name", "The name field is required when item id is not present.")
        for path, messages in line.errors.items():
            reader.errors[f"lines.{index}.{path}"] = messages
        if line.errors:
            continue
        if item is not None:
            default_price = item.cost_price if purchase else item.sales_price
            lines.append({
                "item": item, "name": name or item.name, "quantity": quantity,
                "line_price": default_price if price is None else price, "discount_percentage": discount,
                "unit": unit or item.unit, "cost_price": item.cost_price,
            })
        else:
            lines.append({
                "item": None, "name": name, "quantity": quantity or Decimal(0), "line_price": price or Decimal(0),
                "discount_percentage": discount, "unit": unit, "cost_price": Decimal(0),
                "vat_percentage": free_rate if free_rate is not None else FREE_LINE_VAT.get(zone, Decimal(0)),
            })
    return lines


def _store_lines(invoice: m.CustomerInvoice | m.SupplierInvoice, lines: list[dict[str, Any]], *,
                 purchase: bool) -> None:
    invoice.lines.all().delete()
    for position, values in enumerate(lines):
        line = m.InvoiceLine(position=position, **values)
        if purchase:
            line.supplier_invoice = invoice
        else:
            line.customer_invoice = invoice
        line.save()
    recompute(invoice)


def recompute(invoice: m.CustomerInvoice | m.SupplierInvoice) -> None:
    """Derive every line's VAT rate and figures and the invoice totals from the current data."""
    subtotal = vat = Decimal(0)
    for line in invoice.lines.select_related("item__group"):
        rate = line.item.group.vat_rate(invoice.vat_zone) if line.item else line.vat_percentage
        line.vat_percentage = rate
        line.line_total, line.line_vat = line_figures(line.quantity, line.line_price, line.discount_percentage, rate)
        line.save(update_fields=["vat_percentage", "line_total", "line_vat"])
        subtotal += line.line_total
        vat += line.line_vat
    invoice.total_subtotal, invoice.total_vat, invoice.total_total = subtotal, vat, subtotal + vat
    invoice.save(update_fields=["total_subtotal", "total_vat", "total_total", "updated_at"])


def _header(reader: Reader, account: m.Account, instance, *, purchase: bool) -> dict[str, Any]:
    creating = instance is None
    values: dict[str, Any] = {}
    partner_model = m.Supplier if purchase else m.Customer
    partner_field = "supplier" if purchase else "customer"
    names = (f"{partner_field}_id", partner_field, f"{partner_field}_number")
    if creating and not reader.has(*names):
        reader.fail(names[0], f"The {names[0]} field is required.")
    elif reader.has(*names):
        partner = reader.related(account, partner_model, *names)
        if partner is not None:
            values[partner_field] = partner
    partner = values.get(partner_field) or (getattr(instance, partner_field) if instance else None)

    invoice_date = _date(reader, "invoice_date") or _date(reader, "date")
    if invoice_date:
        values["invoice_date"] = invoice_date
    elif creating:
        values["invoice_date"] = timezone.localdate()
    terms = None
    if reader.has("payment_terms_id", "payment_terms"):
        terms = reader.related(account, m.PaymentTerm, "payment_terms_id", "payment_terms")
        values["payment_terms"] = terms
    elif creating and partner is not None:
        values["payment_terms"] = terms = partner.payment_terms
    due = _date(reader, "due_date")
    if due:
        values["due_date"] = due
    elif creating:
        values["due_date"] = due_date_for(values["invoice_date"], terms)
    zone = reader.choice("vat_zone", m.VAT_ZONES)
    if zone:
        values["vat_zone"] = zone
    elif creating and partner is not None:
        values["vat_zone"] = partner.vat_zone
    currency = reader.text("currency", max_length=3)
    if currency:
        values["currency"] = currency.upper()
    elif creating and partner is not None:
        values["currency"] = partner.currency
    rate = reader.decimal("currency_rate")
    if rate is not None:
        values["currency_rate"] = rate
    for text in ("heading", "note"):
        value = reader.text(text, max_length=5000)
        if value is not None:
            values[text] = value
    if purchase:
        own_number = reader.text("supplier_invoice_number", max_length=60)
        if own_number is not None:
            values["supplier_invoice_number"] = own_number
    else:
        if reader.has("layout_id", "layout"):
            values["layout"] = reader.related(account, m.Layout, "layout_id", "layout")
        elif creating and partner is not None:
            values["layout"] = partner.layout
        credit = reader.boolean("is_creditnote", "is_credit_note")
        if credit is not None:
            values["is_credit_note"] = credit
        credited = reader.integer("credited_invoice_number")
        if credited is not None:
            values["credited_invoice_number"] = credited
    return values


def save_invoice(account: m.Account, body: dict[str, Any], instance=None, *, purchase: bool,
                 notify: bool = True):
    """Create a draft (``instance`` None) or change one; booked invoices cannot be changed."""
    model = m.SupplierInvoice if purchase else m.CustomerInvoice
    reader = Reader(body)
    creating = instance is None
    if instance is not None and instance.is_booked:
        raise ValidationFailed({"is_booked": ["A booked invoice cannot be changed."]})
    number = reader.integer("number")
    if number is not None:
        clash = model.objects.filter(account=account, number=number)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            reader.fail("number", "The number has already been taken.")
    values = _header(reader, account, instance, purchase=purchase)
    zone = values.get("vat_zone") or (instance.vat_zone if instance else "domestic")
    lines = _read_lines(reader, account, purchase=purchase, zone=zone)
    if creating and lines is None:
        reader.fail("lines", "The lines field is required.")
    reader.check()
    prefix = "supplier_invoice" if purchase else "customer_invoice"
    start = SUPPLIER_INVOICE_START if purchase else CUSTOMER_INVOICE_START
    with transaction.atomic():
        if creating:
            invoice = model(account=account, number=number or next_number(model, account, start), **values)
            invoice.save()
        else:
            invoice = instance
            if number is not None:
                values["number"] = number
            for name, value in values.items():
                setattr(invoice, name, value)
            invoice.save()
        if lines is not None:
            _store_lines(invoice, lines, purchase=purchase)
        else:
            recompute(invoice)
        if notify:
            if creating:
                webhooks.emit(account, f"{prefix}.created", invoice.number)
            else:
                webhooks.emit(account, f"{prefix}.updated", invoice.number,
                              changed=sorted({*values, *(["lines"] if lines is not None else [])}))
    return invoice


def book_invoice(invoice: m.CustomerInvoice | m.SupplierInvoice, *, notify: bool = True):
    """Book a draft: it becomes immutable, and each line's cost price is fixed at today's cost."""
    if invoice.is_booked:
        raise ValidationFailed({"is_booked": ["The invoice is already booked."]})
    if not invoice.lines.exists():
        raise ValidationFailed({"lines": ["An invoice without lines cannot be booked."]})
    purchase = isinstance(invoice, m.SupplierInvoice)
    with transaction.atomic():
        for line in invoice.lines.select_related("item"):
            if line.item is not None:
                line.cost_price = line.item.cost_price
                line.save(update_fields=["cost_price"])
        invoice.is_booked = True
        invoice.booked_at = timezone.now()
        invoice.save(update_fields=["is_booked", "booked_at", "updated_at"])
        if notify:
            prefix = "supplier_invoice" if purchase else "customer_invoice"
            webhooks.emit(invoice.account, f"{prefix}.booked", invoice.number)
    return invoice
