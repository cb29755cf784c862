"""The process environment (proxies, CA bundle) is applied to every request, worked out once per host."""

from __future__ import annotations

import pytest
import requests
import responses

from integration.core.clients import transport
from integration.core.clients.transport import Transport, environment_for


@pytest.fixture(autouse=True)
def fresh_environment(monkeypatch):
    monkeypatch.setattr(transport, "_ENVIRONMENT", {})


def test_the_proxy_of_the_environment_is_used(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert environment_for("https://api.dinero.dk/v1/x")["proxies"]["https"] == "http://proxy.example:3128"


def test_a_host_in_no_proxy_goes_direct(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "app.rackbeat.com")
    assert "https" not in environment_for("https://app.rackbeat.com/api/products")["proxies"]
    assert environment_for("https://api.dinero.dk/v1/x")["proxies"]["https"] == "http://proxy.example:3128"


@responses.activate
def test_the_environment_is_read_once_per_host_not_per_request(monkeypatch):
    reads = []
    original = requests.Session.merge_environment_settings

    def counted(self, url, *args):
        if self.trust_env:
            reads.append(url)
        return original(self, url, *args)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counted)
    responses.get("https://api.dinero.dk/v1/1/vatTypes", json=[])
    client = Transport("dinero", timeout=5)
    for _ in range(5):
        client.send("GET", "https://api.dinero.dk/v1/1/vatTypes")
    assert len(reads) == 1
