"""Imports every module that registers per-connection admin pages (see accounts.admin_pages).

Each feature adds its import here.
"""

import mappings.views  # noqa: F401
