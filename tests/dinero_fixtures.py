"""Shared helpers for the Dinero client tests: settings, a limiter that never waits, a client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from integration.core.clients.dinero import DineroClient
from integration.core.clients.dinero_auth import token_cache
from integration.core.clients.transport import Exchange

API = "https://api.dinero.test"
TOKEN_URL = "https://authz.dinero.test/dineroapi/oauth/token"
VISMA_TOKEN_URL = "https://connect.visma.test/connect/token"
ORG = "400555"


class RecordingLimiter:
    """Counts acquisitions and penalties instead of touching the shared budget."""

    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.finished: list[str] = []
        self.penalties: list[tuple[str, float]] = []

    def start(self, key: str) -> str:
        self.acquired.append(key)
        return f"ticket-{len(self.acquired)}"

    def finish(self, key: str, ticket: str) -> None:
        self.finished.append(ticket)

    def penalize(self, key: str, seconds: float) -> None:
        self.penalties.append((key, seconds))


@pytest.fixture
def dinero_settings(settings):
    settings.DINERO_API_URL = API
    settings.DINERO_APP_URL = "https://app.dinero.test/"
    settings.DINERO_TOKEN_URL = TOKEN_URL
    settings.DINERO_CLIENT_ID = "rackbeat-client-id"
    settings.DINERO_CLIENT_SECRET = "dinero-client-secret-xyz"
    settings.VISMA_CONNECT_TOKEN_URL = VISMA_TOKEN_URL
    settings.VISMA_CONNECT_AUTHORIZE_URL = "https://connect.visma.test/connect/authorize"
    settings.VISMA_CONNECT_CLIENT_ID = "isv_rackbeat"
    settings.VISMA_CONNECT_CLIENT_SECRET = "visma-client-secret-abc"
    settings.PUBLIC_BASE_URL = "https://integration.test"
    cache.clear()
    token_cache().clear()
    yield settings
    cache.clear()
    token_cache().clear()


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(dinero_settings, exchanges, limiter, sleeps):
    def build(connection) -> DineroClient:
        return DineroClient(connection, on_exchange=exchanges.append, limiter=limiter, sleep=sleeps.append)

    return build


@pytest.fixture
def dinero(make_client, connection) -> DineroClient:
    return make_client(connection)


def token_answer(token: str = "access-token-1", expires_in: int = 3600, **extra: Any) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, **extra}


def use_visma_connect(connection, *, access: str = "visma-access-1", refresh: str = "visma-refresh-1",
                      expires_in: int = 3600):
    connection.dinero_auth_method = connection.DineroAuth.VISMA_CONNECT
    connection.set_secret("visma_access_token", access)
    connection.set_secret("visma_refresh_token", refresh)
    connection.visma_access_token_expires_at = timezone.now() + timedelta(seconds=expires_in)
    connection.save()
    return connection


def url(path: str) -> str:
    return API + path.replace("{org}", ORG)
