"""The invoice tests' small world: the product description's matrices, mappings and documents.

Revenue matrix: product group 10 “Färdiga varor” → 1000 domestic, group 20 “Reservdelar” →
1300 domestic (the description's two-group example). Supplier matrix: “Färdiga varor” → 2000 /
2050 / 2150 for a domestic / EU / abroad supplier.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from integration.core.handlers import TransferContext
from integration.core.models import Direction, IntegrationSettings, SyncOperation
from mappings.models import (
    AccountMatrixCell,
    DineroAccount,
    DineroVatType,
    LayoutMapping,
    ProductGroup,
    UnitMapping,
)
from tests.invoice_fakes import FakeDinero, FakeRackbeat

FINISHED_GOODS = "10"
SPARE_PARTS = "20"

REVENUE = {(FINISHED_GOODS, "domestic"): 1000, (SPARE_PARTS, "domestic"): 1300,
           (FINISHED_GOODS, "eu"): 1100, (SPARE_PARTS, "eu"): 1110}
SUPPLIER = {(FINISHED_GOODS, "domestic"): 2000, (FINISHED_GOODS, "eu"): 2050, (FINISHED_GOODS, "abroad"): 2150,
            (SPARE_PARTS, "domestic"): 2010}
ACCOUNTS = [
    (1000, "Salg af varer", "U25", False), (1300, "Salg af reservedele", "U25", False),
    (1100, "Salg EU", "none", False), (1110, "Salg EU reservedele", "none", False),
    (2000, "Varekøb Danmark", "I25", True), (2010, "Reservedele Danmark", "I25", True),
    (2050, "Varekøb EU", "IEUV", True), (2150, "Varekøb udland", "IVV", True),
    (58100, "Varelager", "none", False), (1600, "Vareforbrug", "none", False),
]


def build_world(connection: Any) -> IntegrationSettings:
    ProductGroup.objects.create(connection=connection, number=FINISHED_GOODS, name="Färdiga varor")
    ProductGroup.objects.create(connection=connection, number=SPARE_PARTS, name="Reservdelar")
    for (group, zone), account in REVENUE.items():
        AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number=group,
                                         vat_zone=zone, account_number=account)
    for (group, zone), account in SUPPLIER.items():
        AccountMatrixCell.objects.create(connection=connection, matrix="supplier", product_group_number=group,
                                         vat_zone=zone, account_number=account)
    for number, name, code, purchase in ACCOUNTS:
        DineroAccount.objects.create(connection=connection, number=number, name=name, vat_code=code,
                                     is_purchase=purchase)
    DineroVatType.objects.create(connection=connection, code="I25", name="Dansk købsmoms", rate=Decimal("0.25"))
    DineroVatType.objects.create(connection=connection, code="U25", name="Dansk salgsmoms", rate=Decimal("0.25"))
    UnitMapping.objects.create(connection=connection, rackbeat_unit_number="1", dinero_unit="parts")
    UnitMapping.objects.create(connection=connection, rackbeat_unit_number="2", dinero_unit="hours")
    LayoutMapping.objects.create(connection=connection, rackbeat_layout_number="1", language="da-DK")
    LayoutMapping.objects.create(connection=connection, rackbeat_layout_number="2", language="en-GB")
    settings, _ = IntegrationSettings.objects.get_or_create(connection=connection)
    settings.customer_integration_enabled = True
    settings.supplier_integration_enabled = True
    settings.stock_account = 58100
    settings.consumption_account = 1600
    settings.save()
    return settings


@pytest.fixture(name="world")
def world_fixture(connection, settings) -> IntegrationSettings:
    # Unit tests use fake clients; their URL conf has the admin (for fix links) without the sandbox.
    settings.ROOT_URLCONF = "tests.invoice_urls"
    return build_world(connection)


@pytest.fixture(name="dinero")
def dinero_fixture() -> FakeDinero:
    return FakeDinero(vat_rates={1100: Decimal("0"), 1110: Decimal("0")})


@pytest.fixture(name="rackbeat")
def rackbeat_fixture() -> FakeRackbeat:
    return FakeRackbeat()


# --- documents ----------------------------------------------------------------------------------

def _ore(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def line(number: str, group: str, quantity: Any, price: Any, *, discount: Any = 0, vat: Any = 25,
         unit: str = "1", stock: bool = True, cost: Any = "10.00", name: str = "") -> dict[str, Any]:
    group_name = {FINISHED_GOODS: "Färdiga varor", SPARE_PARTS: "Reservdelar"}.get(group, group)
    return {
        "id": abs(hash((number, quantity, price))) % 100000,
        "item": {"number": number, "name": name or f"Vare {number}", "type": "product",
                 "group": {"number": group, "name": group_name}, "unit": {"number": unit, "name": "stk"},
                 "inventory_enabled": stock},
        "name": name or f"Vare {number}", "quantity": quantity, "line_price": price,
        "discount_percentage": discount, "cost_price": cost, "vat_percentage": vat,
        "unit": {"number": unit, "name": "stk"},
    }


def text_line(text: str) -> dict[str, Any]:
    return {"id": 1, "item": None, "name": text, "quantity": 0, "line_price": 0, "discount_percentage": 0}


def totals(lines: list[dict[str, Any]]) -> dict[str, str]:
    """Rackbeat's totals: line totals and line VAT rounded to øre, then summed."""
    subtotal = vat = Decimal("0")
    for entry in lines:
        net = _ore(Decimal(str(entry["quantity"])) * Decimal(str(entry["line_price"]))
                   * (100 - Decimal(str(entry.get("discount_percentage") or 0))) / 100)
        subtotal += net
        vat += _ore(net * Decimal(str(entry.get("vat_percentage") or 0)) / 100)
    return {"total_subtotal": str(subtotal), "total_vat": str(vat), "total_total": str(subtotal + vat)}


def customer(number: int = 501, *, zone: str = "domestic", layout: int = 1, email: str = "kunde@example.com",
             name: str = "Kunde A/S") -> dict[str, Any]:
    return {"number": number, "name": name, "contact_email": email, "vat_zone": zone, "currency": "DKK",
            "layout_id": layout, "address_country": "DK",
            "payment_terms": {"number": 1, "name": "Netto 14", "type": "net", "maturity_days": 14}}


def supplier(number: int = 701, *, zone: str = "domestic", name: str = "Leverandør ApS") -> dict[str, Any]:
    return {"number": number, "name": name, "contact_email": "lev@example.com", "vat_zone": zone,
            "currency": "DKK", "address_country": "DK"}


def sales_invoice(number: int, lines: list[dict[str, Any]], *, cust: dict[str, Any] | None = None,
                  booked: bool = True, credit_note: bool = False, credited: int | None = None,
                  currency: str = "DKK", invoice_date: str = "2026-03-31", **extra: Any) -> dict[str, Any]:
    cust = cust or customer()
    return {"number": number, "customer_id": cust["number"], "customer": cust, "is_credit_note": credit_note,
            "credited_invoice_number": credited, "invoice_date": invoice_date, "due_date": "2026-04-14",
            "currency": currency, "vat_zone": cust["vat_zone"], "layout_id": cust.get("layout_id"),
            "payment_terms": cust.get("payment_terms"), "is_booked": booked, "lines": lines,
            **totals(lines), **extra}


def supplier_invoice(number: int, lines: list[dict[str, Any]], *, supp: dict[str, Any] | None = None,
                     booked: bool = True, **extra: Any) -> dict[str, Any]:
    supp = supp or supplier()
    return {"number": number, "supplier_id": supp["number"], "supplier": supp, "supplier_invoice_number": f"L-{number}",
            "invoice_date": "2026-03-20", "due_date": "2026-04-19", "currency": "DKK", "is_booked": booked,
            "lines": lines, **totals(lines), **extra}


def real_shape(document: dict[str, Any], rackbeat: FakeRackbeat | None = None) -> dict[str, Any]:
    """The same document as the evidence shows real Rackbeat answering (rackbeat-api.md, "Evidence
    update"): ``is_creditnote`` with negative amounts on credit notes, ``item_cost_price``, lines that
    name their item by ``child_id``/``child_type`` without embedding it, and a supplier invoice with
    only ``supplier_id``. The items and the supplier are put into ``rackbeat``'s stores to be fetched.
    """
    doc = {k: v for k, v in document.items() if k not in ("is_credit_note", "supplier")}
    credit = bool(document.get("is_credit_note"))
    if "is_credit_note" in document:
        doc["is_creditnote"] = credit
    sign = -1 if credit else 1
    for name in ("total_subtotal", "total_vat", "total_total"):
        if name in doc:
            doc[name] = str(sign * Decimal(str(doc[name])))
    lines = []
    for entry in document.get("lines") or []:
        item = entry.get("item")
        new = {k: v for k, v in entry.items() if k not in ("item", "cost_price", "unit")}
        if "cost_price" in entry:
            new["item_cost_price"] = entry["cost_price"]
        if item:
            new["child_id"], new["child_type"] = item["number"], item.get("type", "product")
            if rackbeat is not None:
                rackbeat.products[str(item["number"])] = {**item, "group_id": item["group"]["number"]}
        new["quantity"] = str(sign * Decimal(str(entry.get("quantity") or 0)))
        lines.append(new)
    doc["lines"] = lines
    if "supplier" in document and rackbeat is not None:
        rackbeat.suppliers[str(document["supplier"]["number"])] = document["supplier"]
    return doc


# --- running a handler ---------------------------------------------------------------------------

def operation(connection: Any, kind: str, source_key: Any, *, direction: str = Direction.TO_DINERO) -> SyncOperation:
    op, _ = SyncOperation.objects.get_or_create(connection=connection, kind=kind, direction=direction,
                                                source_key=str(source_key))
    return op


def run(handler: Any, connection: Any, kind: str, source_key: Any, rackbeat: FakeRackbeat, dinero: FakeDinero,
        *, direction: str = Direction.TO_DINERO) -> Any:
    """Run ``handler`` once for the operation, as the engine would (fresh row, fresh settings)."""
    op = operation(connection, kind, source_key, direction=direction)
    op.refresh_from_db()
    op.attempts += 1
    op.save(update_fields=["attempts"])
    settings = IntegrationSettings.objects.get(connection=connection)
    ctx = TransferContext(connection=connection, settings=settings, rackbeat=rackbeat, dinero=dinero, operation=op)
    return handler(op, ctx)


FIXTURES = (world_fixture, dinero_fixture, rackbeat_fixture)
