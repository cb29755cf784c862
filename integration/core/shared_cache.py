"""The cache every worker process and web process shares (``CACHES["shared"]``).

The database by default (no extra service to run); any Django cache backend reachable by every
host will do (``SHARED_CACHE_URL``). A per-process cache would give each worker its own Dinero
token and its own copy of what was read.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches


def shared_cache() -> Any:
    """The ``shared`` cache, or the default one where none is configured."""
    return caches["shared"] if "shared" in settings.CACHES else caches["default"]
