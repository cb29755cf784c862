"""Every admin registration and per-connection page, found by the admin's autodiscovery.

Model admins register with ``@admin.register``; per-connection pages with
``integration.console.connection_pages.connection_page``. A new page adds its module here.
"""

from integration.console import (  # noqa: F401
    connection_admin,
    dashboard,
    mapping_pages,
    mappings_admin,
    posting_preview_page,
    rackbeat_check_page,
    rackbeat_facts_admin,
    reconciliation_page,
    settings_admin,
    setup_wizard,
    start_sync_page,
    sync_log_admin,
    troubleshooting_page,
)
