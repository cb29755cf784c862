"""Which Dinero accounts fit which use: revenue lines, stock, consumption.

Dinero tells each account's category (``Category``: "Turnover", "Turnover Assets", "Variable
Expenses" …). A revenue matrix cell on a balance-sheet account, or item consumption booked to a
revenue account, would be accepted by Dinero and be wrong in the books, so pickers offer only the
fitting accounts and every form refuses the others. An account whose category is unknown (a chart
fetched before categories were stored) is not refused: Dinero's own answer then decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:  # pragma: no cover
    from mappings.models import DineroAccount

REVENUE = "revenue"
STOCK = "stock"
CONSUMPTION = "consumption"
# ``AccountMatrixCell.Matrix.REVENUE``: the matrix whose accounts must be revenue accounts.
REVENUE_MATRIX = "revenue"

# Dinero's category key and its Danish display name (older caches stored the name).
FITTING_CATEGORIES: dict[str, set[str]] = {
    REVENUE: {"turnover", "omsætning"},
    STOCK: {"turnover assets", "omsætningsaktiver"},
    CONSUMPTION: {"variable expenses", "vareforbrug"},
}
USE_WORDS = {
    REVENUE: gettext_lazy("a revenue account (category Turnover)"),
    STOCK: gettext_lazy("a stock account (category Turnover Assets)"),
    CONSUMPTION: gettext_lazy("a cost of goods account (category Variable Expenses)"),
}


def use_of_matrix(matrix: str) -> str:
    """The account use a matrix needs beyond "purchase account" ('' for the supplier matrix)."""
    return REVENUE if matrix == REVENUE_MATRIX else ""


def fits(account: DineroAccount, use: str) -> bool:
    if use not in FITTING_CATEGORIES or not account.category:
        return True
    return account.category.strip().lower() in FITTING_CATEGORIES[use]


def misfit_message(account: DineroAccount, use: str) -> str:
    return _("Account %(account)s is in the category “%(category)s”; here it must be %(needed)s.") % {
        "account": account, "category": account.category, "needed": USE_WORDS[use]}
