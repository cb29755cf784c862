"""A connection to the demo company in both emulators, for the engine's end-to-end tests."""

from __future__ import annotations

import pytest

from accounts.models import Connection
from integration.core.models import IntegrationSettings


def demo_connection(name: str = "Demo ApS") -> Connection:
    from sandbox import seed

    demo = seed.ensure_demo_company()
    connection = Connection(name=name, dinero_organization_id=str(demo.dinero_organization_id))
    connection.set_secret("rackbeat_api_token", demo.rackbeat_token)
    connection.set_secret("dinero_api_key", demo.dinero_api_key)
    connection.save()
    return connection


@pytest.fixture
def demo(sandbox_urls, settings, transactional_db) -> Connection:
    """The demo company, webhooks delivered before Rackbeat answers, tasks run inline."""
    settings.SANDBOX_WEBHOOKS_SYNC = True
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    return demo_connection()


def switch_on(connection: Connection, **options) -> IntegrationSettings:
    values = {"customer_integration_enabled": True, "supplier_integration_enabled": True, **options}
    integration_settings, _ = IntegrationSettings.objects.update_or_create(connection=connection, defaults=values)
    return integration_settings
