"""One module per kind of document; importing this package registers every handler.

Each module appends its import below.
"""
from integration.transfers import (  # noqa: F401
    consumption,
    contacts,
    dinero_invoices,
    products,
    sales_invoices,
    supplier_invoices,
)
