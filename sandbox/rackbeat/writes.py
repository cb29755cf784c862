"""Validated writes to master data, shared by the API, the sandbox UI and the demo seed.

Validation answers the way Rackbeat (a Laravel application) does: every problem is collected
under its dotted field path and the whole write is refused with 422, nothing half-stored.
Writes that Rackbeat announces by webhook (customers, suppliers, products, BOMs) call
:func:`sandbox.rackbeat.webhooks.emit` unless the caller asked to suppress webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models, transaction
from django.db.models import Max

from sandbox.rackbeat import models as m
from sandbox.rackbeat import webhooks


class ValidationFailed(Exception):
    """A refused write; ``errors`` maps dotted field paths to messages (Rackbeat's 422 body)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Reader:
    """Reads one request body, collecting every problem before anything is stored."""

    body: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def has(self, *names: str) -> bool:
        return any(name in self.body for name in names)

    def raw(self, *names: str) -> Any:
        for name in names:
            if name in self.body:
                value = self.body[name]
                # Related objects may be written as {"number": n} as well as the plain number.
                if isinstance(value, dict) and "number" in value:
                    return value["number"]
                return value
        return None

    def text(self, *names: str, required: bool = False, max_length: int = 200) -> str | None:
        value = self.raw(*names)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(names[0], f"The {names[0]} field is required.")
            return None if value is None else ""
        if not isinstance(value, str | int | float):
            self.fail(names[0], f"The {names[0]} must be a string.")
            return None
        value = str(value).strip()
        if len(value) > max_length:
            self.fail(names[0], f"The {names[0]} may not be greater than {max_length} characters.")
            return None
        return value

    def decimal(self, *names: str, required: bool = False) -> Decimal | None:
        value = self.raw(*names)
        if value is None or value == "":
            if required:
                self.fail(names[0], f"The {names[0]} field is required.")
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            number = Decimal(str(value))
            if not number.is_finite():
                raise InvalidOperation
            return number
        except (InvalidOperation, ValueError):
            self.fail(names[0], f"The {names[0]} must be a number.")
            return None

    def integer(self, *names: str, required: bool = False) -> int | None:
        value = self.raw(*names)
        if value is None or value == "":
            if required:
                self.fail(names[0], f"The {names[0]} field is required.")
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(str(value))
            if number < 0:
                raise ValueError
            return number
        except ValueError:
            self.fail(names[0], f"The {names[0]} must be an integer.")
            return None

    def boolean(self, *names: str) -> bool | None:
        value = self.raw(*names)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no", ""):
            return False
        self.fail(names[0], f"The {names[0]} field must be true or false.")
        return None

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value and value not in choices:
            self.fail(name, f"The selected {name} is invalid.")
            return None
        return value

    def related(self, account: m.Account, model: type[models.Model], *names: str) -> models.Model | None:
        number = self.integer(*names)
        if number is None:
            return None
        obj = model.objects.filter(account=account, number=number).first()
        if obj is None:
            self.fail(names[0], f"The selected {names[0]} is invalid.")
        return obj

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def next_number(model: type[models.Model], account: m.Account, start: int = 1) -> int:
    highest = model.objects.filter(account=account).aggregate(n=Max("number"))["n"]
    return max(start, (highest or 0) + 1)


def _apply(instance: models.Model, values: dict[str, Any]) -> list[str]:
    """Set the given attributes and return the names of those whose value changed."""
    changed = []
    for name, value in values.items():
        if getattr(instance, name, None) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _unique_number(reader: Reader, model: type[models.Model], account: m.Account, number: Any,
                   instance: models.Model | None) -> None:
    if number is None:
        return
    clash = model.objects.filter(account=account, number=number)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        reader.fail("number", "The number has already been taken.")


# --- customers and suppliers ----------------------------------------------------------------------

PARTNER_TEXT = {
    "contact_email": 200, "contact_phone": 50, "company_vat": 40, "ean": 20, "address_street": 200,
    "address_street2": 200, "address_zipcode": 20, "address_city": 100,
}


def _partner_values(reader: Reader, account: m.Account, creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    name = reader.text("name", "company_name", required=creating)
    if name is not None:
        if not name:
            reader.fail("name", "The name field is required.")
        values["name"] = name
    for key, length in PARTNER_TEXT.items():
        value = reader.text(key, max_length=length)
        if value is not None:
            values[key] = value
    email = values.get("contact_email")
    if email and ("@" not in email or " " in email):
        reader.fail("contact_email", "The contact email must be a valid email address.")
    country = reader.text("address_country", max_length=2)
    if country is not None:
        values["address_country"] = country.upper()
    currency = reader.text("currency", max_length=3)
    if currency is not None:
        if len(currency) != 3:
            reader.fail("currency", "The selected currency is invalid.")
        values["currency"] = currency.upper()
    locale = reader.text("locale", max_length=5)
    if locale:
        values["locale"] = locale
    zone = reader.choice("vat_zone", m.VAT_ZONES)
    if zone:
        values["vat_zone"] = zone
    for flag in ("is_person", "is_barred"):
        value = reader.boolean(flag)
        if value is not None:
            values[flag] = value
    if reader.has("payment_terms_id", "payment_terms"):
        values["payment_terms"] = reader.related(account, m.PaymentTerm, "payment_terms_id", "payment_terms")
    return values


def _save_partner(model: type[m.Customer | m.Supplier], event_prefix: str, account: m.Account,
                  body: dict[str, Any], instance: m.Customer | m.Supplier | None, notify: bool):
    reader = Reader(body)
    creating = instance is None
    values = _partner_values(reader, account, creating)
    number = reader.integer("number")
    _unique_number(reader, model, account, number, instance)
    if model is m.Customer:
        if reader.has("customer_group_id", "group", "group_id"):
            values["group"] = reader.related(account, m.CustomerGroup, "customer_group_id", "group", "group_id")
        if reader.has("layout_id", "layout"):
            values["layout"] = reader.related(account, m.Layout, "layout_id", "layout")
    elif reader.has("supplier_group_id", "group", "group_id"):
        values["group"] = reader.related(account, m.SupplierGroup, "supplier_group_id", "group", "group_id")
    reader.check()
    with transaction.atomic():
        if creating:
            obj = model(account=account, number=number or next_number(model, account))
            _apply(obj, values)
            obj.save()
            if notify:
                webhooks.emit(account, f"{event_prefix}.created", obj.number)
            return obj, []
        old_key = instance.number
        if number is not None:
            values["number"] = number
        changed = _apply(instance, values)
        if changed:
            instance.save()
            if notify:
                webhooks.emit(account, f"{event_prefix}.updated", instance.number, old_key=old_key, changed=changed)
        return instance, changed


def save_customer(account: m.Account, body: dict[str, Any], instance: m.Customer | None = None, *,
                  notify: bool = True) -> tuple[m.Customer, list[str]]:
    return _save_partner(m.Customer, "customer", account, body, instance, notify)


def save_supplier(account: m.Account, body: dict[str, Any], instance: m.Supplier | None = None, *,
                  notify: bool = True) -> tuple[m.Supplier, list[str]]:
    return _save_partner(m.Supplier, "supplier", account, body, instance, notify)


# --- products and BOMs -------------------------------------------------------------------------------

def _lot_lines(reader: Reader, account: m.Account) -> list[tuple[m.Item, Decimal]] | None:
    if "lines" not in reader.body:
        return None
    lines = reader.body["lines"]
    if not isinstance(lines, list):
        reader.fail("lines", "The lines must be an array.")
        return None
    result = []
    for index, line in enumerate(lines):
        line_reader = Reader(line if isinstance(line, dict) else {})
        number = line_reader.text("product_id", "item_id", "child_id", required=True, max_length=100)
        quantity = line_reader.decimal("quantity", required=True)
        product = None
        if number:
            product = m.Item.objects.filter(account=account, number=number, type=m.Item.Type.PRODUCT).first()
            if product is None:
                line_reader.fail("product_id", "The selected product id is invalid.")
        for path, messages in line_reader.errors.items():
            reader.errors[f"lines.{index}.{path}"] = messages
        if product is not None and quantity is not None:
            result.append((product, quantity))
    return result


def save_item(account: m.Account, body: dict[str, Any], instance: m.Item | None = None, *,
              item_type: str = m.Item.Type.PRODUCT, notify: bool = True) -> tuple[m.Item, list[str]]:
    reader = Reader(body)
    creating = instance is None
    values: dict[str, Any] = {}
    number = reader.text("number", required=creating, max_length=100)
    if number is not None and not number and not creating:
        reader.fail("number", "The number field is required.")
    if number:
        clash = m.Item.objects.filter(account=account, number=number)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            reader.fail("number", "The number has already been taken.")
    name = reader.text("name", required=creating)
    if name is not None:
        if not name:
            reader.fail("name", "The name field is required.")
        values["name"] = name
    description = reader.text("description", max_length=5000)
    if description is not None:
        values["description"] = description
    barcode = reader.text("barcode", max_length=60)
    if barcode is not None:
        values["barcode"] = barcode
    if creating and not reader.has("group", "group_id"):
        reader.fail("group", "The group field is required.")
    elif reader.has("group", "group_id"):
        values["group"] = reader.related(account, m.ProductGroup, "group", "group_id")
    if creating and item_type == m.Item.Type.PRODUCT and not reader.has("sales_price"):
        reader.fail("sales_price", "The sales price field is required.")
    for price in ("sales_price", "recommended_cost_price"):
        value = reader.decimal(price)
        if value is not None:
            values[price] = value.quantize(Decimal("0.01"))
    if reader.has("unit_id", "unit"):
        values["unit"] = reader.related(account, m.Unit, "unit_id", "unit")
    for flag in ("inventory_enabled", "is_barred"):
        value = reader.boolean(flag)
        if value is not None:
            values[flag] = value
    lines = _lot_lines(reader, account) if item_type == m.Item.Type.LOT else None
    reader.check()

    event_prefix = "lot" if item_type == m.Item.Type.LOT else "product"
    with transaction.atomic():
        if creating:
            obj = m.Item(account=account, number=number, type=item_type)
            _apply(obj, values)
            if obj.unit is None and "unit" not in values:
                obj.unit = m.Unit.objects.filter(account=account).order_by("number").first()
            obj.save()
            changed: list[str] = []
        else:
            obj = instance
            old_key = obj.number
            if number:
                values["number"] = number
            changed = _apply(obj, values)
            if changed:
                obj.save()
        if lines is not None:
            current = [(line.product_id, line.quantity) for line in obj.lot_lines.all()]
            if current != [(p.pk, q) for p, q in lines]:
                obj.lot_lines.all().delete()
                for position, (product, quantity) in enumerate(lines):
                    m.LotLine.objects.create(lot=obj, product=product, quantity=quantity, position=position)
                if not creating:
                    changed.append("lines")
                    obj.save(update_fields=["updated_at"])
        if notify:
            if creating:
                webhooks.emit(account, f"{event_prefix}.created", obj.number)
            elif changed:
                webhooks.emit(account, f"{event_prefix}.updated", obj.number, old_key=old_key, changed=changed)
    return obj, changed


# --- groups, units, layouts, payment terms ---------------------------------------------------------

def save_simple(model: type[models.Model], account: m.Account, body: dict[str, Any],
                instance: models.Model | None = None, **_: Any) -> tuple[models.Model, list[str]]:
    """Product groups, customer and supplier groups, units, layouts, payment terms (no webhooks)."""
    reader = Reader(body)
    creating = instance is None
    values: dict[str, Any] = {}
    number = reader.integer("number")
    _unique_number(reader, model, account, number, instance)
    name = reader.text("name", required=creating)
    if name is not None:
        if not name:
            reader.fail("name", "The name field is required.")
        values["name"] = name
    if model is m.ProductGroup:
        for zone in m.VAT_ZONES:
            rate = reader.decimal(f"vat_{zone}")
            if rate is not None:
                if not Decimal("0") <= rate <= Decimal("100"):
                    reader.fail(f"vat_{zone}", f"The vat {zone} must be between 0 and 100.")
                values[f"vat_{zone}"] = rate
    elif model is m.Layout:
        locale = reader.text("locale", max_length=5)
        if locale:
            values["locale"] = locale
    elif model is m.PaymentTerm:
        term_type = reader.choice("type", m.PAYMENT_TERM_TYPES)
        if term_type:
            values["type"] = term_type
        days = reader.integer("maturity_days")
        if days is not None:
            values["maturity_days"] = days
    reader.check()
    if creating:
        obj = model(account=account, number=number or next_number(model, account))
        _apply(obj, values)
        obj.save()
        return obj, []
    if number is not None:
        values["number"] = number
    changed = _apply(instance, values)
    if changed:
        instance.save()
    return instance, changed
