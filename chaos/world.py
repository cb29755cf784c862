"""The companies of a chaos run: per connection one emulated Rackbeat account, one emulated Dinero
organization, and the service's connection between them with complete mappings.

Everything here is written through the ORM before any process serves traffic; activation (which
registers the Rackbeat webhooks over HTTP) happens later, once gunicorn listens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from accounts.models import Connection
from integration.core.models import IntegrationSettings
from mappings.models import (
    AccountMatrixCell,
    DineroAccount,
    DineroVatType,
    LayoutMapping,
    ProductGroup,
    UnitMapping,
)

RACKBEAT_ACCOUNT_BASE = 880100
DINERO_ORGANIZATION_BASE = 470100
# Budgets far above what a run uses: the suite proves exactly-once, not the vendors' throughput.
# (Dinero's real 100 requests/minute per organization would stretch a full run to hours.)
RAISED_BUDGET_PER_MINUTE = 100_000

GOODS, SPARES = "10", "20"
# Numbers of the Dinero standard chart (sandbox.dinero.seeding) that the mappings point at.
REVENUE = {(GOODS, "domestic"): 1000, (SPARES, "domestic"): 1300}
SUPPLIER = {(group, zone): account for group in (GOODS, SPARES)
            for zone, account in (("domestic", 2000), ("eu", 2050), ("abroad", 2150))}
ACCOUNTS = [
    (1000, "Salg af varer/ydelser m/moms", "U25", False), (1300, "Salg af ydelser m/moms", "U25", False),
    (2000, "Varekøb m/moms", "I25", True), (2050, "Varekøb fra EU", "IEUV", True),
    (2150, "Varekøb uden for EU", "IVV", True), (1600, "Vareforbrug", "none", False),
    (58100, "Varelager", "none", False),
]
# (number, name, group, sales price, cost price, stock-tracked) — odd øre on purpose.
ITEMS = [
    ("FV-100", "Hylde 100", GOODS, "499.00", "210.50", True),
    ("FV-200", "Reol 200", GOODS, "1249.95", "603.33", True),
    ("FV-300", "Kasse/lille", GOODS, "19.99", "7.07", True),
    ("RD-10", "Beslag", SPARES, "29.95", "11.00", True),
    ("RD-20", "Skruer 100 stk", SPARES, "4.45", "1.37", True),
    ("SV-1", "Montage (time)", SPARES, "650.00", "0.00", False),
]
SUPPLIER_ZONES = (("domestic", 7001), ("eu", 7002), ("abroad", 7003))
FIRST_CUSTOMER = 3001
EXISTING_CUSTOMERS = 20


@dataclass
class Company:
    """One connection of the run and what the traffic needs to address its Rackbeat account."""

    index: int
    connection_id: int
    rackbeat_account_id: int
    rackbeat_token: str
    dinero_organization_id: int
    customers: list[int] = field(default_factory=list)
    suppliers: list[int] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


def _rackbeat(index: int, token: str) -> None:
    from sandbox.rackbeat import models as rb

    account = rb.Account.objects.create(account_id=RACKBEAT_ACCOUNT_BASE + index, company_name=f"Chaos Lager {index}",
                                        api_token=token, rate_limit_per_minute=RAISED_BUDGET_PER_MINUTE)
    groups = {GOODS: rb.ProductGroup.objects.create(account=account, number=int(GOODS), name="Færdigvarer"),
              SPARES: rb.ProductGroup.objects.create(account=account, number=int(SPARES), name="Reservedele")}
    unit = rb.Unit.objects.create(account=account, number=1, name="stk")
    layout = rb.Layout.objects.create(account=account, number=1, name="Standard", locale="da")
    terms = rb.PaymentTerm.objects.create(account=account, number=1, name="Netto 14", type="net", maturity_days=14)
    for offset in range(EXISTING_CUSTOMERS):
        number = FIRST_CUSTOMER + offset
        rb.Customer.objects.create(account=account, number=number, name=f"Kunde {number} ApS",
                                   contact_email=f"kunde{number}@example.com", layout=layout, payment_terms=terms)
    for zone, number in SUPPLIER_ZONES:
        rb.Supplier.objects.create(account=account, number=number, name=f"Leverandør {zone} {number}", vat_zone=zone,
                                   contact_email=f"lev{number}@example.com", payment_terms=terms)
    for number, name, group, price, cost, stock in ITEMS:
        rb.Item.objects.create(account=account, number=number, name=name, group=groups[group], unit=unit,
                               sales_price=Decimal(price), cost_price=Decimal(cost), inventory_enabled=stock)


def _dinero(index: int, api_key: str) -> None:
    from sandbox.dinero.models import Organization

    Organization.objects.create(organization_id=DINERO_ORGANIZATION_BASE + index, name=f"Chaos Lager {index}",
                                api_key=api_key, is_pro=True, rate_limit_per_minute=RAISED_BUDGET_PER_MINUTE)


def _mappings(connection: Connection) -> None:
    ProductGroup.objects.create(connection=connection, number=GOODS, name="Færdigvarer")
    ProductGroup.objects.create(connection=connection, number=SPARES, name="Reservedele")
    for matrix, cells in (("revenue", REVENUE), ("supplier", SUPPLIER)):
        for (group, zone), account in cells.items():
            AccountMatrixCell.objects.create(connection=connection, matrix=matrix, product_group_number=group,
                                             vat_zone=zone, account_number=account)
    for number, name, code, purchase in ACCOUNTS:
        DineroAccount.objects.create(connection=connection, number=number, name=name, vat_code=code,
                                     is_purchase=purchase)
    DineroVatType.objects.create(connection=connection, code="I25", name="Dansk købsmoms", rate=Decimal("0.25"))
    DineroVatType.objects.create(connection=connection, code="U25", name="Dansk salgsmoms", rate=Decimal("0.25"))
    UnitMapping.objects.create(connection=connection, rackbeat_unit_number="1", dinero_unit="parts")
    LayoutMapping.objects.create(connection=connection, rackbeat_layout_number="1", language="da-DK")
    settings, _ = IntegrationSettings.objects.get_or_create(connection=connection)
    settings.customer_integration_enabled = True
    settings.supplier_integration_enabled = True
    settings.item_consumption_enabled = True
    settings.stock_account = 58100
    settings.consumption_account = 1600
    settings.sales_invoice_status = IntegrationSettings.SalesInvoiceStatus.BOOKED
    settings.supplier_invoice_status = IntegrationSettings.SupplierInvoiceStatus.BOOKED
    settings.save()


def build(connections: int) -> list[Company]:
    """Create every company of the run (a fresh database is expected)."""
    companies = []
    for index in range(connections):
        token = f"chaos-rackbeat-token-{index}-0123456789"
        api_key = f"chaos-dinero-api-key-{index}-0123456789"
        _rackbeat(index, token)
        _dinero(index, api_key)
        connection = Connection(name=f"Chaos Lager {index}", dinero_organization_id=str(DINERO_ORGANIZATION_BASE + index),
                                rackbeat_account_id=str(RACKBEAT_ACCOUNT_BASE + index))
        connection.set_secret("rackbeat_api_token", token)
        connection.set_secret("dinero_api_key", api_key)
        connection.save()
        _mappings(connection)
        companies.append(Company(
            index=index, connection_id=connection.pk, rackbeat_account_id=RACKBEAT_ACCOUNT_BASE + index,
            rackbeat_token=token, dinero_organization_id=DINERO_ORGANIZATION_BASE + index,
            customers=[FIRST_CUSTOMER + offset for offset in range(EXISTING_CUSTOMERS)],
            suppliers=[number for _, number in SUPPLIER_ZONES], items=[item[0] for item in ITEMS],
        ))
    return companies


def activate(companies: list[Company]) -> None:
    """Activate each connection as a person would (checks both sides, registers the webhooks)."""
    from integration.triggers import activation

    for company in companies:
        connection = Connection.objects.get(pk=company.connection_id)
        problems = activation.activate(connection)
        if problems:
            raise RuntimeError(f"Activating {connection.name} failed: {problems}")
