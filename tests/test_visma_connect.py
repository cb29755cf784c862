"""“Connect with Visma”: authorize redirect with PKCE, the form_post callback, errors as messages."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.contrib.messages import get_messages
from django.db import connection as db_connection
from django.urls import reverse

from accounts.models import Connection
from integration.console.visma_connect import SESSION_KEY
from tests.dinero_fixtures import *  # noqa: F403 (the fixtures)
from tests.dinero_fixtures import VISMA_TOKEN_URL, token_answer

pytestmark = pytest.mark.django_db


def start_login(client, connection) -> dict[str, list[str]]:
    response = client.get(reverse("visma-connect-start", args=[connection.pk]))
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://connect.visma.test/connect/authorize"
    return parse_qs(location.query)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_start_redirects_to_visma_with_scopes_form_post_state_and_pkce(dinero_settings, consultant_client, connection):
    query = start_login(consultant_client, connection)

    assert query["client_id"] == ["isv_rackbeat"]
    assert query["response_type"] == ["code"]
    assert query["response_mode"] == ["form_post"]
    assert query["scope"] == ["dineropublicapi:read dineropublicapi:write offline_access"]
    assert query["redirect_uri"] == ["https://integration.test/oauth/visma/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    pending = consultant_client.session[SESSION_KEY][query["state"][0]]
    verifier = pending["verifier"]
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [expected]
    assert pending["connection"] == connection.pk


def test_start_needs_the_credentials_permission(dinero_settings, accountant_client, connection):
    response = accountant_client.get(reverse("visma-connect-start", args=[connection.pk]))
    assert response.status_code == 403


def test_start_for_another_tenants_connection_is_404(dinero_settings, client, roles, connection, other_connection):
    from tests.conftest import _staff

    consultant = _staff("solo", roles[1], connection)
    client.force_login(consultant)
    response = client.get(reverse("visma-connect-start", args=[other_connection.pk]))
    assert response.status_code == 404


def test_start_without_login_goes_to_the_admin_login(dinero_settings, client, connection):
    response = client.get(reverse("visma-connect-start", args=[connection.pk]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@responses.activate
def test_callback_exchanges_the_code_and_stores_encrypted_tokens(dinero_settings, consultant_client, connection):
    query = start_login(consultant_client, connection)
    verifier = consultant_client.session[SESSION_KEY][query["state"][0]]["verifier"]
    token = responses.post(VISMA_TOKEN_URL, json=token_answer("visma-access-new", refresh_token="visma-refresh-new"))

    response = consultant_client.post(reverse("visma-connect-callback"),
                                      {"code": "auth-code-123", "state": query["state"][0]})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_connection_change", args=[connection.pk])
    form = parse_qs(token.calls[0].request.body)
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["auth-code-123"]
    assert form["code_verifier"] == [verifier]
    assert form["redirect_uri"] == ["https://integration.test/oauth/visma/callback/"]
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.dinero_auth_method == Connection.DineroAuth.VISMA_CONNECT
    assert stored.visma_access_token == "visma-access-new"
    assert stored.visma_refresh_token == "visma-refresh-new"
    assert stored.visma_access_token_expires_at is not None
    assert stored.visma_refresh_token_changed_at is not None
    assert any("Visma Connect" in m for m in messages_of(response))
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT visma_refresh_token FROM accounts_connection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
    assert raw and "visma-refresh-new" not in raw


@responses.activate
def test_callback_state_can_be_used_only_once(dinero_settings, consultant_client, connection):
    query = start_login(consultant_client, connection)
    responses.post(VISMA_TOKEN_URL, json=token_answer("a", refresh_token="r"))
    consultant_client.post(reverse("visma-connect-callback"), {"code": "c1", "state": query["state"][0]})
    response = consultant_client.post(reverse("visma-connect-callback"), {"code": "c2", "state": query["state"][0]})
    assert response.status_code == 302
    assert any("does not belong" in m for m in messages_of(response))
    assert len(responses.calls) == 1


def test_callback_with_a_foreign_state_stores_nothing(dinero_settings, consultant_client, connection):
    start_login(consultant_client, connection)
    with responses.RequestsMock():
        response = consultant_client.post(reverse("visma-connect-callback"), {"code": "x", "state": "forged"})
    assert response.status_code == 302
    assert Connection.objects.get(pk=connection.pk).visma_refresh_token == ""


def test_refusal_at_visma_is_shown_as_a_message(dinero_settings, consultant_client, connection):
    query = start_login(consultant_client, connection)
    response = consultant_client.get(reverse("visma-connect-callback"), {
        "error": "access_denied", "error_description": "The user cancelled", "state": query["state"][0],
    })
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_connection_change", args=[connection.pk])
    assert any("The user cancelled" in m for m in messages_of(response))


def test_denied_consent_is_explained_in_words(dinero_settings, consultant_client, connection):
    query = start_login(consultant_client, connection)
    response = consultant_client.get(reverse("visma-connect-callback"), {"error": "access_denied",
                                                                         "state": query["state"][0]})
    [message] = messages_of(response)
    assert "access_denied" not in message
    assert "cancelled" in message and "“Allow”" in message


@responses.activate
def test_rejected_code_is_a_message_not_a_server_error(dinero_settings, consultant_client, connection):
    query = start_login(consultant_client, connection)
    responses.post(VISMA_TOKEN_URL, status=400, json={"error": "invalid_grant"})
    response = consultant_client.post(reverse("visma-connect-callback"), {"code": "old", "state": query["state"][0]})
    assert response.status_code == 302
    assert any("invalid_grant" in m for m in messages_of(response))
    assert Connection.objects.get(pk=connection.pk).dinero_auth_method == Connection.DineroAuth.API_KEY


@responses.activate
def test_visma_unreachable_is_a_message_not_a_server_error(dinero_settings, consultant_client, connection):
    import requests

    query = start_login(consultant_client, connection)
    responses.post(VISMA_TOKEN_URL, body=requests.ConnectionError("down"))
    response = consultant_client.post(reverse("visma-connect-callback"), {"code": "c", "state": query["state"][0]})
    assert response.status_code == 302
    assert messages_of(response)


def test_cross_site_post_without_session_cookie_is_relayed_from_this_site(dinero_settings, client):
    response = client.post(reverse("visma-connect-callback"), {"code": "c", "state": "s"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="relayed" value="1"' in page
    assert 'name="code" value="c"' in page
    assert 'name="state" value="s"' in page


def test_callback_is_exempt_from_csrf(dinero_settings, consultant_client, connection):
    from django.test import Client

    query = start_login(consultant_client, connection)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = consultant_client.cookies
    response = strict.post(reverse("visma-connect-callback"),
                           {"error": "access_denied", "state": query["state"][0]})
    assert response.status_code == 302
