"""``manage.py transfer_invoice --connection <id> --kind <kind> --number <n>``: troubleshooting from a shell.

Transfers one invoice at once through the same path as the troubleshooting page and prints the
outcome, the link to the document and the HTTP exchanges of the attempt.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Connection
from integration.triggers.troubleshooting import CHOICES, transfer_now


class Command(BaseCommand):
    help = "Transfer one invoice now (sales or supplier invoice Rackbeat → Dinero, sales invoice Dinero → Rackbeat)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--connection", required=True, help="Connection id")
        parser.add_argument("--kind", required=True, choices=[value for value, _label in CHOICES])
        parser.add_argument("--number", required=True, help="Invoice number (Dinero's number for dinero_sales_invoice)")
        parser.add_argument("--show-exchanges", action="store_true", help="Print the HTTP exchanges of the attempt")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            connection = Connection.objects.get(pk=options["connection"])
        except (Connection.DoesNotExist, ValueError) as exc:
            raise CommandError(f"No connection with id {options['connection']}.") from exc
        report = transfer_now(connection, options["kind"], options["number"])
        style = self.style.SUCCESS if report.succeeded else self.style.ERROR
        self.stdout.write(style(report.message))
        if report.state:
            self.stdout.write(f"State: {report.state}")
        if report.link:
            self.stdout.write(f"Document: {report.link}")
        if options["show_exchanges"]:
            for exchange in report.exchanges:
                self.stdout.write(f"\n{exchange.method} {exchange.url} → {exchange.status or exchange.error}")
                if exchange.request_body:
                    self.stdout.write(exchange.request_body)
                if exchange.response_body:
                    self.stdout.write(exchange.response_body)
        if not report.succeeded:
            raise CommandError("The invoice was not transferred.")
