"""The Content-Security-Policy: sent on every page, and no page of ours needs more than it allows.

The browser tests (tests/test_browser_*.py) run real pages under the policy and fail on any
violation Chromium reports; this file checks the HTML of every admin page of the URL map and of
the sandbox apps without a browser: each inline script carries the response's nonce, and no
element has an inline event handler or a javascript: URL, which no nonce can allow.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import responses
from django.test import Client

from tests.isolation_world import build_world
from tests.test_isolation_url_map import LISTING, all_probes
from tests.url_map import endpoints

pytestmark = pytest.mark.django_db


class _ScriptAudit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inline_nonces: list[str | None] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and not a.get("src"):
            self.inline_nonces.append(a.get("nonce"))
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> (inline event handler)")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")


def policy_problems(response) -> list[str]:
    policy = response.get("Content-Security-Policy", "")
    if not policy:
        return ["no Content-Security-Policy header"]
    if "text/html" not in response.get("Content-Type", ""):
        return []
    audit = _ScriptAudit()
    audit.feed(response.content.decode(errors="replace"))
    nonce = re.search(r"'nonce-([^']+)'", policy)
    for found in audit.inline_nonces:
        # JSON data blocks (type=application/json) are not run, but none are used here either.
        if not nonce or found != nonce.group(1):
            audit.problems.append("inline <script> without the response's nonce")
    return audit.problems


def test_policy_header_is_strict_for_scripts(client, db):
    policy = client.get("/admin/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"


def test_every_admin_page_keeps_to_the_policy():
    a, _b, root_user = build_world()
    root = Client()
    root.force_login(root_user)
    probes, _ = all_probes(a, _b)
    urls = sorted({p.url for p in probes if p.expect == LISTING})
    failures = []
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        for url in urls:
            response = root.get(url)
            failures += [f"{url}: {problem}" for problem in policy_problems(response)]
    assert len(urls) > 80
    assert not failures, "\n".join(failures)


def test_sandbox_pages_keep_to_the_policy(client, db):
    from sandbox.seed import ensure_demo_company

    ensure_demo_company()
    pages = [e.url({}) for e in endpoints() if e.route.startswith("sandbox/") and not e.params]
    failures = []
    for url in pages:
        response = client.get(url)
        if response.status_code < 400:
            failures += [f"{url}: {problem}" for problem in policy_problems(response)]
    assert pages
    assert not failures, "\n".join(failures)


def test_the_inline_scripts_we_keep_carry_the_nonce(client, db):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.csp_nonce = "n0nce"
    html = render_to_string("accounts/visma_connect_relay.html", {"action": "/oauth/visma/callback/", "fields": {}},
                            request=request)
    assert '<script nonce="n0nce">' in html
