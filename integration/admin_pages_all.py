"""Imports every module that registers per-connection admin pages (see accounts.admin_pages).

Each feature adds its import here.
"""

import integration.admin_settings
import integration.dashboard
import integration.posting_preview_admin
import integration.rackbeat_check_admin
import integration.reconciliation_admin
import integration.setup_wizard
import integration.start_sync_admin
import integration.troubleshooting  # noqa: F401
import mappings.views  # noqa: F401
