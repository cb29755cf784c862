"""Build the demo company in both emulators (idempotent) and print its credentials."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.rackbeat import models as rb
from sandbox.rackbeat.variants import VARIANTS, apply_variant, ensure_empty_account
from sandbox.seed import ensure_demo_company


class Command(BaseCommand):
    help = "Creates the demo company in the Rackbeat and Dinero sandboxes (again: only what is missing)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--variant", choices=sorted(VARIANTS),
                            help="Switch the demo Rackbeat account to one of the ways a real account may differ "
                                 "(docs/sandbox-rackbeat.md); 'real' switches them all back.")
        parser.add_argument("--empty-account", action="store_true",
                            help="Also create a Rackbeat company without any data (the shape check's "
                                 "'not verifiable yet' case) and print its token.")

    def handle(self, *args, **options) -> None:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The sandbox is disabled (SANDBOX_ENABLED is off).")
        demo = ensure_demo_company()
        if options.get("variant"):
            apply_variant(rb.Account.objects.get(account_id=demo.rackbeat_account_id), options["variant"])
            self.stdout.write(f"Demo Rackbeat account switched to the variant {options['variant']!r}.")
        if options.get("empty_account"):
            empty = ensure_empty_account()
            self.stdout.write(f"  Empty Rackbeat account {empty.account_id}, API token: {empty.api_token}")
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        self.stdout.write(self.style.SUCCESS("Demo company ready in both sandboxes."))
        self.stdout.write(f"  Rackbeat API:        {base}/sandbox/rackbeat/api/")
        self.stdout.write(f"  Rackbeat web app:    {base}/sandbox/rackbeat/app/")
        self.stdout.write(f"  Rackbeat API token:  {demo.rackbeat_token}")
        self.stdout.write(f"  Rackbeat account id: {demo.rackbeat_account_id}")
        self.stdout.write(f"  Dinero company id:   {demo.dinero_organization_id}")
        self.stdout.write(f"  Dinero API key:      {demo.dinero_api_key}")
