"""One module per kind of document; importing this package registers every handler.

Each module appends its import below.
"""
from integration.transfers import consumption, dinero_invoices, sales_invoices, supplier_invoices  # noqa: F401
