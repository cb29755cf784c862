"""Prepare a fresh local installation: a demo admin user and a demo connection on the sandbox."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Connection
from sandbox.seed import ensure_demo_company

DEMO_USERNAME = "admin"
DEMO_CONNECTION = "Demo ApS (sandbox)"


class Command(BaseCommand):
    help = "Creates (or resets) the demo admin user and the demo connection pointed at the sandbox."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup is for local development only (DEBUG must be on).")
        password = secrets.token_urlsafe(9)
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()

        connection, created = Connection.objects.get_or_create(name=DEMO_CONNECTION)
        if settings.SANDBOX_ENABLED:
            demo = ensure_demo_company()
            if created or not connection.rackbeat_api_token:
                connection.set_secret("rackbeat_api_token", demo.rackbeat_token)
                connection.set_secret("dinero_api_key", demo.dinero_api_key)
                connection.dinero_organization_id = str(demo.dinero_organization_id)
                connection.save()

        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Admin:    {settings.PUBLIC_BASE_URL}/admin/")
        self.stdout.write(f"  Login:    {DEMO_USERNAME}")
        self.stdout.write(f"  Password: {password}")
        self.stdout.write(f"  Demo connection: “{connection.name}” (open it and follow the setup wizard)")
