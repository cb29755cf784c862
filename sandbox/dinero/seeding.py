"""Building emulated Dinero organizations: the standard chart of accounts, contacts, products.

Used by the sandbox seed command and by tests. Every new organization gets Dinero's standard
Danish chart automatically (as a real Dinero company does); :func:`install_standard_chart` is
idempotent, so calling it again only adds what is missing.

The chart follows Dinero's numbering: four-digit result accounts (turnover 1000–1999, costs
2000–9399) and five-digit balance accounts (assets from 55000, equity and debt from 60000).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction

from sandbox.dinero.models import Account, Contact, Organization, Product, VatType

# (VAT code, name, rate)
STANDARD_VAT_TYPES: list[tuple[str, str, Decimal]] = [
    ("U25", "Dansk salgsmoms 25%", Decimal("0.25")),
    ("I25", "Dansk købsmoms 25%", Decimal("0.25")),
    ("IEUV", "Moms af varekøb i andre EU-lande", Decimal("0.25")),
    ("IEUY", "Moms af ydelseskøb i andre EU-lande", Decimal("0.25")),
    ("IVV", "Moms af varekøb uden for EU", Decimal("0.25")),
    ("IVY", "Moms af ydelseskøb uden for EU", Decimal("0.25")),
    ("none", "Ingen moms", Decimal("0")),
]

# Dinero's category keys (as accepted by categoryFilter) with their Danish names.
CATEGORIES = {
    "Turnover": "Omsætning",
    "Variable Expenses": "Vareforbrug",
    "Salary": "Personaleomkostninger",
    "Sales Expenses": "Salgsomkostninger",
    "Property Expenses": "Lokaleomkostninger",
    "Administration Expenses": "Administrationsomkostninger",
    "Travel Expenses": "Rejseomkostninger",
    "Depreciation": "Afskrivninger",
    "Interest Income": "Renteindtægter",
    "Interest Expenses": "Renteudgifter",
    "Property": "Anlægsaktiver",
    "Turnover Assets": "Omsætningsaktiver",
    "Receivables": "Tilgodehavender",
    "Liquid Assets": "Likvide beholdninger",
    "Equity": "Egenkapital",
    "Short Term Debt": "Kortfristet gæld",
    "Vat Due": "Skyldig moms",
}

# (number, name, VAT code, category, hidden)
STANDARD_ENTRY_ACCOUNTS: list[tuple[int, str, str, str, bool]] = [
    (1000, "Salg af varer/ydelser m/moms", "U25", "Turnover", False),
    (1100, "Salg af varer til EU", "none", "Turnover", False),
    (1150, "Salg af ydelser til EU", "none", "Turnover", False),
    (1200, "Salg af varer uden for EU", "none", "Turnover", False),
    (1250, "Salg af ydelser uden for EU", "none", "Turnover", False),
    (1300, "Salg af ydelser m/moms", "U25", "Turnover", False),
    (1400, "Salg af varer/ydelser u/moms", "none", "Turnover", False),
    (1600, "Vareforbrug", "none", "Variable Expenses", False),
    (1610, "Regulering af varelager", "none", "Variable Expenses", False),
    (2000, "Varekøb m/moms", "I25", "Variable Expenses", False),
    (2050, "Varekøb fra EU", "IEUV", "Variable Expenses", False),
    (2100, "Ydelseskøb fra EU", "IEUY", "Variable Expenses", False),
    (2150, "Varekøb uden for EU", "IVV", "Variable Expenses", False),
    (2200, "Ydelseskøb uden for EU", "IVY", "Variable Expenses", False),
    (2250, "Fragt og told", "I25", "Variable Expenses", False),
    (2300, "Fremmed arbejde", "I25", "Variable Expenses", False),
    (3000, "Løn", "none", "Salary", False),
    (3200, "Personaleudgifter", "I25", "Salary", False),
    (4000, "Annoncer og reklame", "I25", "Sales Expenses", False),
    (4100, "Repræsentation", "none", "Sales Expenses", False),
    (4500, "Husleje", "none", "Property Expenses", False),
    (4600, "El, vand og varme", "I25", "Property Expenses", False),
    (5000, "Kontorartikler", "I25", "Administration Expenses", False),
    (5100, "Telefon og internet", "I25", "Administration Expenses", False),
    (5200, "Software og IT", "I25", "Administration Expenses", False),
    (5300, "Revisor og bogføring", "I25", "Administration Expenses", False),
    (5900, "Gebyrer", "none", "Administration Expenses", False),
    (6000, "Rejseudgifter", "I25", "Travel Expenses", False),
    (7000, "Afskrivninger", "none", "Depreciation", False),
    (8000, "Renteindtægter", "none", "Interest Income", False),
    (9000, "Renteudgifter", "none", "Interest Expenses", False),
    (9300, "Kassedifferencer (skjult)", "none", "Administration Expenses", True),
    (51000, "Inventar", "none", "Property", False),
    (56000, "Debitorer", "none", "Receivables", False),
    (58100, "Varelager", "none", "Turnover Assets", False),
    (61000, "Egenkapital", "none", "Equity", False),
    (63000, "Kreditorer", "none", "Short Term Debt", False),
    (64000, "Salgsmoms", "none", "Vat Due", False),
    (64060, "Købsmoms", "none", "Vat Due", False),
    (64100, "Moms af varekøb i udlandet", "none", "Vat Due", False),
]

# (number, name, default)
STANDARD_DEPOSIT_ACCOUNTS: list[tuple[int, str, bool]] = [
    (55000, "Bank", True),
    (55100, "Kasse", False),
]

DEFAULT_SALES_ACCOUNT = 1000


def create_organization(name: str, *, organization_id: int, api_key: str, has_pro: bool = True) -> Organization:
    """A Dinero organization with the standard chart; the API key logs in with the classic flow."""
    with transaction.atomic():
        organization, _ = Organization.objects.update_or_create(
            organization_id=organization_id, defaults={"name": name, "api_key": api_key, "is_pro": has_pro},
        )
        install_standard_chart(organization)
    return organization


def install_standard_chart(org: Organization) -> None:
    """Dinero's standard Danish chart of accounts and VAT types (missing ones only)."""
    for code, name, rate in STANDARD_VAT_TYPES:
        VatType.objects.get_or_create(organization=org, code=code, defaults={"name": name, "rate": rate})
    for number, name, vat_code, category, hidden in STANDARD_ENTRY_ACCOUNTS:
        Account.objects.get_or_create(organization=org, number=number, defaults={
            "name": name, "vat_code": vat_code, "category": category, "category_name": CATEGORIES[category],
            "is_hidden": hidden, "is_default": number == DEFAULT_SALES_ACCOUNT,
        })
    for number, name, default in STANDARD_DEPOSIT_ACCOUNTS:
        Account.objects.get_or_create(organization=org, number=number, defaults={
            "name": name, "vat_code": "none", "category": "Liquid Assets",
            "category_name": CATEGORIES["Liquid Assets"], "is_deposit": True, "is_default": default,
        })


def add_account(org: Organization, number: int, name: str, *, vat_code: str = "none",
                category: str = "Variable Expenses", hidden: bool = False) -> Account:
    """An extra entry account, as a user adds one in Dinero's chart."""
    account, _ = Account.objects.update_or_create(organization=org, number=number, defaults={
        "name": name, "vat_code": vat_code, "category": category,
        "category_name": CATEGORIES.get(category, category), "is_hidden": hidden,
    })
    return account


def create_contact(org: Organization, name: str, *, country: str = "DK", email: str = "", is_person: bool = False,
                   external_reference: str = "", guid: str | None = None, **fields: Any) -> Contact:
    """A contact as ``POST /v1/{org}/contacts`` would store it; extra PascalCase fields go in as given."""
    data = {"Name": name, "CountryKey": country, "Email": email or None, "IsPerson": is_person,
            "IsMember": False, "UseCvr": False, "ExternalReference": external_reference or None, **fields}
    return Contact.objects.create(organization=org, guid=uuid.UUID(guid) if guid else uuid.uuid4(), data=data,
                                  external_reference=external_reference)


def create_product(org: Organization, name: str, *, price: Decimal | str, product_number: str = "",
                   account_number: int = DEFAULT_SALES_ACCOUNT, unit: str = "parts", quantity: Decimal | str = 1,
                   external_reference: str = "", **fields: Any) -> Product:
    """A product as ``POST /v1/{org}/products`` would store it (price excl. VAT)."""
    data = {"Name": name, "ProductNumber": product_number or None, "BaseAmountValue": float(Decimal(str(price))),
            "Quantity": float(Decimal(str(quantity))), "AccountNumber": account_number, "Unit": unit,
            "ExternalReference": external_reference or None, **fields}
    return Product.objects.create(organization=org, data=data, external_reference=external_reference)


def chart_for_new_organization(sender: type, instance: Organization, created: bool, **kwargs: Any) -> None:
    """Every new Dinero company starts with Dinero's standard chart of accounts (``post_save``)."""
    if created:
        install_standard_chart(instance)
