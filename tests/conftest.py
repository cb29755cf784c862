"""The small fixture world every test shares: two connections, to prove isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.utils import translation

from accounts.models import Connection, Membership
from accounts.roles import ACCOUNTANT, SUPPORT_CONSULTANT, ensure_roles
from integration.core.clients import dinero_auth, ratelimit


@pytest.fixture(autouse=True)
def site_language():
    """Every test starts in the site's language: a request with Accept-Language activates its
    language for the whole thread (LocaleMiddleware never deactivates it), which would otherwise
    leak into the next test."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def process_memory_read_afresh():
    """The limiter remembers the budget rows this process last wrote, and the Dinero clients the
    token they last read; the database and the shared cache under them are emptied between tests
    (and SQLite may give a new row an old row's id)."""
    ratelimit.forget_rows()
    dinero_auth.forget_recent_tokens()
    yield


@pytest.fixture
def roles(db):
    ensure_roles()
    return Group.objects.get(name=ACCOUNTANT), Group.objects.get(name=SUPPORT_CONSULTANT)


def _connection(name: str, org: str, account: str) -> Connection:
    connection = Connection(name=name, dinero_organization_id=org, rackbeat_account_id=account)
    connection.set_secret("rackbeat_api_token", f"rb-token-{account}-secret")
    connection.set_secret("dinero_api_key", f"dinero-key-{org}-secret")
    connection.save()
    return connection


@pytest.fixture
def connection(db) -> Connection:
    return _connection("Nordlys Lager ApS", "400555", "1001")


@pytest.fixture
def other_connection(db) -> Connection:
    return _connection("Fjord Handel A/S", "400777", "2002")


def _staff(username: str, group: Group, *connections: Connection) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-For-tests-123", is_staff=True)
    user.groups.add(group)
    for c in connections:
        Membership.objects.create(user=user, connection=c)
    return user


@pytest.fixture
def accountant(roles, connection) -> User:
    return _staff("accountant", roles[0], connection)


@pytest.fixture
def consultant(roles, connection, other_connection) -> User:
    return _staff("consultant", roles[1], connection, other_connection)


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-For-tests-123")


@pytest.fixture
def accountant_client(client, accountant):
    client.force_login(accountant)
    return client


@pytest.fixture
def consultant_client(client, consultant):
    client.force_login(consultant)
    return client


# --- The sandbox over real HTTP -------------------------------------------------------------------

@pytest.fixture
def sandbox_urls(live_server, settings) -> str:
    """Point both API clients at the emulators served by the live test server; returns its URL."""
    base = live_server.url
    settings.PUBLIC_BASE_URL = base
    settings.RACKBEAT_API_URL = f"{base}/sandbox/rackbeat/api/"
    settings.RACKBEAT_APP_URL = f"{base}/sandbox/rackbeat/app/"
    settings.DINERO_API_URL = f"{base}/sandbox/dinero"
    settings.DINERO_APP_URL = f"{base}/sandbox/dinero/app/"
    settings.DINERO_TOKEN_URL = f"{base}/sandbox/dinero/oauth/token"
    settings.VISMA_CONNECT_AUTHORIZE_URL = f"{base}/sandbox/visma/connect/authorize"
    settings.VISMA_CONNECT_TOKEN_URL = f"{base}/sandbox/visma/connect/token"
    settings.DINERO_CLIENT_ID = "sandbox-client"
    settings.DINERO_CLIENT_SECRET = "sandbox-secret"
    settings.VISMA_CONNECT_CLIENT_ID = "isv_sandbox"
    settings.VISMA_CONNECT_CLIENT_SECRET = "sandbox-secret"
    return base


# --- A real browser (Debian's Chromium through Playwright) -------------------------------------------

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER_TESTS"):
            pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium package.")
        pytest.skip(f"browser tests need {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    # Every browser test also proves the Content-Security-Policy breaks nothing it touches:
    # Chromium reports each blocked script, style or form on the console.
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not blocked, "blocked by the Content-Security-Policy:\n" + "\n".join(blocked)


def login_in_browser(page, live_server, user) -> None:
    """Log ``user`` into the admin in ``page`` by handing over a real session cookie."""
    from django.conf import settings as dj_settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[dj_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{
        "name": dj_settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url,
    }])
