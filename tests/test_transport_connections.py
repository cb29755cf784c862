"""Requests on the wire: connections to a vendor shared by the clients of a process and not kept once
long idle; what is sent is what ``requests`` would send."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from integration.core.clients import transport
from integration.core.clients.transport import Transport, shared_adapter


class _Vendor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the vendors answer
    connections: list[tuple[str, int]] = []

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(self.client_address)

    def do_GET(self) -> None:
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/api/products")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._answer(b'{"ok": true}')

    def do_POST(self) -> None:
        sent = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(json.dumps({"path": self.path, "headers": dict(self.headers.items()),
                                 "body": sent.decode()}).encode())

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def vendor() -> Iterator[tuple[str, list[tuple[str, int]]]]:
    _Vendor.connections = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Vendor)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/products", _Vendor.connections
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def own_pool(monkeypatch):
    """A pool of this test's own, closed at its end."""
    monkeypatch.setitem(transport._shared, "adapter", None)
    yield
    if transport._shared["adapter"] is not None:
        transport._shared["adapter"].close()


def _documents(url: str, clients: int, requests_each: int) -> None:
    for _ in range(clients):  # a transfer builds its clients anew
        client = Transport("rackbeat", timeout=5)
        for _ in range(requests_each):
            assert client.send("GET", url).json() == {"ok": True}


def test_clients_built_one_after_another_reuse_one_connection(vendor):
    url, connections = vendor
    _documents(url, clients=3, requests_each=2)
    assert len(connections) == 1


def test_connections_idle_longer_than_the_limit_are_not_reused(vendor, monkeypatch):
    url, connections = vendor
    monkeypatch.setattr(transport, "IDLE_SECONDS", -1.0)  # every gap is too long
    _documents(url, clients=2, requests_each=2)
    assert len(connections) == 4


def test_a_forked_process_gets_its_own_pool(monkeypatch):
    inherited = shared_adapter()
    monkeypatch.setitem(transport._shared, "pid", -1)  # as a forked child sees its parent's pool
    assert shared_adapter() is not inherited
    assert shared_adapter() is shared_adapter()


def test_a_session_given_to_the_transport_keeps_its_own_adapters():
    session = requests.Session()
    adapter = session.get_adapter("https://api.dinero.dk/")
    Transport("dinero", timeout=5, session=session)
    assert session.get_adapter("https://api.dinero.dk/") is adapter


def test_what_goes_on_the_wire_is_what_requests_would_send(vendor):
    url, _ = vendor
    client = Transport("dinero", timeout=5, default_headers={"Authorization": "Bearer abc", "Accept": "application/json"})
    payload = {"Description": "Æbler & pærer", "Amount": 12.5, "Lines": [1, 2]}
    seen = client.send("POST", url, params={"queryFilter": "ExternalReference eq 'rb-1'", "skip": None},
                       json_body=payload, headers={"X-Request": "1"}).json()

    expected = requests.Request("POST", url, params={"queryFilter": "ExternalReference eq 'rb-1'", "skip": None},
                                json=payload).prepare()
    assert seen["path"] == expected.path_url
    assert seen["body"] == expected.body.decode()
    assert seen["headers"]["Authorization"] == "Bearer abc"
    assert seen["headers"]["Accept"] == "application/json"
    assert seen["headers"]["X-Request"] == "1"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["User-Agent"].startswith("python-requests/")


def test_a_redirect_is_followed_as_a_session_follows_it(vendor):
    url, _ = vendor
    moved = url.replace("/api/products", "/moved")
    response = Transport("rackbeat", timeout=5).send("GET", moved)
    assert response.json() == {"ok": True}
    assert [r.status_code for r in response.history] == [302]
    assert response.url == url
