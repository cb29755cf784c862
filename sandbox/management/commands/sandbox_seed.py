"""Build the demo company in both emulators (idempotent) and print its credentials."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.seed import ensure_demo_company


class Command(BaseCommand):
    help = "Creates the demo company in the Rackbeat and Dinero sandboxes (again: only what is missing)."

    def handle(self, *args, **options) -> None:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The sandbox is disabled (SANDBOX_ENABLED is off).")
        demo = ensure_demo_company()
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        self.stdout.write(self.style.SUCCESS("Demo company ready in both sandboxes."))
        self.stdout.write(f"  Rackbeat API:        {base}/sandbox/rackbeat/api/")
        self.stdout.write(f"  Rackbeat web app:    {base}/sandbox/rackbeat/app/")
        self.stdout.write(f"  Rackbeat API token:  {demo.rackbeat_token}")
        self.stdout.write(f"  Rackbeat account id: {demo.rackbeat_account_id}")
        self.stdout.write(f"  Dinero company id:   {demo.dinero_organization_id}")
        self.stdout.write(f"  Dinero API key:      {demo.dinero_api_key}")
