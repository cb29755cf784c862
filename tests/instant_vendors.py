"""Rackbeat and Dinero answering instantly with empty lists, at the HTTP chokepoint.

Patches ``Transport._http``, the request on the wire: everything above it — the clients, the shared rate limit,
the exchange log — runs as in production, but no emulator or network costs anything. Counts the
requests per method and path, so a test or a bench can say how many calls an idle poll made.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock
from urllib.parse import urlsplit

import requests
from django.conf import settings

from integration.core.clients.transport import Transport


class InstantVendors:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def __call__(self, transport: Transport, method: str, url: str, **kwargs: object) -> requests.Response:
        path = urlsplit(url).path
        self.calls[(method.upper(), path)] += 1
        if "token" in path:
            payload: object = {"access_token": "instant", "token_type": "Bearer", "expires_in": 3600}
        elif url.startswith(settings.DINERO_API_URL.rstrip("/")):
            payload = {"Collection": [], "Pagination": {"PageSize": 1000, "Result": 0, "ResultWithoutFilter": 0}}
        else:
            payload = {"rows": [], "total": 0, "pages": 1, "page": 1, "limit": 100}
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response


@contextmanager
def instant_vendors() -> Iterator[InstantVendors]:
    vendors = InstantVendors()
    with mock.patch.object(Transport, "_http", autospec=True, side_effect=vendors):
        yield vendors
