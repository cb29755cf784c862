"""Reference data and fake API clients for the mappings tests."""

from __future__ import annotations

from accounts.models import Connection
from mappings.models import ProductGroup
from mappings.reference import refresh_reference_data

GROUPS = [
    {"number": 10, "name": "Færdigvarer", "vat_domestic": 25, "vat_eu": 0, "vat_abroad": 0},
    {"number": 20, "name": "Råvarer", "vat_domestic": 25, "vat_eu": 0, "vat_abroad": 0},
    {"number": 30, "name": "Service", "vat_domestic": 25, "vat_eu": 0, "vat_abroad": 0},
]
ENTRY_ACCOUNTS = [
    {"AccountNumber": 1000, "Name": "Salg af varer", "VatCode": "U25", "IsHidden": False},
    {"AccountNumber": 1100, "Name": "Salg EU", "VatCode": "UEUV", "IsHidden": False},
    {"AccountNumber": 1200, "Name": "Salg udland", "VatCode": "none", "IsHidden": False},
    {"AccountNumber": 1300, "Name": "Gammel salgskonto", "VatCode": "U25", "IsHidden": True},
    {"AccountNumber": 2000, "Name": "Varekøb", "VatCode": "I25", "IsHidden": False},
    {"AccountNumber": 2050, "Name": "Varekøb EU", "VatCode": "IEUV", "IsHidden": False},
    {"AccountNumber": 2150, "Name": "Varekøb udland", "VatCode": "IVV", "IsHidden": False},
    {"AccountNumber": 5800, "Name": "Varelager", "VatCode": "none", "IsHidden": False},
    {"AccountNumber": 55000, "Name": "Bank", "VatCode": "none", "IsHidden": False},
]
PURCHASE_ACCOUNTS = [a for a in ENTRY_ACCOUNTS if 2000 <= a["AccountNumber"] <= 9399]
DEPOSIT_ACCOUNTS = [{"AccountNumber": 55000, "Name": "Bank", "IsHidden": False}]
VAT_TYPES = [{"VatCode": "U25", "Name": "Salgsmoms", "VatRate": 0.25},
             {"VatCode": "I25", "Name": "Købsmoms", "VatRate": 0.25}]
UNITS = [{"number": 1, "name": "Stk"}, {"number": 2, "name": "Kasse"}]
LAYOUTS = [{"number": 1, "name": "Standard", "locale": "da"}, {"number": 2, "name": "English", "locale": "en"}]


class FakeRackbeat:
    def __init__(self, groups=None, units=None, layouts=None, fail: Exception | None = None) -> None:
        self.groups = list(GROUPS if groups is None else groups)
        self.units = list(UNITS if units is None else units)
        self.layouts = list(LAYOUTS if layouts is None else layouts)
        self.fail = fail

    def iter_product_groups(self):
        if self.fail:
            raise self.fail
        yield from self.groups

    def iter_units(self):
        yield from self.units

    def iter_layouts(self):
        yield from self.layouts


class FakeDinero:
    def __init__(self, entry=None, purchase=None, deposit=None, vat=None) -> None:
        self.entry = list(ENTRY_ACCOUNTS if entry is None else entry)
        self.purchase = list(PURCHASE_ACCOUNTS if purchase is None else purchase)
        self.deposit = list(DEPOSIT_ACCOUNTS if deposit is None else deposit)
        self.vat = list(VAT_TYPES if vat is None else vat)

    def entry_accounts(self):
        return self.entry

    def purchase_accounts(self):
        return self.purchase

    def deposit_accounts(self):
        return self.deposit

    def vat_types(self):
        return self.vat


def seed(connection: Connection, **kwargs) -> dict:
    return refresh_reference_data(connection, rackbeat=FakeRackbeat(**kwargs), dinero=FakeDinero())


def add_groups(connection: Connection, count: int) -> None:
    ProductGroup.objects.bulk_create(
        ProductGroup(connection=connection, number=str(100 + i), name=f"Group {i}") for i in range(count)
    )

