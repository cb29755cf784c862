"""Clients whose every API call is kept as evidence.

The engine, the polls, activation and the start sync obtain their clients here. Each exchange the
transport reports (already redacted) is stored as an :class:`~integration.core.models.HttpExchange`
row, linked to the operation and its attempt number when there is one, so the sync log can show
exactly what was sent and answered for each try. The polls keep only the exchanges that failed
(:func:`failures_only`): their run reports what each listing saw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from integration.core.clients.dinero import DineroClient
from integration.core.clients.rackbeat import RackbeatClient
from integration.core.clients.transport import Exchange
from integration.core.models import HttpExchange
from integration.core.row_writes import insert_values

if TYPE_CHECKING:  # pragma: no cover
    from accounts.models import Connection
    from integration.core.models import SyncOperation

logger = logging.getLogger(__name__)


def exchange_recorder(connection: Connection, operation: SyncOperation | None = None) -> Callable[[Exchange], None]:
    """An ``on_exchange`` hook storing each exchange for ``connection`` (and ``operation``)."""

    def record(exchange: Exchange) -> None:
        insert_values(
            HttpExchange,
            connection_id=connection.pk,
            operation_id=operation.pk if operation is not None else None,
            attempt=operation.attempts if operation is not None else 0,
            service=exchange.service,
            method=exchange.method[:10],
            url=exchange.url,
            status=exchange.status,
            duration_ms=exchange.duration_ms,
            request_body=exchange.request_body,
            response_body=exchange.response_body,
            error=exchange.error,
        )

    return record


def failures_only(record: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    """``record`` for the exchanges that failed (an error or a status of 400 and above): a poll's
    listings that answered are summed up in its run, ten thousand connections' idle polls are not
    kept request by request."""

    def record_failure(exchange: Exchange) -> None:
        if exchange.error or exchange.status is None or exchange.status >= 400:
            record(exchange)

    return record_failure


def rackbeat_client(connection: Connection, operation: SyncOperation | None = None, *,
                    limiter: Any | None = None) -> RackbeatClient:
    return RackbeatClient(connection, on_exchange=exchange_recorder(connection, operation), limiter=limiter)


def dinero_client(connection: Connection, operation: SyncOperation | None = None, *,
                  limiter: Any | None = None) -> DineroClient:
    return DineroClient(connection, on_exchange=exchange_recorder(connection, operation), limiter=limiter)


class LazyClient:
    """Builds the real client on first use.

    A transfer that only talks to one system never constructs (or authenticates) the other
    system's client: a Dinero API-key login costs a token request, and a connection whose Dinero
    credentials are broken can still have its Rackbeat-only work done.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)
