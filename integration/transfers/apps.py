from django.apps import AppConfig


class TransfersConfig(AppConfig):
    """One module per kind of document; each registers its handlers with the engine."""

    name = "integration.transfers"
    label = "transfers"
    verbose_name = "Transfers"

    def ready(self) -> None:
        # Django requires this import here (the handlers use models): importing the modules
        # registers every handler with ``integration.core.handlers`` before any worker runs.
        from integration.transfers import (  # noqa: F401
            consumption,
            contacts,
            dinero_invoices,
            linking,
            products,
            sales_invoices,
            supplier_invoices,
        )
