"""The fault profiles of a chaos run, switched on per emulated organization and account.

``FULL`` is the issue's mix. Each value is a field of ``sandbox.dinero.models.Organization`` or
``sandbox.rackbeat.models.Account`` (see docs/sandbox-dinero.md and docs/sandbox-rackbeat.md).
"""

from __future__ import annotations

from typing import Any

DINERO_FULL: dict[str, Any] = {
    "rate_500": 0.05,                  # 500 before anything is written
    "rate_500_after_write": 0.05,      # the write is committed, then 500 is answered
    "rate_429": 0.05,
    "rate_timeout": 0.01,              # the answer never comes; the request is carried out after the client gave up
    "rate_timeout_after_write": 0.01,  # the write is committed, then the answer never comes
    "latency_ms": 0,
    "latency_jitter_ms": 200,          # 0–200 ms added to every call
    "fault_retry_after_seconds": 2,    # an injected 429 asks for a short pause (a real quota 429 says until the minute ends)
}
RACKBEAT_FULL: dict[str, Any] = {
    "error_500_read_rate": 0.05,       # reads only: the service's GETs, never the suite's own writes
    "webhook_drop_rate": 0.10,
    "webhook_duplicate_rate": 0.10,
    "webhook_delay_rate": 0.10,        # held back, so later webhooks overtake it (out of order)
    "webhook_delay_max_seconds": 20.0,
}
PROFILES = {"full": (DINERO_FULL, RACKBEAT_FULL), "none": ({}, {})}


def apply(profile: str, *, disabled: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Switch ``profile`` on for every organization and account; returns what was set."""
    from sandbox.dinero.models import Organization
    from sandbox.rackbeat.models import Account

    dinero, rackbeat = PROFILES[profile]
    dinero = {k: v for k, v in dinero.items() if k not in disabled}
    rackbeat = {k: v for k, v in rackbeat.items() if k not in disabled}
    Organization.objects.update(**dinero)
    Account.objects.update(**rackbeat)
    return {"dinero": dinero, "rackbeat": rackbeat}


def clear() -> None:
    """Every fault off (the settle phase of a run keeps them on; this is for tools and tests)."""
    from sandbox.dinero.models import Organization
    from sandbox.rackbeat.models import Account

    Organization.objects.update(**{k: 0 for k in DINERO_FULL})
    Account.objects.update(**{k: 0 for k in RACKBEAT_FULL})
