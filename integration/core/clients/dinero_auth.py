"""Bearer tokens for Dinero's API, in both ways a connection can log in.

* **API key** (``Connection.DineroAuth.API_KEY``, Dinero's "personal integration"): the service's
  client id and secret (Basic auth) plus the organization's API key as user name *and* password
  in a ``grant_type=password`` request to ``settings.DINERO_TOKEN_URL``. Dinero answers a token
  valid for about an hour and no refresh token; the token is kept per organization in the
  ``shared`` cache (the database by default, encrypted with the field keys) until 60 seconds
  before it expires, so every worker process on every host uses one token per organization. Only
  one process asks for a new token at a time; the others wait briefly for its answer.
* **Visma Connect** (``Connection.DineroAuth.VISMA_CONNECT``): the authorization-code flow of
  :mod:`integration.console.visma_connect` stores an access token (with its expiry) and a refresh token,
  both encrypted on the connection. An expired access token is refreshed with
  ``grant_type=refresh_token`` at ``settings.VISMA_CONNECT_TOKEN_URL``; Visma rotates refresh
  tokens, so the new one is saved the moment it arrives. One process at a time refreshes a
  connection's login: it holds a lease in the shared cache (never a database lock across the
  call to the token service — on SQLite that would hold the database's only write lock while the
  token service, in the demo served by the same process and database, waits for it). The others
  wait for its answer on the connection row, and a process that finds its refresh token already
  spent by another one uses that one's new access token instead of calling the login lost.

Token requests go through the client's :class:`~integration.core.clients.transport.Transport`, so they
are reported like every other exchange, with the key, the secrets and the tokens redacted.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.crypto import DecryptionError, decrypt, encrypt
from integration.core.clients.errors import AuthenticationFailed, TransientError
from integration.core.clients.transport import Transport
from integration.core.shared_cache import shared_cache

if TYPE_CHECKING:  # pragma: no cover
    from accounts.models import Connection

# A token is renewed this long before it expires, so it never expires in flight.
EXPIRY_MARGIN = timedelta(seconds=60)
# Another process asking for the organization's token is waited for this long at most.
RENEWAL_WAIT_SECONDS = 10.0
# A token read from the shared cache is used by this process's next transfers for this long without
# reading it again. The cache lets a token go EXPIRY_MARGIN before it expires, so one kept this much
# shorter is still valid; one Dinero refuses is renewed at once all the same.
RECENT_SECONDS = 30.0
RENEWAL_POLL_SECONDS = 0.1
# A Visma Connect refresh in flight is waited for this long; the lease outlives the token request.
VISMA_LEASE_SECONDS = 120
DEFAULT_EXPIRES_IN = 3600
VISMA_SCOPES = "dineropublicapi:read dineropublicapi:write offline_access"

# Cache key → (token, monotonic moment until which this process uses it without reading the cache).
_RECENT: dict[str, tuple[str, float]] = {}


def forget_recent_tokens() -> None:
    """Read every token from the shared cache again (tests: the cache is emptied between them)."""
    _RECENT.clear()


RECONNECT_HINT = gettext_lazy(
    "Dinero no longer accepts the Visma Connect login of this connection. A support consultant must "
    "press “Connect with Visma” on the connection's page and log in again."
)
API_KEY_HINT = gettext_lazy(
    "Dinero rejected the API key. Create a new API key in Dinero under Integrations › API keys and "
    "enter it on the connection's page."
)
CLIENT_HINT = gettext_lazy(
    "The service's Dinero client id and secret (DINERO_CLIENT_ID / DINERO_CLIENT_SECRET) are missing "
    "or rejected; the operator must configure them."
)


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint answered."""

    access_token: str
    expires_at: datetime
    refresh_token: str = ""


class TokenProvider(Protocol):
    """Gives the client a bearer token and a fresh one after a 401."""

    def token(self) -> str: ...

    def renew(self, stale: str = "") -> str: ...


def token_cache() -> Any:
    """Where tokens are kept: the cache every process shares."""

    return shared_cache()


def secrets_of(connection: Connection) -> list[str]:
    """Every secret a Dinero exchange of ``connection`` could contain, for redaction."""
    return [
        connection.dinero_api_key,
        connection.visma_access_token,
        connection.visma_refresh_token,
        settings.DINERO_CLIENT_SECRET,
        settings.VISMA_CONNECT_CLIENT_SECRET,
    ]


def provider_for(connection: Connection, transport: Transport,
                 sleep: Callable[[float], None] = time.sleep) -> TokenProvider:
    if connection.dinero_auth_method == connection.DineroAuth.VISMA_CONNECT:
        return VismaConnectTokens(connection, transport, sleep)
    return ApiKeyTokens(connection, transport, sleep)


# --- token endpoint ---------------------------------------------------------------------------------

def request_token(
    transport: Transport,
    url: str,
    form: dict[str, str],
    *,
    auth: tuple[str, str] | None = None,
    rejected: type[AuthenticationFailed] = AuthenticationFailed,
    hint: str | Any = "",
) -> TokenSet:
    """POST a form to an OAuth token endpoint and read the answer.

    A rejection (400/401/403, e.g. ``invalid_grant``) is an :class:`AuthenticationFailed` with
    ``hint``; a 5xx, a timeout or an unreadable answer is a :class:`TransientError`.
    """
    headers = {"Accept": "application/json"}
    if auth:
        credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        transport.redactor.add(credentials)
        headers["Authorization"] = f"Basic {credentials}"
    try:
        response = transport.send("POST", url, data=form, headers=headers, rate_limited=False)
    except requests.RequestException as exc:
        raise TransientError(
            _("The token service did not answer: %(error)s") % {"error": type(exc).__name__},
            service="dinero",
        ) from exc
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    if response.status_code >= 500:
        raise TransientError(
            _("The token service failed with HTTP %(status)s.") % {"status": response.status_code},
            service="dinero", status=response.status_code,
        )
    if response.status_code >= 400 or not body.get("access_token"):
        reason = body.get("error_description") or body.get("error") or _("no token in the answer")
        raise rejected(
            _("Dinero login failed (HTTP %(status)s): %(reason)s")
            % {"status": response.status_code, "reason": reason},
            service="dinero", status=response.status_code, code=body.get("error"), hint=hint,
        )
    access = str(body["access_token"])
    refresh = str(body.get("refresh_token") or "")
    transport.redactor.add(access, refresh)
    try:
        expires_in = int(body.get("expires_in") or DEFAULT_EXPIRES_IN)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    return TokenSet(access, timezone.now() + timedelta(seconds=expires_in), refresh)


# --- API key ----------------------------------------------------------------------------------------

class ApiKeyTokens:
    """Dinero's password grant with the organization's API key, one token per organization."""

    def __init__(self, connection: Connection, transport: Transport,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connection = connection
        self.transport = transport
        self.sleep = sleep
        # The token this client last used: read (and decrypted) from the shared cache once per
        # client, not once per request; a 401 renews it.
        self._token = ""

    @property
    def cache_key(self) -> str:
        # The key's hash is part of the cache key: a replaced API key never reuses an old token.
        digest = hashlib.sha256(self.connection.dinero_api_key.encode()).hexdigest()[:16]
        return f"dinero-token:{self.connection.dinero_organization_id}:{digest}"

    def _cached(self) -> str:
        stored = token_cache().get(self.cache_key)
        if not stored:
            return ""
        try:
            token = decrypt(stored)
        except DecryptionError:
            return ""  # written under keys since rotated away: fetch a new one
        self.transport.redactor.add(token)
        self._remember(token, RECENT_SECONDS)
        return token

    def token(self) -> str:
        if not self._token:
            self._token = self._recent() or self._cached() or self.renew()
        return self._token

    def renew(self, stale: str = "") -> str:
        """A token other than ``stale`` (the one Dinero just refused), fetched by one process at a time."""
        if stale and _RECENT.get(self.cache_key, ("", 0.0))[0] == stale:
            del _RECENT[self.cache_key]
        self._token = self._renewed(stale)
        return self._token

    def _remember(self, token: str, seconds: float) -> None:
        _RECENT[self.cache_key] = (token, time.monotonic() + seconds)

    def _recent(self) -> str:
        """The token this process read or fetched in the last ``RECENT_SECONDS`` ('' when none)."""
        token, until = _RECENT.get(self.cache_key, ("", 0.0))
        if not token or time.monotonic() >= until:
            return ""
        self.transport.redactor.add(token)
        return token

    def _renewed(self, stale: str) -> str:
        fresh = self._cached()
        if fresh and fresh != stale:
            return fresh  # another process renewed it meanwhile
        cache = token_cache()
        lock = f"{self.cache_key}:renewing"
        if not cache.add(lock, "1", timeout=int(RENEWAL_WAIT_SECONDS * 3)):
            for _poll in range(round(RENEWAL_WAIT_SECONDS / RENEWAL_POLL_SECONDS)):
                self.sleep(RENEWAL_POLL_SECONDS)
                fresh = self._cached()
                if fresh and fresh != stale:
                    return fresh
            # The other process did not deliver (it died, or Dinero is slow): ask ourselves.
        try:
            return self._fetch()
        finally:
            cache.delete(lock)

    def _fetch(self) -> str:
        cache = token_cache()
        api_key = self.connection.dinero_api_key
        if not api_key:
            raise AuthenticationFailed(
                _("No Dinero API key is stored for this connection."), service="dinero", hint=API_KEY_HINT
            )
        if not settings.DINERO_CLIENT_ID or not settings.DINERO_CLIENT_SECRET:
            raise AuthenticationFailed(
                _("The service has no Dinero client id and secret configured."), service="dinero",
                hint=CLIENT_HINT,
            )
        cache.delete(self.cache_key)
        tokens = request_token(
            self.transport,
            settings.DINERO_TOKEN_URL,
            {"grant_type": "password", "scope": "read write", "username": api_key, "password": api_key},
            auth=(settings.DINERO_CLIENT_ID, settings.DINERO_CLIENT_SECRET),
            hint=API_KEY_HINT,
        )
        lifetime = (tokens.expires_at - timezone.now() - EXPIRY_MARGIN).total_seconds()
        if lifetime > 0:
            cache.set(self.cache_key, encrypt(tokens.access_token), timeout=int(lifetime))
            self._remember(tokens.access_token, min(RECENT_SECONDS, lifetime))
        return tokens.access_token


# --- Visma Connect ----------------------------------------------------------------------------------

def visma_client_credentials() -> dict[str, str]:
    return {"client_id": settings.VISMA_CONNECT_CLIENT_ID, "client_secret": settings.VISMA_CONNECT_CLIENT_SECRET}


def store_visma_tokens(connection: Connection, tokens: TokenSet) -> None:
    """Save a token answer on the connection at once (Visma rotates refresh tokens)."""
    connection.set_secret("visma_access_token", tokens.access_token)
    connection.visma_access_token_expires_at = tokens.expires_at
    fields = ["visma_access_token", "visma_access_token_expires_at", "updated_at"]
    if tokens.refresh_token:
        connection.set_secret("visma_refresh_token", tokens.refresh_token)
        fields += ["visma_refresh_token", "visma_refresh_token_changed_at"]
    connection.save(update_fields=fields)


def exchange_code(transport: Transport, *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
    """The authorization code of a Visma Connect login exchanged for tokens."""
    transport.redactor.add(code, code_verifier)
    return request_token(
        transport,
        settings.VISMA_CONNECT_TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            **visma_client_credentials(),
        },
        hint=RECONNECT_HINT,
    )


class VismaConnectTokens:
    """The connection's Visma Connect access token, refreshed (and rotated) when it expires."""

    def __init__(self, connection: Connection, transport: Transport,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connection = connection
        self.transport = transport
        self.sleep = sleep

    @property
    def lease_key(self) -> str:
        return f"visma-refresh:{self.connection.pk}"

    def _valid_access_token(self) -> str:
        expires = self.connection.visma_access_token_expires_at
        token = self.connection.visma_access_token
        if token and expires and expires - EXPIRY_MARGIN > timezone.now():
            self.transport.redactor.add(token)
            return token
        return ""

    def _reload(self) -> None:
        """Re-read the login from the row (another process may have refreshed it); no lock is taken."""
        stored = type(self.connection).objects.filter(pk=self.connection.pk).values(
            "visma_access_token", "visma_access_token_expires_at", "visma_refresh_token").first()
        if stored is None:
            return
        for name, value in stored.items():
            setattr(self.connection, name, value)

    def _renewed_meanwhile(self, stale_token: str) -> str:
        self._reload()
        fresh = self._valid_access_token()
        return fresh if fresh and fresh != stale_token else ""

    def token(self) -> str:
        return self._valid_access_token() or self.renew()

    def renew(self, stale: str = "") -> str:
        stale_token = stale or self.connection.visma_access_token
        cache = token_cache()
        polls = round(RENEWAL_WAIT_SECONDS / RENEWAL_POLL_SECONDS)
        for _poll in range(polls + 1):
            if cache.add(self.lease_key, "1", timeout=VISMA_LEASE_SECONDS):
                break
            # Another process is refreshing: its answer lands on the row.
            fresh = self._renewed_meanwhile(stale_token)
            if fresh:
                return fresh
            self.sleep(RENEWAL_POLL_SECONDS)
        else:
            raise TransientError(_("Another worker is renewing the Visma Connect login; trying again shortly."),
                                 service="dinero")
        try:
            return self._refresh(stale_token)
        finally:
            cache.delete(self.lease_key)

    def _refresh(self, stale_token: str) -> str:
        fresh = self._renewed_meanwhile(stale_token)
        if fresh:
            return fresh
        refresh_token = self.connection.visma_refresh_token
        if not refresh_token:
            raise AuthenticationFailed(
                _("The connection has no Visma Connect login."), service="dinero", hint=RECONNECT_HINT
            )
        self.transport.redactor.add(refresh_token)
        try:
            tokens = request_token(
                self.transport,
                settings.VISMA_CONNECT_TOKEN_URL,
                {"grant_type": "refresh_token", "refresh_token": refresh_token, **visma_client_credentials()},
                hint=RECONNECT_HINT,
            )
        except AuthenticationFailed:
            # Spent by a process whose lease ran out while it waited for the token service: its
            # new login is on the row, and the login is not lost.
            self._reload()
            if self.connection.visma_refresh_token != refresh_token and self._valid_access_token():
                return self.connection.visma_access_token
            raise
        store_visma_tokens(self.connection, tokens)
        return tokens.access_token
