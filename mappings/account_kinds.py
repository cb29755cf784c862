"""Which Dinero accounts fit which use: revenue lines, stock, consumption.

Dinero tells each account's category (``Category``: "Turnover", "Turnover Assets", "Variable
Expenses" …). A revenue matrix cell on a balance-sheet account, a supplier matrix cell on an income
account, or item consumption booked to a revenue account, would be accepted by Dinero and be wrong
in the books, so pickers offer only the fitting accounts and every form refuses the others. A bank
or cash account (Dinero's deposit accounts, listed without a category) never fits. An account whose
category is unknown (a chart fetched before categories were stored) is not refused otherwise:
Dinero's own answer then decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:  # pragma: no cover
    from mappings.models import DineroAccount

REVENUE = "revenue"
PURCHASE = "purchase"
STOCK = "stock"
CONSUMPTION = "consumption"
# ``AccountMatrixCell.Matrix.REVENUE``/``SUPPLIER``: revenue accounts, and purchase or cost accounts.
REVENUE_MATRIX = "revenue"
SUPPLIER_MATRIX = "supplier"

# Dinero's category key and its Danish display name (older caches stored the name).
FITTING_CATEGORIES: dict[str, set[str]] = {
    REVENUE: {"turnover", "omsætning"},
    # What a supplier invoice buys: goods and costs, stock, fixed assets — never income or money.
    PURCHASE: {"variable expenses", "vareforbrug", "sales expenses", "salgsomkostninger", "property expenses",
               "lokaleomkostninger", "administration expenses", "administrationsomkostninger", "travel expenses",
               "rejseomkostninger", "turnover assets", "omsætningsaktiver", "property", "anlægsaktiver"},
    STOCK: {"turnover assets", "omsætningsaktiver"},
    CONSUMPTION: {"variable expenses", "vareforbrug"},
}
USE_WORDS = {
    REVENUE: gettext_lazy("a revenue account (category Turnover)"),
    PURCHASE: gettext_lazy("a purchase or cost account (an expense, stock or fixed-asset category)"),
    STOCK: gettext_lazy("a stock account (category Turnover Assets)"),
    CONSUMPTION: gettext_lazy("a cost of goods account (category Variable Expenses)"),
}


def use_of_matrix(matrix: str) -> str:
    """The kind of account a matrix's cells must be."""
    return {REVENUE_MATRIX: REVENUE, SUPPLIER_MATRIX: PURCHASE}.get(matrix, "")


def fits(account: DineroAccount, use: str) -> bool:
    if use not in FITTING_CATEGORIES:
        return True
    if account.is_deposit:
        return False
    if not account.category:
        return True
    return account.category.strip().lower() in FITTING_CATEGORIES[use]


def misfit_message(account: DineroAccount, use: str) -> str:
    if account.is_deposit:
        return _("Account %(account)s is a bank or cash account; here it must be %(needed)s.") % {
            "account": account, "needed": USE_WORDS[use]}
    return _("Account %(account)s is in the category “%(category)s”; here it must be %(needed)s.") % {
        "account": account, "category": account.category, "needed": USE_WORDS[use]}
