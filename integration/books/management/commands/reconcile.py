"""``manage.py reconcile <connection> --from 2026-03-01 --to 2026-03-31`` (or ``--period 2026-03`` / ``2026-Q1``).

Runs the reconciliation in this process (the same code as the page's task), prints the figures and
every difference, and can write the CSV and the one-page PDF. Exits with status 1 when Rackbeat and
Dinero differ, so a script can tell.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.ids import parse_id
from accounts.models import Connection
from integration.books import reconciliation
from integration.books.reconciliation import Period
from integration.books.reconciliation_report import csv_bytes, pdf_bytes, readable, taken
from integration.core.models import Reconciliation


class Command(BaseCommand):
    help = "Compare a period's booked Rackbeat documents with Dinero and report the differences."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("connection", help="Connection id or name")
        parser.add_argument("--from", dest="start", help="First day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", help="Last day, YYYY-MM-DD")
        parser.add_argument("--period", help="Instead of --from/--to: a month (2026-03) or a quarter (2026-Q1)")
        parser.add_argument("--csv", help="Write the CSV report to this file")
        parser.add_argument("--pdf", help="Write the one-page PDF report to this file")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        connection = self._connection(options["connection"])
        try:
            if options["period"]:
                period = Period.shortcut(options["period"])
            elif options["start"] and options["end"]:
                period = Period.parse(options["start"], options["end"])
            else:
                raise CommandError("Give --from and --to, or --period.")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        record = Reconciliation.objects.create(connection=connection, period_start=period.start,
                                               period_end=period.end, trigger=Reconciliation.Trigger.COMMAND)
        record = reconciliation.run(record.pk)
        if record.state != Reconciliation.State.DONE:
            raise CommandError(record.shown_error)
        result = readable(record.result)
        counts = result["counts"]
        self.stdout.write(f"{connection.name}: {period.start} – {period.end} (taken in {taken(record)})")
        self.stdout.write(f"Rackbeat: {counts['rackbeat_sales']} sales invoices and credit notes, "
                          f"{counts['rackbeat_purchases']} supplier invoices; Dinero: {counts['dinero_sales']} "
                          f"invoices and credit notes; matched {counts['matched']}.")
        for name, rows in result["sums"].items():
            for row in rows:
                figures = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("key", "currency", "differs"))
                self.stdout.write(f"  {name} {row['key']} {row.get('currency', 'DKK')}: {figures}{'  ← differs' if row['differs'] else ''}")
        for note in result.get("notes", []):
            self.stdout.write(f"Note: {note}")
        for path, render in ((options["csv"], csv_bytes), (options["pdf"], pdf_bytes)):
            if path:
                Path(path).write_bytes(render(record))
                self.stdout.write(f"Wrote {path}")
        if not record.differences:
            self.stdout.write(self.style.SUCCESS("No differences."))
            return
        for d in result["differences"]:
            self.stdout.write(self.style.WARNING(f"{d['label']}: {d['document_label']} {d['number']} {d['date']} — "
                                                 f"{d['message']}"))
        raise CommandError(f"{record.differences} difference(s) between Rackbeat and Dinero.")

    @staticmethod
    def _connection(key: str) -> Connection:
        connection_id = parse_id(key)
        query = Q(name=key) | (Q(pk=connection_id) if connection_id else Q())
        matches = list(Connection.objects.filter(query)[:2])
        if len(matches) != 1:
            raise CommandError(f"No single connection with the id or name {key!r}.")
        return matches[0]
