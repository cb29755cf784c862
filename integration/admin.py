"""Admin registrations of the integration app, one module per area."""

from integration import admin_log, admin_pages_all, admin_settings, rackbeat_facts_admin  # noqa: F401
