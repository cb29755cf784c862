"""Entry points for real worker processes started by the tests (multiprocessing, spawn)."""

from __future__ import annotations

import os
from typing import Any


def _setup(database_url: str, overrides: dict[str, Any]) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from django.conf import settings

    for name, value in overrides.items():
        setattr(settings, name, value)


def run_operations(database_url: str, overrides: dict[str, Any], op_ids: list[int]) -> None:
    """A worker: tries to run every given operation (the claim decides who really does)."""
    _setup(database_url, overrides)
    from integration.core import engine

    for op_id in op_ids:
        engine.run_operation(op_id)


def die_after_creating_in_dinero(database_url: str, overrides: dict[str, Any], op_id: int) -> None:
    """A worker killed right after Dinero saved the contact, before anything was recorded."""
    _setup(database_url, overrides)
    from integration.core import engine
    from integration.core.clients.dinero import DineroClient

    real_create = DineroClient.create_contact

    def create_then_die(self, body):  # type: ignore[no-untyped-def]
        real_create(self, body)
        os._exit(9)

    DineroClient.create_contact = create_then_die  # type: ignore[method-assign]
    engine.run_operation(op_id)
