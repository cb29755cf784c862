"""``manage.py rackbeat_check <connection>``: does this connection's Rackbeat send what the service reads?

Runs the shape check (integration.books.rackbeat_check), stores the report (shown on the connection's
"Rackbeat shape check" page) and prints it field by field. ``<connection>`` is the connection's id
or its exact name. Exits with an error when a required field is missing, a cross-check failed
or Rackbeat could not be read (exit code 1), and with exit code 2 when nothing is wrong but not
everything could be verified yet (e.g. no credit note in the account so far), so a setup script can
tell the three apart.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.ids import parse_id
from accounts.models import Connection
from integration.books.rackbeat_check import FETCHED, FOUND, MISSING, RENAMED, run_check
from integration.books.rackbeat_crosschecks import FAILED, NOT_YET, VERIFIED
from integration.core.models import RackbeatShapeCheck

# Exit codes: 0 all verified, 1 something wrong (CommandError), 2 nothing wrong but not everything verifiable.
NOT_VERIFIABLE_YET = 2
MARKS = {FOUND: "found", RENAMED: "found under another name", MISSING: "missing"}
CHECK_MARKS = {VERIFIED: "verified", NOT_YET: "not verifiable yet", FAILED: "FAILED"}
WRONG = (RackbeatShapeCheck.Outcome.MISSING, RackbeatShapeCheck.Outcome.WRONG, RackbeatShapeCheck.Outcome.UNREADABLE,
         RackbeatShapeCheck.Outcome.FAILED)


class Command(BaseCommand):
    help = "Read one real example of each Rackbeat document the service uses and report field by field."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("connection", help="Connection id or name")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        key = str(options["connection"])
        connection_id = parse_id(key)
        connection = (Connection.objects.filter(pk=connection_id).first() if connection_id else None) or \
            Connection.objects.filter(name=key).first()
        if connection is None:
            raise CommandError(f"No connection with the id or name {key!r}.")
        check = run_check(connection, checked_by="manage.py rackbeat_check")
        for section in check.sections:
            title = section["title"] + (f" ({section['document']})" if section["document"] else "")
            self.stdout.write(self.style.MIGRATE_HEADING(title))
            if section["error"]:
                self.stdout.write(self.style.ERROR(f"  could not be read: {section['error']}"))
            for result in section["fields"]:
                style = {FOUND: self.style.SUCCESS, FETCHED: self.style.SUCCESS, RENAMED: self.style.WARNING}.get(
                    result["status"], self.style.ERROR if result["required"] else self.style.WARNING)
                where = f" as {result['found_as']}" if result["status"] == RENAMED else ""
                mark = result.get("where") if result["status"] == FETCHED else MARKS[result["status"]]
                optional = "" if result["required"] else " (optional)"
                example = f" = {result['example']}" if result["example"] else ""
                self.stdout.write(style(f"  {result['label']}: {mark}{where}{optional}{example}"))
            for finding in section.get("findings") or []:
                style = {VERIFIED: self.style.SUCCESS, FAILED: self.style.ERROR}.get(finding["status"],
                                                                                      self.style.WARNING)
                self.stdout.write(style(f"  check {finding['label']}: {CHECK_MARKS[finding['status']]}: "
                                        f"{finding['text']}"))
            if section.get("unverified"):
                self.stdout.write(self.style.WARNING(f"  {section['unverified']}"))
            for note in section["notes"]:
                self.stdout.write(f"  {note}")
        self.stdout.write(self.style.MIGRATE_HEADING("Webhook registrations"))
        for row in check.webhooks:
            style = self.style.SUCCESS if row["status"] == FOUND else self.style.WARNING
            self.stdout.write(style(f"  {row['event'] or '-'}: {row['text']}"))
        self.stdout.write(self.style.MIGRATE_HEADING("Events seen from Rackbeat"))
        for row in check.deliveries:
            style = self.style.WARNING if row["account_differs"] else self.style.SUCCESS
            taken = f" (token of {row['taken_as']})" if row["taken_as"] else ""
            self.stdout.write(style(f"  {row['event']}{taken}: {row['account_text']}; "
                                    f"headers: {', '.join(row['header_names'])}"))
        if not check.deliveries:
            self.stdout.write("  No webhook delivery from Rackbeat seen yet.")
        counts = check.findings
        summary = (f"{check.get_outcome_display()}: {check.found} found, {check.renamed} under another name, "
                   f"{check.missing} missing; checks: {counts.get(VERIFIED, 0)} verified, "
                   f"{counts.get(NOT_YET, 0)} not verifiable yet, {counts.get(FAILED, 0)} failed.")
        if check.failed_checks:
            summary += f" Failed: {', '.join(dict.fromkeys(check.failed_checks))}."
        if check.outcome in WRONG:
            raise CommandError(summary)
        if check.outcome == RackbeatShapeCheck.Outcome.UNVERIFIED:
            unverified = [section["title"] for section in check.sections if section.get("unverified") or any(
                finding["status"] == NOT_YET for finding in section.get("findings") or [])]
            raise CommandError(f"{summary} Not verifiable yet: {', '.join(unverified)}.",
                               returncode=NOT_VERIFIABLE_YET)
        self.stdout.write(self.style.SUCCESS(summary))
