"""The one HTTP chokepoint of each client: requests, redaction, rate limit, exchange reporting.

Every request either client makes goes through :meth:`Transport.send`. It

1. waits for the shared per-key rate limit (all processes and hosts share it, see
   :mod:`integration.core.clients.ratelimit`);
2. sends the request with a timeout, and tells the limiter when the answer came (the request
   counts as in flight until then);
3. reports the exchange — method, URL, status, duration, request and response bodies — to the
   ``on_exchange`` hook *after* redaction: Authorization headers, tokens, API keys and client
   secrets never leave this module;
4. returns the ``requests.Response`` or raises ``requests`` exceptions for the client to classify.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils import timezone
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

REDACTED = "«redacted»"

# Keys whose values are secrets wherever they appear (JSON bodies, form bodies, query strings).
SECRET_KEYS = {
    "authorization", "access_token", "refresh_token", "id_token", "token", "api_key", "apikey",
    "client_secret", "password", "username", "code_verifier", "secret",
}
# Secret only as an OAuth form or query parameter (the authorization code); in JSON "code" is an
# ordinary field — Rackbeat's VAT codes, unit codes … — and must stay readable in the log.
FORM_ONLY_SECRET_KEYS = {"code"}

logger = logging.getLogger(__name__)


@dataclass
class Exchange:
    service: str
    method: str
    url: str
    status: int | None
    duration_ms: int
    request_body: str
    response_body: str
    error: str = ""


ExchangeHook = Callable[[Exchange], None]


@dataclass
class Redactor:
    """Removes secrets from text: known key names plus every literal secret value given."""

    secrets: list[str] = field(default_factory=list)

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 4 and value not in self.secrets:
                self.secrets.append(value)

    def text(self, text: str) -> str:
        if not text:
            return text
        text = self._values_removed(text)
        if not _may_name_a_secret(text):
            return text
        # key=value pairs (query strings, form bodies)
        text = re.sub(
            r"(?i)\b(" + "|".join(SECRET_KEYS | FORM_ONLY_SECRET_KEYS) + r")=([^&\s\"']+)",
            lambda m: f"{m.group(1)}={REDACTED}", text,
        )
        # "key": "value" pairs in JSON that was not parsed (e.g. truncated bodies)
        text = re.sub(
            r'(?i)"(' + "|".join(SECRET_KEYS) + r')"\s*:\s*"[^"]*"', lambda m: f'"{m.group(1)}": "{REDACTED}"', text
        )
        return re.sub(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", lambda m: f"{m.group(1)} {REDACTED}", text)

    def _values_removed(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def body(self, body: Any) -> str:
        if body is None or body == b"" or body == "":
            return ""
        if isinstance(body, bytes):
            try:
                body = body.decode()
            except UnicodeDecodeError:
                return f"«{len(body)} bytes of binary data»"
        if isinstance(body, dict | list):
            body = json.dumps(_redact_structure(body), ensure_ascii=False)
        elif not _may_name_a_secret(body):
            # No key a secret goes by, however written: nothing to take out but the values themselves.
            return self._values_removed(body)
        else:
            try:
                parsed = json.loads(body)
            except (TypeError, ValueError):
                pass
            else:
                if isinstance(parsed, dict | list):
                    body = json.dumps(_redact_structure(parsed), ensure_ascii=False)
        return self.text(str(body))


# Lower-case fragments of every key name, form pair and scheme the redaction looks for (``code``
# only as a form pair; "\\u": a JSON key may spell a letter as an escape).
_SECRET_WORDS = ("authoriz", "token", "apikey", "api_key", "secret", "password", "username", "code_verifier",
                 "code=", "bearer", "basic", "\\u")


def _may_name_a_secret(text: str) -> bool:
    """Whether ``text`` may hold a key name of SECRET_KEYS or an auth scheme: most bodies do not,
    and then neither the JSON nor the patterns need to be looked at."""
    lowered = text.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _redact_structure(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in SECRET_KEYS and v else _redact_structure(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_structure(v) for v in value]
    return value


MAX_LOGGED_BODY = 200_000

# What the process environment says for requests to one scheme and host (proxies, CA bundle),
# as ``requests`` would work it out. It scans the whole environment on every request; a worker's
# environment does not change while it runs, so it is worked out once per host.
_ENVIRONMENT: dict[tuple[str, str], dict[str, Any]] = {}


def environment_for(url: str) -> dict[str, Any]:
    """``proxies``, ``verify`` and ``cert`` for ``url`` from the environment, worked out once per host."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc)
    found = _ENVIRONMENT.get(key)
    if found is None:
        with requests.Session() as probe:
            merged = probe.merge_environment_settings(url, {}, None, None, None)
        found = {name: merged[name] for name in ("proxies", "verify", "cert")}
        _ENVIRONMENT[key] = found
    return found


# Connections to the vendors, shared by every client of a process: a transfer builds its clients
# anew, and each would otherwise open its own connections — a TLS handshake per vendor per
# document. Kept while used; after IDLE_SECONDS without a request (checked before each request)
# they are closed, well before a vendor's or a middlebox's keep-alive limit lets one go quietly (a
# request sent on such a connection would only time out). POOL_SIZE per host: the web server's
# threads, each of which may hold one at a time.
IDLE_SECONDS = 30.0
POOL_SIZE = 32
_shared_lock = threading.Lock()
_shared: dict[str, Any] = {"pid": None, "adapter": None, "used": 0.0}


def shared_adapter() -> HTTPAdapter:
    """This process's pool of vendor connections (a forked process gets its own); its idle
    connections are closed first when it has not been used for ``IDLE_SECONDS``."""
    now = time.monotonic()
    with _shared_lock:
        adapter = _shared["adapter"]
        if adapter is None or _shared["pid"] != os.getpid():
            adapter = HTTPAdapter(pool_connections=10, pool_maxsize=POOL_SIZE)
            _shared.update(pid=os.getpid(), adapter=adapter)
        elif now - _shared["used"] > IDLE_SECONDS:
            adapter.close()
        _shared["used"] = now
    return adapter


def prepared_url(url: str, params: dict[str, Any] | None) -> str:
    """``url`` with ``params`` added to its query string, checked, quoted and encoded as
    ``requests`` prepares a request's URL (``MissingSchema``, ``InvalidURL`` when it cannot be)."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, params)
    return prepared.url or url


def retry_after_seconds(response: requests.Response, default: float) -> float:
    """Seconds to wait after a 429: the Retry-After header (seconds or HTTP date), else ``default``."""


    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return default
    try:
        return max(float(value), 1.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        return default
    return max((when - timezone.now()).total_seconds(), 1.0)


class Transport:
    """A ``requests.Session`` with the chokepoint duties described in the module docstring."""

    def __init__(
        self,
        service: str,
        *,
        timeout: float,
        on_exchange: ExchangeHook | None = None,
        limiter: Any | None = None,
        limiter_key: str = "",
        secrets: Iterable[str | None] = (),
        default_headers: dict[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.service = service
        self.timeout = timeout
        self.on_exchange = on_exchange
        self.limiter = limiter
        self.limiter_key = limiter_key
        # When set (a transfer's clients), each answer's time is written to the limiter with the
        # next request's grant or by the limiter's flush() when the transfers end (the engine's
        # _Carried): one statement per request.
        self.defer_answers = False
        self.redactor = Redactor()
        self.redactor.add(*secrets)
        self._shares_connections = session is None
        if session is None:
            session = requests.Session()
            adapter = shared_adapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        # The environment is applied per request from environment_for() instead.
        self.session.trust_env = False
        if default_headers:
            self.session.headers.update(default_headers)

    def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
        rate_limited: bool = True,
        timeout: float | None = None,
    ) -> requests.Response:
        ticket = self.limiter.start(self.limiter_key) if rate_limited and self.limiter is not None else None
        started = time.monotonic()
        response: requests.Response | None = None
        error = ""
        full_url = url
        try:
            full_url = prepared_url(url, params)
            response = self._http(method, full_url, json_body=json_body, data=data, files=files, headers=headers,
                                  timeout=timeout or self.timeout)
            return response
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if ticket is not None:
                self._answered(ticket)
            self._report(method, full_url, json_body if json_body is not None else data, files,
                         response, started, error)

    def _http(self, method: str, url: str, *, json_body: Any, data: Any, files: Any,
              headers: dict[str, str] | None, timeout: float) -> requests.Response:
        """The request on the wire and its answer, read in full: the one place tests answer in the
        vendors' stead (tests/instant_vendors.py). ``url`` is prepared already (:func:`prepared_url`).

        The clients' requests go straight to this process's shared connections
        (:func:`shared_adapter`), built by ``requests``' own rules (URL quoting, JSON, form and
        multipart bodies, header checks) without a session's merging of settings, cookies and
        hooks — which cost more CPU than the request itself and which no vendor API here uses. A
        redirect is still followed as a session follows it. A transport given a session of its own
        sends through that session, as it is.
        """
        environment = environment_for(url)
        if not self._shares_connections:
            return self.session.request(method, url, json=json_body, data=data, files=files, headers=headers,
                                        timeout=timeout, **environment)
        merged = CaseInsensitiveDict(self.session.headers)
        merged.update(headers or {})
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.url = url
        prepared.prepare_headers({name: value for name, value in merged.items() if value is not None})
        prepared.prepare_body(data, files, json_body)
        prepared.prepare_hooks({})
        response = shared_adapter().send(prepared, timeout=timeout, **environment)
        response.content  # noqa: B018 — read in full: the connection goes back to the pool
        if response.is_redirect:
            prepared.prepare_cookies(self.session.cookies)  # what a session's redirect carries along
            followed = list(self.session.resolve_redirects(response, prepared, timeout=timeout, **environment))
            if followed:
                followed[-1].history = [response, *followed[:-1]]
                response = followed[-1]
        return response

    def _answered(self, ticket: str) -> None:
        # The budget learns when the answer came (the latest moment the vendor counted the
        # request). A failure here must not hide the vendor's answer: the request then counts as
        # in flight until the limiter's MAX_FLIGHT_SECONDS, which only slows later requests.
        try:
            if self.defer_answers:
                self.limiter.finish(self.limiter_key, ticket, defer=True)
            else:
                self.limiter.finish(self.limiter_key, ticket)
        except Exception:
            logger.exception("Could not record the answer time of a %s request", self.service)

    def _report(self, method, full_url, body, files, response, started, error) -> None:  # type: ignore[no-untyped-def]
        if self.on_exchange is None:
            return
        request_body = "«multipart upload»" if files else self.redactor.body(body)
        response_body = ""
        if response is not None:
            ctype = response.headers.get("Content-Type", "")
            if "pdf" in ctype or "octet-stream" in ctype:
                response_body = f"«{len(response.content)} bytes of {ctype}»"
            else:
                response_body = self.redactor.body(response.text)
        exchange = Exchange(
            service=self.service,
            method=method.upper(),
            url=self.redactor.text(full_url),
            status=response.status_code if response is not None else None,
            duration_ms=int((time.monotonic() - started) * 1000),
            request_body=request_body[:MAX_LOGGED_BODY],
            response_body=response_body[:MAX_LOGGED_BODY],
            error=self.redactor.text(error),
        )
        try:
            self.on_exchange(exchange)
        except Exception:
            logger.exception("Could not record an HTTP exchange")
